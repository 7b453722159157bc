/**
 * Topology: the facts derived from a validated environment, once, so no renderer or
 * component re-derives them. Pure: no Pulumi, no I/O. Cost is linear in the number of
 * hosts and mappings (maps are built once; nothing scans all hosts per host).
 */
import * as ipaddr from "ipaddr.js";
import { Environment, Host, BackendGroup } from "../config/schema";
import { canonical } from "../config/rules";
import { FwmarkEntry, fwmarkTable, VipPort } from "./fwmarks";
import { HostNetwork, interfaceName } from "./interfaces";

export type { FwmarkEntry, VipPort } from "./fwmarks";
export { fwmarkFor, fwmarkTable } from "./fwmarks";
export type { HostNetwork } from "./interfaces";
export { DEFAULT_INTERFACES, interfaceName } from "./interfaces";

export type Family = "ipv4" | "ipv6";

/** Resolved Proxmox placement of one VM (defaults applied). */
export interface VmPlacement {
  id: number;
  node: string;
  template: number;
  cores: number;
  memoryMb: number;
  diskGb: number;
  datastore: string;
  protect: boolean;
}

export interface HostFacts {
  name: string;
  /** Full hostname, `<prefix><name>`. */
  hostname: string;
  /** The tier the host belongs to (`hosts[].tier`). */
  tier: Host["tier"];
  provider: Host["provider"];
  mgmt: { ipv4: string; ipv6: string };
  ingress?: { ipv4: string; ipv6?: string };
  vm?: VmPlacement;
  /** Site of the host, if the environment has sites. */
  site?: string;
  /** Backend groups this host is a member of, sorted. */
  groups: string[];
  /** VIPs this host must hold for direct server return (L7 members), sorted, per family. */
  vips: { ipv4: string[]; ipv6: string[] };
  /** Locally administered MAC per NIC, derived from the VM id so the NIC names are stable. */
  macs: { mgmt: string; ingress: string };
}

export interface GroupFacts {
  name: string;
  kind: BackendGroup["kind"];
  id: number;
  members: HostFacts[];
  healthCheck: BackendGroup["healthCheck"];
  servers: BackendGroup["servers"];
  /** Distinct VIPs mapped to this group, sorted. */
  vips: { ipv4: string[]; ipv6: string[] };
  /** The group's fwmarks, ascending. */
  fwmarks: FwmarkEntry[];
}

export interface GatewayPeering {
  gateway: HostFacts;
  /** Upstream routers: iBGP or eBGP (their `asn`), NO-IN inbound, NH-INGRESS(-EBGP) outbound. */
  upstream: Environment["bgp"]["upstream"];
  /** Maglevs: route-reflector clients with BFD. */
  routeReflectorClients: HostFacts[];
  /** maximum-paths ibgp: one path per maglev. */
  ecmpWidth: number;
}

export interface DnsRecord {
  /** Relative to the environment's zone, e.g. `ingress0.mgmt02-vm-mgw01`. */
  name: string;
  type: "A" | "AAAA";
  value: string;
}

export interface Topology {
  env: Environment;
  hostnamePrefix: string;
  /**
   * The interface name of each network, the same on every host (`networks.<network>.interface`,
   * default `mgmt0` / `ingress0`): netplan, the firewalls, FRR, ExaBGP, Calico and the checks
   * all name these.
   */
  interfaces: Record<HostNetwork, string>;
  /**
   * Hosts sorted by name: the order hosts are written in the stack carries no meaning, so
   * nothing rendered from it (FRR neighbours, ExaBGP neighbours, real servers, DNS records,
   * the rollout order within a tier) may depend on it.
   */
  hosts: HostFacts[];
  byName: Map<string, HostFacts>;
  gateways: HostFacts[];
  maglevs: HostFacts[];
  /** = number of maglevs. */
  ecmpWidth: number;
  peerings: GatewayPeering[];
  /** Every VIP:port:protocol with its group and fwmark, sorted. */
  vipPorts: VipPort[];
  /** One entry per fwmark (group × port), ascending. */
  fwmarks: FwmarkEntry[];
  groups: Map<string, GroupFacts>;
  /** Distinct VIPs, sorted. */
  vips: { ipv4: string[]; ipv6: string[] };
  dnsRecords: DnsRecord[];
}

