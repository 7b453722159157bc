/** Escapers of line-oriented files: see index.ts for the rules every escaper keeps. */
import { fail, noControls, nonEmpty } from "./core";

/**
 * One word of a white-space separated line file (/etc/hosts, Apache directives, sysctl.d,
 * modules-load.d): no white space, no control character, no quote or backslash, and not
 * starting with a comment character.
 */
export function plainWord(v: string, role = "word"): string {
  nonEmpty(role, v, "a word");
  noControls(role, v, "a line-oriented file");
  const m = /[\s"'\\<>#;]/.exec(v);
  if (m)
    fail(role, v, `\`${m[0]}\` cannot be written in a plain word (separator, quote or comment)`);
  return v;
}
