/**
 * The whole lab cluster: boot every node of a stack (managed hosts by hostname + router,
 * client, app servers), apply each managed host's bundle with the on-host apply program (the
 * same commands and stdin the Pulumi components run), set up the lab-only nodes, wait until BGP is established
 * and the VIPs are routed, and summarise. Used by lab/cli.ts, lab/scenarios/, lab/bench.ts.
 *
 * Here: the cluster's life cycle in the order `lab up` runs it (cluster.json, apply, rollout,
 * `up`, the benches' lab). The lab-only nodes' set-up is lab/lab-nodes.ts; readiness, the
 * summary and the daemon-log scripts are lab/readiness.ts. Both are re-exported here, so
 * callers import the cluster from one place.
 */
import * as fs from "fs";
import * as path from "path";
import { createHash } from "crypto";
import { DEFAULT_STATE_DIR, Lab } from "./guest";
import { ensureIpv6, setupApp, setupClient, setupRouter } from "./lab-nodes";
import { ensureKernel, requirePrerequisites } from "./prereqs";
import { notReadyEvidence, serviceLogTail, waitReady } from "./readiness";
import { applyBundleInLab, ApplyResult } from "./transport";
import { ApplyTimings, parseApplyTimings, timingsTable } from "./apply-timings";
import { buildLabModel, LabModel, labSecrets, OPERATOR } from "./topology";
import { HostPlan } from "../src/plan";
import { scriptCommand } from "../src/plan/scripts";

export { setupApp, setupClient, setupRouter } from "./lab-nodes";
export {
  daemonLog,
  notReadyEvidence,
  readyState,
  SERVICE_PIDS,
  serviceLogTail,
  sleep,
  summary,
  waitReady,
} from "./readiness";
export type { ReadyState } from "./readiness";

/** What `up` records next to lab.json so later commands (apply, start, test) use the same stack and secrets. */
export interface ClusterFile {
  stack: string;
  /** Root dir the stack file was read from (a scenario may roll out a modified copy). */
  root?: string;
  secrets: Record<string, string>;
  upMs?: number;
  /** hostname → ms of its first apply during `up` (for bench:apply). */
  firstApplyMs?: Record<string, number>;
  /** hostname → hash of the plan last applied (a rollout skips unchanged hosts, like Pulumi). */
  applied?: Record<string, string>;
}

export function clusterFilePath(stateDir = DEFAULT_STATE_DIR): string {
  return path.join(stateDir, "cluster.json");
}

export function readCluster(stateDir = DEFAULT_STATE_DIR): ClusterFile {
  return JSON.parse(fs.readFileSync(clusterFilePath(stateDir), "utf8")) as ClusterFile;
}

export function writeCluster(c: ClusterFile, stateDir = DEFAULT_STATE_DIR): void {
  fs.writeFileSync(clusterFilePath(stateDir), JSON.stringify(c, null, 2), { mode: 0o600 });
}

export type Log = (line: string) => void;

export class ApplyError extends Error {
  constructor(
    readonly host: string,
    readonly result: ApplyResult,
    /** The tails of the host's service logs, read when the apply failed (the lab is torn down after). */
    readonly evidence = "",
  ) {
    super(
      `${host}: apply failed (exit ${result.code}): ${(result.stdout.trim().split("\n").slice(-6).join("\n") + "\n" + result.stderr.trim().split("\n").slice(-8).join("\n")).trim()}${evidence ? `\n${evidence}` : ""}`,
    );
  }
}

/**
 * Lab-only records on the shadow primary, made once as an operator would by hand (SOA, NS, ns1,
 * www): the host records are not here — `npm run dns -- push lab --lab` publishes those (the
 * dns-publish scenario), and these hand-made ones must survive it.
 */
function zoneContent(m: LabModel): string {
  const zone = m.topo.env.dns?.zone;
  const serial = Math.floor(Date.now() / 1000);
  const lines = [
    `$ORIGIN ${zone}.`,
    `@ 3600 IN SOA ns1.${zone}. hostmaster.${zone}. ${serial} 10800 3600 604800 60`,
    `@ 3600 IN NS ns1.${zone}.`,
  ];
  const dnsVip = m.topo.vipPorts.find((v) => v.port === 53)?.vip;
  if (dnsVip) lines.push(`ns1 60 IN ${dnsVip.includes(":") ? "AAAA" : "A"} ${dnsVip}`);
  const web = m.topo.vipPorts.find((v) => v.port === 80);
  if (web) lines.push(`www 60 IN ${web.vip.includes(":") ? "AAAA" : "A"} ${web.vip}`);
  return lines.join("\n") + "\n";
}

