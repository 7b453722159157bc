/**
 * npm run ops -- drain|undrain <stack> <host> [--force] [--timeout <s>] [--lab]
 * npm run ops -- drain-site|undrain-site <stack> <site> [--withdraw] [--force] [--lab]
 * npm run ops -- status <stack> [--lab]
 * npm run ops -- maintain <stack> <host…|--tier <tier>|--all> [--run '<command>'] [--reboot]
 *                [--max-failures N] [--allow-undrained] [--force] [--dry-run] [--json] [--lab]
 * Waits until a drain is complete (or reports the timeout); exit 1 when it is not.
 */
import { Command } from "commander";
import { deriveTopology } from "../topology";
import { buildPlans } from "../plan";
import { drainHost, undrainHost, drainSite, undrainSite, DrainResult } from "../ops/drain";
import { drainStates } from "../ops/check";
import { loadOrExit, runnerFor } from "./common";
import { formatPlan, planMaintenance, MaintenanceOptions } from "../ops/maintain-plan";
import {
  formatSummary,
  runMaintenance,
  runnerActions,
  systemdRebooter,
  Rebooter,
} from "../ops/maintain";

function report(results: DrainResult[]): void {
  for (const r of results)
    process.stdout.write(
      `${r.complete ? "✓" : "✗"}  ${r.action} ${r.host}: ${r.detail} (${r.ms} ms)\n`,
    );
  if (results.some((r) => !r.complete)) process.exitCode = 1;
}

async function setup(stack: string, lab?: boolean) {
  const env = loadOrExit(stack);
  const topo = deriveTopology(env);
  return { env, topo, plans: buildPlans(topo), runner: await runnerFor(env, topo, !!lab) };
}

const program = new Command()
  .name("ops")
  .description(
    "Drain and undrain maglevs, HAProxy nodes and sites; planned maintenance host by host",
  );
for (const action of ["drain", "undrain"] as const) {
  program
    .command(`${action} <stack> <host>`)
    .option("--force", "also the last announcing maglev / last serving member")
    .option("--timeout <seconds>", "how long to wait for completion", "60")
    .option("--lab", "the running lab instead of SSH")
    .action(
      async (
        stack: string,
        host: string,
        o: { force?: boolean; timeout: string; lab?: boolean },
      ) => {
        const { topo, plans, runner } = await setup(stack, o.lab);
        const f = action === "drain" ? drainHost : undrainHost;
        report([
          await f(topo, plans, runner, host, {
            force: o.force,
            timeoutMs: Number(o.timeout) * 1000,
          }),
        ]);
      },
    );
}
program
  .command("drain-site <stack> <site>")
  .option("--withdraw", "withdraw the site's announcements instead of making them less preferred")
  .option("--force", "also when it is the only site")
  .option("--lab", "the running lab instead of SSH")
  .action(
    async (
      stack: string,
      site: string,
      o: { withdraw?: boolean; force?: boolean; lab?: boolean },
    ) => {
      const { topo, runner } = await setup(stack, o.lab);
      report(await drainSite(topo, runner, site, { withdraw: o.withdraw, force: o.force }));
    },
  );
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
      const what =
        h.tier === "gateway"
          ? `site ${h.site ?? "-"} ${drained ? "drained" : "announced"}`
          : drained
            ? "drained"
            : "serving";
      process.stdout.write(`${name.padEnd(12)} ${what}\n`);
    }
  });

/** A whole number from the command line, within bounds, or exit with the option's name. */
function wholeNumber(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    process.stderr.write(
      `ops: ${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(v)}\n`,
    );
    process.exit(2);
  }
  return Number(v);
}

