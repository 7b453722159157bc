/**
 * `npm run lab -- test [names…] [--all] [--keep]`: the lab scenarios, one result line each, all
 * results in ./lab-results.json, exit status 1 on any failure. Bare, the QUICK set (about 5
 * minutes with `lab up`); `--all` every scenario of SCENARIOS (about 25 minutes: what CI runs).
 * Brings the lab up first when none is running (and takes it down afterwards unless --keep); a
 * lab that was already up is left up.
 *
 * One file per scenario in this folder, named for what it proves; its id (the result line's,
 * lab-results.json's, the timeline's) stays what it was — `c`, `h2`, `noop` — and the file name
 * is an alias for it: `npm run lab -- test maglev-power-cut` runs `c`. The loop, its retry and
 * its BFD-drop accounting are in runner.ts; shared probes in probes.ts, the load in load-mix.ts.
 *
 * Order matters: the read-only scenarios first, then the ones that change state (drains, a bad
 * file, a rollout), then the destructive ones (power cuts); each restores what it changed.
 * Every load is bounded (wrk -d, exec timeouts) and targets lab VIPs only.
 */
import { DEFAULT_STATE_DIR } from "../guest";
import { runScenarioList, Scenario } from "./runner";
import { check } from "./check-passes";
import { http } from "./http-dsr";
import { ecmp } from "./ecmp-consistency";
import { dns } from "./dns-proxy-protocol";
import { portScan } from "./port-scan";
import { drift } from "./check-drift";
import { noop } from "./noop-apply";
import { drainMaglev } from "./maglev-drain";
import { drainHaproxy } from "./haproxy-drain";
import { sites } from "./site-policy";
import { badFile } from "./bad-file-refused";
import { rollback } from "./health-gate-rollback";
import { removedFile } from "./removed-file";
import { haproxyFailure } from "./haproxy-power-cut";
import { watchdog } from "./watchdog-withdraw";
import { markFlush } from "./mark-flush";
import { metrics } from "./metrics";
import { maglevFailure } from "./maglev-power-cut";
import { rollingChange } from "./rolling-change";
import { dnsPublish } from "./dns-publish";
import { maintainAll } from "./maintain-all";
import { connectionSurvival } from "./connection-survival";
import { reboot } from "./reboot";
import { firstBoot } from "./first-boot";

export type { Ctx, Outcome, Scenario, ScenarioResult } from "./runner";

// `check` first (all ✓ on a fresh lab), read-only next, then state changes, then power cuts; the
// rollout, DNS publishing, and planned maintenance of every guest last (the longest).
export const SCENARIOS: Scenario[] = [
  check,
  http,
  ecmp,
  dns,
  portScan,
  drift,
  noop,
  drainMaglev,
  drainHaproxy,
  sites,
  badFile,
  rollback,
  removedFile,
  haproxyFailure,
  watchdog,
  markFlush,
  metrics,
  maglevFailure,
  connectionSurvival,
  rollingChange,
  dnsPublish,
  // Every guest rebooted with no apply, then one built from a blank disk (systemd guests).
  reboot,
  firstBoot,
  // Last: it reboots every guest through `ops maintain`, the longest scenario (~15 min).
  maintainAll,
];
/**
 * A bare `lab test`: one scenario per promise a newcomer checks first, in SCENARIOS' order —
 * all checks pass, traffic through every VIP, DNS through its VIP, a drain of each kind with 0
 * failed, a file its checker rejects never goes live, a change that fails its health gate rolls
 * back, a maglev power cut with 0 failed, a maglev and an HAProxy node rebooted with 0 failed
 * (the short form of `reboot`: ctx.quick), a guest built from a blank disk. `--all` adds the
 * rest (ECMP consistency, port scan, drift, no-op, sites, removal, HAProxy power cut, watchdog,
 * marks, metrics, connection survival, rollout, DNS publishing, every guest rebooted,
 * maintenance of every guest).
 */
export const QUICK = ["check", "a", "g", "h", "h2", "f", "rollback", "c", "reboot", "first-boot"];

/** Each scenario's file name (what it proves) → its id, where the two differ. */
export const ALIASES: Record<string, string> = {
  "check-passes": "check",
  "http-dsr": "a",
  "ecmp-consistency": "b",
  "dns-proxy-protocol": "g",
  "port-scan": "ports",
  "check-drift": "drift",
  "noop-apply": "noop",
  "maglev-drain": "h",
  "haproxy-drain": "h2",
  "site-policy": "s",
  "bad-file-refused": "f",
  "health-gate-rollback": "rollback",
  "haproxy-power-cut": "d",
  "watchdog-withdraw": "watchdog",
  "mark-flush": "marks",
  "maglev-power-cut": "c",
  "rolling-change": "e",
  "connection-survival": "survival",
};

export async function runScenarios(args: string[], stateDir = DEFAULT_STATE_DIR): Promise<number> {
  const keep = args.includes("--keep");
  const all = args.includes("--all");
  const names = args.filter((a) => !a.startsWith("--")).map((n) => ALIASES[n] ?? n);
  const known = SCENARIOS;
  const unknown = names.filter((n) => !known.some((s) => s.id === n));
  if (unknown.length) {
    const alias = new Map(Object.entries(ALIASES).map(([file, id]) => [id, file]));
    throw new Error(
      `unknown scenario(s) ${unknown.join(", ")} (known: ${known.map((s) => (alias.has(s.id) ? `${s.id} = ${alias.get(s.id)}` : s.id)).join(", ")})`,
    );
  }
  if (all && names.length)
    throw new Error(`--all runs every scenario: name scenarios or give --all, not both`);
  const chosen = names.length
    ? known.filter((s) => names.includes(s.id))
    : all
      ? SCENARIOS
      : SCENARIOS.filter((s) => QUICK.includes(s.id));
  return runScenarioList(chosen, { keep, stateDir, quick: !names.length && !all });
}