export function familyOf(addr: string): Family {
  return ipaddr.parse(addr).kind() === "ipv6" ? "ipv6" : "ipv4";
}

/** Sort addresses numerically within a family (10.1.7.9 before 10.1.7.15). */
export function sortAddresses(addrs: Iterable<string>): string[] {
  const uniq = new Map<string, string>();
  for (const a of addrs) uniq.set(canonical(a), a);
  return [...uniq.values()]
    .map((a) => ({ a, b: ipaddr.parse(a).toByteArray() }))
    .sort((x, y) => {
      if (x.b.length !== y.b.length) return x.b.length - y.b.length;
      for (let i = 0; i < x.b.length; i++) if (x.b[i] !== y.b[i]) return x.b[i] - y.b[i];
      return 0;
    })
    .map((x) => x.a);
}

/** A stable, locally administered unicast MAC: 02:4d:<nic>:<vm id, 3 bytes>. */
export function macFor(vmId: number, nic: number): string {
  const b = [0x02, 0x4d, nic & 0xff, (vmId >> 16) & 0xff, (vmId >> 8) & 0xff, vmId & 0xff];
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** By short name (code-unit order, as every other sort here: independent of the locale). */
function compareByName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function hostnamePrefixOf(env: Environment): string {
  return env.hostnamePrefix ?? `${env.name}-vm-`;
}

export function deriveTopology(env: Environment): Topology {
  const prefix = hostnamePrefixOf(env);
  const d = env.proxmox.defaults;
  const vipPorts = fwmarkTable(env.vips, env.backendGroups);

  // Group membership and VIPs per group, built once.
  const groupVips = new Map<string, { ipv4: string[]; ipv6: string[] }>();
  for (const v of env.vips) {
    const g = groupVips.get(v.group) ?? { ipv4: [], ipv6: [] };
    g[familyOf(v.vip)].push(v.vip);
    groupVips.set(v.group, g);
  }
  const memberOf = new Map<string, string[]>();
  for (const [gname, g] of Object.entries(env.backendGroups)) {
    for (const m of g.members) memberOf.set(m, [...(memberOf.get(m) ?? []), gname]);
  }

  const hosts: HostFacts[] = [...env.hosts].sort(compareByName).map((h) => {
    const groups = (memberOf.get(h.name) ?? []).slice().sort();
    const v4: string[] = [];
    const v6: string[] = [];
    for (const g of groups) {
      const gv = groupVips.get(g);
      if (gv) {
        v4.push(...gv.ipv4);
        v6.push(...gv.ipv6);
      }
    }
    const vmId = h.vm?.id ?? 0;
    return {
      name: h.name,
      hostname: `${prefix}${h.name}`,
      tier: h.tier,
      provider: h.provider,
      mgmt: { ...h.mgmt },
      ingress: h.ingress ? { ...h.ingress } : undefined,
      vm:
        h.provider === "proxmox" && h.vm
          ? {
              id: h.vm.id,
              node: h.vm.node ?? d.node,
              template: h.vm.template ?? d.template,
              cores: h.vm.cores ?? d.cores,
              memoryMb: h.vm.memoryMb ?? d.memoryMb,
              diskGb: h.vm.diskGb ?? d.diskGb,
              datastore: d.datastore,
              protect: h.vm.protect ?? d.protect,
            }
          : undefined,
      ...(h.site ? { site: h.site } : {}),
      groups,
      vips: { ipv4: sortAddresses(v4), ipv6: sortAddresses(v6) },
      macs: { mgmt: macFor(vmId, 0), ingress: macFor(vmId, 1) },
    };
  });
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const gateways = hosts.filter((h) => h.tier === "gateway");
  const maglevs = hosts.filter((h) => h.tier === "maglev");
  const ecmpWidth = maglevs.length;

  const groups = new Map<string, GroupFacts>();
  for (const gname of Object.keys(env.backendGroups).sort()) {
    const g = env.backendGroups[gname];
    const gv = groupVips.get(gname) ?? { ipv4: [], ipv6: [] };
    groups.set(gname, {
      name: gname,
      kind: g.kind,
      id: g.id,
      // Sorted like the hosts: the order members are listed in carries no meaning.
      members: g.members
        .map((m) => byName.get(m)!)
        .filter(Boolean)
        .sort(compareByName),
      healthCheck: g.healthCheck,
      servers: g.servers,
      vips: { ipv4: sortAddresses(gv.ipv4), ipv6: sortAddresses(gv.ipv6) },
      fwmarks: [],
    });
  }

  const fwmarks = groupFwmarks(vipPorts);
  for (const f of fwmarks) groups.get(f.group)?.fwmarks.push(f);

  const allV4: string[] = [];
  const allV6: string[] = [];
  for (const v of env.vips) (familyOf(v.vip) === "ipv4" ? allV4 : allV6).push(v.vip);

  return {
    env,
    hostnamePrefix: prefix,
    interfaces: {
      mgmt: interfaceName(env.networks, "mgmt"),
      ingress: interfaceName(env.networks, "ingress"),
    },
    hosts,
    byName,
    gateways,
    maglevs,
    ecmpWidth,
    peerings: gateways.map((gw) => ({
      gateway: gw,
      upstream: env.bgp.upstream,
      routeReflectorClients: maglevs,
      ecmpWidth,
    })),
    vipPorts,
    fwmarks,
    groups,
    vips: { ipv4: sortAddresses(allV4), ipv6: sortAddresses(allV6) },
    dnsRecords: dnsRecords(hosts),
  };
}

/** The backend groups `h` is a member of, with their facts, in the host's (sorted) order. */
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

/** Collapse VIP:port:protocol rows into one entry per fwmark. */
function groupFwmarks(rows: VipPort[]): FwmarkEntry[] {
  const byMark = new Map<number, FwmarkEntry>();
  for (const r of rows) {
    const e = byMark.get(r.fwmark) ?? {
      fwmark: r.fwmark,
      group: r.group,
      port: r.port,
      protocols: [],
      vips: { ipv4: [], ipv6: [] },
    };
    if (!e.protocols.includes(r.protocol)) e.protocols.push(r.protocol);
    e.vips[r.family].push(r.vip);
    byMark.set(r.fwmark, e);
  }
  return [...byMark.values()]
    .map((e) => ({
      ...e,
      protocols: e.protocols.sort(),
      vips: { ipv4: sortAddresses(e.vips.ipv4), ipv6: sortAddresses(e.vips.ipv6) },
    }))
    .sort((a, b) => a.fwmark - b.fwmark);
}

/**
 * The host records, in the hosts' (name) order: for each host its mgmt A/AAAA under the hostname and
 * its ingress0 A/AAAA under `ingress0.<hostname>` — the seed's "DNS Records" list. One
 * function feeds dns-records.json, zone.db and the `dnsRecords` stack output.
 */
export function dnsRecords(hosts: HostFacts[]): DnsRecord[] {
  const out: DnsRecord[] = [];
  for (const h of hosts) {
    out.push({ name: h.hostname, type: "A", value: h.mgmt.ipv4 });
    out.push({ name: h.hostname, type: "AAAA", value: h.mgmt.ipv6 });
    if (h.ingress) {
      out.push({ name: `ingress0.${h.hostname}`, type: "A", value: h.ingress.ipv4 });
      if (h.ingress.ipv6)
        out.push({ name: `ingress0.${h.hostname}`, type: "AAAA", value: h.ingress.ipv6 });
    }
  }
  return out;
}
