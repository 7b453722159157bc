/**
 * The host firewall of every tier but k0s (whose own table, in ./k0s.ts, leaves room for Calico
 * and kube-proxy): one nftables file per host, /etc/maglev-infra/firewall.nft, table
 * `inet maglev_firewall`, loaded atomically by the maglev-firewall unit at boot (before the
 * network is up) and by the apply when it changes.
 *
 * In nft's syntax; addresses through nftAddress, names through nftString / commentText. The
 * planning (which file, unit and checker a host gets) is src/tiers/firewall.ts.
 *
 * What a tier needs comes from its planner as a FirewallSpec, in the users' words: which ports
 * on which interface from which sources, which VIP:port services it answers, which peers it
 * talks to at a high rate. Everything else arriving on mgmt0 or ingress0 is dropped (and
 * counted); nothing leaving the host is filtered.
 *
 * Conntrack: the seed runs the data plane without connection tracking, and at its 12 K req/s a
 * tracked VIP flow (120 s in TIME_WAIT) would fill nf_conntrack_max within minutes. So VIP
 * traffic (both directions: DSR replies leave from the VIP) and the high-rate connections to
 * application servers or PowerDNS are `notrack` and matched statelessly, by address, protocol
 * and port; only control traffic (SSH, BGP, health checks, the host's own lookups) is tracked.
 */
import { Topology, HostFacts, VipPort, familyOf } from "../../topology";
import { header } from "../../plan/header";
import { commentText, nftAddress, nftIdentifier, nftString } from "../../escape";

export const FIREWALL_FILE = "/etc/maglev-infra/firewall.nft";
export const FIREWALL_UNIT = "maglev-firewall.service";
export const FIREWALL_TABLE = nftIdentifier("maglev_firewall");

/** SSH and node_exporter: on mgmt0, from anywhere (the deployment and monitoring may be routed in). */
export const SSH_PORT = 22;
export const NODE_EXPORTER_PORT = 9100;
/** BFD control packets, single hop (RFC 5881): every BFD peer is on the mgmt network. */
export const BFD_SINGLE_HOP = 3784;

export type Protocol = "tcp" | "udp";

/** One opening: these ports, these protocols, from these sources (any when omitted). */
export interface Allow {
  /** Why, in the users' words: the comment above the rule. */
  why: string;
  protocols: Protocol[];
  ports: number[];
  /** Source addresses or networks; omitted: any source. */
  from?: string[];
}

/** A peer reached (or reaching us) at a high rate: not tracked, matched statelessly. */
export interface StatelessPeer {
  address: string;
  protocol: Protocol;
  port: number;
}

export interface FirewallSpec {
  /** What the host is, for the header. */
  what: string;
  /** Openings on the mgmt interface (SSH and node_exporter are always there). */
  mgmt: Allow[];
  /** Openings on the ingress interface (hosts with one). */
  ingress: Allow[];
  /**
   * VIP traffic. `member`: a direct-server-return member accepts exactly these VIP:port
   * services; `maglev`: accepts what table inet maglev_infra marked for IPVS (fwmarks.nft),
   * which is exactly the stack's VIP:port mappings; `forward`: a gateway forwards these
   * services from the upstream to the maglevs. Any other packet to a VIP is dropped.
   */
  vips?: { role: "member" | "maglev" | "forward"; services: VipPort[] };
  /** Connections this host opens at a high rate (HAProxy → application servers, dnsdist → PowerDNS). */
  connectsTo?: StatelessPeer[];
  /** Peers that connect to this host at a high rate, on ingress (dnsdist → PowerDNS secondary). */
  servesTo?: StatelessPeer[];
}

/** ICMP a host needs: errors (PMTU discovery), echo. Redirects are never accepted. */
const ICMP4 = "destination-unreachable, time-exceeded, parameter-problem, echo-request";
/** ICMPv6 a host needs (RFC 4890): errors, echo, neighbour discovery, MLD. */
const ICMP6 =
  "destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request, " +
  "nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query, mld2-listener-report";
/** ICMP to a VIP that IPVS or the member must see: the errors of VIP flows (PMTU), and echo. */
const ICMP4_VIP = "destination-unreachable, time-exceeded, parameter-problem, echo-request";
const ICMP6_VIP =
  "destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request";

const T = "\t";

