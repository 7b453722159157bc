/** Escapers of FRR: see index.ts for the rules every escaper keeps. */
import { fail, noControls, nonEmpty } from "./core";

/**
 * One FRR command word (`hostname X`, a peer-group or route-map name): no white space, no
 * control character, and not starting with `!` or `#` (a comment). FRR takes the rest of the
 * word as it is.
 */
export function frrWord(v: string, role = "FRR word"): string {
  nonEmpty(role, v, "an FRR word");
  noControls(role, v, "frr.conf");
  if (/\s/.test(v)) fail(role, v, "white space splits an FRR word");
  if (/[!#]/.test(v)) fail(role, v, "`!` and `#` start comments in frr.conf");
  return v;
}

/**
 * Free text at the end of an FRR command (`description LINE`): FRR joins the words of the
 * line with single spaces, so leading, trailing and repeated white space would not read back;
 * a line break would start a new command; `!` and `#` start comments.
 */
export function frrText(v: string, role = "FRR text"): string {
  nonEmpty(role, v, "FRR text");
  noControls(role, v, "frr.conf");
  if (/[^\S ]/.test(v)) fail(role, v, "only plain spaces can separate words in FRR text");
  if (v !== v.trim() || v.includes("  "))
    fail(role, v, "leading, trailing or repeated spaces do not survive FRR's parser");
  if (/[!#]/.test(v)) fail(role, v, "`!` and `#` start comments in frr.conf");
  return v;
}
