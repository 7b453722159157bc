/**
 * npm run check -- <stack> [--json] [--lab] [--host <name>…] [--tier <tier>…] [--diff]
 * Live diagnostics: every host compared with its plan. A table with ✓/✗ per check (or JSON
 * for monitoring); exit 1 on any ✗. --diff: a unified diff per drifted file after the table
 * (`diffs` in the JSON), secret values masked on the host as their placeholders. `--role` is
 * the hidden former name of `--tier`.
 */
import { Command, Option } from "commander";
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
  .option("--tier <tier...>", "only hosts of these tiers (gateway, maglev, haproxy, …)")
  // The flag's name before issue 18 (one name for the tier): still read, not shown.
  .addOption(new Option("--role <tier...>", "former name of --tier").hideHelp())
  .option("--diff", "show each drifted file as a unified diff against the plan (secrets masked)")
  .action(
    async (
      stack: string,
      opts: {
        json?: boolean;
        lab?: boolean;
        host?: string[];
        tier?: string[];
        role?: string[];
        diff?: boolean;
      },
    ) => {
      const env = loadOrExit(stack);
      const topo = deriveTopology(env);
      const tiers =
        opts.tier || opts.role ? [...(opts.tier ?? []), ...(opts.role ?? [])] : undefined;
      const unknown = (tiers ?? []).filter((t) => !topo.hosts.some((h) => h.tier === t));
      if (unknown.length)
        throw new Error(
          `--tier ${unknown.join(", ")}: no host of stack ${env.name} has that tier (${[...new Set(topo.hosts.map((h) => h.tier))].join(", ")})`,
        );
      const runner = await runnerFor(env, topo, !!opts.lab);
      const { rows, diffs } = await checkHosts(topo, buildPlans(topo), runner, {
        hosts: opts.host,
        tiers,
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
