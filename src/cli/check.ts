/**
 * npm run check -- <stack> [--json] [--lab] [--host <name>…] [--role <tier>…] [--diff]
 * Live diagnostics: every host compared with its plan. A table with ✓/✗ per check (or JSON
 * for monitoring); exit 1 on any ✗. --diff: a unified diff per drifted file after the table
 * (`diffs` in the JSON), secret values masked on the host as their placeholders.
 */
import { Command } from "commander";
import { deriveTopology } from "../topology";
import { buildPlans } from "../plan";
import { checkHosts, formatDiffs, formatTable } from "../ops/check";
import { loadOrExit, runnerFor } from "./common";

new Command()
  .name("check")
  .argument("<stack>", "stack name or stack file")
  .option("--json", "JSON rows instead of the table")
  .option("--lab", "check the running lab (npm run lab -- up) instead of the real hosts over SSH")
  .option("--host <name...>", "only these hosts")
  .option("--role <tier...>", "only hosts of these tiers (gateway, maglev, haproxy, …)")
  .option("--diff", "show each drifted file as a unified diff against the plan (secrets masked)")
  .action(
    async (
      stack: string,
      opts: { json?: boolean; lab?: boolean; host?: string[]; role?: string[]; diff?: boolean },
    ) => {
      const env = loadOrExit(stack);
      const topo = deriveTopology(env);
      const unknown = (opts.role ?? []).filter((r) => !topo.hosts.some((h) => h.role === r));
      if (unknown.length)
        throw new Error(
          `--role ${unknown.join(", ")}: no host of stack ${env.name} has that tier (${[...new Set(topo.hosts.map((h) => h.role))].join(", ")})`,
        );
      const runner = await runnerFor(env, topo, !!opts.lab);
      const { rows, diffs } = await checkHosts(topo, buildPlans(topo), runner, {
        hosts: opts.host,
        roles: opts.role,
        diff: !!opts.diff,
      });
      const ok = rows.every((r) => r.ok);
      if (opts.json)
        process.stdout.write(
          JSON.stringify({ stack: env.name, ok, rows, ...(opts.diff ? { diffs } : {}) }, null, 2) +
            "\n",
        );
      else
        process.stdout.write(formatTable(rows) + (diffs.length ? "\n" + formatDiffs(diffs) : ""));
      process.exitCode = ok ? 0 : 1;
    },
  )
  .parseAsync(process.argv)
  .catch((e) => {
    process.stderr.write(`check: ${(e as Error).message}\n`);
    process.exit(1);
  });
