/** Escapers of PHP: see index.ts for the rules every escaper keeps. */
import { fail, wellFormed } from "./core";

/**
 * A PHP '…' literal: only `\\` and `\'` are escapes there; every backslash is doubled so none
 * can combine with what follows. NUL is refused (PHP's lexer accepts it, but no reader of the
 * file should have to).
 */
export function phpString(v: string, role = "PHP string"): string {
  wellFormed(role, v);
  if (v.includes("\0")) fail(role, v, "NUL cannot be written inside a PHP single-quoted string");
  return `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}
