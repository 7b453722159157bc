/**
 * Scenario `removed-file`: a file dropped from a plan is deleted by the next apply; a file
 * the apply never made stays; the apply after that is unchanged.
 */
import { HostPlan } from "../../src/plan/types";
import { applyOne, Scenario } from "./runner";
import { haproxyMembers } from "./probes";

export const removedFile: Scenario = {
  id: "removed-file",
  title:
    "A file dropped from a plan is gone from the host after the next apply; a file the apply never made stays",
  async run(c) {
    const { lab, m } = c;
    const h = haproxyMembers(m).at(-1)!;
    const plan = m.planOf.get(h.hostname)!;
    const extra = "/etc/maglev-infra/lab-removed-file.conf";
    const foreign = "/etc/maglev-infra/operator-notes.txt";
    const withExtra: HostPlan = {
      ...plan,
      files: [
        ...plan.files,
        {
          path: extra,
          mode: "0644",
          owner: "root:root",
          content: "# lab: a file the next plan drops\n",
          activate: { kind: "none" as const },
        },
      ].sort((a, b) => (a.path < b.path ? -1 : 1)),
    };
    await lab.run(h.hostname, `echo 'not made by the apply' > ${foreign}`);
    const exists = async () =>
      (
        await lab.run(
          h.hostname,
          `for f in ${extra} ${foreign}; do [ -e $f ] && echo y || echo n; done | tr -d '\\n'`,
        )
      ).trim();
    const problems: string[] = [];
    try {
      const a = await applyOne(c, withExtra);
      if (a.code !== 0)
        problems.push(
          `apply with the file: exit ${a.code}: ${a.phases.slice(-1)[0] ?? a.stderr.slice(-200)}`,
        );
      const mid = await exists();
      const b = await applyOne(c, plan);
      if (b.code !== 0)
        problems.push(
          `apply without it: exit ${b.code}: ${b.phases.slice(-1)[0] ?? b.stderr.slice(-200)}`,
        );
      const end = await exists();
      if (mid !== "yy")
        problems.push(`after the first apply: ${extra} ${mid[0] === "y" ? "exists" : "missing"}`);
      if (end !== "ny")
        problems.push(
          `after the second apply: ${extra} ${end[0] === "y" ? "still there" : "gone"}, ${foreign} ${end[1] === "y" ? "kept" : "DELETED"}`,
        );
      const third = await applyOne(c, plan);
      if (!third.unchanged)
        problems.push(`a third apply is not a no-op: ${third.phases.slice(-1)[0]}`);
      return {
        ok: problems.length === 0,
        detail: problems.length
          ? problems.join("; ")
          : `${h.hostname}: ${extra} created, then removed (${b.phases.slice(-1)[0]?.replace(/^maglev-apply: /, "")}); ${foreign} kept; next apply unchanged`,
        figures: { withFileMs: a.ms, withoutFileMs: b.ms },
      };
    } finally {
      await lab.run(h.hostname, `rm -f ${foreign}`);
    }
  },
};
