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
import * as path from "path";
import { Topology, HostFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { vipInterface } from "../plan/base";
import { planFrr } from "./frr-common";
import { systemdVerify } from "../daemons/systemd/validate";
import { BFD_SINGLE_HOP, FirewallSpec, planFirewall } from "./firewall";
import { hostScript, PYTHON_SYNTAX } from "../plan/scripts";
import { NFT_FILE, NFT_UNIT, nftablesConfig, nftablesUnit } from "../daemons/nftables/render";
import { NFT_VALIDATE } from "../daemons/nftables/validate";
import {
  IPVS_SYNC_PORT,
  IPVS_SYNC_UNIT,
  ipvsSyncUnit,
  KEEPALIVED_CONF,
  keepalivedConfig,
} from "../daemons/keepalived/render";
import { KEEPALIVED_VALIDATE } from "../daemons/keepalived/validate";
import {
  EXABGP_CONF,
  EXABGP_ENV,
  ANNOUNCE_SCRIPT,
  ANNOUNCE_DATA,
  VIP_INTERFACE,
  DRAIN_FILE,
  ANNOUNCED_FILE,
  announceData,
  exabgpConfig,
  exabgpEnv,
} from "../daemons/exabgp/render";
import { EXABGP_ENV_VALIDATE, EXABGP_VALIDATE, JSON_SYNTAX } from "../daemons/exabgp/validate";
import { maglevFrrConfig } from "../daemons/frr/render";

// The daemons' renderers and checkers live in src/daemons/<daemon>; their names stay importable here.
export {
  NFT_FILE,
  NFT_TABLE,
  NFT_UNIT,
  NFT_CHAIN,
  NFT_MAPS,
  nftablesConfig,
  nftablesUnit,
} from "../daemons/nftables/render";
export { NFT_VALIDATE } from "../daemons/nftables/validate";
export {
  KEEPALIVED_CONF,
  HEALTH_PORT_DEFAULT,
  HEALTH_PATH_DEFAULT,
  type IpvsService,
  ipvsServices,
  keepalivedConfig,
} from "../daemons/keepalived/render";
export { KEEPALIVED_VALIDATE } from "../daemons/keepalived/validate";
export {
  EXABGP_CONF,
  EXABGP_ENV,
  ANNOUNCE_SCRIPT,
  ANNOUNCE_DATA,
  VIP_INTERFACE,
  DRAIN_FILE,
  ANNOUNCED_FILE,
  ANNOUNCE_STATE_FILE,
  ANNOUNCE_REASONS,
  exabgpConfig,
  exabgpEnv,
  announceData,
} from "../daemons/exabgp/render";
export { EXABGP_VALIDATE, EXABGP_ENV_VALIDATE, JSON_SYNTAX } from "../daemons/exabgp/validate";
export { GATEWAY_BFD_PROFILE, maglevFrrConfig } from "../daemons/frr/render";

/**
 * Set while an apply (not an operator) holds the maglev drained. On disk like the drain file:
 * a maglev that reboots in the middle of an apply comes back with both, and the next apply
 * undoes its own drain (in /run the mark would vanish and leave it drained as if by hand).
 */
export const APPLY_DRAIN_MARK = "/var/lib/maglev-infra/apply-drain";
/** The folders of the drain file and the apply's mark: created, and synced after each change. */
const DRAIN_DIRS = `${path.posix.dirname(DRAIN_FILE)} ${path.posix.dirname(APPLY_DRAIN_MARK)}`;

// ---------------------------------------------------------------------------------------
// The planner
// ---------------------------------------------------------------------------------------

export function planMaglev(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  const env = topo.env;
  const ing = topo.interfaces.ingress;

  // Every VIP on the `vip` dummy: the marked packets are local, so IPVS (LOCAL_IN) sees them,
  // and the announce script reads the VIPs from there.
  vipInterface(topo, h, b, topo.vips, VIP_INTERFACE);

  b.package("nftables", "keepalived", "ipvsadm", "exabgp");
  b.service("exabgp", "keepalived", NFT_UNIT, IPVS_SYNC_UNIT);

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
    path: `/etc/systemd/system/${IPVS_SYNC_UNIT}`,
    content: ipvsSyncUnit(topo),
    validate: systemdVerify(IPVS_SYNC_UNIT),
    // Started by the plan's services like the other units; a changed unit takes effect at its
    // next start (a reboot; a restart stops and starts only the sync threads, IPVS keeps its
    // entries).
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
  // A client reuses a source port while IPVS still holds the old connection's entry: with
  // direct routing IPVS sees only the client's half, so a finished connection stays FIN_WAIT
  // (2 min), and the new SYN follows that entry to its old real server — after a drain, a
  // weight-0 HAProxy node that is about to stop (lab, reboot of a drained mlb01: packets on old
  // entries all through its downtime, up to 23 reset new connections). Bit 2 (value 2, on top
  // of the default bit 1) reschedules such a SYN when the old entry is in FIN_WAIT: "the last
  // state seen by load balancer in Direct Routing mode" (ipvs-sysctl.rst, conn_reuse_mode).
  b.sysctl("net.ipv4.vs.conn_reuse_mode", 3, "ip_vs");
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
      `install -d -m 0755 ${DRAIN_DIRS}; ` +
      `if [ -e ${DRAIN_FILE} ] && [ ! -e ${APPLY_DRAIN_MARK} ]; then exit 0; fi; ` +
      `touch ${APPLY_DRAIN_MARK} ${DRAIN_FILE}; sync ${DRAIN_DIRS}; ` +
      `[ -s ${ANNOUNCED_FILE} ] || exit 0; ` +
      `for i in $(seq 30); do sleep 1; [ -s ${ANNOUNCED_FILE} ] || { sleep 2; exit 0; }; done; ` +
      `echo "maglev ${h.hostname}: still announcing after 30 s: $(tr '\n' ' ' < ${ANNOUNCED_FILE})" >&2; exit 1`,
    // `sync`: the drain file's creation and removal on disk at once, as `ops drain` does — a
    // power cut right after an apply's undrain must not boot the maglev drained.
    undrain: `if [ -e ${APPLY_DRAIN_MARK} ]; then rm -f ${DRAIN_FILE} ${APPLY_DRAIN_MARK}; sync ${DRAIN_DIRS}; fi`,
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
      {
        why: "IPVS connection sync (multicast) from the other maglevs",
        protocols: ["udp"],
        ports: [IPVS_SYNC_PORT],
        from: topo.maglevs.map((m) => m.mgmt.ipv4),
      },
    ],
    ingress: [],
    vips: { role: "maglev", services: topo.vipPorts },
  };
}
