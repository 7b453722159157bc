/**
 * Scenario `rollback`: under load, a haproxy.cfg that passes `haproxy -c` but moves the
 * health API off the port the maglevs check. The health gate fails and the apply rolls back by
 * itself (exit 2, the probe's words); file, generation and health as before; 0 failed requests.
 */
import { sleep } from "../cluster";
import { startLoad } from "../load";
import { HostPlan } from "../../src/plan/types";
import { HAPROXY_CFG } from "../../src/tiers/haproxy";
import { applyOne, Scenario, withFileContent } from "./runner";
import { haproxyMembers } from "./probes";
import { loadMix, loadSummary } from "./load-mix";
import { LoadFigures } from "../load";
import { parseApplyTimings } from "../apply-timings";

/**
 * "lost in second +12 of the apply (phases: stage 0–0.4 s, check 0.4–5.1 s, …)": the seconds,
 * relative to the apply's start, in which the load counted a failure, and the windows of the
 * apply's phases from its timings line (guest and host share a clock in User-Mode Linux).
 */
export function whenLost(figs: LoadFigures[], t0Ms: number, phases: string[]): string {
  const at = [
    ...new Set(
      figs.flatMap((f) =>
        (f.perSecond ?? [])
          .filter((s) => s.failed > 0)
          .map((s) => Math.round(s.second - t0Ms / 1000)),
      ),
    ),
  ].sort((a, b) => a - b);
  const t = parseApplyTimings(phases);
  let from = 0;
  const windows: string[] = [];
  for (const [name, sec] of t?.phases ?? []) {
    if (sec >= 0.1) windows.push(`${name} ${from.toFixed(1)}–${(from + sec).toFixed(1)} s`);
    from += sec;
  }
  return `lost in second(s) ${at.length ? at.map((x) => `+${x}`).join(", ") : "? (not in the per-second counters)"} of the apply${windows.length ? ` (phases: ${windows.join(", ")})` : ""}`;
}

export const rollback: Scenario = {
  id: "rollback",
  title:
    "A change that passes its checker but fails the health gate rolls back by itself, under load, 0 failed",
  async run(c) {
    const { lab, m } = c;
    const h = haproxyMembers(m)[0];
    const plan = m.planOf.get(h.hostname)!;
    const file = HAPROXY_CFG;
    const port = /bind 0\.0\.0\.0:(\d+)/.exec(plan.files.find((f) => f.path === file)!.content)![1];
    // The health API moved off the port the maglevs (and the health gate) check: HAProxy's own
    // checker is happy with it, the host is not healthy. A short gate keeps the scenario short.
    const bad: HostPlan = {
      ...withFileContent(plan, file, (content) =>
        content.split(`:${port}`).join(`:${Number(port) + 1}`),
      ),
      health: { ...plan.health!, timeoutSeconds: 15 },
    };
    const snap = `sha256sum ${file} | cut -c1-64; readlink /var/lib/maglev-infra/current; curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${port}/haproxy-health`;
    const before = await lab.run(h.hostname, snap);
    const load = startLoad(lab, loadMix(m), 40, { perSecond: true });
    await sleep(1000);
    const t0 = Date.now();
    const res = await applyOne(c, bad, 180_000);
    const applyMs = Date.now() - t0;
    // What the rollback left (read with `exec`: a failed curl must not end the scenario).
    const after = (await lab.exec(h.hostname, snap)).stdout;
    const figs = await load;
    const l = loadSummary(figs);
    // Whatever happened, the host goes back to its plan before the next scenario.
    if (res.code !== 2 || before !== after)
      c.restoreLater(`${h.hostname} back on its plan`, async () => void (await applyOne(c, plan)));
    const msg = (res.stdout + res.stderr).trim();
    const problems: string[] = [];
    if (res.code !== 2) problems.push(`exit ${res.code}, want 2 (rolled back): ${msg.slice(-300)}`);
    if (!msg.includes(plan.health!.description))
      problems.push(`the failure does not carry the probe's words ("${plan.health!.description}")`);
    if (!/health after rollback: ok/.test(msg)) problems.push("not healthy after the rollback");
    if (before !== after)
      problems.push(
        `live state not restored: before ${JSON.stringify(before)} after ${JSON.stringify(after)}`,
      );
    // When a request fails: in which second after the apply started, and the apply's phases
    // laid out on the same clock (its timings line), so the failure names what was happening.
    if (l.failed > 0) problems.push(`${l.text}; ${whenLost(figs, t0, res.phases)}`);
    const line = res.phases.find((x) => /FAILED/.test(x)) ?? "";
    return {
      ok: problems.length === 0,
      detail: problems.length
        ? problems.join("; ")
        : `${h.hostname}: ${line.replace(/^maglev-apply: /, "").slice(0, 160)}; file, generation and health as before; ${l.text}`,
      figures: { applyMs, failed: l.failed, requests: l.requests },
    };
  },
};
