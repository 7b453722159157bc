/**
 * MaglevNode (maglev01/02): the L4 tier. Both maglevs are active at once; the gateways
 * spread flows over them by ECMP, and IPVS's Maglev hashing (`mh` + `mh-port`) sends a
 * flow to the same real server whichever maglev gets it, so a maglev can fail or drain
 * without resetting connections (`sloppy_tcp` lets the other one pick a flow up mid-stream).
 *
 *   packet on ingress0 for VIP:port ──nftables──▶ fwmark ──IPVS (keepalived)──▶ real server
 *   (the VIPs sit on the `vip` dummy, so the packet is local)        (DR: same packet, the member's MAC)
 *
 * - nftables: one table of this project marks (ingress0, VIP, protocol, port) with the
 *   topology's fwmark and exempts VIP traffic from conntrack;
 * - keepalived (no VRRP): one IPVS fwmark service per fwmark and family, real servers
 *   health-checked and set to weight 0 on failure (inhibit_on_failure);
 * - ExaBGP: announces the VIPs to every gateway while this node can serve them (the announce
 *   process, scripts/host/exabgp-announce: per VIP, its IPVS services' health and its marks);
 *   FRR's bfdd gives the gateways sub-second failure detection.
 */
import { Topology, HostFacts, GroupFacts, FwmarkEntry } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { vipInterface } from "../plan/base";
import { header } from "../plan/header";
import { Validate } from "../plan/types";
import { bfdDetectMs, bfdProfile, frrPreamble, planFrr } from "./frr-common";
import { ingressIf, systemdVerify } from "./l7-common";
import { frontendName, HAPROXY_HEALTH_PORT_DEFAULT } from "./haproxy";
import { INGRESS_HEALTH_PATH, INGRESS_HTTP_PORT } from "./k0s";
import { BFD_SINGLE_HOP, FirewallSpec, planFirewall } from "./firewall";
import { commentText, exabgpString, jsonDocument, keepalivedWord } from "../escape";
import { hostScript, PYTHON_SYNTAX } from "../plan/scripts";
import {
  NFT_FILE,
  NFT_TABLE,
  NFT_UNIT,
  NFT_CHAIN,
  NFT_MAPS,
  nftablesConfig,
  nftablesUnit,
} from "../daemons/nftables/render";
import { NFT_VALIDATE } from "../daemons/nftables/validate";

// The nftables mark table is rendered in src/daemons/nftables; its names stay importable here.
export {
  NFT_FILE,
  NFT_TABLE,
  NFT_UNIT,
  NFT_CHAIN,
  NFT_MAPS,
  nftablesConfig,
  nftablesUnit,
  NFT_VALIDATE,
};

export const KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf";
export const EXABGP_CONF = "/etc/exabgp/exabgp.conf";
/** ExaBGP's environment file (Debian's ExaBGP reads it from its etc folder at start). */
export const EXABGP_ENV = "/etc/exabgp/exabgp.env";
/** The announce process ExaBGP runs: scripts/host/exabgp-announce, reading ANNOUNCE_DATA. */
export const ANNOUNCE_SCRIPT = "/usr/local/lib/maglev-infra/exabgp-announce";
/** The stack's data for it (the program's default path). */
export const ANNOUNCE_DATA = "/etc/maglev-infra/exabgp-announce.json";
/** The dummy interface that holds the VIPs: the marked packets are local, and the announce process reads the VIPs there. */
export const VIP_INTERFACE = "vip";
/**
 * The drain switch of a maglev: while this file exists the announce process withdraws every
 * VIP (within a second) and announces none, whatever the health of the services. Created by
 * the rollout's drain hook and removed by its undrain hook; an operator can use it by hand
 * (`touch` / `rm`) for maintenance. It survives reboots, on purpose: a node drained for
 * maintenance stays out until someone removes it.
 */
