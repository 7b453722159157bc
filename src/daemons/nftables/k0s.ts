/**
 * The k0s nodes' own nftables table (`inet maglev_k0s`): accept policy, since Calico and
 * kube-proxy keep their own tables and chains next to it; it drops only what an interface must
 * not receive. Loaded through the host firewall's file and unit (src/tiers/firewall.ts:
 * installFirewall). In nft's syntax; interface names through nftString.
 */
import { Topology, HostFacts } from "../../topology";
import { header } from "../../plan/header";
import { nftIdentifier, nftString } from "../../escape";

/** The k0s nodes' own table (Calico keeps its own next to it): loaded like every tier's firewall. */
export const K0S_FIREWALL_TABLE = nftIdentifier("maglev_k0s");

/** What a k0s node opens: TCP ports on mgmt and on ingress, and Calico's pod and BGP traffic. */
export interface K0sFirewallSpec {
  mgmtTcp: number[];
  ingressTcp: number[];
  calico: boolean;
}

/** Own nftables table: accept policy (Calico and kube-proxy keep their own tables and chains), drops only what an interface must not receive. */
export function k0sFirewallRules(topo: Topology, h: HostFacts, opts: K0sFirewallSpec): string {
  const n = topo.env.networks;
  const k = topo.env.k0s;
  const ing = topo.interfaces.ingress;
  const mg = topo.interfaces.mgmt;
  const set = (ports: number[]) =>
    ports.length === 1 ? String(ports[0]) : `{ ${ports.join(", ")} }`;
  const L: string[] = [
    "#!/usr/sbin/nft -f",
    header(topo.env.name, "#", `firewall of ${h.hostname}`).trimEnd(),
    "# Replaces only its own table (no `flush ruleset`: Calico's and kube-proxy's rules stay).",
    "# Base chains on the same hook all see a packet; an accept here does not bypass theirs.",
    `table inet ${K0S_FIREWALL_TABLE}`,
    `delete table inet ${K0S_FIREWALL_TABLE}`,
    "",
    `table inet ${K0S_FIREWALL_TABLE} {`,
    "\tchain input {",
    "\t\ttype filter hook input priority filter + 10; policy accept;",
    "\t\tct state established,related accept",
    '\t\tiifname "lo" accept',
    "\t\tmeta l4proto { icmp, ipv6-icmp } accept",
  ];
  if (opts.calico)
    L.push(
      "\t\t# Pods reaching their node: Calico polices workload interfaces itself.",
      '\t\tiifname "cali*" accept',
    );
  if (h.ingress)
    L.push(
      `\t\tiifname ${nftString(ing, "networks.ingress.interface", { ifname: true })} jump from_ingress`,
    );
  L.push(
    `\t\tiifname ${nftString(mg, "networks.mgmt.interface", { ifname: true })} jump from_mgmt`,
    "\t}",
    "",
  );
  if (h.ingress) {
    L.push("\tchain from_ingress {");
    if (opts.calico && k) {
      L.push(
        "\t\t# Pod traffic from other nodes (BIRD routes pods over ingress0, no encapsulation).",
        `\t\tip saddr ${k.podCidr4} accept`,
        `\t\tip6 saddr ${k.podCidr6} accept`,
        "\t\t# Calico BIRD: BGP full mesh between the workers' ingress0 addresses.",
        `\t\tip saddr ${n.ingress.ipv4} tcp dport 179 accept`,
        `\t\tip6 saddr ${n.ingress.ipv6} tcp dport 179 accept`,
      );
    }
    if (opts.ingressTcp.length)
      L.push(
        "\t\t# VIP traffic from the maglevs (direct routing) and keepalived's check.",
        `\t\ttcp dport ${set(opts.ingressTcp)} accept`,
      );
    L.push("\t\tcounter drop", "\t}", "");
  }
  L.push(
    "\tchain from_mgmt {",
    `\t\ttcp dport ${set(opts.mgmtTcp)} accept`,
    "\t\tcounter drop",
    "\t}",
    "",
    "\t# Forwarding belongs to Calico and kube-proxy.",
    "\tchain forward {",
    "\t\ttype filter hook forward priority filter + 10; policy accept;",
    "\t}",
    "}",
    "",
  );
  return L.join("\n");
}