program
  .command("maintain <stack> [hosts...]")
  .description("host by host: drain, run a command and/or reboot, health gate, check, undrain")
  .option("--tier <tier>", "every host of one tier")
  .option("--all", "every host of the stack")
  .option(
    "--run <command>",
    "run this command on each host (as root, sh -c), e.g. 'apt-get update && apt-get -y upgrade'",
  )
  .option("--reboot", "reboot each host")
  .option("--max-failures <n>", "hosts that may fail before the run stops", "0")
  .option(
    "--allow-undrained",
    "also hosts that carry traffic but have no drain (dnsdist, k0s workers, PowerDNS, site-less gateways)",
  )
  .option("--force", "also hosts whose maintenance takes a group, every VIP or all routing down")
  .option(
    "--settle <seconds>",
    "wait after an HAProxy node's undrain: connections opened during its drain finish before the next host moves flows",
    "10",
  )
  .option("--drain-timeout <seconds>", "bound of each drain and undrain", "60")
  .option("--reboot-timeout <seconds>", "bound of each reboot", "600")
  .option("--check-timeout <seconds>", "bound of each host's check", "120")
  .option("--run-timeout <seconds>", "bound of each --run command", "1800")
  .option("--dry-run", "print the plan (order, drains, waits); touch nothing, ask no host")
  .option("--json", "the plan (--dry-run) or the report as JSON on stdout; progress on stderr")
  .option("--lab", "the running lab instead of SSH")
  .action(
    async (stack: string, hosts: string[], o: Record<string, string | boolean | undefined>) => {
      const env = loadOrExit(stack);
      const topo = deriveTopology(env);
      const plans = buildPlans(topo);
      const opts: MaintenanceOptions = {
        ...(typeof o.run === "string" ? { run: o.run } : {}),
        reboot: !!o.reboot,
        rebootKind: o.lab ? "lab" : "systemd",
        allowUndrained: !!o.allowUndrained,
        force: !!o.force,
        settleS: wholeNumber("--settle", String(o.settle), 0, 3600),
        drainTimeoutS: wholeNumber("--drain-timeout", String(o.drainTimeout), 1, 3600),
        rebootTimeoutS: wholeNumber("--reboot-timeout", String(o.rebootTimeout), 10, 7200),
        checkTimeoutS: wholeNumber("--check-timeout", String(o.checkTimeout), 1, 3600),
        runTimeoutS: wholeNumber("--run-timeout", String(o.runTimeout), 1, 86400),
      };
      const maxFailures = wholeNumber("--max-failures", String(o.maxFailures), 0, 10000);
      if (opts.run === undefined && !opts.reboot && !o.dryRun)
        process.stderr.write(
          "ops: neither --run nor --reboot: each host is drained, checked and undrained\n",
        );
      const sel = { hosts, ...(typeof o.tier === "string" ? { tier: o.tier } : {}), all: !!o.all };
      const plan = planMaintenance(topo, plans, sel, opts);
      if (o.dryRun) {
        process.stdout.write(
          o.json
            ? JSON.stringify({ dryRun: true, maxFailures, ...plan }, null, 2) + "\n"
            : formatPlan(plan, opts, maxFailures),
        );
        if (plan.refusals.length) process.exitCode = 1;
        return;
      }
      const runner = await runnerFor(env, topo, !!o.lab);
      let rebooter: Rebooter = systemdRebooter(runner);
      if (o.lab) {
        // Loaded only here, like the lab runner: the SSH path must not need the lab.
        const { labRebooter } = await import("../../lab/rebooter");
        rebooter = labRebooter();
      }
      const out = o.json ? process.stderr : process.stdout;
      const report = await runMaintenance(
        topo,
        plans,
        plan,
        runnerActions(topo, plans, runner, rebooter, opts),
        { ...opts, maxFailures, log: (l) => out.write(l + "\n") },
      );
      out.write("\n" + formatSummary(report));
      if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
      if (!report.ok) process.exitCode = 1;
    },
  );

program.parseAsync(process.argv).catch((e) => {
  process.stderr.write(`ops: ${(e as Error).message}\n`);
  process.exit(1);
});
