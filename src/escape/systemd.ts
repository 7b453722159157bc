/** Escapers of systemd units: see index.ts for the rules every escaper keeps. */
import { fail, noControls, noNoncharacters, nonEmpty } from "./core";

/**
 * The value of a unit file assignment (`Description=…`, `Documentation=…`): `%` starts a
 * specifier (`%%` is a percent sign), a line break ends the assignment and a trailing `\`
 * continues it, and systemd strips leading and trailing white space.
 */
export function systemdValue(v: string, role = "systemd unit value"): string {
  nonEmpty(role, v, "a systemd unit value");
  noControls(role, v, "a systemd unit file");
  noNoncharacters(role, v, "a systemd unit file");
  if (v !== v.trim()) fail(role, v, "systemd strips leading and trailing white space");
  if (v.endsWith("\\")) fail(role, v, "a trailing `\\` continues the line in a unit file");
  return v.replace(/%/g, "%%");
}

const SYSTEMD_EXEC_SAFE = /^[A-Za-z0-9_@+=:,./-]+$/;

/**
 * One argument of `ExecStart=`: `%` → `%%` (specifiers), `$` → `$$` (environment
 * expansion); bare when nothing else in it is special, else "…" with `\\` and `\"`.
 */
export function systemdExecWord(v: string, role = "systemd command argument"): string {
  nonEmpty(role, v, "a command argument");
  noControls(role, v, "a systemd unit file");
  noNoncharacters(role, v, "a systemd unit file");
  const spec = v.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  if (SYSTEMD_EXEC_SAFE.test(v)) return spec;
  if (v.endsWith("\\")) fail(role, v, "a trailing `\\` continues the line in a unit file");
  return `"${spec.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}
