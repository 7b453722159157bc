/**
 * nftables on a maglev: the table of this project that marks (ingress interface, VIP, protocol,
 * port) with the topology's fwmark for IPVS and exempts VIP traffic from conntrack, and the
 * unit that loads it at boot. In nft's own syntax; values through the nft escapers.
 */
import { Topology, HostFacts } from "../../topology";
import { header } from "../../plan/header";
import { nftIdentifier, nftString } from "../../escape";

export const NFT_FILE = "/etc/maglev-infra/fwmarks.nft";
export const NFT_TABLE = nftIdentifier("maglev_infra");
export const NFT_UNIT = "maglev-infra-fwmarks.service";
/** The mark table's base chain and its maps per family (VIP . protocol . port → fwmark); the announce process checks them. */
export const NFT_CHAIN = "prerouting";
export const NFT_MAPS = { ipv4: "fwmark_v4", ipv6: "fwmark_v6" } as const;

const FAMILIES = ["ipv4", "ipv6"] as const;

export function nftablesConfig(topo: Topology, h: HostFacts): string {
  const ing = topo.interfaces.ingress;
  const T = "\t";
  const L: string[] = [
    "#!/usr/sbin/nft -f",
    ...header(topo.env.name, "#", `packet marks for IPVS on ${h.hostname}`).trimEnd().split("\n"),
    "#",
    `# Owned by maglev-infra: only table inet ${NFT_TABLE} is touched, nothing else of the host's`,
    "# firewall. Loading this file replaces the table atomically: the empty declaration makes the",
    "# delete safe when the table does not exist yet, and `nft -f` applies the file as one transaction.",
    "#",
    "# A packet arriving on the data plane for VIP:port gets the fwmark of its backend group and",
    "# port (group id × 100000 + port); IPVS picks the service by that mark. VIP traffic is not",
    "# tracked: IPVS keeps its own connection table, and conntrack would only cost memory and",
    "# break flows that move between maglevs (the other maglev never saw their SYN).",
    `table inet ${NFT_TABLE} {}`,
    `delete table inet ${NFT_TABLE}`,
    "",
    `table inet ${NFT_TABLE} {`,
  ];
  const rows = { ipv4: [] as string[], ipv6: [] as string[] };
  for (const r of topo.vipPorts)
    rows[r.family].push(`${r.vip} . ${r.protocol} . ${r.port} : ${r.fwmark}`);
  const elements = (items: string[]) =>
    items.length
      ? [
          `${T}${T}elements = {`,
          ...items.map((e, i) => `${T}${T}${T}${e}${i < items.length - 1 ? "," : ""}`),
          `${T}${T}}`,
        ]
      : [];
  for (const fam of FAMILIES) {
    const addrType = fam === "ipv4" ? "ipv4_addr" : "ipv6_addr";
    const sfx = fam === "ipv4" ? "v4" : "v6";
    L.push(
      `${T}# VIP . protocol . port → fwmark (the announce process announces a VIP only while its entries are here)`,
      `${T}map ${NFT_MAPS[fam]} {`,
      `${T}${T}type ${addrType} . inet_proto . inet_service : mark`,
      ...elements(rows[fam]),
      `${T}}`,
      "",
      `${T}set vips_${sfx} {`,
      `${T}${T}type ${addrType}`,
      ...elements(topo.vips[fam]),
      `${T}}`,
      "",
    );
  }
  L.push(
    // raw priority (-300): before conntrack (-200) looks at the packet, so notrack takes effect.
    `${T}chain ${NFT_CHAIN} {`,
    `${T}${T}type filter hook prerouting priority raw; policy accept;`,
    `${T}${T}iifname != ${nftString(ing, "networks.ingress.interface", { ifname: true })} return`,
    `${T}${T}ip daddr @vips_v4 notrack`,
    `${T}${T}ip6 daddr @vips_v6 notrack`,
    // No entry in the map (another port, ICMP): the rule does nothing, the packet stays unmarked.
    `${T}${T}meta mark set ip daddr . meta l4proto . th dport map @${NFT_MAPS.ipv4}`,
    `${T}${T}meta mark set ip6 daddr . meta l4proto . th dport map @${NFT_MAPS.ipv6}`,
    `${T}}`,
    "}",
    "",
  );
  return L.join("\n");
}

/** The unit that loads the table at boot, before keepalived and ExaBGP. */
export function nftablesUnit(topo: Topology): string {
  return (
    header(topo.env.name, "#", "loads the maglev-infra nftables table") +
    `[Unit]
Description=maglev-infra packet marks for IPVS (nftables table inet ${NFT_TABLE})
Documentation=file://${NFT_FILE}
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target keepalived.service exabgp.service shutdown.target
Conflicts=shutdown.target
# Debian's nftables.service starts with "flush ruleset": load again after it, on restart and reload.
After=nftables.service
PartOf=nftables.service
ReloadPropagatedFrom=nftables.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f ${NFT_FILE}
ExecReload=/usr/sbin/nft -f ${NFT_FILE}
ExecStop=/usr/sbin/nft delete table inet ${NFT_TABLE}

[Install]
WantedBy=multi-user.target
`
  );
}
