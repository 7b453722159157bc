/**
 * The whole lab cluster: boot every node of a stack (managed hosts by hostname + router,
 * client, app servers), apply each managed host's bundle with the on-host apply program (the
 * same commands and stdin the Pulumi components run), set up the lab-only nodes, wait until BGP is established
 * and the VIPs are routed, and summarise. Used by lab/cli.ts, lab/scenarios/, lab/bench.ts.
 *
 * One file (over 400 lines) for now: the lab cluster's life cycle (boot, apply, lab-only nodes,
 * readiness, summary) in the order `lab up` runs it.
 */
import * as fs from "fs";
import * as path from "path";
import { createHash } from "crypto";
import { DEFAULT_STATE_DIR, Lab } from "./guest";
import { ensureKernel, requirePrerequisites } from "./prereqs";
import { applyBundleInLab, ApplyResult } from "./transport";
import {
  buildLabModel,
  LabModel,
  LabRouter,
  labSecrets,
  routerFrrConf,
  ROUTER_DAEMONS,
  appHaproxyCfg,
  ROUTER,
  OPERATOR,
} from "./topology";
import { labServices } from "./services";
import { HostPlan } from "../src/plan";
import { parseVipRoutes, vipRoutesScript } from "../src/daemons/frr/probes";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

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

/**
 * A script printing what a daemon logged this boot: its unit's journal in a systemd guest,
 * the service mirror's log file (/run/lab/log/FILE.log) in a bash one. Pipe it on.
 */
export function daemonLog(unit: string, file: string): string {
  return `{ if [ -d /run/systemd/system ]; then journalctl -b -q -u ${unit} --no-pager; else cat /run/lab/log/${file}.log; fi; } 2>/dev/null`;
}

/** A script printing the main PID of every running service (sorted): what a restart changes. */
export const SERVICE_PIDS =
  "if [ -d /run/systemd/system ]; then systemctl show -p MainPID --value $(systemctl list-units --type=service --state=running --no-legend --plain | cut -d' ' -f1) | grep -vx 0; " +
  "else cat /run/lab-svc/*.pid 2>/dev/null; fi | sort | tr '\\n' ' '";

/**
 * A script printing the last lines each service logged: its journal in a systemd guest, the
 * service mirror's log file (/run/lab/log) in a bash one.
 */
export function serviceLogTail(services: string[], lines: number): string {
  return (
    services
      .map(
        (svc) =>
          `if [ -d /run/systemd/system ]; then echo "--- journal of ${svc}"; journalctl -b -q -u ${svc} -n ${lines} --no-pager; ` +
          `elif [ -r /run/lab/log/${svc}.log ]; then echo "--- ${svc}.log"; tail -n ${lines} /run/lab/log/${svc}.log; fi`,
      )
      .join("; ") + "; true"
  );
}

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
    await lab.run(
      hostname,
      `set -e; if ! runuser -u pdns -- pdnsutil list-zone ${zone} 2>/dev/null | grep -q '[[:space:]]NS[[:space:]]'; then runuser -u pdns -- pdnsutil load-zone ${zone} /run/lab-zone.db >/dev/null; runuser -u pdns -- pdnsutil set-kind ${zone} primary >/dev/null; fi; pdns_control notify ${zone} >/dev/null 2>&1 || true`,
      { timeoutMs: 60_000 },
    );
  }
  if (p.tier === "powerdns" && zone) {
    // Transfer now (the plan's script asked too, maybe before the primary had the zone).
    await lab.run(
      hostname,
      // Ask for the transfer every 5 s (each retrieve queues one), bounded at 45 s. (Seen twice:
      // the zone committed by AXFR, yet the SOA query kept an empty answer — pdns's zone cache,
      // now off in the plan's pdns.conf; the purge drops any cached REFUSED as well.)
      `end=$((SECONDS+45)); n=0; while [ $SECONDS -lt $end ]; do ` +
        `[ $((n % 10)) = 0 ] && pdns_control retrieve ${zone} >/dev/null 2>&1; n=$((n+1)); sleep 0.5; ` +
        // purge: an answer from before the transfer may sit in pdns's packet cache.
        `pdns_control purge '${zone}$' >/dev/null 2>&1; [ -n "$(dig +short +time=1 +tries=1 @127.0.0.1 SOA ${zone})" ] && exit 0; done; ` +
        `echo "zone ${zone} not transferred after 45 s; pdns log:" >&2; tail -n 15 /run/lab/log/pdns.log >&2; exit 1`,
      { timeoutMs: 60_000 },
    );
  }
  const last = res.phases[res.phases.length - 1]?.replace(/^maglev-apply: /, "") ?? "no output";
  log(
    `  ${hostname}: ${last} in ${((Date.now() - t0) / 1000).toFixed(1)} s${res.gaps.length ? ` (lab gaps: ${res.gaps.join("; ")})` : ""}`,
  );
  return res;
}

