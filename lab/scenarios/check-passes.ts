/**
 * Scenario `check`: `npm run check` is all ✓ on a fresh lab.
 */
import { checkEnvironment } from "../../src/ops/check";
import type { Scenario } from "./runner";

export const check: Scenario = {
  id: "check",
  title: "npm run check: every check passes on the lab",
  async run({ m, runner }) {
    const rows = await checkEnvironment(m.topo, m.plans, runner);
    const bad = rows.filter((r) => !r.ok);
    return {
      ok: bad.length === 0 && rows.length > 0,
      detail: bad.length
        ? `${bad.length} of ${rows.length} failed: ${bad
            .slice(0, 5)
            .map((r) => `${r.host} ${r.check}: ${r.detail}`)
            .join("; ")}`
        : `${rows.length} checks ✓`,
      figures: { checks: rows.length, failed: bad.length },
    };
  },
};