/** The DNS chain's lab extras after an apply: load the hand-made records, wait for a transfer. */
const PDNS_ZONE = path.join(__dirname, "pdns-zone.sh");

/** Apply one managed host's plan; lab extras for the DNS chain. Throws ApplyError. */
export async function applyHost(
  lab: Lab,
  m: LabModel,
  hostname: string,
  secrets: Record<string, string>,
  log: Log,
  plan?: HostPlan,
): Promise<ApplyResult> {
  const p = plan ?? m.planOf.get(hostname);
  if (!p) throw new Error(`no plan for ${hostname}`);
  const t0 = Date.now();
  const res = await applyBundleInLab(lab, hostname, p, {
    user: m.topo.env.proxmox.user,
    stack: m.topo.env.name,
    secrets,
  });
  if (process.env.LAB_VERBOSE) for (const l of res.phases) log(`    ${hostname} ${l}`);
  if (res.code !== 0) {
    // What the daemons said, before a failed `up` cleans the guest away (a PowerDNS health
    // gate timed out once in CI and left nothing to read).
    const logs = await lab.exec(hostname, serviceLogTail(p.services, 8), { timeoutMs: 15_000 });
    throw new ApplyError(hostname, res, logs.stdout.trim());
  }
  const zone = m.topo.env.dns?.zone;
  if (p.tier === "shadow-primary" && zone) {
    // The hand-made records, loaded once (the zone has no NS yet): a later apply must not wipe
    // what `npm run dns -- push` published, nor move the serial back below the API's.
    await lab.writeFile(hostname, "/run/lab-zone.db", zoneContent(m), "0644");
    await lab.run(hostname, scriptCommand(PDNS_ZONE, ["load", zone, "/run/lab-zone.db"], "bash"), {
      timeoutMs: 60_000,
    });
  }
  if (p.tier === "powerdns" && zone) {
    // Transfer now (the plan's script asked too, maybe before the primary had the zone).
    // Asked for every 5 s, bounded at 45 s (lab/pdns-zone.sh).
    await lab.run(hostname, scriptCommand(PDNS_ZONE, ["transfer", zone, "45"], "bash"), {
      timeoutMs: 60_000,
    });
  }
  const last = res.phases[res.phases.length - 1]?.replace(/^maglev-apply: /, "") ?? "no output";
  log(
    `  ${hostname}: ${last} in ${((Date.now() - t0) / 1000).toFixed(1)} s${res.gaps.length ? ` (lab gaps: ${res.gaps.join("; ")})` : ""}`,
  );
  return res;
}

/** Set up a lab-only node (router, client, app) once booted. */
export async function provision(lab: Lab, m: LabModel, node: string): Promise<void> {
  const router = m.routers.find((r) => r.name === node);
  if (router) return setupRouter(lab, m, router);
  if (node === "client") return setupClient(lab);
  const app = m.apps.find((a) => a.name === node);
  if (app) return setupApp(lab, app.name, app.port);
  throw new Error(`${node}: not a lab-only node of stack ${m.stack}`);
}

export function planHash(p: HostPlan): string {
  return createHash("sha256").update(JSON.stringify(p)).digest("hex");
}

/**
 * `npm run lab -- apply`: re-render a stack and roll it out serially, one host after another,
 * each through the full step list (drain → activate → undrain → health gate). Hosts whose plan
 * is unchanged since the last apply are skipped, as Pulumi skips resources whose triggers did
 * not change. Records the applied plans in cluster.json.
 */