export const DRAIN_FILE = "/etc/maglev-infra/drain";
/** What the announce process currently announces, one prefix a line (in ExaBGP's runtime directory). */
export const ANNOUNCED_FILE = "/run/exabgp/announced";
/** Per stack VIP: announced or withdrawn and why (JSON), for the metrics collector. Gone while ExaBGP is stopped. */
export const ANNOUNCE_STATE_FILE = "/run/exabgp/vip-state.json";
/**
 * Why the announce process announces or withdraws a VIP, as it writes it into ANNOUNCE_STATE_FILE
 * (scripts/host/exabgp-announce REASONS, in the order it checks them): healthy; drained (the
 * drain file); not on the `vip` interface; no ingress address of the VIP's family for a next hop;
 * an IPVS service of the VIP below `maglev.minHealthyRealServers`; its nftables marks missing.
 */
export const ANNOUNCE_REASONS = [
  "healthy",
  "drained",
  "not_on_interface",
  "no_next_hop",
  "below_min_healthy",
  "marks_missing",
] as const;
/**
 * Set while an apply (not an operator) holds the maglev drained. On disk like the drain file:
 * a maglev that reboots in the middle of an apply comes back with both, and the next apply
 * undoes its own drain (in /run the mark would vanish and leave it drained as if by hand).
 */
export const APPLY_DRAIN_MARK = "/var/lib/maglev-infra/apply-drain";

/**
 * Default real-server check port per group kind: HAProxy's health API; the k0s ingress's HTTP
 * port, through the ingress to an application endpoint (INGRESS_HEALTH_PATH); DNS.
 */
export const HEALTH_PORT_DEFAULT: Record<GroupFacts["kind"], number> = {
  haproxy: HAPROXY_HEALTH_PORT_DEFAULT,
  "k0s-ingress": INGRESS_HTTP_PORT,
  dnsdist: 53,
};
/** Default HTTP path per kind; `{frontend}` is the HAProxy frontend of the fwmark (`fe_<fwmark>`). */
export const HEALTH_PATH_DEFAULT: Partial<Record<GroupFacts["kind"], string>> = {
  haproxy: "/health?frontend={frontend}",
  "k0s-ingress": INGRESS_HEALTH_PATH,
};

type Family = "ipv4" | "ipv6";
const FAMILIES: Family[] = ["ipv4", "ipv6"];

/** One IPVS service: a fwmark in one address family, with the members that can serve it. */
export interface IpvsService {
  fwmark: FwmarkEntry;
  group: GroupFacts;
  family: Family;
  /** Real servers: the members' ingress addresses of this family (members without one are left out). */
  realServers: { host: HostFacts; address: string }[];
}

