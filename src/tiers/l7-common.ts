/**
 * What every L7 group member shares (HAProxy nodes, k0s edge workers, dnsdist nodes): it is a
 * real server of an IPVS direct-routing service. The maglev forwards the client's packet
 * unchanged (destination = VIP) to the member's ingress0 MAC; the member accepts it because
 * it holds the VIP locally, and answers the client straight from the VIP (direct server
 * return: the reply never crosses the maglev or the gateway).
 *
 * Also the small helpers the L7 planners share: the strict systemd unit checker, the
 * members/VIPs of a host's groups.
 */
import { Topology, HostFacts, GroupFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { vipInterface } from "../plan/base";
import { header } from "../plan/header";
import { Validate } from "../plan/types";
import { shellWord } from "../escape";
import { interfaceName } from "../topology/interfaces";

export function ingressIf(topo: Topology): string {
  return interfaceName(topo.env.networks, "ingress");
}
export function mgmtIf(topo: Topology): string {
  return interfaceName(topo.env.networks, "mgmt");
}

/** The backend groups this host is a member of, with their facts. */
export function groupsOf(topo: Topology, h: HostFacts): GroupFacts[] {
  return h.groups.map((g) => topo.groups.get(g)).filter((g): g is GroupFacts => !!g);
}

/** The one group of `kind` this host belongs to; a host serves one group per kind. */
export function groupOfKind(
  topo: Topology,
  h: HostFacts,
  kind: GroupFacts["kind"],
): GroupFacts | undefined {
  return groupsOf(topo, h).find((g) => g.kind === kind);
}

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
  const ing = ingressIf(topo);
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

/**
 * `systemd-analyze verify` on a copy named like the unit, made strict: verify exits 0 on
 * "Unknown key" and "Failed to parse" (it only logs them), so any diagnostic fails the check.
 * `pinned` lists binaries the plan's downloads step installs (and sha256-checks) before any file
 * is validated on the host; on a render machine they are absent, so verify's "is not executable"
 * for exactly those paths is not a diagnostic of the unit.
 */
export function systemdVerify(unitName: string, pinned: string[] = []): Validate {
  const filters = pinned
    .map((p) => ` | grep -vF ${shellWord(`Command ${p} is not executable`)}`)
    .join("");
  return {
    checker: "systemd-analyze",
    command:
      `d=$(mktemp -d) && cp {file} "$d/${unitName}" && ` +
      `out=$(cd "$d" && systemd-analyze verify --man=no ./${unitName} 2>&1${filters}); ` +
      `rm -rf "$d"; if [ -n "$out" ]; then printf '%s\\n' "$out"; exit 1; fi`,
  };
}

/** `bash -n`: the script parses. */
export const BASH_SYNTAX: Validate = { checker: "bash", command: "bash -n {file}" };