export async function rollout(
  lab: Lab,
  m: LabModel,
  log: Log,
  stateDir = DEFAULT_STATE_DIR,
): Promise<{ applied: string[]; skipped: string[]; ms: number }> {
  const c = readCluster(stateDir);
  // New secret keys (a changed stack) get throwaway values too; existing ones are kept.
  const secrets = { ...labSecrets(m.plans), ...c.secrets };
  const applied = { ...(c.applied ?? {}) };
  const t0 = Date.now();
  const done: string[] = [];
  const skipped: string[] = [];
  for (const p of rolloutOrder(m)) {
    const h = planHash(p);
    if (applied[p.hostname] === h) {
      skipped.push(p.hostname);
      continue;
    }
    log(`  apply ${p.hostname} (${p.tier}) …`);
    // A maglev is drained while its apply works (checkers, reloads): at host nice 10 so that
    // this work cannot starve the other maglev — now carrying every flow — and the gateways of
    // 300 ms (BFD): in e, a BFD drop of the serving maglev while this one was drained left the
    // gateways without a route ("No route to host"). Gateways carry traffic through their own
    // apply, and HAProxy nodes are not drained by it: those keep their priority.
    const background = p.tier === "maglev";
    if (background) lab.renice(p.hostname, 10);
    try {
      await applyHost(lab, m, p.hostname, secrets, log, p);
    } finally {
      if (background) lab.renice(p.hostname, 0);
    }
    applied[p.hostname] = h;
    done.push(p.hostname);
    writeCluster({ ...c, stack: m.stack, root: m.root, secrets, applied }, stateDir);
  }
  writeCluster({ ...c, stack: m.stack, root: m.root, secrets, applied }, stateDir);
  return { applied: done, skipped, ms: Date.now() - t0 };
}

/** Hosts in the lab's serial rollout order: gateways, then the L7 tiers, maglevs last. */
export function rolloutOrder(m: LabModel): HostPlan[] {
  // src/program's TIER_ORDER puts maglev right after gateway (the program wires gateway →
  // maglev); the lab rolls the L7 tiers out first so a new VIP is served before it is announced.
  const order = [
    "gateway",
    "shadow-primary",
    "powerdns",
    "dnsdist",
    "haproxy",
    "k0s-controller",
    "k0s-worker",
    "maglev",
  ];
  return [...m.plans].sort((a, b) => order.indexOf(a.tier) - order.indexOf(b.tier));
}

export interface UpResult {
  lab: Lab;
  model: LabModel;
  bootMs: number;
  applyMs: number;
  readyMs: number;
  totalMs: number;
}

