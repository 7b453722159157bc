/**
 * Scenario `ports`: what the host firewalls let through, seen from outside — a bounded scan
 * (lab/portscan.py, one process per scanning guest) of every VIP and every managed host's
 * mgmt and ingress addresses, TCP on a fixed list plus every port the stack uses, and a DNS
 * query on UDP 53 to each.
 *
 *   from `client` (the Internet side, via the router and the gateways): open must be exactly
 *     the stack's VIP mappings plus SSH and node_exporter on each host's mgmt address;
 *   from a gateway (its own traffic to a VIP goes to a maglev without its forward filter):
 *     open must be exactly the VIP mappings — an unmapped VIP port reaches a maglev, whose
 *     firewall drops what its fwmark table did not mark (else its sshd would answer there).
 *
 * Bash guests run no sshd, and node_exporter listens on the mgmt IPv4 address only (as the plan
 * says): for the scan each managed guest listens on those ports where nothing does, per family
 * (portscan.py bait), so the scan sees the firewall, not the absence of a daemon. Every listening daemon (PowerDNS on 0.0.0.0:53, HAProxy's stats and
 * health ports, BGP) is probed as it runs.
 */
import * as fs from "fs";
import * as path from "path";
import type { Ctx, Outcome, Scenario } from "./runner";
import type { LabModel } from "../topology";
import { CLIENT } from "../topology";

/** Ports probed on every target besides the stack's own (the daemons' usual ones). */
export const FIXED_PORTS = [
  22, 53, 80, 179, 443, 2379, 5353, 6443, 8080, 8081, 8083, 8404, 9100, 9300, 10250, 10253,
];
/** Where a managed guest plays the daemons the lab does not run (sshd, node_exporter). */
export const BAIT_PORTS = [22, 9100];

export interface Probe {
  proto: "tcp" | "udp";
  addr: string;
  port: number;
  state: string;
}

/** A probe's key in the sets below: `tcp 198.18.7.16 80`. */
const key = (proto: string, addr: string, port: number) => `${proto} ${addr} ${port}`;

export function parseScan(text: string): Probe[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => w.length === 4 && (w[0] === "tcp" || w[0] === "udp"))
    .map(([proto, addr, port, state]) => ({
      proto: proto as "tcp" | "udp",
      addr,
      port: Number(port),
      state,
    }));
}

/** The scan's targets and ports for a lab model. */
export function scanPlan(m: LabModel): { vips: string[]; hosts: string[]; tcpPorts: number[] } {
  const vips = [...new Set(m.topo.vipPorts.map((v) => v.vip))].sort();
  const hosts = m.plans
    .map((p) => m.topo.hosts.find((h) => h.hostname === p.hostname)!)
    .flatMap((h) => [h.mgmt.ipv4, h.mgmt.ipv6, h.ingress?.ipv4, h.ingress?.ipv6])
    .filter((a): a is string => !!a);
  const tcpPorts = [
    ...new Set([
      ...FIXED_PORTS,
      ...m.topo.vipPorts.map((v) => v.port),
      ...m.apps.map((a) => a.port),
    ]),
  ].sort((a, b) => a - b);
  return { vips, hosts, tcpPorts };
}

/**
 * What must answer: `from: "client"` the VIP mappings and, on each managed host's mgmt
 * addresses, SSH and node_exporter; `from: "gateway"` the VIP mappings only (it scans VIPs).
 * UDP means "answered a DNS query".
 */
export function expectedOpen(m: LabModel, from: "client" | "gateway"): Set<string> {
  const want = new Set<string>();
  for (const v of m.topo.vipPorts) {
    if (v.protocol === "tcp") want.add(key("tcp", v.vip, v.port));
    else if (v.port === 53) want.add(key("udp", v.vip, 53));
  }
  if (from === "client") {
    for (const p of m.plans) {
      const h = m.topo.hosts.find((x) => x.hostname === p.hostname)!;
      for (const a of [h.mgmt.ipv4, h.mgmt.ipv6])
        for (const port of BAIT_PORTS) want.add(key("tcp", a, port));
    }
  }
  return want;
}

/** Open = a TCP connect accepted or a DNS answer. */
export function openSet(probes: Probe[]): Set<string> {
  return new Set(
    probes
      .filter((p) => p.state === "open" || p.state === "answered")
      .map((p) => key(p.proto, p.addr, p.port)),
  );
}

