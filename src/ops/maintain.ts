/**
 * Planned maintenance, the run: host after host, drain → run and/or reboot → health gate →
 * check → undrain, each phase confirmed before the next. The order and every per-host
 * decision come from the pure planner (maintain-plan.ts), decided again from live drain states
 * right before each host.
 *
 * Failures: a host whose phase fails is left as the failure left it — drained, never put back
 * into service by this command — and counts against the budget (`maxFailures`, default 0).
 * Within the budget the run goes on with the next host, which is decided with the failed one
 * counted as out; beyond it the run stops and says which host is left drained and how to undo.
 *
 * The phases are written against `HostRunner` (SSH or the lab) and reuse the day-2 commands:
 * `ops drain/undrain` (drain.ts) for maglevs and HAProxy nodes, `drain-site/undrain-site` for
 * gateways, `check` (check.ts) for the host's check. The reboot is a `Rebooter`: over SSH
 * `systemctl reboot` and a new boot id; in the lab a power cycle and re-apply (lab/power-cycle.ts).
 */
import { Topology, HostFacts } from "../topology";
import { HostPlan } from "../plan/types";
import { HostRunner } from "./runner";
import { drainHost, undrainHost, drainSite, undrainSite } from "./drain";
import { checkEnvironment, drainStates } from "./check";
import {
  IPVS_LIST_COMMAND,
  IPVS_STATS_COMMAND,
  parseIpvs,
  parseIpvsStats,
} from "../daemons/keepalived/probes";
import { shellWord } from "../escape";
import {
  MaintenanceOptions,
  MaintenancePlan,
  MaintenanceStep,
  PhaseName,
  PlannedPhase,
  planStep,
  stepRefusal,
  DEFAULTS,
} from "./maintain-plan";

export interface PhaseOutcome {
  ok: boolean;
  detail: string;
}

export interface PhaseResult extends PhaseOutcome {
  phase: PhaseName;
  ms: number;
}

export type HostStatus = "ok" | "failed" | "refused" | "not reached";

export interface HostResult {
  host: string;
  hostname: string;
  tier: string;
  status: HostStatus;
  phases: PhaseResult[];
  ms: number;
  /** The failure left the host out of service (drained or partly drained); this command does not undrain it. */
  leftDrained: boolean;
  detail: string;
}

export interface MaintenanceReport {
  stack: string;
  ok: boolean;
  failures: number;
  maxFailures: number;
  /** Set when the run stopped before its last host: why. */
  stopped?: string;
  /** Set when the run refused to start: why (nothing was touched). */
  refused?: string[];
  ms: number;
  hosts: HostResult[];
}

/** What a run does to hosts; the real one is `runnerActions`, tests pass their own. */
export interface MaintenanceActions {
  /** Hosts drained now: maglevs, HAProxy nodes, gateways of a drained site. */
  drained(): Promise<Set<string>>;
  phase(step: MaintenanceStep, phase: PlannedPhase): Promise<PhaseOutcome>;
}

export interface RunHooks {
  /** Awaited before a host's first phase (the lab scenario starts its load window here). */
  beforeHost?(step: MaintenanceStep): Promise<void>;
  /** Awaited after a host's last phase, whatever its result. */
  afterHost?(step: MaintenanceStep, result: HostResult): Promise<void>;
}

export interface RunOptions extends MaintenanceOptions {
  /** Hosts that may fail before the run stops. @default 0 */
  maxFailures?: number;
  /** One line per phase per host. */
  log?: (line: string) => void;
  hooks?: RunHooks;
  /** @default Date.now */
  now?: () => number;
}

