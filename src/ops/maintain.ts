/**
 * Planned maintenance, the run: host after host, the health gate's pre-change record (where the
 * plan has one, as the apply records it) → drain → run and/or reboot → health gate → check →
 * undrain, each phase confirmed before the next. The order and every per-host
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
 * `systemctl reboot` and a new boot id; in the lab reboot.target in the guest (lab/rebooter.ts).
 * The phases themselves are in ./maintain-phases.ts (re-exported here); this file runs them.
 */
import { Topology } from "../topology";
import { HostPlan } from "../plan/types";
import { oneLine, secs } from "./maintain-phases";
import {
  MaintenanceOptions,
  MaintenancePlan,
  MaintenanceStep,
  PhaseName,
  PlannedPhase,
  planStep,
  stepRefusal,
} from "./maintain-plan";

export {
  oneLine,
  ipvsTraffic,
  runnerActions,
  systemdRebooter,
  type Rebooter,
} from "./maintain-phases";

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
  const cols: PhaseName[] = ["record", "drain", "run", "reboot", "health", "check", "undrain"];
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