export function scanProblems(want: Set<string>, got: Set<string>, probed: Set<string>): string[] {
  const extra = [...got].filter((k) => !want.has(k)).sort();
  const missing = [...want].filter((k) => probed.has(k) && !got.has(k)).sort();
  return [
    ...extra.map((k) => `open but not in the stack: ${k}`),
    ...missing.map((k) => `mapped but not answering: ${k}`),
  ];
}

/** "198.18.7.16: tcp 80 443; 198.18.7.53: tcp 53 udp 53" — the open-port table, one cell per address. */
export function openTable(got: Set<string>): string {
  const by = new Map<string, string[]>();
  for (const k of [...got].sort()) {
    const [proto, addr, port] = k.split(" ");
    by.set(addr, [...(by.get(addr) ?? []), `${proto} ${port}`]);
  }
  return [...by.entries()].map(([a, ps]) => `${a}: ${ps.join(" ")}`).join("; ");
}

const SCANNER = path.join(__dirname, "..", "portscan.py");

async function scanFrom(
  c: Ctx,
  node: string,
  targets: string[],
  ports: number[],
): Promise<Probe[]> {
  fs.copyFileSync(SCANNER, path.join(c.lab.nodeDir(node), "portscan.py"));
  // ~probes/64 rounds of at most 1.5 s each: bounded well inside the exec timeout.
  const r = await c.lab.exec(
    node,
    `python3 /run/lab/portscan.py scan --targets ${targets.join(",")} --tcp ${ports.join(",")} --dns --timeout 1.5 --parallel 64`,
    { timeoutMs: 240_000 },
  );
  if (r.code !== 0)
    throw new Error(`scan from ${node} failed (exit ${r.code}): ${r.stderr.trim().slice(-300)}`);
  return parseScan(r.stdout);
}

export const portScan: Scenario = {
  id: "ports",
  title:
    "Host firewalls: from the client only the stack's VIP mappings (and SSH/node_exporter on mgmt) answer; from a gateway, only the VIP mappings",
  async run(c: Ctx): Promise<Outcome> {
    const { lab, m } = c;
    const plan = scanPlan(m);
    const baitPids = new Map<string, string>();
    const t0 = Date.now();
    try {
      for (const p of m.plans) {
        fs.copyFileSync(SCANNER, path.join(lab.nodeDir(p.hostname), "portscan.py"));
        const pid = (
          await lab.run(
            p.hostname,
            `setsid python3 /run/lab/portscan.py bait --tcp ${BAIT_PORTS.join(",")} --seconds 300 > /run/lab/bait.out 2>&1 < /dev/null & echo $!`,
          )
        ).trim();
        baitPids.set(p.hostname, pid);
      }
      const fromClient = await scanFrom(
        c,
        CLIENT.name,
        [...plan.vips, ...plan.hosts],
        plan.tcpPorts,
      );
      const gw = m.topo.gateways[0].hostname;
      const fromGateway = await scanFrom(c, gw, plan.vips, plan.tcpPorts);
      const problems: string[] = [];
      const figures: Record<string, number | string> = {};
      for (const [who, probes, from] of [
        ["client", fromClient, "client"],
        [gw, fromGateway, "gateway"],
      ] as const) {
        const got = openSet(probes);
        const probed = new Set(probes.map((p) => key(p.proto, p.addr, p.port)));
        problems.push(
          ...scanProblems(expectedOpen(m, from), got, probed).map((x) => `from ${who}: ${x}`),
        );
        figures[`${from}Probes`] = probes.length;
        figures[`${from}Open`] = got.size;
        figures[`${from}Filtered`] = probes.filter(
          (p) => p.state === "filtered" || p.state === "silent",
        ).length;
        figures[`${from}OpenTable`] = openTable(got);
      }
      figures.ms = Date.now() - t0;
      const detail = problems.length
        ? problems.slice(0, 12).join("; ") +
          (problems.length > 12 ? `; … ${problems.length - 12} more` : "")
        : `from client ${figures.clientProbes} probes, ${figures.clientOpen} open (all mapped), ${figures.clientFiltered} dropped; from ${gw} ${figures.gatewayProbes} probes of the VIPs, ${figures.gatewayOpen} open (all mapped). Open from client: ${figures.clientOpenTable}`;
      return { ok: problems.length === 0, detail, figures };
    } finally {
      for (const [h, pid] of baitPids)
        if (/^\d+$/.test(pid)) await lab.run(h, `kill ${pid} 2>/dev/null || true`);
    }
  },
};
