/**
 * What every L7 group member shares (HAProxy nodes, k0s edge workers, dnsdist nodes): it is a
 * real server of an IPVS direct-routing service. The maglev forwards the client's packet
 * unchanged (destination = VIP) to the member's ingress0 MAC; the member accepts it because
 * it holds the VIP locally, and answers the client straight from the VIP (direct server
 * return: the reply never crosses the maglev or the gateway).
 *
 * Also the VIPs on lo of the k0s edge workers.
 */
import { Topology, HostFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { vipInterface } from "../plan/base";
import { header } from "../plan/header";

// Where they live now (the topology's groups, the host scripts' checkers); src/tiers/haproxy.ts
// still imports them from here.
export { groupsOf } from "../topology";
export { BASH_SYNTAX } from "../plan/scripts";

/**
 * The direct-server-return settings. `vipOn`: `vip` (the dummy interface, HAProxy and dnsdist
 * nodes, as the seed does) or `lo` (k0s edge workers: Calico's IP autodetection must never pick
 * a VIP, and with the VIPs on lo its `interface=ingress0` method sees only the node's own address).
 */
export function dsrMember(
  topo: Topology,
  h: HostFacts,
  b: PlanBuilder,
  vipOn: "vip" | "lo" = "vip",
): void {
  const ing = topo.interfaces.ingress;
  // ARP/ND: only the maglevs may answer for a VIP on the ingress network. arp_ignore=1 answers
  // only for addresses configured on the receiving interface (the VIPs are on vip/lo, not on
  // ingress0); arp_announce=2 never uses a VIP as the source of our own ARP requests. The kernel
  // takes the max of `all` and the interface value, so both are set. (IPv6 ND only answers for
  // addresses of the receiving interface already.)
  for (const scope of ["all", ing]) {
    b.sysctl(`net.ipv4.conf.${scope}.arp_ignore`, 1);
    b.sysctl(`net.ipv4.conf.${scope}.arp_announce`, 2);
  }
  // rp_filter: the client's packet arrives on ingress0, but the route back to the client is the
  // default route on mgmt0 — strict reverse-path filtering would drop every VIP packet. The
  // effective value is max(all, interface), so all, default and ingress0 are 0.
  for (const scope of ["all", "default", ing]) b.sysctl(`net.ipv4.conf.${scope}.rp_filter`, 0);
  // Daemons bind the VIPs even before networkd has put them on the interface (boot order, a
  // VIP added to the stack before `networkctl reload`).
  b.sysctl("net.ipv4.ip_nonlocal_bind", 1);
  b.sysctl("net.ipv6.ip_nonlocal_bind", 1);

  if (vipOn === "vip") {
    vipInterface(topo, h, b, h.vips);
  } else {
    loopbackVips(topo, h, b);
  }
}

/**
 * The VIPs on lo, as a networkd .network for lo. networkd then owns lo's addresses, so the
 * loopback addresses are listed too (networkd would otherwise drop them as foreign on reconfigure).
 */
export function loopbackVips(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  const addrs = [
    "127.0.0.1/8",
    "::1/128",
    ...h.vips.ipv4.map((a) => `${a}/32`),
    ...h.vips.ipv6.map((a) => `${a}/128`),
  ];
  b.file({
    path: "/etc/systemd/network/60-lo-vips.network",
    content:
      header(topo.env.name, "#", `VIPs on lo of ${h.hostname} (direct server return)`) +
      "# On lo, not on a dummy: Calico's IP autodetection (interface=ingress0) must see only the\n" +
      "# node's own ingress0 address, and lo never answers ARP/ND on ingress0 (arp_ignore=1).\n" +
      `[Match]\nName=lo\n\n[Link]\nRequiredForOnline=no\n\n[Network]\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n` +
      addrs.map((a) => `Address=${a}`).join("\n") +
      "\n",
    activate: { kind: "command", command: "networkctl reload && networkctl reconfigure lo" },
  });
}
