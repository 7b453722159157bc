/**
 * The fwmark table. A packet arriving on ingress0 for VIP:port is marked by nftables and
 * IPVS picks the backend group by that mark.
 *
 * fwmark = group id × 100000 + port. One mark per (backend group, port): every VIP of a
 * group on the same port shares it, so adding a VIP to a group needs no new IPVS service
 * (the seed's "add VIPs without keepalived changes"). The mark is a function of the group's
 * configured id and the port only: adding or removing any other VIP, port or group never
 * renumbers an existing mark, and the number reads back as "group 2, port 443" (200443).
 */
import * as ipaddr from "ipaddr.js";
import type { Environment } from "../config/schema";

export const FWMARK_GROUP_STRIDE = 100000;

export interface VipPort {
  vip: string;
  family: "ipv4" | "ipv6";
  port: number;
  protocol: "tcp" | "udp";
  group: string;
  fwmark: number;
}

export interface FwmarkEntry {
  fwmark: number;
  group: string;
  port: number;
  /** Protocols marked with it (nftables matches each; IPVS fwmark services are protocol-less). */
  protocols: ("tcp" | "udp")[];
  /** VIPs marked with it, per family, sorted. */
  vips: { ipv4: string[]; ipv6: string[] };
}

export function fwmarkFor(groupId: number, port: number): number {
  return groupId * FWMARK_GROUP_STRIDE + port;
}

/** Every VIP:port:protocol with its fwmark, in a stable order (mark, family, VIP, protocol). */
export function fwmarkTable(
  vips: Environment["vips"],
  groups: Environment["backendGroups"],
): VipPort[] {
  const rows: VipPort[] = [];
  for (const v of vips) {
    const g = groups[v.group];
    if (!g) continue;
    const family = ipaddr.parse(v.vip).kind() === "ipv6" ? "ipv6" : "ipv4";
    for (const port of v.ports)
      for (const protocol of v.protocols)
        rows.push({
          vip: v.vip,
          family,
          port,
          protocol,
          group: v.group,
          fwmark: fwmarkFor(g.id, port),
        });
  }
  const key = (r: VipPort) =>
    `${String(r.fwmark).padStart(10, "0")}|${r.family}|${ipaddr.parse(r.vip).toNormalizedString()}|${r.protocol}`;
  return rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
