/**
 * Scenario `drift`: a hand-edited haproxy.cfg shows as drift in `npm run check`.
 */
import { checkEnvironment } from "../../src/ops/check";
import { HAPROXY_CFG } from "../../src/tiers/haproxy";
import type { Scenario } from "./runner";
import { haproxyMembers } from "./probes";

export const drift: Scenario = {
  id: "drift",
  title: "A hand-edited file shows as drift in npm run check",
  async run({ lab, m, runner }) {
    const h = haproxyMembers(m).at(-1)!;
    const file = HAPROXY_CFG;
    await lab.run(
      h.hostname,
      `cp -p ${file} /run/lab-drift.bak && echo '# hand edit during an incident' >> ${file}`,
    );
    try {
      const rows = await checkEnvironment(m.topo, m.plans, runner, [h.name]);
      const hit =
        rows.find((r) => !r.ok && r.detail.includes(file)) ??
        rows.find((r) => !r.ok && r.check.includes(file));
      const others = rows.filter((r) => !r.ok && r !== hit);
      return {
        ok: !!hit && others.length === 0,
        detail: hit
          ? `${h.hostname}: ✗ ${hit.check}: ${hit.detail}${others.length ? `; unexpected: ${others.map((r) => r.check).join(", ")}` : ""}`
          : `drift not reported (rows: ${
              rows
                .filter((r) => !r.ok)
                .map((r) => r.check)
                .join(", ") || "all ✓"
            })`,
        figures: {},
      };
    } finally {
      await lab.run(h.hostname, `mv -f /run/lab-drift.bak ${file}`);
    }
  },
};
