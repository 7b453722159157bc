/**
 * Probes of live lab state shared by the scenarios: which VIPs and nodes to aim at, byte and
 * connection counters, next hops on a gateway, and watches armed inside a guest before an event
 * (route gone, IPVS weight 0) that report when it happened on the host's clock.
 */
import * as ipaddr from "ipaddr.js";
import { Lab } from "../guest";
import { sleep } from "../cluster";
import { CLIENT, LabModel } from "../topology";
import { clockOffset, TimelineRecorder, WATCHES } from "../timeline-capture";
import { HostFacts } from "../../src/topology";
import { nextHops, vipRouteCommand } from "../../src/daemons/frr/probes";
import { IPVS_STATS_COMMAND, parseIpvsStats } from "../../src/daemons/keepalived/probes";
import { scriptCommand } from "../../src/plan/scripts";

/** The TCP VIP:ports of HAProxy groups (the web VIPs). */
export function webVipPorts(m: LabModel) {
  return m.topo.vipPorts.filter(
    (v) => v.protocol === "tcp" && m.topo.groups.get(v.group)?.kind === "haproxy",
  );
}

export function haproxyMembers(m: LabModel): HostFacts[] {
  return [...new Set(webVipPorts(m).flatMap((v) => m.topo.groups.get(v.group)!.members))];
}

/** The DNS VIP:port 53 of the dnsdist group (of one family if given). */
export function dnsVipPort(m: LabModel, family?: "ipv4" | "ipv6") {
  return m.topo.vipPorts.find(
    (v) =>
      v.port === 53 &&
      (!family || v.family === family) &&
      m.topo.groups.get(v.group)?.kind === "dnsdist",
  );
}

/** The first VIP of each family. */
export function firstVips(m: LabModel): string[] {
  return [m.topo.vips.ipv4[0], ...(m.topo.vips.ipv6.length ? [m.topo.vips.ipv6[0]] : [])];
}

/** Sum of a byte counter (rx or tx) over every interface but lo. */
export async function ifBytes(lab: Lab, host: string, dir: "rx" | "tx"): Promise<number> {
  const out = await lab.run(
    host,
    `for f in /sys/class/net/*/statistics/${dir}_bytes; do case $f in */lo/*) ;; *) cat $f;; esac; done`,
    { timeoutMs: 15_000 },
  );
  return out
    .trim()
    .split("\n")
    .filter(Boolean)
    .reduce((a, b) => a + Number(b), 0);
}

/**
 * Total IPVS connections (sum of Conns over the services) on a maglev. IPv6 fwmark services
 * count too: the awk this replaced read their "IPv6" word as the Conns column (0).
 */
export async function ipvsConns(lab: Lab, host: string): Promise<number> {
  const out = await lab.run(host, IPVS_STATS_COMMAND, { timeoutMs: 15_000 });
  return parseIpvsStats(out).reduce((n, s) => n + s.conns, 0);
}

/** A gateway's next hops for one VIP. */
export async function nextHopCount(lab: Lab, gw: string, vip: string): Promise<number> {
  return nextHops(await lab.run(gw, vipRouteCommand(vip), { timeoutMs: 15_000 })).length;
}

/**
 * A watch inside a gateway, armed before an event: the first time the route to `vip` has
 * fewer than `want` next hops (lab/watches.sh route-below: event-driven, it forks only on a
 * route change). Bounded by `seconds`. Resolves to epoch ms (UML guests read the host's clock,
 * see clockOffset), or undefined if it never happened.
 */
export function watchRaw(
  lab: Lab,
  gw: string,
  vip: string,
  want: number,
  seconds: number,
): Promise<number | undefined> {
  const script = scriptCommand(
    WATCHES,
    ["route-below", vip, String(want), String(seconds)],
    "bash",
  );
  return lab
    .exec(gw, script, { timeoutMs: (seconds + 15) * 1000 })
    .then((r) => (r.code === 0 ? Math.round(Number(r.stdout.trim()) * 1000) : undefined));
}

/** A real server's address as /proc/net/ip_vs writes it: `C6120A21` (IPv4), `[fd00:000a:…:0021]` (IPv6). */
export function procIpvsAddress(addr: string): string {
  const ip = ipaddr.parse(addr);
  if (ip.kind() === "ipv4")
    return ip
      .toByteArray()
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("")
      .toUpperCase();
  return `[${(ip as ipaddr.IPv6).parts.map((p) => p.toString(16).padStart(4, "0")).join(":")}]`;
}

/**
 * IPVS weight of real servers, summed over every service that lists them, on one maglev; loop
 * until 0 (lab/watches.sh weight-zero: /proc/net/ip_vs read with bash builtins, no fork).
 */
export function weightZeroWatch(
  lab: Lab,
  maglev: string,
  rs: string[],
  seconds: number,
): Promise<number | undefined> {
  const script = scriptCommand(
    WATCHES,
    ["weight-zero", String(seconds), ...rs.map(procIpvsAddress)],
    "bash",
  );
  return lab
    .exec(maglev, script, { timeoutMs: (seconds + 15) * 1000 })
    .then((r) => (r.code === 0 ? Math.round(Number(r.stdout.trim()) * 1000) : undefined));
}

/**
 * Watches armed on `hosts` before an event: each host's clock offset first, then its watches
 * (`watchesOf`), then 800 ms for the loops to be armed. `msAfter(t0)`: every watch's time after
 * t0 on the host's clock, host by host in order (NaN: it never happened).
 */
export async function armWatches(
  lab: Lab,
  hosts: string[],
  watchesOf: (host: string) => Promise<number | undefined>[],
): Promise<{ clockErrMs: number; msAfter(t0: number): Promise<number[]> }> {
  const offsets = await Promise.all(hosts.map((h) => clockOffset(lab, h)));
  const watches = hosts.map((h, i) => watchesOf(h).map((w) => ({ w, i })));
  await sleep(800);
  return {
    clockErrMs: Math.max(...offsets.map((o) => o.errMs)),
    async msAfter(t0) {
      const flat = watches.flat();
      const at = await Promise.all(flat.map((x) => x.w));
      return at.map((t, k) =>
        t === undefined ? Number.NaN : Math.round(t - offsets[flat[k].i].offsetMs - t0),
      );
    },
  };
}

/** A failover timeline of scenario `id`, sampling every gateway's next hops for `vips` meanwhile. */
export async function gatewayTimeline(
  lab: Lab,
  m: LabModel,
  id: string,
  title: string,
  seconds: number,
  vips = [m.topo.vips.ipv4[0]],
): Promise<TimelineRecorder> {
  const rec = new TimelineRecorder(lab, id, title);
  await rec.sampleNextHops(
    m.topo.gateways.map((g) => g.hostname),
    vips,
    seconds,
  );
  return rec;
}

/** curl from the client with fixed source ports: port → "app via <haproxy ingress address>". */
export async function servedBy(
  lab: Lab,
  target: string,
  ports: number[],
): Promise<Map<number, string>> {
  const script = ports
    .map(
      (p) =>
        `echo "$(curl -0 -sS -m 3 --local-port ${p} '${target}' 2>&1 | tr -d '\\n' || true) P${p}"`,
    )
    .join("\n");
  const out = await lab.run(CLIENT.name, script, { timeoutMs: 120_000 });
  const res = new Map<number, string>();
  for (const line of out.split("\n")) {
    const mm = /^(.*) P(\d+)$/.exec(line.trim());
    if (mm) res.set(Number(mm[2]), mm[1].replace(/^app\d+ /, ""));
  }
  return res;
}
