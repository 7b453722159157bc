/** Escapers of ExaBGP: see index.ts for the rules every escaper keeps. */
import { fail, noControls } from "./core";

/** An ExaBGP "…" value (`description "…"`): ExaBGP's tokenizer has no escapes inside quotes. */
export function exabgpString(v: string, role = "ExaBGP string"): string {
  noControls(role, v, "exabgp.conf");
  const m = /["'\\;{}]/.exec(v);
  if (m) fail(role, v, `\`${m[0]}\` cannot be written inside an ExaBGP quoted string`);
  return `"${v}"`;
}
