/**
 * npm run check -- <stack> [--json] [--lab] [--host <name>…]
 * Live diagnostics: every host compared with its plan. A table with ✓/✗ per check (or JSON
 * for monitoring); exit 1 on any ✗.
 */
import { Command } from "commander";
import { deriveTopology } from "../topology";
import { buildPlans } from "../plan";
import { checkEnvironment, formatTable } from "../ops/check";
import { loadOrExit, runnerFor } from "./common";

new Command()
  .name("check")
  .argument("<stack>", "stack name or stack file")
  .option("--json", "JSON rows instead of the table")
  .option("--lab", "check the running lab (npm run lab -- up) instead of the real hosts over SSH")
  .option("--host <name...>", "only these hosts")
  .action(async (stack: string, opts: { json?: boolean; lab?: boolean; host?: string[] }) => {
    const env = loadOrExit(stack);
    const topo = deriveTopology(env);
    const runner = await runnerFor(env, topo, !!opts.lab);
    const rows = await checkEnvironment(topo, buildPlans(topo), runner, opts.host);
    process.stdout.write(opts.json ? JSON.stringify({ stack: env.name, ok: rows.every((r) => r.ok), rows }, null, 2) + "\n" : formatTable(rows));
    process.exitCode = rows.every((r) => r.ok) ? 0 : 1;
  })
  .parseAsync(process.argv)
  .catch((e) => {
    process.stderr.write(`check: ${(e as Error).message}\n`);
    process.exit(1);
  });
