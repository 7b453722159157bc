/** Escapers of shell: see index.ts for the rules every escaper keeps. */
import { fail, wellFormed } from "./core";

/**
 * One POSIX shell word (bash, dash), always single-quoted (`'` written as `'\''`): inside
 * '…' no character but `'` means anything. Any string but one holding NUL (which no argv or
 * variable can carry) round-trips.
 */
export function shellWord(v: string, role = "shell word"): string {
  wellFormed(role, v);
  if (v.includes("\0")) fail(role, v, "NUL cannot be passed in a shell word");
  return `'${v.replace(/'/g, `'\\''`)}'`;
}
