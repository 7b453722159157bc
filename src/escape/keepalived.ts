/** Escapers of keepalived: see index.ts for the rules every escaper keeps. */
import { fail, nonEmpty, wellFormed } from "./core";

/** Printable ASCII except what keepalived's parser gives a meaning (see keepalivedWord). */
const KEEPALIVED_SAFE = /^[\x21-\x7e]+$/;
const KEEPALIVED_SPECIAL = /[{}#!"'\\$]/;

/**
 * One keepalived argument. keepalived splits lines at white space, takes `{`/`}` as block
 * delimiters, `#` and `!` as comments, `"` as quoting, `$NAME` as a configuration variable
 * and `\` as an escape inside quotes — and the checkers' keywords (`path`, `name`) take the raw
 * token. So an argument is written bare and must contain none of them; anything else is
 * refused rather than quoted (quoting rules differ between keepalived versions).
 */
export function keepalivedWord(v: string, role = "keepalived argument"): string {
  nonEmpty(role, v, "a keepalived argument");
  wellFormed(role, v);
  if (!KEEPALIVED_SAFE.test(v))
    fail(role, v, "only printable ASCII without spaces can be written as a keepalived argument");
  const m = KEEPALIVED_SPECIAL.exec(v);
  if (m)
    fail(
      role,
      v,
      `\`${m[0]}\` has a meaning in keepalived.conf (block, comment, quote, variable or escape)`,
    );
  return v;
}
