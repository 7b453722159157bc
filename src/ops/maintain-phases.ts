/**
 * The real phases of planned maintenance (maintain.ts runs them in order): the health gate's
 * pre-change record (the plan's `health.before`, as the apply runs it), the drain and
 * undrain through `ops drain` / `drain-site`, the reboot (a `Rebooter`: over SSH `systemctl
 * reboot` and a new boot id), IPVS quiet on an L7 member, the host's health gate and its
 * `check`. Written against `HostRunner`.
 */
import { Topology, HostFacts } from "../topology";
import { HostPlan } from "../plan/types";
import { HostRunner, sleep } from "./runner";
import { drainHost, undrainHost, drainSite, undrainSite } from "./drain";
import { checkEnvironment, drainStates } from "./check";
import {
  IPVS_LIST_COMMAND,
  IPVS_STATS_COMMAND,
  parseIpvs,
  parseIpvsStats,
} from "../daemons/keepalived/probes";
import { shellWord } from "../escape";
import { DEFAULTS, MaintenanceOptions, RECORD_TIMEOUT_S } from "./maintain-plan";
import type { MaintenanceActions, PhaseOutcome } from "./maintain";

/** A host's output as one line a terminal can show: control characters (escape sequences too) become spaces. */
export function oneLine(text: string, max = 300): string {
  const s = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").trim();
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

/** Milliseconds as seconds with one decimal, for the log and the summary. */
export const secs = (ms: number) => (ms / 1000).toFixed(1);

/** How a host is rebooted and waited for: over SSH `systemctl reboot`, in the lab `Lab.reboot`. */
export interface Rebooter {
  reboot(host: HostFacts, plan: HostPlan | undefined, boundMs: number): Promise<PhaseOutcome>;
}

const BOOT_ID = "cat /proc/sys/kernel/random/boot_id";

/**
 * `systemctl reboot` through the runner, then poll the boot id until it is a new one: that
 * proves the host went down and came back, even when it went faster than one poll.
 */
export function systemdRebooter(runner: HostRunner, pollMs = 2000): Rebooter {
  return {
    async reboot(h, _plan, boundMs) {
      const t0 = Date.now();
      const before = await runner.run(h.hostname, BOOT_ID, 15000);
      if (before.code !== 0 || !before.stdout.trim())
        return {
          ok: false,
          detail: `no boot id before the reboot: ${oneLine(before.stderr || `exit ${before.code}`)}`,
        };
      const id = before.stdout.trim();
      // The session may drop as the host goes down: its exit status says nothing.
      await runner.run(h.hostname, "systemctl reboot", 15000);
      let goneAt: number | undefined;
      while (Date.now() - t0 < boundMs) {
        await sleep(pollMs);
        const r = await runner.run(h.hostname, BOOT_ID, 10000);
        const now = r.stdout.trim();
        if (r.code !== 0 || !now) goneAt ??= Date.now() - t0;
        else if (now !== id)
          return {
            ok: true,
            detail: `back with a new boot id after ${secs(Date.now() - t0)} s${goneAt !== undefined ? ` (gone after ${secs(goneAt)} s)` : ""}`,
          };
      }
      return {
        ok: false,
        detail:
          goneAt === undefined
            ? `still the same boot after ${secs(boundMs)} s: the reboot did not happen`
            : `gone after ${secs(goneAt)} s, not back after ${secs(boundMs)} s`,
      };
    },
  };
}

/** Active connections and packets received, summed over every IPVS service: `ipvsadm -Ln` + `ipvsadm -Ln --stats --exact`. */
export function ipvsTraffic(list: string, stats: string): { active: number; inPkts: number } {
  let active = 0;
  for (const svc of parseIpvs(list).values()) for (const rs of svc.values()) active += rs.active;
  const inPkts = parseIpvsStats(stats).reduce((n, svc) => n + svc.inPkts, 0);
  return { active, inPkts };
}

const IPVS_SPLIT = "@@maglev-maintain-stats@@";

/**
 * After the routes left every gateway: wait until the maglev's IPVS has no active connection,
 * or received no packet for a second. Connection entries outlive their flows (the flows moved
 * to the other maglevs with the same real server; the entries here time out on their own), so
 * "no packet arrives any more" is what proves no traffic is left.
 */
async function ipvsQuiet(runner: HostRunner, h: HostFacts, boundMs: number): Promise<PhaseOutcome> {
  const t0 = Date.now();
  let last: number | undefined;
  let lastActive = 0;
  // At least two readings a second apart, whatever is left of the bound.
  for (let polls = 0; polls < 2 || Date.now() - t0 < boundMs; polls++) {
    const r = await runner.run(
      h.hostname,
      `${IPVS_LIST_COMMAND}; echo ${IPVS_SPLIT}; ${IPVS_STATS_COMMAND}`,
      15000,
    );
    if (r.code !== 0)
      return { ok: false, detail: `ipvsadm: ${oneLine(r.stderr || `exit ${r.code}`)}` };
    const [list, stats = ""] = r.stdout.split(IPVS_SPLIT);
    const t = ipvsTraffic(list, stats);
    if (t.active === 0) return { ok: true, detail: "no active IPVS connection" };
    if (last !== undefined && t.inPkts === last)
      return {
        ok: true,
        detail: `no IPVS packet for 1 s (${t.active} stale connection entries left to time out)`,
      };
    last = t.inPkts;
    lastActive = t.active;
    await sleep(1000);
  }
  return {
    ok: false,
    detail: `IPVS still receives packets after ${secs(boundMs)} s (${lastActive} active connections): traffic reaches it some other way than the gateways`,
  };
}

/** The plan's health probe, run on the host until it passes 3 times in a row (as the apply's gate does), bounded by its timeout. */
async function healthGate(runner: HostRunner, h: HostFacts, plan: HostPlan): Promise<PhaseOutcome> {
  const hp = plan.health!;
  const t0 = Date.now();
  const bound = hp.timeoutSeconds * 1000;
  let passed = 0;
  let last = "";
  for (;;) {
    const r = await runner.run(
      h.hostname,
      hp.command,
      Math.max(1000, Math.min(30000, bound - (Date.now() - t0))),
    );
    passed = r.code === 0 ? passed + 1 : 0;
    if (passed >= 3)
      return { ok: true, detail: `${hp.description} after ${secs(Date.now() - t0)} s` };
    if (r.code !== 0) last = oneLine(r.stderr || r.stdout || `exit ${r.code}`);
    if (r.code !== 0 && Date.now() - t0 + 1000 > bound)
      return {
        ok: false,
        detail: `${hp.description}: not after ${hp.timeoutSeconds} s (last probe: ${last})`,
      };
    await sleep(1000);
  }
}

/** `check` of one host until every row is ✓, bounded: after a reboot sessions take a few seconds. */
async function checkGate(
  topo: Topology,
  plans: readonly HostPlan[],
  runner: HostRunner,
  h: HostFacts,
  boundMs: number,
): Promise<PhaseOutcome> {
  const t0 = Date.now();
  for (;;) {
    const rows = await checkEnvironment(topo, plans as HostPlan[], runner, [h.name]);
    const bad = rows.filter((r) => !r.ok);
    if (rows.length && !bad.length) return { ok: true, detail: `${rows.length} checks ✓` };
    if (Date.now() - t0 + 3000 > boundMs)
      return {
        ok: false,
        detail: `${bad.length} of ${rows.length} checks ✗ after ${secs(Date.now() - t0)} s: ${bad
          .slice(0, 5)
          .map((r) => `${r.check}: ${r.detail}`)
          .join("; ")}${bad.length > 5 ? "; …" : ""}`,
      };
    await sleep(3000);
  }
}

/** The phases against hosts, through `runner`; the reboot through `rebooter`. */
export function runnerActions(
  topo: Topology,
  plans: readonly HostPlan[],
  runner: HostRunner,
  rebooter: Rebooter,
  opts: MaintenanceOptions = {},
): MaintenanceActions {
  const drainMs = (opts.drainTimeoutS ?? DEFAULTS.drainTimeoutS) * 1000;
  const planOf = (name: string) => plans.find((p) => p.name === name);
  return {
    async drained() {
      const st = await drainStates(topo, runner);
      return new Set([...st.entries()].filter(([, d]) => d).map(([n]) => n));
    },
    async phase(step, ph) {
      const h = topo.byName.get(step.host)!;
      // The planner decided already (and the run again right before this host): the drain
      // commands' own last-member refusals are the same rules, so --force is passed on.
      const force = !!opts.force;
      switch (ph.phase) {
        case "record": {
          // The plan's health.before, exactly as scripts/maglev-apply runs it (record_before).
          const before = planOf(h.name)?.health?.before;
          if (!before) return { ok: true, detail: "no pre-change step in the plan" };
          const r = await runner.run(h.hostname, before, RECORD_TIMEOUT_S * 1000);
          return r.code === 0
            ? { ok: true, detail: "health gate's record of the host before the change written" }
            : {
                ok: false,
                detail: `the health gate's pre-change step failed: ${oneLine(r.stderr || r.stdout || `exit ${r.code}`)}`,
              };
        }
        case "drain": {
          if (step.drain === "site") {
            const rs = await drainSite(topo, runner, step.site!, { timeoutMs: drainMs, force });
            const bad = rs.filter((r) => !r.complete);
            return {
              ok: !bad.length,
              detail: bad.length
                ? bad.map((r) => `${r.host}: ${r.detail}`).join("; ")
                : `site ${step.site} less preferred, advertised on every upstream session`,
            };
          }
          const d = await drainHost(topo, plans as HostPlan[], runner, step.host, {
            timeoutMs: drainMs,
            force,
          });
          if (!d.complete || step.drain !== "maglev") return { ok: d.complete, detail: d.detail };
          const q = await ipvsQuiet(runner, h, Math.max(5000, drainMs - d.ms));
          return { ok: q.ok, detail: `${d.detail}; ${q.detail}` };
        }
        case "run": {
          const r = await runner.run(
            h.hostname,
            `sh -c ${shellWord(opts.run ?? "", "--run command")}`,
            (opts.runTimeoutS ?? DEFAULTS.runTimeoutS) * 1000,
          );
          const tail = (r.code === 0 ? r.stdout : r.stderr || r.stdout)
            .trim()
            .split("\n")
            .slice(-2)
            .join(" | ");
          return { ok: r.code === 0, detail: `exit ${r.code}${tail ? `: ${tail}` : ""}` };
        }
        case "reboot":
          return rebooter.reboot(
            h,
            planOf(h.name),
            (opts.rebootTimeoutS ?? DEFAULTS.rebootTimeoutS) * 1000,
          );
        case "health": {
          const p = planOf(h.name);
          return p?.health
            ? healthGate(runner, h, p)
            : { ok: true, detail: "no health gate in the plan" };
        }
        case "check":
          return checkGate(
            topo,
            plans,
            runner,
            h,
            (opts.checkTimeoutS ?? DEFAULTS.checkTimeoutS) * 1000,
          );
        case "undrain": {
          if (step.drain === "site") {
            const rs = await undrainSite(topo, runner, step.site!, { timeoutMs: drainMs });
            const bad = rs.filter((r) => !r.complete);
            return {
              ok: !bad.length,
              detail: bad.length
                ? bad.map((r) => `${r.host}: ${r.detail}`).join("; ")
                : `site ${step.site}: rendered policy advertised again`,
            };
          }
          const d = await undrainHost(topo, plans as HostPlan[], runner, step.host, {
            timeoutMs: drainMs,
          });
          // See MaintenanceOptions.settleS: only an HAProxy node's drain sent new connections to
          // other members; a maglev's or a site's drain moves flows consistently.
          const settleS = step.drain === "haproxy" ? (opts.settleS ?? DEFAULTS.settleS) : 0;
          if (!d.complete || settleS === 0) return { ok: d.complete, detail: d.detail };
          await sleep(settleS * 1000);
          return { ok: true, detail: `${d.detail}; settled ${settleS} s` };
        }
      }
    },
  };
}
