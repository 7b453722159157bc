/** Escapers of HAProxy: see index.ts for the rules every escaper keeps. */
import { LINE_BREAKING, fail, nonEmpty, wellFormed } from "./core";

const HAPROXY_SAFE = /^[A-Za-z0-9_.:/@+%=,-]+$/;

/**
 * The inside of a HAProxy "…" argument: `\` escapes `\`, `"` and `$` (inside double quotes
 * `$NAME` / `${NAME}` expand environment variables). HAProxy has no escape a control
 * character could be written with, so those are refused.
 */
export function haproxyQuoted(v: string, role = "HAProxy string"): string {
  wellFormed(role, v);
  const m = LINE_BREAKING.exec(v);
  if (m)
    fail(
      role,
      v,
      "control or line-break characters cannot be written inside a HAProxy double-quoted string",
    );
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\$/g, "\\$");
}

/** A HAProxy "…" argument, quotes included. */
export function haproxyString(v: string, role = "HAProxy string"): string {
  return `"${haproxyQuoted(v, role)}"`;
}

/** One HAProxy argument: bare when nothing in it is special to HAProxy's line parser, else "…". */
export function haproxyWord(v: string, role = "HAProxy word"): string {
  nonEmpty(role, v, "a HAProxy argument");
  wellFormed(role, v);
  return HAPROXY_SAFE.test(v) ? v : haproxyString(v, role);
}
