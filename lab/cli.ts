/**
 * npm run lab -- <command>          (npm run lab -- --help: every command, flag and variable)
 *
 *   up [--stack S]         prerequisites, boot every node, apply every plan, wait for BGP + VIP routes
 *   status                 nodes, BGP sessions, routes, IPVS services
 *   exec <host> -- <cmd…>  run a command in a guest (stdout, stderr, exit status passed through)
 *   stop <host>            power cut (uml_mconsole halt)
 *   start <host>           boot again (a managed host from its disk; a lab-only node is set up again)
 *   reboot <host>          a clean reboot (systemd guests: reboot.target, same disk)
 *   apply [--stack S]      re-render the stack and re-apply: serial rollout (drain → apply → health per host)
 *   test [names…] [--keep] the scenarios (lab/scenarios/), results in ./lab-results.json
 *   down                   kill every guest and switch, remove the state dir
 *
 * State dir: $MAGLEV_LAB_DIR or /run/maglev-lab. The grammar is lab/cli-program.ts; this file
 * holds what each command does.
 */
import * as fs from "fs";
import * as path from "path";
import { DEFAULT_STATE_DIR, Lab } from "./guest";
import { ensureKernel, requirePrerequisites } from "./prereqs";
import { provision, readCluster, rollout, summary, up, waitReady, readyState } from "./cluster";
import { buildLabModel } from "./topology";
import { LabActions, runLab } from "./cli-program";
import { shellWord } from "../src/escape";

const log = (s: string) => console.log(s);

function attach(): Lab {
  if (!fs.existsSync(path.join(DEFAULT_STATE_DIR, "lab.json")))
    throw new Error(`no lab in ${DEFAULT_STATE_DIR} (npm run lab -- up)`);
  return Lab.attach(DEFAULT_STATE_DIR);
}

const actions: LabActions = {
  async up({ stack }) {
    requirePrerequisites();
    ensureKernel(log);
    const r = await up({ stack, log });
    log(await summary(r.lab, r.model));
    log(
      `ready in ${(r.totalMs / 1000).toFixed(1)} s (boot ${(r.bootMs / 1000).toFixed(1)} s, apply ${(r.applyMs / 1000).toFixed(1)} s, BGP/routes ${(r.readyMs / 1000).toFixed(1)} s)`,
    );
    return 0;
  },

  async down() {
    if (!fs.existsSync(path.join(DEFAULT_STATE_DIR, "lab.json"))) {
      log(`no lab in ${DEFAULT_STATE_DIR}`);
      return 0;
    }
    const t0 = Date.now();
    const { leftovers } = await Lab.attach(DEFAULT_STATE_DIR).down();
    log(
      `down in ${Date.now() - t0} ms; leftovers: ${leftovers.length ? leftovers.join("; ") : "none"}`,
    );
    return leftovers.length ? 1 : 0;
  },

  async status() {
    const lab = attach();
    const c = readCluster();
    const m = buildLabModel(c.stack, c.root ?? process.cwd());
    log(await summary(lab, m));
    const st = await readyState(lab, m);
    log(`${st.ok ? "ready" : "NOT ready"}: ${st.detail}`);
    return 0;
  },

  async exec(host, cmd) {
    const lab = attach();
    // One argument: a shell command line; several: argv, each a quoted word.
    const script =
      cmd.length === 1 ? cmd[0] : cmd.map((a) => shellWord(a, "lab exec argument")).join(" ");
    const r = await lab.exec(host, script, {
      timeoutMs: Number(process.env.LAB_EXEC_TIMEOUT_MS ?? 600_000),
    });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    return r.code;
  },

  async stop(host) {
    const lab = attach();
    const t0 = Date.now();
    await lab.stop(host);
    log(`${host}: powered off in ${Date.now() - t0} ms`);
    return 0;
  },

  async start(host) {
    const lab = attach();
    const c = readCluster();
    const m = buildLabModel(c.stack, c.root ?? process.cwd());
    const b = await lab.start(host);
    log(`${host}: booted in ${b.readyMs} ms`);
    // A managed host (systemd) boots from its own disk, as a VM after a power cut: nothing to
    // re-apply. A lab-only node keeps nothing: it is set up again.
    if (lab.machineOf(host) !== "systemd") await provision(lab, m, host);
    return 0;
  },

  async reboot(host) {
    const lab = attach();
    const b = await lab.reboot(host);
    log(`${host}: rebooted in ${b.readyMs} ms`);
    return 0;
  },

  async apply(opts) {
    const lab = attach();
    const c = readCluster();
    const stack = opts.stack ?? c.stack;
    const m = buildLabModel(stack, c.root && stack === c.stack ? c.root : process.cwd());
    const r = await rollout(lab, m, log);
    const st = await waitReady(lab, m, 60_000);
    log(
      `rollout of stack ${stack} done in ${(r.ms / 1000).toFixed(1)} s (applied: ${r.applied.join(", ") || "none"}; unchanged: ${r.skipped.length}); ${st.ok ? "ready" : "NOT ready"}: ${st.detail}`,
    );
    return st.ok ? 0 : 1;
  },

  async test(args) {
    const { runScenarios } = await import("./scenarios");
    return runScenarios(args);
  },
};

runLab(actions, process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`lab: ${(e as Error).message}`);
    process.exit(1);
  },
);