/** Every IPVS service the maglevs run, by fwmark then family. Services without any real server are left out. */
export function ipvsServices(topo: Topology): IpvsService[] {
  const out: IpvsService[] = [];
  for (const f of topo.fwmarks) {
    const group = topo.groups.get(f.group);
    if (!group) continue;
    for (const family of FAMILIES) {
      if (f.vips[family].length === 0) continue;
      const realServers = group.members.flatMap((m) => {
        const address = m.ingress?.[family];
        return address ? [{ host: m, address }] : [];
      });
      if (realServers.length) out.push({ fwmark: f, group, family, realServers });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// keepalived
// ---------------------------------------------------------------------------------------

/**
 * `keepalived -t` exits non-zero on errors and on warnings (exit 5), e.g. a port on a real
 * server of a fwmark service. It exits 0 on a missing file, hence `test -s` first.
 */
export const KEEPALIVED_VALIDATE: Validate = {
  checker: "keepalived",
  command: "test -s {file} && keepalived -t -f {file}",
};

function healthCheckLines(topo: Topology, svc: IpvsService, indent: string): string[] {
  const g = svc.group;
  const hc = g.healthCheck;
  const port = hc.port ?? HEALTH_PORT_DEFAULT[g.kind];
  // alpha: a checker starts in the failed state, so after a keepalived start or reload a real
  // server gets weight only once its first check passed (without it every member starts at
  // weight 1 and a dead one takes its Maglev share until the first failed check).
  const common = [
    `connect_port ${port}`,
    `connect_timeout ${hc.timeoutSeconds}`,
    "retry 1",
    `delay_before_retry ${hc.intervalSeconds}`,
    "alpha",
  ];
  const I = (l: string[]) => l.map((x) => indent + x);
  if (g.kind === "dnsdist") {
    // A real query over UDP, answered NOERROR: dnsdist is up and has a backend for the zone.
    const zone = topo.env.dns.servedZones?.[0] ?? topo.env.dns.zone;
    return I([
      "DNS_CHECK {",
      ...common.map((l) => `    ${l}`),
      "    type SOA",
      `    name ${keepalivedWord(zone, "dns.servedZones[0]")}`,
      "}",
    ]);
  }
  const path = keepalivedWord(
    (hc.path ?? HEALTH_PATH_DEFAULT[g.kind] ?? "/")
      .split("{frontend}")
      .join(frontendName(svc.fwmark.fwmark)),
    `backendGroups.${g.name}.healthCheck.path`,
  );
  return I([
    "HTTP_GET {",
    "    url {",
    `        path ${path}`,
    "        status_code 200",
    "    }",
    ...common.map((l) => `    ${l}`),
    "}",
  ]);
}

export function keepalivedConfig(topo: Topology, h: HostFacts): string {
  const services = ipvsServices(topo);
  const L: string[] = [
    ...header(topo.env.name, "#", `keepalived (IPVS only, no VRRP) of ${h.hostname}`)
      .trimEnd()
      .split("\n"),
    "#",
    "# One IPVS service per fwmark and address family. Maglev hashing on the whole 5-tuple",
    "# (mh + mh-port) gives every maglev the same flow → real server mapping, so a flow that",
    "# moves to the other maglev keeps its real server. Direct routing: the member answers the",
    "# client itself. A member failing its check gets weight 0 (inhibit_on_failure): no new",
    "# flows, established ones continue — it never vanishes from the service.",
    "# mh-fallback: Maglev keeps a weight-0 member's slots (so the other flows keep their",
    "# member); without it a new flow hashing to such a slot finds no destination and the",
    "# maglev's own stack answers it with a reset (measured in the lab: 171 of 447 new",
    "# connections reset while one HAProxy node was drained). With it, those flows take the",
    "# next member of the permutation — the same one on every maglev.",
    "",
    "global_defs {",
    `    router_id ${keepalivedWord(h.hostname, `hostname of ${h.name}`)}`,
    // keepalived owns IPVS on this host: drop services a killed keepalived left behind.
    "    lvs_flush",
    "}",
  ];
  for (const svc of services) {
    const f = svc.fwmark;
    const g = svc.group;
    const proto = `${f.port}/${f.protocols.join("+")}`;
    L.push(
      "",
      `# fwmark ${f.fwmark} (${svc.family === "ipv4" ? "IPv4" : "IPv6"}): group ${commentText(g.name, "backendGroups name")} (${g.kind}), port ${proto} — ${f.vips[svc.family].join(", ")}`,
      `virtual_server fwmark ${f.fwmark} {`,
    );
    if (svc.family === "ipv6") L.push("    ip_family inet6");
    L.push(
      `    delay_loop ${g.healthCheck.intervalSeconds}`,
      "    lvs_sched mh",
      "    mh-port",
      "    mh-fallback",
      "    lvs_method DR",
    );
    for (const rs of svc.realServers) {
      L.push(
        "",
        `    # ${commentText(rs.host.hostname, `hostname of ${rs.host.name}`)}`,
        `    real_server ${rs.address} {`,
        "        weight 1",
        "        inhibit_on_failure",
        ...healthCheckLines(topo, svc, "        "),
        "    }",
      );
    }
    const missing = g.members.filter((m) => !m.ingress?.[svc.family]);
    if (missing.length)
      L.push(
        `    # not here (no ${svc.family === "ipv4" ? "IPv4" : "IPv6"} ingress address): ${commentText(missing.map((m) => m.name).join(", "), "hosts[].name")}`,
      );
    L.push("}");
  }
  return L.join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------
// ExaBGP
// ---------------------------------------------------------------------------------------

/**
 * `exabgp --validate` exits 1 on a bad file. It also refuses a `run` program that does not
 * exist yet, and the apply step validates every file before installing any: the copy it
 * checks runs /bin/true instead of the announce script (which has its own checker).
 */
export const EXABGP_VALIDATE: Validate = {
  checker: "exabgp",
  command:
    `d=$(mktemp -d) && sed 's#^\\( *run \\)${ANNOUNCE_SCRIPT};#\\1/bin/true;#' {file} > "$d/exabgp.conf" && ` +
    `exabgp_api_cli=false exabgp --validate "$d/exabgp.conf" >"$d/out" 2>&1; rc=$?; ` +
    `[ $rc -eq 0 ] || tail -n 8 "$d/out"; rm -rf "$d"; exit $rc`,
};

export function exabgpConfig(topo: Topology, h: HostFacts): string {
  const env = topo.env;
  const L: string[] = [
    ...header(env.name, "#", `ExaBGP of ${h.hostname}`).trimEnd().split("\n"),
    "#",
    "# iBGP to every gateway over mgmt; the routes themselves come from the announce process:",
    "# the VIPs of the `vip` interface with this maglev's ingress0 address as next hop, while",
    `# their IPVS services have healthy real servers, the nftables table inet ${NFT_TABLE} marks`,
    `# their traffic and ${DRAIN_FILE} does not exist. Its data: ${ANNOUNCE_DATA}.`,
    "",
    "process announce-vips {",
    `    run ${ANNOUNCE_SCRIPT};`,
    "    encoder text;",
    "}",
    "",
    "template {",
    "    neighbor gateway {",
    `        router-id ${h.mgmt.ipv4};`,
    `        local-address ${h.mgmt.ipv4};`,
    `        local-as ${env.bgp.asn};`,
    `        peer-as ${env.bgp.asn};`,
    `        hold-time ${env.bgp.holdTimeSeconds};`,
    "        family {",
    "            ipv4 unicast;",
    "            ipv6 unicast;",
    "        }",
    "        api {",
    "            processes [ announce-vips ];",
    "        }",
    "    }",
    "}",
  ];
  for (const gw of topo.gateways) {
    L.push(
      "",
      `neighbor ${gw.mgmt.ipv4} {`,
      "    inherit gateway;",
      `    description ${exabgpString(gw.hostname, `hostname of ${gw.name}`)};`,
      "}",
    );
  }
  return L.join("\n") + "\n";
}

/**
 * ExaBGP's environment: only the reactor's idle poll. ExaBGP 4.2 polls its sockets and API pipes
 * with a timeout of `reactor.speed` / 100 s (reactor/loop.py): 10 ms by default, 100 wake-ups a
 * second on an idle maglev. A BGP message or a line from the announce process wakes the poll at
 * once either way, and hold/keepalive timers are seconds, so 100 ms changes no reaction time —
 * it makes ExaBGP wake ten times less (it was the second-busiest process of an idle lab maglev).
 */
export function exabgpEnv(topo: Topology, h: HostFacts): string {
  return [
    ...header(topo.env.name, "#", `ExaBGP environment of ${h.hostname}`).trimEnd().split("\n"),
    "",
    "[exabgp.reactor]",
    "speed = 10.0",
    "",
  ].join("\n");
}

/** `exabgp --env FILE` parses the file the way ExaBGP's start does; a bad value ends in a traceback, whose last line is printed. */
export const EXABGP_ENV_VALIDATE: Validate = {
  checker: "exabgp",
  command: `out=$(exabgp --env {file} --diff-env 2>&1) || { printf '%s\\n' "$out" | grep -E '^[A-Za-z]+Error: ' | tail -n 1; exit 1; }`,
};

/**
 * The stack's data for the announce process (scripts/host/exabgp-announce), which reads it once
 * at start: per VIP the IPVS services that must be healthy and the mark entries that must be in
 * the nftables table, the interfaces, the watchdog threshold and the files it uses. JSON: the
 * program parses it with the stdlib, and every value is escaped by the JSON writer.
 */
export function announceData(topo: Topology): string {
  type VipData = {
    ipvsServices: Map<string, { family: 4 | 6; fwmark: number }>;
    marks: { protocol: string; port: number; fwmark: number }[];
  };
  const perVip = new Map<string, VipData>();
  for (const vp of topo.vipPorts) {
    const v: VipData = perVip.get(vp.vip) ?? { ipvsServices: new Map(), marks: [] };
    const family = vp.family === "ipv6" ? 6 : 4;
    v.ipvsServices.set(`${family}:${vp.fwmark}`, { family, fwmark: vp.fwmark });
    v.marks.push({ protocol: vp.protocol, port: vp.port, fwmark: vp.fwmark });
    perVip.set(vp.vip, v);
  }
  const vips = Object.fromEntries(
    [...perVip.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([vip, v]) => [
        vip,
        {
          ipvsServices: [...v.ipvsServices.values()].sort((a, b) => a.fwmark - b.fwmark),
          marks: v.marks.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol)),
        },
      ]),
  );
  return jsonDocument(
    {
      "//": [
        ...header(
          topo.env.name,
          "#",
          "data of the ExaBGP announce process (scripts/host/exabgp-announce)",
        )
          .trimEnd()
          .split("\n")
          .map((l) => l.replace(/^# /, "")),
        "Per VIP: the IPVS fwmark services (address family, fwmark) that must each have",
        "minHealthyRealServers real servers with weight > 0, and the entries (protocol, port, fwmark)",
        "that the mark table's map of the VIP's family must hold, for the VIP to be announced.",
        "Read once at start: a change restarts ExaBGP.",
      ],
      vipInterface: VIP_INTERFACE,
      ingressInterface: ingressIf(topo),
      minHealthyRealServers: topo.env.maglev.minHealthyRealServers,
      drainFile: DRAIN_FILE,
      announcedFile: ANNOUNCED_FILE,
      stateFile: ANNOUNCE_STATE_FILE,
      markTable: { family: "inet", name: NFT_TABLE, chain: NFT_CHAIN, maps: NFT_MAPS },
      vips,
    },
    "exabgp-announce data",
  );
}

/** `python3 -m json.tool`: the data file is one JSON document (the program fails at start on anything else). */
export const JSON_SYNTAX: Validate = {
  checker: "python3",
  command: "python3 -m json.tool {file} >/dev/null",
};

// ---------------------------------------------------------------------------------------
// BFD (FRR's bfdd; ExaBGP has none)
// ---------------------------------------------------------------------------------------

export const GATEWAY_BFD_PROFILE = "gateways";

export function maglevFrrConfig(topo: Topology, h: HostFacts): string {
  const bfd = topo.env.bgp.bfd;
  const L = [
    ...frrPreamble(topo.env, h, "FRR (bfdd only) — BFD towards the gateways"),
    "! ExaBGP speaks BGP but not BFD: bfdd answers the gateways' BFD sessions (bgpd there",
    `! registers them with \`neighbor … bfd\`), so they drop this maglev ~${bfdDetectMs(bfd)} ms after it dies.`,
    "bfd",
    ...bfdProfile(GATEWAY_BFD_PROFILE, bfd),
  ];
  for (const gw of topo.gateways) {
    L.push(
      ` ! ${commentText(gw.hostname, `hostname of ${gw.name}`)}`,
      ` peer ${gw.mgmt.ipv4} local-address ${h.mgmt.ipv4}`,
      `  profile ${GATEWAY_BFD_PROFILE}`,
      " exit",
    );
  }
  L.push("exit", "!", "");
  return L.join("\n");
}

// ---------------------------------------------------------------------------------------
// The planner
// ---------------------------------------------------------------------------------------

export function planMaglev(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  const env = topo.env;
  const ing = ingressIf(topo);

  // Every VIP on the `vip` dummy: the marked packets are local, so IPVS (LOCAL_IN) sees them,
  // and the announce script reads the VIPs from there.
  vipInterface(topo, h, b, topo.vips, VIP_INTERFACE);

  b.package("nftables", "keepalived", "ipvsadm", "exabgp");
  b.service("exabgp", "keepalived", NFT_UNIT);

  b.file({
    path: NFT_FILE,
    content: nftablesConfig(topo, h),
    validate: NFT_VALIDATE,
    // The same command as the unit's: atomic replacement of the table. (Not `systemctl reload`:
    // on the first rollout the unit is installed after this file.)
    activate: { kind: "command", command: `nft -f ${NFT_FILE}` },
  });
  b.file({
    path: `/etc/systemd/system/${NFT_UNIT}`,
    content: nftablesUnit(topo),
    validate: systemdVerify(NFT_UNIT),
    activate: { kind: "command", command: "systemctl daemon-reload" },
  });
  b.file({
    path: KEEPALIVED_CONF,
    mode: "0640",
    content: keepalivedConfig(topo, h),
    validate: KEEPALIVED_VALIDATE,
    // SIGHUP: keepalived applies the difference; unchanged services and real servers stay.
    activate: { kind: "reload", service: "keepalived" },
  });
  b.file({
    path: EXABGP_CONF,
    mode: "0640",
    owner: "root:exabgp",
    content: exabgpConfig(topo, h),
    validate: EXABGP_VALIDATE,
    // The sessions restart; the node is drained around every rollout step anyway.
    activate: { kind: "restart", service: "exabgp" },
  });
  b.file({
    path: EXABGP_ENV,
    content: exabgpEnv(topo, h),
    validate: EXABGP_ENV_VALIDATE,
    activate: { kind: "restart", service: "exabgp" },
  });
  b.file({
    path: ANNOUNCE_SCRIPT,
    mode: "0755",
    content: hostScript("exabgp-announce", env.name),
    validate: PYTHON_SYNTAX,
    // ExaBGP runs the program once: a new version needs a new ExaBGP.
    activate: { kind: "restart", service: "exabgp" },
  });
  b.file({
    path: ANNOUNCE_DATA,
    content: announceData(topo),
    validate: JSON_SYNTAX,
    // Read once, at the program's start.
    activate: { kind: "restart", service: "exabgp" },
  });
  planFrr(topo, h, b, ["bfdd"], maglevFrrConfig(topo, h));
  planFirewall(topo, h, b, maglevFirewall(topo), [
    NFT_UNIT,
    "keepalived.service",
    "exabgp.service",
    "frr.service",
  ]);

  // IPVS. The keys live under net.ipv4.vs but apply to both families (there is no net.ipv6.vs).
  // No netfilter conntrack entries for IPVS connections: the VIP traffic is notrack'ed anyway.
  b.sysctl("net.ipv4.vs.conntrack", 0, "ip_vs");
  // A flow moved here from the other maglev (failover, drain, ECMP change) arrives without a
  // SYN; without sloppy_tcp IPVS does not schedule it and the client gets a reset (lab: 7
  // resets with it off, 0 with it on). mh + mh-port picks the same real server as before.
  b.sysctl("net.ipv4.vs.sloppy_tcp", 1, "ip_vs");
  // Kept at 0 (the kernel default, as network-lab's lab-3tier-lb): a packet for a connection
  // whose real server was removed from the service is dropped, not rescheduled. With 1 it is
  // rescheduled at once — while keepalived restarts there is no service, so the maglev itself
  // answers with a reset, killing flows that would have survived: their retransmits move to
  // the other maglev once this one withdraws, or find the real server again when keepalived
  // re-adds it (IPVS restores it with its connections). The price: a connection to a member
  // removed for good hangs until its entry expires, which is why members are drained (weight
  // 0, connections finish) before they leave the stack.
  b.sysctl("net.ipv4.vs.expire_nodest_conn", 0, "ip_vs");
  // Only concerns persistence templates; these services have none (mh needs no persistence):
  // set to the default so the choice is visible.
  b.sysctl("net.ipv4.vs.expire_quiescent_template", 0, "ip_vs");
  // The VIPs are on `vip`, so the maglev must never answer ARP for them on ingress0 (the L7
  // members hold them too) nor use one as the source of its own ARP requests. The kernel
  // takes the max of `all` and the interface value.
  for (const scope of ["all", ing]) {
    b.sysctl(`net.ipv4.conf.${scope}.arp_ignore`, 1);
    b.sysctl(`net.ipv4.conf.${scope}.arp_announce`, 2);
  }
  // Client packets arrive on ingress0, the route back to a client is the default route on mgmt:
  // strict reverse-path filtering would drop them; loose only asks for some route.
  b.sysctl("net.ipv4.conf.all.rp_filter", 2);
  // No ip_forward: IPVS sends DR packets from LOCAL_IN itself; nothing is routed through a
  // maglev, so it is not made a router.

  const gateways = topo.gateways.map((g) => g.mgmt.ipv4);
  const prefixes = [
    ...topo.vips.ipv4.map((v) => `${v}/32`),
    ...topo.vips.ipv6.map((v) => `${v}/128`),
  ];
  b.drain = {
    // Withdraw everything, wait (bounded) until the announce script has, then 2 s for the
    // gateways to move the flows to the other maglevs. A maglev an operator drained stays
    // drained through an apply: only a drain this step made is undone by `undrain`.
    drain:
      `install -d -m 0755 /etc/maglev-infra /var/lib/maglev-infra; ` +
      `if [ -e ${DRAIN_FILE} ] && [ ! -e ${APPLY_DRAIN_MARK} ]; then exit 0; fi; ` +
      `touch ${APPLY_DRAIN_MARK} ${DRAIN_FILE}; [ -s ${ANNOUNCED_FILE} ] || exit 0; ` +
      `for i in $(seq 30); do sleep 1; [ -s ${ANNOUNCED_FILE} ] || { sleep 2; exit 0; }; done; ` +
      `echo "maglev ${h.hostname}: still announcing after 30 s: $(tr '\n' ' ' < ${ANNOUNCED_FILE})" >&2; exit 1`,
    undrain: `if [ -e ${APPLY_DRAIN_MARK} ]; then rm -f ${DRAIN_FILE} ${APPLY_DRAIN_MARK}; fi`,
  };
  b.health = {
    // BGP: ExaBGP holds a TCP session to port 179 of every gateway (it closes it when the BGP
    // session fails). Announced: every VIP is in what the announce script sent — unless an
    // operator drained this maglev (drain file, no apply mark), which the apply leaves as it is.
    command:
      `for gw in ${gateways.join(" ")}; do ss -Hnt state established dst "$gw" dport = :179 | grep -q . || exit 1; done; ` +
      `if [ -e ${DRAIN_FILE} ] && [ ! -e ${APPLY_DRAIN_MARK} ]; then exit 0; fi; ` +
      `for p in ${prefixes.join(" ")}; do grep -qxF "$p" ${ANNOUNCED_FILE} || exit 1; done`,
    timeoutSeconds: 120,
    description: `ExaBGP of ${h.hostname} is connected to ${topo.gateways.map((g) => g.name).join(", ")} and announces ${prefixes.length} VIPs (none while drained by an operator)`,
  };
}

/**
 * A maglev opens BGP and BFD on mgmt to the gateways only, and accepts VIP traffic only as its
 * fwmark table marked it: a packet to a VIP on a port the stack does not map (10.1.7.16:22)
 * never reaches sshd or any other local socket.
 */
export function maglevFirewall(topo: Topology): FirewallSpec {
  const gateways = topo.gateways.map((g) => g.mgmt.ipv4);
  return {
    what: "maglev",
    mgmt: [
      {
        why: "BGP from the gateways (ExaBGP connects out; a gateway may connect first)",
        protocols: ["tcp"],
        ports: [179],
        from: gateways,
      },
      {
        why: "BFD (single hop) from the gateways",
        protocols: ["udp"],
        ports: [BFD_SINGLE_HOP],
        from: gateways,
      },
    ],
    ingress: [],
    vips: { role: "maglev", services: topo.vipPorts },
  };
}