function byFamily(addrs: string[], role: string): { ipv4: string[]; ipv6: string[] } {
  const out = { ipv4: [] as string[], ipv6: [] as string[] };
  for (const a of addrs) {
    const fam = familyOf(a.split("/")[0]);
    out[fam].push(nftAddress(a, role, fam));
  }
  return { ipv4: [...new Set(out.ipv4)], ipv6: [...new Set(out.ipv6)] };
}

const list = (items: (string | number)[]) =>
  items.length === 1 ? String(items[0]) : `{ ${items.join(", ")} }`;

/** The rules of one Allow, one per family and protocol set. */
function allowRules(a: Allow, indent: string): string[] {
  const ports = [...new Set(a.ports)].sort((x, y) => x - y);
  const protos = [...new Set(a.protocols)].sort();
  const match =
    protos.length === 1
      ? `${protos[0]} dport ${list(ports)}`
      : `meta l4proto ${list(protos)} th dport ${list(ports)}`;
  const L = [`${indent}# ${commentText(a.why, "firewall rule")}`];
  if (!a.from) {
    L.push(`${indent}${match} accept`);
    return L;
  }
  const src = byFamily(a.from, `source of "${a.why}"`);
  if (src.ipv4.length) L.push(`${indent}ip saddr ${list(src.ipv4)} ${match} accept`);
  if (src.ipv6.length) L.push(`${indent}ip6 saddr ${list(src.ipv6)} ${match} accept`);
  if (!src.ipv4.length && !src.ipv6.length)
    L.push(`${indent}# (no source in the stack: nothing opened)`);
  return L;
}

/** A named set of `address . protocol . port` elements. */
function tupleSet(
  name: string,
  fam: "ipv4" | "ipv6",
  rows: StatelessPeer[],
  role: string,
): string[] {
  const type = `${fam === "ipv4" ? "ipv4_addr" : "ipv6_addr"} . inet_proto . inet_service`;
  const els = [
    ...new Set(rows.map((r) => `${nftAddress(r.address, role, fam)} . ${r.protocol} . ${r.port}`)),
  ];
  return [
    `${T}set ${name} {`,
    `${T}${T}type ${type}`,
    `${T}${T}elements = {`,
    ...els.map((e, i) => `${T}${T}${T}${e}${i < els.length - 1 ? "," : ""}`),
    `${T}${T}}`,
    `${T}}`,
    "",
  ];
}

function addrSet(name: string, fam: "ipv4" | "ipv6", addrs: string[], role: string): string[] {
  const els = [...new Set(addrs.map((a) => nftAddress(a, role, fam)))];
  return [
    `${T}set ${name} {`,
    `${T}${T}type ${fam === "ipv4" ? "ipv4_addr" : "ipv6_addr"}`,
    `${T}${T}elements = { ${els.join(", ")} }`,
    `${T}}`,
    "",
  ];
}