/** A host's output as one line a terminal can show: control characters (escape sequences too) become spaces. */
export function oneLine(text: string, max = 300): string {
  const s = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").trim();
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

const secs = (ms: number) => (ms / 1000).toFixed(1);

/** How to undo a host left drained, for the stop message. */
function undoHint(stack: string, step: MaintenanceStep): string {
  if (step.drain === "site") return `npm run ops -- undrain-site ${stack} ${step.site}`;
  if (step.drain === "maglev" || step.drain === "haproxy")
    return `npm run ops -- undrain ${stack} ${step.host}`;
  return "";
}

/**
 * Maintain the plan's hosts in its order. Refuses to start (touching nothing) when a step, decided
 * from the live drain states, is blocked or has no drain and the options do not allow it.
 */
export async function runMaintenance(
  topo: Topology,
  plans: readonly HostPlan[],
  plan: MaintenancePlan,
  actions: MaintenanceActions,
  opts: RunOptions = {},
): Promise<MaintenanceReport> {
  const now = opts.now ?? Date.now;
  const log = opts.log ?? (() => undefined);
  const maxFailures = opts.maxFailures ?? 0;
  const t0 = now();
  const stamp = () => `[+${secs(now() - t0).padStart(6)}s]`;
  const w = Math.max(4, ...plan.steps.map((s) => s.host.length));

  // Decide every step again from what the hosts say now.
  const live = await actions.drained();
  const fresh = plan.steps.map((s) =>
    planStep(topo, plans, topo.byName.get(s.host)!, { ...opts, drained: live }),
  );
  const refused = fresh
    .map((s) => stepRefusal(s, opts))
    .filter((x): x is string => x !== undefined);
  const notReached = (s: MaintenanceStep): HostResult => ({
    host: s.host,
    hostname: s.hostname,
    tier: s.tier,
    status: "not reached",
    phases: [],
    ms: 0,
    leftDrained: false,
    detail: "",
  });
  if (refused.length) {
    for (const r of refused) log(`refused: ${oneLine(r)}`);
    return {
      stack: plan.stack,
      ok: false,
      failures: 0,
      maxFailures,
      refused,
      ms: now() - t0,
      hosts: fresh.map(notReached),
    };
  }

  // Out of service: drained now, or left out by a failure within the budget.
  const out = new Set(live);
  const results: HostResult[] = [];
  let failures = 0;
  let stopped: string | undefined;
  for (const [i, planned] of plan.steps.entries()) {
    if (stopped) {
      results.push(notReached(planned));
      continue;
    }
    const h = topo.byName.get(planned.host)!;
    const h0 = now();
    // Right before the host: its decision from the live states (a host failed earlier is out).
    const nowDrained = await actions.drained();
    for (const n of out) nowDrained.add(n);
    const step = planStep(topo, plans, h, { ...opts, drained: nowDrained });
    await opts.hooks?.beforeHost?.(step);
    log(
      `${stamp()} ${step.host.padEnd(w)} (${i + 1}/${plan.steps.length}, ${step.tier}) drain: ${step.drain}${step.alreadyDrained ? " (already drained: kept)" : ""}; ${oneLine(step.note)}`,
    );
    const result: HostResult = {
      host: step.host,
      hostname: step.hostname,
      tier: step.tier,
      status: "ok",
      phases: [],
      ms: 0,
      leftDrained: false,
      detail: "",
    };
    const refusal = stepRefusal(step, opts);
    if (refusal) {
      result.status = "refused";
      result.detail = refusal;
      log(`${stamp()} ${step.host.padEnd(w)} ✗ refused, nothing touched: ${oneLine(refusal)}`);
    } else {
      let drainTouched = false;
      for (const ph of step.phases) {
        if (ph.noop) continue;
        const p0 = now();
        let o: PhaseOutcome;
        try {
          o = await actions.phase(step, ph);
        } catch (e) {
          o = { ok: false, detail: (e as Error).message };
        }
        if (ph.phase === "drain") drainTouched = true;
        const r: PhaseResult = { phase: ph.phase, ok: o.ok, detail: o.detail, ms: now() - p0 };
        result.phases.push(r);
        log(
          `${stamp()} ${step.host.padEnd(w)} ${ph.phase.padEnd(8)} ${o.ok ? "✓" : "✗"} ${oneLine(o.detail)} (${secs(r.ms)} s)`,
        );
        if (!o.ok) {
          result.status = "failed";
          result.detail = `${ph.phase}: ${o.detail}`;
          break;
        }
      }
      // Drained by us, or by the operator before: either way not undone after a failure.
      result.leftDrained =
        result.status === "failed" &&
        step.drain !== "none" &&
        (drainTouched || step.alreadyDrained);
    }
    result.ms = now() - h0;
    if (result.status !== "ok") {
      failures++;
      out.add(step.host);
      const left = result.leftDrained
        ? `left drained (undo: ${undoHint(plan.stack, step)})`
        : step.drain === "none"
          ? "left as the failure left it (it has no drain)"
          : "not drained (nothing was touched)";
      if (failures > maxFailures) {
        stopped = `${step.host} ${result.status === "refused" ? "was refused" : `failed in ${result.phases[result.phases.length - 1]?.phase ?? "preflight"}`}: ${failures} failure(s), budget ${maxFailures}; ${step.host} ${left}`;
        log(`${stamp()} stopped: ${oneLine(stopped)}`);
      } else
        log(
          `${stamp()} ${step.host.padEnd(w)} failure ${failures} of ${maxFailures} allowed; ${left}; going on`,
        );
    }
    results.push(result);
    await opts.hooks?.afterHost?.(step, result);
  }
  return {
    stack: plan.stack,
    ok: failures === 0,
    failures,
    maxFailures,
    ...(stopped ? { stopped } : {}),
    ms: now() - t0,
    hosts: results,
  };
}

/** The summary table: one row per host, seconds per phase (✗ where it failed), total and result. */
export function formatSummary(r: MaintenanceReport): string {
  const cols: PhaseName[] = ["drain", "run", "reboot", "health", "check", "undrain"];
  const used = cols.filter((c) => r.hosts.some((h) => h.phases.some((p) => p.phase === c)));
  const head = ["host", "tier", ...used, "total s", "result"];
  const rows = r.hosts.map((h) => [
    h.host,
    h.tier,
    ...used.map((c) => {
      const p = h.phases.find((x) => x.phase === c);
      return p ? `${p.ok ? "" : "✗ "}${secs(p.ms)}` : h.status === "not reached" ? "" : "-";
    }),
    h.status === "not reached" ? "" : secs(h.ms),
    h.status === "ok"
      ? "ok"
      : h.status === "not reached"
        ? "not reached"
        : `${h.status.toUpperCase()}${h.leftDrained ? " (left drained)" : ""}`,
  ]);
  const widths = head.map((x, i) => Math.max(x.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) =>
    row
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  const L = [fmt(head), fmt(widths.map((n) => "-".repeat(n))), ...rows.map(fmt), ""];
  const done = r.hosts.filter((h) => h.status === "ok").length;
  if (r.refused) L.push(`refused to start: nothing touched (${r.refused.length} reason(s) above)`);
  else
    L.push(
      `${done} of ${r.hosts.length} host(s) maintained, ${r.failures} failed (budget ${r.maxFailures}) in ${secs(r.ms)} s${r.stopped ? `; stopped: ${oneLine(r.stopped)}` : ""}`,
    );
  return L.join("\n") + "\n";
}

// ------------------------------------------------------------------------------ real phases

/** How a host is rebooted and waited for: over SSH `systemctl reboot`, in the lab a power cycle. */
export interface Rebooter {
  reboot(host: HostFacts, plan: HostPlan | undefined, boundMs: number): Promise<PhaseOutcome>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
          return { ok: d.complete, detail: d.detail };
        }
      }
    },
  };
}