/**
 * A guest that came up without IPv6: CI, 2026-12-02, the transit router booted mid-run for
 * scenario s had no /proc/sys/net/ipv6 (the kernel is built with IPV6=y; every other guest of
 * that run had it). Cause not found: the guest is booted once more, and a second miss fails
 * with the guest's kernel log.
 */
async function ensureIpv6(lab: Lab, node: string): Promise<void> {
  const probe = "test -d /proc/sys/net/ipv6 || { dmesg | tail -n 40; exit 3; }";
  let r = await lab.exec(node, probe, { timeoutMs: 15_000 });
  if (r.code !== 3) return;
  const first = r.stdout;
  await lab.stop(node);
  await lab.start(node);
  r = await lab.exec(node, probe, { timeoutMs: 15_000 });
  if (r.code === 3)
    throw new Error(
      `${node} booted twice without IPv6 (/proc/sys/net/ipv6 missing); kernel log:\n${r.stdout}\nfirst boot:\n${first}`,
    );
}

export async function setupRouter(lab: Lab, m: LabModel, r: LabRouter): Promise<void> {
  await ensureIpv6(lab, r.name);
  await lab.writeFiles(r.name, [
    // No bfdd on a router the stack does not give BFD (transit): one daemon less on 2 cores.
    {
      path: "/etc/frr/daemons",
      content: r.bfd ? ROUTER_DAEMONS : ROUTER_DAEMONS.replace("bfdd=yes\n", ""),
      mode: "0640",
      owner: "frr:frr",
    },
    { path: "/etc/frr/frr.conf", content: routerFrrConf(m, r), mode: "0640", owner: "frr:frr" },
  ]);
  await lab.run(
    r.name,
    `set -e; sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1 net.ipv4.fib_multipath_use_neigh=1; ${labServices.enableStart("frr")}`,
    { timeoutMs: 60_000 },
  );
}

export async function setupApp(lab: Lab, name: string, port: number): Promise<void> {
  // 48 KB body for /big (DSR evidence: replies much larger than what the client sends), in the
  // node dir the guest sees as /run/lab.
  fs.writeFileSync(
    path.join(lab.nodeDir(name), "big.txt"),
    `${name}\n` + "x".repeat(48 * 1024 - name.length - 2) + "\n",
  );
  await lab.writeFile(name, "/etc/lab-app.cfg", appHaproxyCfg(name, port));
  await lab.run(
    name,
    "haproxy -D -f /etc/lab-app.cfg -p /run/lab-app.pid >>/run/lab/log/app.log 2>&1",
    { timeoutMs: 30_000 },
  );
}

export async function setupClient(lab: Lab): Promise<void> {
  // The consistency scenario sends the same 5-tuples twice from fixed source ports (41001…):
  // they are kept out of the ephemeral range, and tcp_max_tw_buckets=0 keeps no TIME_WAIT.
  await lab.run(
    "client",
    "sysctl -q -w vm.overcommit_memory=1 net.ipv4.ip_local_port_range='10000 40000' net.ipv4.tcp_tw_reuse=1 net.ipv4.tcp_max_tw_buckets=0",
  );
}

