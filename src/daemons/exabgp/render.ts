/**
 * ExaBGP on a maglev: the BGP sessions to the gateways (exabgp.conf), its environment file, and
 * the stack's data for the announce process (scripts/host/exabgp-announce), with the files that
 * process reads and writes. In ExaBGP's syntax (values through exabgpString) and JSON.
 */
import { Topology, HostFacts } from "../../topology";
import { header } from "../../plan/header";
import { exabgpString, jsonDocument } from "../../escape";
import { NFT_CHAIN, NFT_MAPS, NFT_TABLE } from "../nftables/render";

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
      ingressInterface: topo.interfaces.ingress,
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
