/**
 * Scenario `noop`: a second apply of every host changes nothing. "unchanged", no checker,
 * drain or reload, no daemon restarted; seconds per host.
 */
import { SERVICE_PIDS } from "../cluster";
import { applyOne, Scenario } from "./runner";

export const noop: Scenario = {
  id: "noop",
  title:
    "A second apply of every host changes nothing: one command per host, no checker, no drain, no reload",
  async run(c) {
    const { lab, m } = c;
    const pids = async (h: string) => (await lab.run(h, SERVICE_PIDS)).trim();
    const problems: string[] = [];
    const figures: Record<string, number | string> = {};
    for (const p of m.plans) {
      const before = await pids(p.hostname);
      const r = await applyOne(c, p);
      const after = await pids(p.hostname);
      figures[`${p.name}Ms`] = r.ms;
      if (r.code !== 0 || !r.unchanged)
        problems.push(
          `${p.hostname}: exit ${r.code}, ${r.phases.slice(-1)[0] ?? r.stderr.trim().slice(-200)}`,
        );
      if (r.phases.some((l) => /^maglev-apply: (check|drain|activate)/.test(l)))
        problems.push(`${p.hostname}: ran ${r.phases.map((l) => l.split(":")[1]).join(",")}`);
      if (before !== after)
        problems.push(`${p.hostname}: daemons restarted (${before} → ${after})`);
    }
    const ms = m.plans.map((p) => figures[`${p.name}Ms`] as number);
    figures.maxMs = Math.max(...ms);
    figures.medianMs = [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)];
    return {
      ok: problems.length === 0,
      detail: problems.length
        ? problems.join("; ")
        : `${m.plans.length} hosts unchanged, no daemon restarted; per host ${(figures.medianMs as number) / 1000} s median, ${(figures.maxMs as number) / 1000} s max`,
      figures,
    };
  },
};