/** Boot + provision + wait. On any failure: down() (nothing left behind), rethrow. */
export async function up(opts: {
  stack?: string;
  stateDir?: string;
  log: Log;
  readyTimeoutMs?: number;
}): Promise<UpResult> {
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const log = opts.log;
  if (fs.existsSync(path.join(stateDir, "lab.json")))
    throw new Error(`a lab is already up in ${stateDir} (npm run lab -- down first)`);
  const model = buildLabModel(opts.stack ?? "lab");
  const secrets = labSecrets(model.plans);
  const t0 = Date.now();
  const lab = Lab.create({ stateDir });
  const onSig = () => {
    log("interrupted: tearing the lab down");
    void lab.down().then(() => process.exit(130));
  };
  process.once("SIGINT", onSig);
  process.once("SIGTERM", onSig);
  try {
    writeCluster({ stack: model.stack, root: model.root, secrets }, stateDir);
    lab.define(...model.specs);
    log(`booting ${model.specs.length} guests …`);
    await lab.startAll();
    const bootMs = Date.now() - t0;
    log(`  all booted in ${(bootMs / 1000).toFixed(1)} s`);
    // Every guest with IPv6 before anything is applied (a rare boot comes up without it).
    await Promise.all(model.specs.map((s) => ensureIpv6(lab, s.name, log)));
    // The operator's seat on mgmt (a namespace with a tap): how the applies reach the guests.
    await lab.operator(OPERATOR.mgmt4, OPERATOR.mgmt6);
    const ta = Date.now();
    log(
      `applying ${model.plans.length} host bundles (maglev-apply) + ${model.routers.map((r) => r.name).join(", ")}, client, ${model.apps.map((a) => a.name).join(", ")} …`,
    );
    // The DNS chain in order (the secondary transfers from the primary, dnsdist checks the
    // secondary); everything else in parallel (the maglevs' health gate waits for the rest).
    const chain = ["shadow-primary", "powerdns", "dnsdist"];
    const firstApplyMs: Record<string, number> = {};
    const timings: Record<string, ApplyTimings | undefined> = {};
    const applyTimed = async (p: HostPlan) => {
      const r = await applyHost(lab, model, p.hostname, secrets, log);
      firstApplyMs[p.hostname] = r.ms;
      timings[p.hostname] = parseApplyTimings(r.phases);
    };
    const dnsChain = async () => {
      for (const tier of chain)
        await Promise.all(model.plans.filter((p) => p.tier === tier).map(applyTimed));
    };
    // systemd guests apply as slowly as small VMs do: a maglev's apply (ExaBGP restarted,
    // sessions reset) overlapping a gateway's health gate failed that gate. So the maglevs
    // follow the gateways, as in the Pulumi program (gateway → maglev).
    const early = model.plans.filter((p) => !chain.includes(p.tier) && p.tier !== "maglev");
    const gatewaysThenMaglevs = async () => {
      await Promise.all(
        model.plans.filter((p) => p.tier === "gateway").map((p) => gatewayDone.get(p.hostname)),
      );
      await Promise.all(model.plans.filter((p) => p.tier === "maglev").map(applyTimed));
    };
    const gatewayDone = new Map<string, Promise<void>>();
    await Promise.all([
      ...model.specs
        .filter((s) => !model.planOf.has(s.name))
        .map((s) => provision(lab, model, s.name)),
      ...early.map((p) => {
        const done = applyTimed(p);
        if (p.tier === "gateway") gatewayDone.set(p.hostname, done);
        return done;
      }),
      dnsChain(),
      gatewaysThenMaglevs(),
    ]);
    const applyMs = Date.now() - ta;
    log(`  applied in ${(applyMs / 1000).toFixed(1)} s`);
    // Where it went: each host's phases as its apply program timed them (seconds, inside the
    // guest), and the path that set the total — the maglevs start after the gateways.
    log(`  where the apply time went (s, per phase of scripts/maglev-apply, inside each guest):`);
    for (const l of timingsTable(timings)) log(`    ${l}`);
    const slowest = (tier: string) =>
      Math.max(
        0,
        ...model.plans.filter((p) => p.tier === tier).map((p) => firstApplyMs[p.hostname] ?? 0),
      );
    log(
      `  longest path: gateways ${(slowest("gateway") / 1000).toFixed(1)} s, then maglevs ${(slowest("maglev") / 1000).toFixed(1)} s (applied after the gateways, as the Pulumi program orders them)`,
    );
    const tr = Date.now();
    const st = await waitReady(lab, model, opts.readyTimeoutMs ?? 60_000);
    if (!st.ok) throw new Error(`not ready: ${st.detail}\n${await notReadyEvidence(lab, model)}`);
    const readyMs = Date.now() - tr;
    log(`  BGP, BFD and ECMP ready after ${(readyMs / 1000).toFixed(1)} s more`);
    const totalMs = Date.now() - t0;
    writeCluster(
      {
        stack: model.stack,
        root: model.root,
        secrets,
        upMs: totalMs,
        firstApplyMs,
        applied: Object.fromEntries(model.plans.map((p) => [p.hostname, planHash(p)])),
      },
      stateDir,
    );
    return { lab, model, bootMs, applyMs, readyMs, totalMs };
  } catch (e) {
    log(`up failed: ${(e as Error).message}`);
    if (process.env.LAB_KEEP === "1") {
      log("LAB_KEEP=1: leaving the lab up for debugging (npm run lab -- down)");
      throw e;
    }
    log("cleaning up …");
    const { leftovers } = await lab.down();
    if (leftovers.length) log(`LEFTOVERS: ${leftovers.join("; ")}`);
    throw e;
  } finally {
    process.removeListener("SIGINT", onSig);
    process.removeListener("SIGTERM", onSig);
  }
}

/**
 * For the benches: the running lab, or one brought up for the run (`broughtUp`: the caller
 * takes it down afterwards), ready (sessions, ECMP, BFD) within 30 s.
 */
export async function labForBench(
  log: Log,
  stateDir = DEFAULT_STATE_DIR,
): Promise<{ lab: Lab; m: LabModel; cf: ClusterFile; broughtUp: boolean }> {
  let broughtUp = false;
  if (!fs.existsSync(path.join(stateDir, "lab.json"))) {
    requirePrerequisites();
    ensureKernel(log);
    await up({ stateDir, log });
    broughtUp = true;
  }
  const lab = Lab.attach(stateDir);
  const cf = readCluster(stateDir);
  const m = buildLabModel(cf.stack, cf.root ?? process.cwd());
  const st = await waitReady(lab, m, 30_000);
  if (!st.ok) {
    if (broughtUp) await lab.down();
    throw new Error(`the lab is not ready: ${st.detail}`);
  }
  return { lab, m, cf, broughtUp };
}

/** Run a bench's main: its exit code, or its error on stderr and exit 1. */
export function runBench(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(`${name}: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}
