/**
 * npm run ops -- drain|undrain <stack> <host> [--force] [--timeout <s>] [--lab]
 * npm run ops -- drain-site|undrain-site <stack> <site> [--withdraw] [--force] [--lab]
 * npm run ops -- status <stack> [--lab]
 * Waits until a drain is complete (or reports the timeout); exit 1 when it is not.
 */
import { Command } from "commander";
import { deriveTopology } from "../topology";
import { buildPlans } from "../plan";
import { drainHost, undrainHost, drainSite, undrainSite, DrainResult } from "../ops/drain";
import { drainStates } from "../ops/check";
import { loadOrExit, runnerFor } from "./common";

function report(results: DrainResult[]): void {
  for (const r of results) process.stdout.write(`${r.complete ? "✓" : "✗"}  ${r.action} ${r.host}: ${r.detail} (${r.ms} ms)\n`);
  if (results.some((r) => !r.complete)) process.exitCode = 1;
}

async function setup(stack: string, lab?: boolean) {
  const env = loadOrExit(stack);
  const topo = deriveTopology(env);
  return { env, topo, plans: buildPlans(topo), runner: await runnerFor(env, topo, !!lab) };
}

const program = new Command().name("ops").description("Drain and undrain maglevs, HAProxy nodes and sites");
for (const action of ["drain", "undrain"] as const) {
  program
    .command(`${action} <stack> <host>`)
    .option("--force", "also the last announcing maglev / last serving member")
    .option("--timeout <seconds>", "how long to wait for completion", "60")
    .option("--lab", "the running lab instead of SSH")
    .action(async (stack: string, host: string, o: { force?: boolean; timeout: string; lab?: boolean }) => {
      const { topo, plans, runner } = await setup(stack, o.lab);
      const f = action === "drain" ? drainHost : undrainHost;
      report([await f(topo, plans, runner, host, { force: o.force, timeoutMs: Number(o.timeout) * 1000 })]);
    });
}
program
  .command("drain-site <stack> <site>")
  .option("--withdraw", "withdraw the site's announcements instead of making them less preferred")
  .option("--force", "also when it is the only site")
  .option("--lab", "the running lab instead of SSH")
  .action(async (stack: string, site: string, o: { withdraw?: boolean; force?: boolean; lab?: boolean }) => {
    const { topo, runner } = await setup(stack, o.lab);
    report(await drainSite(topo, runner, site, { withdraw: o.withdraw, force: o.force }));
  });
program
  .command("undrain-site <stack> <site>")
  .option("--lab", "the running lab instead of SSH")
  .action(async (stack: string, site: string, o: { lab?: boolean }) => {
    const { topo, runner } = await setup(stack, o.lab);
    report(await undrainSite(topo, runner, site));
  });
program
  .command("status <stack>")
  .option("--lab", "the running lab instead of SSH")
  .action(async (stack: string, o: { lab?: boolean }) => {
    const { topo, runner } = await setup(stack, o.lab);
    const st = await drainStates(topo, runner);
    for (const [name, drained] of [...st.entries()].sort()) {
      const h = topo.hosts.find((x) => x.name === name)!;
      // A gateway's drain is its site's (drain-site), the others' their own.
      const what = h.role === "gateway" ? `site ${h.site ?? "-"} ${drained ? "drained" : "announced"}` : drained ? "drained" : "serving";
      process.stdout.write(`${name.padEnd(12)} ${what}\n`);
    }
  });

program.parseAsync(process.argv).catch((e) => {
  process.stderr.write(`ops: ${(e as Error).message}\n`);
  process.exit(1);
});
