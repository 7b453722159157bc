/** Escapers of PowerDNS: see index.ts for the rules every escaper keeps. */
import { fail, noControls } from "./core";

/**
 * The value of a pdns.conf `key=value` line: no quoting at all, `#` starts a comment, a
 * trailing `\` continues the line, white space at either end is stripped.
 */
export function pdnsValue(v: string, role = "pdns.conf value"): string {
  noControls(role, v, "a pdns.conf line");
  if (v !== v.trim())
    fail(role, v, "leading or trailing white space is stripped from a pdns.conf value");
  if (v.includes("#")) fail(role, v, "`#` starts a comment in pdns.conf");
  if (v.endsWith("\\")) fail(role, v, "a trailing `\\` continues the line in pdns.conf");
  return v;
}