/** Set up a lab-only node (router, client, app) or apply a managed host's plan. */
export async function provision(
  lab: Lab,
  m: LabModel,
  node: string,
  secrets: Record<string, string>,
  log: Log,
): Promise<void> {
  const router = m.routers.find((r) => r.name === node);
  if (router) return setupRouter(lab, m, router);
  if (node === "client") return setupClient(lab);
  const app = m.apps.find((a) => a.name === node);
  if (app) return setupApp(lab, app.name, app.port);
  await applyHost(lab, m, node, secrets, log);
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

export interface ReadyState {
  ok: boolean;
  router: { peer: string; state: string; pfx: number }[];
  gatewayRoutes: Record<string, Record<string, number>>;
  detail: string;
}

/** One probe: router sessions + next hops per VIP on every gateway. */
export async function readyState(lab: Lab, m: LabModel): Promise<ReadyState> {
  const vips = [...m.topo.vips.ipv4, ...m.topo.vips.ipv6];
  const want = m.topo.maglevs.length;
  const router: ReadyState["router"] = [];
  await Promise.all(
    m.routers.map(async (lr) => {
      const r = await lab.exec(lr.name, "vtysh -c 'show bgp summary json'", { timeoutMs: 15_000 });
      try {
        const j = JSON.parse(r.stdout);
        for (const af of ["ipv4Unicast", "ipv6Unicast"]) {
          for (const [peer, v] of Object.entries(
            (j[af]?.peers ?? {}) as Record<string, { state: string; pfxRcd?: number }>,
          ))
            router.push({ peer: `${lr.name}:${peer}`, state: v.state, pfx: v.pfxRcd ?? 0 });
        }
      } catch {
        /* not up yet */
      }
    }),
  );
  const gatewayRoutes: ReadyState["gatewayRoutes"] = {};
  const bfdDown: string[] = [];
  await Promise.all(
    m.topo.gateways.map(async (g) => {
      const script =
        vipRoutesScript(vips) +
        `; echo "B $(vtysh -c 'show bfd peers json' 2>/dev/null | tr -d '\\n')"`;
      const x = await lab.exec(g.hostname, script, { timeoutMs: 15_000 });
      const per: Record<string, number> = {};
      try {
        const peers = JSON.parse(/^B (.*)$/m.exec(x.stdout)?.[1] || "[]") as {
          peer: string;
          status: string;
        }[];
        bfdDown.push(
          ...m.topo.maglevs
            .filter((mg) => !peers.some((p) => p.peer === mg.mgmt.ipv4 && p.status === "up"))
            .map((mg) => `${g.name}→${mg.name}`),
        );
      } catch {
        bfdDown.push(`${g.name}: no BFD answer`);
      }
      for (const [vip, hops] of parseVipRoutes(x.stdout)) per[vip] = hops.length;
      gatewayRoutes[g.hostname] = per;
    }),
  );
  // One session per gateway and address family on every lab router (IPv6 only where it has an address).
  const wantSessions = m.routers.reduce(
    (n, r) => n + m.topo.gateways.length * (r.mgmt6 ? 2 : 1),
    0,
  );
  const sessionsOk =
    router.length === wantSessions && router.every((p) => p.state === "Established");
  const routesOk = Object.values(gatewayRoutes).every((per) =>
    vips.every((v) => (per[v] ?? 0) === want),
  );
  const detail = `router sessions ${router.filter((p) => p.state === "Established").length}/${wantSessions}; gateway next hops ${Object.entries(
    gatewayRoutes,
  )
    .map(([g, per]) => `${g}: ${vips.map((v) => per[v] ?? 0).join("/")}`)
    .join(", ")} (want ${want})`;
  return {
    ok: sessionsOk && routesOk && bfdDown.length === 0,
    router,
    gatewayRoutes,
    detail: detail + (bfdDown.length ? `; BFD not up: ${bfdDown.join(", ")}` : ""),
  };
}

/** What a failed `up` leaves to read before the cleanup: each gateway's sessions and BFD peers, each maglev's ExaBGP log tail. */
export async function notReadyEvidence(lab: Lab, m: LabModel): Promise<string> {
  const parts = await Promise.all([
    ...m.topo.gateways.map(async (g) => {
      const r = await lab.exec(
        g.hostname,
        "vtysh -c 'show bgp summary' -c 'show bfd peers brief' | grep -E '^(198|fd00|[0-9]+ )'; " +
          daemonLog("frr", "frr-bgpd") +
          " | grep -E 'ADJCHANGE|NOTIFICATION|BFD' | tail -n 8",
        { timeoutMs: 15_000 },
      );
      return `${g.hostname}:\n${r.stdout.trimEnd()}`;
    }),
    ...m.topo.maglevs.map(async (h) => {
      const r = await lab.exec(h.hostname, daemonLog("exabgp", "exabgp") + " | tail -n 8", {
        timeoutMs: 15_000,
      });
      return `${h.hostname} exabgp.log:\n${r.stdout.trimEnd()}`;
    }),
  ]);
  return parts.join("\n");
}

/**
 * Ready = router sessions up, every gateway with one next hop per maglev for every VIP and BFD
 * up to every maglev — twice, 3 s apart: FRR 8.4 resets a BGP session once when its BFD
 * session first comes up (LAB-NOTES), so a first "ready" can be followed by that reset.
 */
export async function waitReady(lab: Lab, m: LabModel, timeoutMs: number): Promise<ReadyState> {
  const end = Date.now() + timeoutMs;
  let okSince: number | undefined;
  for (;;) {
    const st = await readyState(lab, m);
    if (st.ok) {
      okSince ??= Date.now();
      if (Date.now() - okSince >= 3000) return st;
    } else okSince = undefined;
    if (Date.now() >= end) return st;
    await sleep(st.ok ? 1000 : 300);
  }
}

/** The one-screen summary: nodes, BGP sessions, routes, IPVS services. */
export async function summary(lab: Lab, m: LabModel): Promise<string> {
  const out: string[] = [];
  const st = lab.status();
  out.push(`nodes (${st.nodes.length}, state dir ${st.stateDir}):`);
  const row: string[] = [];
  for (const n of st.nodes) row.push(`${n.name}${n.alive ? "" : " [" + n.state + "]"}`);
  out.push("  " + row.join("  "));
  const [bgp, routes4, routes6, ...ipvs] = await Promise.all([
    lab.exec(
      ROUTER.name,
      "vtysh -c 'show bgp summary' | grep -E '^(fd00|198)'; vtysh -c 'show bfd peers brief' | grep -E 'up|down' | awk '{print \"  bfd\", $2, $4}'",
      { timeoutMs: 15_000 },
    ),
    lab.exec(ROUTER.name, "ip -4 route show proto bgp", { timeoutMs: 15_000 }),
    lab.exec(ROUTER.name, "ip -6 route show proto bgp", { timeoutMs: 15_000 }),
    ...m.topo.maglevs.map((h) =>
      lab.exec(h.hostname, "ipvsadm -Ln | grep -E '^(FWM|  ->)' | grep -v 'RemoteAddress'", {
        timeoutMs: 15_000,
      }),
    ),
  ]);
  out.push("router BGP (neighbor … state/pfx):");
  for (const l of bgp.stdout.trim().split("\n")) out.push("  " + l.replace(/\s+/g, " ").trim());
  out.push("router routes (bgp):");
  for (const l of (routes4.stdout + routes6.stdout).trim().split("\n").filter(Boolean))
    out.push("  " + l.trim());
  const gw = await Promise.all(
    m.topo.gateways.map((g) =>
      lab.exec(g.hostname, "ip -4 route show proto bgp; ip -6 route show proto bgp", {
        timeoutMs: 15_000,
      }),
    ),
  );
  m.topo.gateways.forEach((g, i) => {
    out.push(`${g.hostname} routes (bgp):`);
    out.push(
      "  " +
        gw[i].stdout
          .replace(/\n\s+nexthop/g, " nexthop")
          .trim()
          .split("\n")
          .map((l) =>
            l
              .replace(/\s+/g, " ")
              .replace(/ proto bgp metric \d+/g, "")
              .replace(/ weight 1/g, ""),
          )
          .join("\n  "),
    );
  });
  m.topo.maglevs.forEach((h, i) => {
    const lines = ipvs[i].stdout.trim().split("\n");
    const svcs = lines.filter((l) => l.startsWith("FWM")).length;
    const rs = lines.filter((l) => l.startsWith("  ->")).map((l) => l.trim().split(/\s+/));
    out.push(
      `${h.hostname} IPVS: ${svcs} services, real servers ${rs.map((r) => `${r[1]} w${r[3]}`).join(", ")}`,
    );
  });
  return out.join("\n");
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
    // The operator's seat on mgmt (a namespace with a tap): how the applies reach systemd guests.
    if (model.specs.some((s) => s.machine === "systemd"))
      await lab.operator(OPERATOR.mgmt4, OPERATOR.mgmt6);
    const ta = Date.now();
    log(
      `applying ${model.plans.length} host bundles (maglev-apply) + ${model.routers.map((r) => r.name).join(", ")}, client, ${model.apps.map((a) => a.name).join(", ")} …`,
    );
    // The DNS chain in order (the secondary transfers from the primary, dnsdist checks the
    // secondary); everything else in parallel (the maglevs' health gate waits for the rest).
    const chain = ["shadow-primary", "powerdns", "dnsdist"];
    const firstApplyMs: Record<string, number> = {};
    const applyTimed = async (p: HostPlan) => {
      const r = await applyHost(lab, model, p.hostname, secrets, log);
      firstApplyMs[p.hostname] = r.ms;
    };
    const dnsChain = async () => {
      for (const tier of chain)
        await Promise.all(model.plans.filter((p) => p.tier === tier).map(applyTimed));
    };
    // systemd guests apply as slowly as small VMs do: a maglev's apply (ExaBGP restarted,
    // sessions reset) overlapping a gateway's health gate failed that gate. There the maglevs
    // follow the gateways, as in the Pulumi program (gateway → maglev).
    const ordered = model.specs.some((s) => s.machine === "systemd");
    const early = model.plans.filter(
      (p) => !chain.includes(p.tier) && !(ordered && p.tier === "maglev"),
    );
    const gatewaysThenMaglevs = async () => {
      if (!ordered) return;
      await Promise.all(
        model.plans.filter((p) => p.tier === "gateway").map((p) => gatewayDone.get(p.hostname)),
      );
      await Promise.all(model.plans.filter((p) => p.tier === "maglev").map(applyTimed));
    };
    const gatewayDone = new Map<string, Promise<void>>();
    await Promise.all([
      ...model.specs
        .filter((s) => !model.planOf.has(s.name))
        .map((s) => provision(lab, model, s.name, secrets, log)),
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
    const tr = Date.now();
    const st = await waitReady(lab, model, opts.readyTimeoutMs ?? 60_000);
    if (!st.ok) throw new Error(`not ready: ${st.detail}\n${await notReadyEvidence(lab, model)}`);
    const readyMs = Date.now() - tr;
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
