/**
 * Load-balancer metrics through node_exporter's textfile collector (no daemon of its own):
 * scripts/host/maglev-metrics runs as a small loop unit on every host and writes
 * `maglev-infra.prom` into the textfile directory every METRICS_INTERVAL_SECONDS, from the
 * stack's data for that host (METRICS_DATA, rendered here as JSON):
 *
 *   every host  applied generation, whether each live file still has the bytes the apply wrote
 *   maglev      per IPVS service and real server: weight, connections, counters, rates;
 *               per VIP: announced or withdrawn and why (the announce process's state file)
 *   gateway     per BGP neighbour: state, prefixes received; per BFD peer: up; per VIP: next hops
 *   haproxy     drained by an operator (hactl drain) or serving, from HAProxy's admin socket
 *
 * The expected peers, services and VIPs come from the topology, so a neighbour that is not
 * there at all is exported as down rather than missing (an alert on `== 0` sees it).
 */
import { Topology, HostFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { header } from "../plan/header";
import { hostScript, PYTHON_SYNTAX } from "../plan/scripts";
import { jsonDocument, systemdExecWord, systemdValue } from "../escape";
import {
  ANNOUNCE_REASONS,
  ANNOUNCE_STATE_FILE,
  DRAIN_FILE,
  ipvsServices,
  JSON_SYNTAX,
} from "../tiers/maglev";
import { SITE_DRAIN_FILE } from "../tiers/gateway";
import { HAPROXY_ADMIN_SOCKET, HAPROXY_DRAIN_BACKEND } from "../tiers/haproxy";
import { systemdVerify } from "../daemons/systemd/validate";

/** node_exporter's textfile directory (Debian's default, also passed explicitly in its ARGS). */
export const TEXTFILE_DIR = "/var/lib/prometheus/node-exporter";
/** The collector program and its data. */
export const METRICS_SCRIPT = "/usr/local/lib/maglev-infra/maglev-metrics";
export const METRICS_DATA = "/etc/maglev-infra/metrics.json";
export const METRICS_UNIT = "maglev-infra-metrics.service";
/** Seconds between two passes: well inside a 15 s scrape interval, and two or three execs a pass. */
export const METRICS_INTERVAL_SECONDS = 5;
/** Where the apply program keeps its generations and records (scripts/maglev-apply STATE_DIR). */
export const APPLY_STATE_DIR = "/var/lib/maglev-infra";

const prefixOf = (vip: string) => `${vip}/${vip.includes(":") ? 128 : 32}`;
const familyOf = (vip: string) => (vip.includes(":") ? "ipv6" : "ipv4");

/** The BGP sessions a gateway has: every upstream (IPv4, and IPv6 when the stack names it) and every maglev. */
export function gatewayNeighbors(
  topo: Topology,
): { address: string; name: string; role: "upstream" | "maglev" }[] {
  return [
    ...topo.env.bgp.upstream.flatMap((u) =>
      [u.ipv4, ...(u.ipv6 ? [u.ipv6] : [])].map((address) => ({
        address,
        name: u.name,
        role: "upstream" as const,
      })),
    ),
    ...topo.maglevs.map((m) => ({
      address: m.mgmt.ipv4,
      name: m.hostname,
      role: "maglev" as const,
    })),
  ];
}

/** The BFD sessions bgpd registers on a gateway: every maglev, and the upstreams with `bfd`. */
export function gatewayBfdPeers(topo: Topology): { address: string; name: string }[] {
  return [
    ...topo.env.bgp.upstream
      .filter((u) => u.bfd)
      .flatMap((u) =>
        [u.ipv4, ...(u.ipv6 ? [u.ipv6] : [])].map((address) => ({ address, name: u.name })),
      ),
    ...topo.maglevs.map((m) => ({ address: m.mgmt.ipv4, name: m.hostname })),
  ];
}

/** The next hops a VIP of `family` can have on a gateway: the maglevs with an ingress address of that family. */
export function expectedNextHops(topo: Topology, family: "ipv4" | "ipv6"): number {
  return topo.maglevs.filter((m) => !!m.ingress?.[family]).length;
}

/** The collector's data for one host (JSON: the program parses it with the stdlib; every value escaped by the JSON writer). */
export function metricsData(topo: Topology, h: HostFacts): string {
  const vips = [...topo.vips.ipv4, ...topo.vips.ipv6];
  const data: Record<string, unknown> = {
    "//": [
      ...header(
        topo.env.name,
        "#",
        `data of the metrics collector of ${h.hostname} (scripts/host/maglev-metrics)`,
      )
        .trimEnd()
        .split("\n")
        .map((l) => l.replace(/^# /, "")),
      "What this host should have (peers, services, VIPs): the collector exports each one, down when it is missing.",
      "Read once at start: a change restarts the collector.",
    ],
    stack: topo.env.name,
    host: h.hostname,
    // The collector's `role` key and its maglev_host_info `role` label: the host's tier under
    // the metrics' name, kept (a label rename would split stored series and users' queries).
    role: h.tier,
    intervalSeconds: METRICS_INTERVAL_SECONDS,
    textfileDirectory: TEXTFILE_DIR,
    applyStateDirectory: APPLY_STATE_DIR,
  };
  if (h.tier === "maglev") {
    data.maglev = {
      drainFile: DRAIN_FILE,
      vipStateFile: ANNOUNCE_STATE_FILE,
      reasons: [...ANNOUNCE_REASONS],
      vips: vips.map((v) => ({ address: v, family: familyOf(v), prefix: prefixOf(v) })),
      services: ipvsServices(topo).map((s) => ({
        fwmark: s.fwmark.fwmark,
        family: s.family,
        group: s.group.name,
        realServers: s.realServers.map((r) => ({ address: r.address, host: r.host.hostname })),
      })),
    };
  }
  if (h.tier === "gateway") {
    const nextHopNames: Record<string, string> = {};
    for (const m of topo.maglevs) {
      if (m.ingress?.ipv4) nextHopNames[m.ingress.ipv4] = m.hostname;
      if (m.ingress?.ipv6) nextHopNames[m.ingress.ipv6] = m.hostname;
    }
    data.gateway = {
      siteDrainFile: SITE_DRAIN_FILE,
      bgpNeighbors: gatewayNeighbors(topo),
      bfdPeers: gatewayBfdPeers(topo),
      vips: vips.map((v) => ({ address: v, family: familyOf(v) })),
      nextHopNames,
    };
  }
  if (h.tier === "haproxy") {
    // The drain switch hactl flips (src/tiers/haproxy.ts): its one server, `flag`, is in
    // maintenance while the node serves.
    data.haproxy = {
      adminSocket: HAPROXY_ADMIN_SOCKET,
      drainBackend: HAPROXY_DRAIN_BACKEND,
      drainServer: "flag",
    };
  }
  return jsonDocument(data, `metrics data of ${h.name}`);
}

/** The loop unit: one long-lived process (no interpreter start per pass, which is what costs on a small VM). */
export function metricsUnit(topo: Topology): string {
  const exec = ["/usr/bin/python3", "-I", "-S", METRICS_SCRIPT, "--data", METRICS_DATA]
    .map((w) => systemdExecWord(w, "metrics collector command"))
    .join(" ");
  return (
    header(topo.env.name, "#", "load-balancer metrics for node_exporter's textfile collector") +
    [
      "[Unit]",
      `Description=${systemdValue("maglev-infra load-balancer metrics (node_exporter textfile collector)")}`,
      `Documentation=${systemdValue(`file://${METRICS_SCRIPT}`)}`,
      "After=network.target",
      "",
      "[Service]",
      "Type=simple",
      // Root: ipvsadm needs CAP_NET_ADMIN, vtysh FRR's sockets, the apply records are 0600.
      `ExecStart=${exec}`,
      "Restart=always",
      "RestartSec=5",
      // Below the daemons it watches (bfdd's timers are the first thing a busy host misses).
      "Nice=10",
      "IOSchedulingClass=idle",
      "ProtectSystem=full",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "NoNewPrivileges=yes",
      "",
      "[Install]",
      "WantedBy=multi-user.target",
      "",
    ].join("\n")
  );
}

/** Restart after any of its three files changed (one command, so the apply runs it once). */
const RESTART_METRICS = `systemctl daemon-reload && systemctl try-restart ${METRICS_UNIT}`;

/** The collector on a host: program, data, unit, enabled and running. */
export function planMetrics(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  b.file({
    path: METRICS_SCRIPT,
    mode: "0755",
    content: hostScript("maglev-metrics", topo.env.name),
    validate: PYTHON_SYNTAX,
    activate: { kind: "command", command: RESTART_METRICS },
  });
  b.file({
    path: METRICS_DATA,
    content: metricsData(topo, h),
    validate: JSON_SYNTAX,
    activate: { kind: "command", command: RESTART_METRICS },
  });
  b.file({
    path: `/etc/systemd/system/${METRICS_UNIT}`,
    content: metricsUnit(topo),
    validate: systemdVerify(METRICS_UNIT),
    activate: { kind: "command", command: RESTART_METRICS },
  });
  b.service(METRICS_UNIT.replace(/\.service$/, ""));
}