export function firewallConfig(topo: Topology, h: HostFacts, spec: FirewallSpec): string {
  const ing = nftString(topo.interfaces.ingress, "networks.ingress.interface", { ifname: true });
  const mg = nftString(topo.interfaces.mgmt, "networks.mgmt.interface", { ifname: true });
  const fams = ["ipv4", "ipv6"] as const;
  const sfx = (f: "ipv4" | "ipv6") => (f === "ipv4" ? "v4" : "v6");
  const ipk = (f: "ipv4" | "ipv6") => (f === "ipv4" ? "ip" : "ip6");

  const services = spec.vips?.services ?? [];
  const vips = {
    ipv4: [...new Set(services.filter((s) => s.family === "ipv4").map((s) => s.vip))],
    ipv6: [...new Set(services.filter((s) => s.family === "ipv6").map((s) => s.vip))],
  };
  const svcRows = (f: "ipv4" | "ipv6") =>
    services
      .filter((s) => s.family === f)
      .map((s) => ({ address: s.vip, protocol: s.protocol, port: s.port }));
  const peers = (rows: StatelessPeer[] | undefined, f: "ipv4" | "ipv6") =>
    (rows ?? []).filter((r) => familyOf(r.address) === f);

  const L: string[] = [
    "#!/usr/sbin/nft -f",
    ...header(topo.env.name, "#", `host firewall of ${h.hostname} (${spec.what})`)
      .trimEnd()
      .split("\n"),
    "#",
    `# Owned by maglev-infra: only table inet ${FIREWALL_TABLE} is touched. Loading this file replaces`,
    "# the table atomically (`nft -f` is one transaction; the empty declaration makes the delete safe",
    "# when the table does not exist yet). Everything arriving that no rule accepts is dropped and",
    "# counted (`nft list chain inet maglev_firewall input`); nothing leaving the host is filtered.",
    "# VIP traffic and the high-rate peers below are not tracked (no conntrack entry per flow).",
    `table inet ${FIREWALL_TABLE} {}`,
    `delete table inet ${FIREWALL_TABLE}`,
    "",
    `table inet ${FIREWALL_TABLE} {`,
  ];

  // ---- sets
  for (const f of fams) {
    if (vips[f].length)
      L.push(
        `${T}# The ${f === "ipv4" ? "IPv4" : "IPv6"} VIPs this host ${spec.vips!.role === "forward" ? "routes to the maglevs" : "receives"}.`,
        ...addrSet(`vips_${sfx(f)}`, f, vips[f], "VIP"),
      );
    if (spec.vips && spec.vips.role !== "maglev" && svcRows(f).length)
      L.push(
        `${T}# VIP . protocol . port: the stack's mappings${spec.vips.role === "member" ? " of this host's backend groups" : ""}.`,
        ...tupleSet(`vip_services_${sfx(f)}`, f, svcRows(f), "VIP"),
      );
    if (peers(spec.connectsTo, f).length)
      L.push(
        `${T}# Servers this host connects to at a high rate (address . protocol . their port).`,
        ...tupleSet(`servers_${sfx(f)}`, f, peers(spec.connectsTo, f), "server address"),
      );
    if (peers(spec.servesTo, f).length)
      L.push(
        `${T}# Clients that query this host at a high rate (address . protocol . our port).`,
        ...tupleSet(`clients_${sfx(f)}`, f, peers(spec.servesTo, f), "client address"),
      );
  }

  // ---- notrack (raw priority: before conntrack sees the packet). The maglev's VIP traffic is
  // already untracked by its fwmarks table.
  const pre: string[] = [];
  const out: string[] = [];
  for (const f of fams) {
    const x = sfx(f);
    const ip = ipk(f);
    if (vips[f].length && spec.vips!.role !== "maglev") {
      pre.push(`${T}${T}iifname ${ing} ${ip} daddr @vips_${x} notrack`);
      if (spec.vips!.role === "member") out.push(`${T}${T}${ip} saddr @vips_${x} notrack`);
    }
    if (peers(spec.connectsTo, f).length) {
      pre.push(`${T}${T}${ip} saddr . meta l4proto . th sport @servers_${x} notrack`);
      out.push(`${T}${T}${ip} daddr . meta l4proto . th dport @servers_${x} notrack`);
    }
    if (peers(spec.servesTo, f).length) {
      pre.push(
        `${T}${T}iifname ${ing} ${ip} saddr . meta l4proto . th dport @clients_${x} notrack`,
      );
      out.push(`${T}${T}${ip} daddr . meta l4proto . th sport @clients_${x} notrack`);
    }
  }
  // The notrack chains, each only when it has a rule.
  for (const [hook, rules] of [
    ["prerouting", pre],
    ["output", out],
  ] as const)
    if (rules.length)
      L.push(
        `${T}chain ${hook} {`,
        `${T}${T}type filter hook ${hook} priority raw; policy accept;`,
        ...rules,
        `${T}}`,
        "",
      );

  // ---- input
  L.push(
    `${T}chain input {`,
    `${T}${T}type filter hook input priority filter; policy drop;`,
    `${T}${T}iif "lo" accept`,
  );
  if (spec.vips && spec.vips.role !== "forward" && (vips.ipv4.length || vips.ipv6.length)) {
    L.push(
      `${T}${T}# Traffic to a VIP is decided in to_vip only, never by the rules for the host's own addresses.`,
    );
    for (const f of fams)
      if (vips[f].length) L.push(`${T}${T}${ipk(f)} daddr @vips_${sfx(f)} jump to_vip`);
  }
  for (const f of fams) {
    if (peers(spec.connectsTo, f).length)
      L.push(`${T}${T}${ipk(f)} saddr . meta l4proto . th sport @servers_${sfx(f)} accept`);
    if (peers(spec.servesTo, f).length)
      L.push(
        `${T}${T}iifname ${ing} ${ipk(f)} saddr . meta l4proto . th dport @clients_${sfx(f)} accept`,
      );
  }
  L.push(
    `${T}${T}ct state established,related accept`,
    `${T}${T}ct state invalid drop`,
    `${T}${T}icmp type { ${ICMP4} } accept`,
    `${T}${T}icmpv6 type { ${ICMP6} } accept`,
    `${T}${T}iifname ${mg} jump from_mgmt`,
  );
  if (h.ingress) L.push(`${T}${T}iifname ${ing} jump from_ingress`);
  L.push(`${T}${T}counter drop`, `${T}}`, "");

  if (spec.vips && spec.vips.role !== "forward" && (vips.ipv4.length || vips.ipv6.length)) {
    L.push(`${T}chain to_vip {`);
    if (spec.vips.role === "maglev") {
      L.push(
        `${T}${T}# Marked by table inet maglev_infra (fwmarks.nft): exactly the stack's VIP:port mappings,`,
        `${T}${T}# which IPVS takes before the local stack sees them. Anything else (a VIP on port 22,`,
        `${T}${T}# or every VIP packet while the mark table is missing) never reaches a local socket.`,
        `${T}${T}iifname ${ing} meta mark != 0 accept`,
      );
    } else {
      for (const f of fams)
        if (svcRows(f).length)
          L.push(
            `${T}${T}${ipk(f)} daddr . meta l4proto . th dport @vip_services_${sfx(f)} accept`,
          );
    }
    L.push(
      `${T}${T}icmp type { ${ICMP4_VIP} } accept`,
      `${T}${T}icmpv6 type { ${ICMP6_VIP} } accept`,
      `${T}${T}counter drop`,
      `${T}}`,
      "",
    );
  }

  const mgmt: Allow[] = [
    {
      why: "SSH (deployment, operators) and node_exporter",
      protocols: ["tcp"],
      ports: [SSH_PORT, NODE_EXPORTER_PORT],
    },
    ...spec.mgmt,
  ];
  L.push(`${T}chain from_mgmt {`, ...mgmt.flatMap((a) => allowRules(a, `${T}${T}`)), `${T}}`, "");
  if (h.ingress) {
    L.push(`${T}chain from_ingress {`);
    if (spec.ingress.length) L.push(...spec.ingress.flatMap((a) => allowRules(a, `${T}${T}`)));
    else L.push(`${T}${T}# Nothing for the host itself on the data plane.`);
    L.push(`${T}}`, "");
  }

  // ---- forward
  L.push(`${T}chain forward {`, `${T}${T}type filter hook forward priority filter; policy drop;`);
  if (spec.vips?.role === "forward") {
    L.push(
      `${T}${T}# From the upstream router to the maglevs: the stack's VIP:port mappings, and ICMP for them.`,
    );
    for (const f of fams) {
      if (!vips[f].length) continue;
      L.push(
        `${T}${T}iifname ${ing} oifname ${ing} ${ipk(f)} daddr . meta l4proto . th dport @vip_services_${sfx(f)} accept`,
      );
      L.push(
        `${T}${T}iifname ${ing} oifname ${ing} ${ipk(f)} daddr @vips_${sfx(f)} ${f === "ipv4" ? `icmp type { ${ICMP4_VIP} }` : `icmpv6 type { ${ICMP6_VIP} }`} accept`,
      );
    }
  } else {
    L.push(`${T}${T}# Not a router.`);
  }
  L.push(`${T}${T}counter drop`, `${T}}`, "}", "");
  return L.join("\n");
}

/** The unit that loads the firewall at boot, before any interface is up. */
export function firewallUnit(
  topo: Topology,
  file: string,
  table: string,
  before: string[],
): string {
  return (
    header(topo.env.name, "#", "host firewall unit") +
    [
      "[Unit]",
      "Description=maglev-infra host firewall (own nftables table)",
      `Documentation=file://${file}`,
      "Wants=network-pre.target",
      `Before=${["network-pre.target", "shutdown.target", ...before].join(" ")}`,
      "Conflicts=shutdown.target",
      "DefaultDependencies=no",
      // Debian's nftables.service starts with "flush ruleset": load again after it.
      "After=nftables.service",
      "PartOf=nftables.service",
      "ReloadPropagatedFrom=nftables.service",
      "",
      "[Service]",
      "Type=oneshot",
      "RemainAfterExit=yes",
      `ExecStart=/usr/sbin/nft -f ${file}`,
      `ExecReload=/usr/sbin/nft -f ${file}`,
      `ExecStop=/usr/sbin/nft delete table inet ${table}`,
      "",
      "[Install]",
      "WantedBy=sysinit.target",
      "",
    ].join("\n")
  );
}
