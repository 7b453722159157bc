/**
 * The host firewall on a host: its nftables file, the unit that loads it at boot, and their
 * checkers. The rules themselves (a FirewallSpec in the users' words → nft) are rendered in
 * src/daemons/nftables/firewall.ts, the k0s nodes' own table in src/daemons/nftables/k0s.ts.
 * Also the address lists the tiers' specs are made of.
 */
import { Topology, HostFacts, VipPort } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { systemdVerify } from "../daemons/systemd/validate";
import { NFT_VALIDATE } from "../daemons/nftables/validate";
import {
  FIREWALL_FILE,
  FIREWALL_TABLE,
  FIREWALL_UNIT,
  FirewallSpec,
  firewallConfig,
  firewallUnit,
} from "../daemons/nftables/firewall";

// The renderer's names the tiers and tests import from here.
export {
  BFD_SINGLE_HOP,
  FIREWALL_FILE,
  FIREWALL_UNIT,
  type FirewallSpec,
} from "../daemons/nftables/firewall";

/** The firewall file and its unit on a host; `before`: the units that must start behind it. */
export function planFirewall(
  topo: Topology,
  h: HostFacts,
  b: PlanBuilder,
  spec: FirewallSpec,
  before: string[],
): void {
  installFirewall(topo, b, firewallConfig(topo, h, spec), FIREWALL_TABLE, before);
}

/**
 * A host's firewall file (its own nftables table `table`, rules `content`) and the unit that
 * loads it at boot. The k0s nodes bring their own rules (next to Calico's) through this too.
 */
export function installFirewall(
  topo: Topology,
  b: PlanBuilder,
  content: string,
  table: string,
  before: string[],
): void {
  b.package("nftables");
  b.file({
    path: FIREWALL_FILE,
    mode: "0600",
    content,
    validate: NFT_VALIDATE,
    // The unit's own command: atomic replacement of the table. (Not `systemctl reload`: on the
    // first rollout the unit is installed after this file.)
    activate: { kind: "command", command: `nft -f ${FIREWALL_FILE}` },
  });
  b.file({
    path: `/etc/systemd/system/${FIREWALL_UNIT}`,
    content: firewallUnit(topo, FIREWALL_FILE, table, before),
    validate: systemdVerify(FIREWALL_UNIT),
    activate: { kind: "command", command: "systemctl daemon-reload" },
  });
  b.service(FIREWALL_UNIT.replace(/\.service$/, ""));
}

/** The stack's VIP:port mappings of the host's backend groups. */
export function memberServices(topo: Topology, h: HostFacts): VipPort[] {
  const groups = new Set(h.groups);
  return topo.vipPorts.filter((v) => groups.has(v.group));
}

/** Addresses of hosts, both families, mgmt or ingress. */
export function addressesOf(hosts: HostFacts[], net: "mgmt" | "ingress"): string[] {
  return hosts.flatMap((x) => {
    const a = net === "mgmt" ? x.mgmt : x.ingress;
    return a ? [a.ipv4, ...(a.ipv6 ? [a.ipv6] : [])] : [];
  });
}

/** The mgmt networks (both families), for services restricted to operators on mgmt. */
export function mgmtNetworks(topo: Topology): string[] {
  const n = topo.env.networks.mgmt;
  return [n.ipv4, ...(n.ipv6 ? [n.ipv6] : [])];
}
