/**
 * Scenario `drift`: a hand-edited haproxy.cfg shows as drift in `npm run check`, and `--diff`
 * (the same checkHosts call the CLI makes) shows the edit itself as a unified diff.
 */
import { checkHosts } from "../../src/ops/check";
import { formatDiffs } from "../../src/ops/check-diff";
import { HAPROXY_CFG } from "../../src/tiers/haproxy";
import type { Scenario } from "./runner";
import { haproxyMembers } from "./probes";

const EDIT = "# hand edit during an incident";

export const drift: Scenario = {
  id: "drift",
  title: "A hand-edited file shows as drift in npm run check, and --diff shows the edit",
  async run({ lab, m, runner }) {
    const h = haproxyMembers(m).at(-1)!;
    const file = HAPROXY_CFG;
    await lab.run(h.hostname, `cp -p ${file} /run/lab-drift.bak && echo '${EDIT}' >> ${file}`);
    try {
      const { rows, diffs } = await checkHosts(m.topo, m.plans, runner, {
        hosts: [h.name],
        diff: true,
      });
      const hit =
        rows.find((r) => !r.ok && r.detail.includes(file)) ??
        rows.find((r) => !r.ok && r.check.includes(file));
      const others = rows.filter((r) => !r.ok && r !== hit);
      const shown = formatDiffs(diffs);
      // The edit as an added line of that file's diff, and nothing else drifted.
      const diffOk =
        diffs.length === 1 &&
        diffs[0].path === file &&
        shown.split("\n").some((l) => l === `+${EDIT}`);
      const problems: string[] = [];
      if (!hit)
        problems.push(
          `drift not reported (rows: ${
            rows
              .filter((r) => !r.ok)
              .map((r) => r.check)
              .join(", ") || "all ✓"
          })`,
        );
      if (others.length) problems.push(`unexpected: ${others.map((r) => r.check).join(", ")}`);
      if (!diffOk) problems.push(`--diff did not show the edit: ${shown.slice(0, 300)}`);
      return {
        ok: problems.length === 0,
        detail: problems.length
          ? problems.join("; ")
          : `${h.hostname}: ✗ ${hit!.check}: ${hit!.detail}; --diff: ${shown.split("\n").filter((l) => /^[-+@]/.test(l)).length} diff lines, "+${EDIT}" among them`,
        figures: {},
      };
    } finally {
      await lab.run(h.hostname, `mv -f /run/lab-drift.bak ${file}`);
    }
  },
};
