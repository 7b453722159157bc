/**
 * Cross-field rules of an environment. Each returns every problem it finds; the loader
 * reports all of them at once, each with the path in the stack config and the value.
 */
import * as ipaddr from "ipaddr.js";
import { Environment, Host, isEbgpUpstream } from "./schema";

export interface ConfigError {
  /** Path inside the environment object, e.g. `hosts[3].mgmt.ipv4`. */
  path: string;
  /** What is wrong, in the users' words. */
  message: string;
  /** The offending value. */
  value: unknown;
}

/** Canonical text of an address, so `2a0a:0::4` and `2a0a::4` compare equal. */
export function canonical(addr: string): string {
  try {
    return ipaddr.parse(addr).toNormalizedString();
  } catch {
    return addr;
  }
}

export function inNetwork(addr: string, cidr: string): boolean {
  try {
    const a = ipaddr.parse(addr);
    const [net, len] = ipaddr.parseCIDR(cidr);
    return a.kind() === net.kind() && a.match(net, len);
  } catch {
    return false;
  }
}

/** Tiers whose hosts carry data-plane traffic and so need an ingress0 address. */
const NEEDS_INGRESS = new Set<Host["role"]>(["gateway", "maglev", "haproxy", "k0s-worker", "dnsdist", "powerdns"]);

const GROUP_MEMBER_ROLE = {
  haproxy: "haproxy",
  "k0s-ingress": "k0s-worker",
  dnsdist: "dnsdist",
} as const;

export function crossFieldErrors(env: Environment): ConfigError[] {
  const errors: ConfigError[] = [];
  const err = (path: string, message: string, value: unknown) => errors.push({ path, message, value });

  // Host names.
  const byName = new Map<string, number>();
  env.hosts.forEach((h, i) => {
    const first = byName.get(h.name);
    if (first !== undefined) err(`hosts[${i}].name`, `duplicate host name (also hosts[${first}])`, h.name);
    else byName.set(h.name, i);
  });

  // Addresses: every address may be used once, across hosts, VIPs, gateways and upstreams.
  const seen = new Map<string, string>();
  const claim = (addr: string | undefined, path: string) => {
    if (!addr) return;
    const key = canonical(addr);
    const first = seen.get(key);
    if (first !== undefined) err(path, `duplicate address (also ${first})`, addr);
    else seen.set(key, path);
  };
  const nets = env.networks;
  // Upstream routers first: a network's default gateway may be the upstream router itself.
  const upstreamAddrs = new Set(env.bgp.upstream.flatMap((u) => [u.ipv4, u.ipv6].filter((a): a is string => !!a).map(canonical)));
  env.bgp.upstream.forEach((u, i) => {
    claim(u.ipv4, `bgp.upstream[${i}].ipv4`);
    claim(u.ipv6, `bgp.upstream[${i}].ipv6`);
  });
  (["mgmt", "ingress"] as const).forEach((n) => {
    for (const k of ["gateway4", "gateway6"] as const) {
      const a = nets[n][k];
      if (a && !upstreamAddrs.has(canonical(a))) claim(a, `networks.${n}.${k}`);
    }
    if (nets[n].gateway4 && !inNetwork(nets[n].gateway4!, nets[n].ipv4))
      err(`networks.${n}.gateway4`, `address is outside the ${n} network ${nets[n].ipv4}`, nets[n].gateway4);
    if (nets[n].gateway6 && !inNetwork(nets[n].gateway6!, nets[n].ipv6))
      err(`networks.${n}.gateway6`, `address is outside the ${n} network ${nets[n].ipv6}`, nets[n].gateway6);
  });
  env.bgp.upstream.forEach((u, i) => {
    if (!inNetwork(u.ipv4, nets.mgmt.ipv4)) err(`bgp.upstream[${i}].ipv4`, `address is outside the mgmt network ${nets.mgmt.ipv4}`, u.ipv4);
    if (u.ipv6 && !inNetwork(u.ipv6, nets.mgmt.ipv6)) err(`bgp.upstream[${i}].ipv6`, `address is outside the mgmt network ${nets.mgmt.ipv6}`, u.ipv6);
  });
  env.hosts.forEach((h, i) => {
    const p = `hosts[${i}]`;
    claim(h.mgmt.ipv4, `${p}.mgmt.ipv4`);
    claim(h.mgmt.ipv6, `${p}.mgmt.ipv6`);
    if (!inNetwork(h.mgmt.ipv4, nets.mgmt.ipv4)) err(`${p}.mgmt.ipv4`, `address is outside the mgmt network ${nets.mgmt.ipv4}`, h.mgmt.ipv4);
    if (!inNetwork(h.mgmt.ipv6, nets.mgmt.ipv6)) err(`${p}.mgmt.ipv6`, `address is outside the mgmt network ${nets.mgmt.ipv6}`, h.mgmt.ipv6);
    if (h.ingress) {
      claim(h.ingress.ipv4, `${p}.ingress.ipv4`);
      claim(h.ingress.ipv6, `${p}.ingress.ipv6`);
      if (!inNetwork(h.ingress.ipv4, nets.ingress.ipv4))
        err(`${p}.ingress.ipv4`, `address is outside the ingress network ${nets.ingress.ipv4}`, h.ingress.ipv4);
      if (h.ingress.ipv6 && !inNetwork(h.ingress.ipv6, nets.ingress.ipv6))
        err(`${p}.ingress.ipv6`, `address is outside the ingress network ${nets.ingress.ipv6}`, h.ingress.ipv6);
    } else if (NEEDS_INGRESS.has(h.role)) {
      err(`${p}.ingress`, `a ${h.role} carries data-plane traffic and needs an ingress address`, undefined);
    }
    if (h.provider === "proxmox" && !h.vm) err(`${p}.vm`, `a host with provider proxmox needs a vm (id, placement)`, undefined);
  });

  // VIPs: one address claim per distinct VIP (a VIP serves several ports and groups).
  const vipFirst = new Map<string, number>();
  env.vips.forEach((v, i) => {
    const key = canonical(v.vip);
    if (!vipFirst.has(key)) {
      vipFirst.set(key, i);
      claim(v.vip, `vips[${i}].vip`);
    }
  });

  // Proxmox VM ids.
  const vmIds = new Map<number, string>();
  env.hosts.forEach((h, i) => {
    if (!h.vm) return;
    const first = vmIds.get(h.vm.id);
    if (first !== undefined) err(`hosts[${i}].vm.id`, `duplicate Proxmox VM id (also ${first})`, h.vm.id);
    else vmIds.set(h.vm.id, `hosts[${i}].vm.id`);
  });

  // Backend groups.
  const groupIds = new Map<number, string>();
  for (const [gname, g] of Object.entries(env.backendGroups)) {
    const p = `backendGroups.${gname}`;
    const first = groupIds.get(g.id);
    if (first !== undefined) err(`${p}.id`, `duplicate group id (also backendGroups.${first}.id); fwmarks would collide`, g.id);
    else groupIds.set(g.id, gname);
    if (g.members.length === 0) err(`${p}.members`, `backend group "${gname}" has no members`, g.members);
    const memberSeen = new Set<string>();
    g.members.forEach((m, j) => {
      if (memberSeen.has(m)) err(`${p}.members[${j}]`, `member listed twice`, m);
      memberSeen.add(m);
      const hi = byName.get(m);
      if (hi === undefined) {
        err(`${p}.members[${j}]`, `no host named "${m}"`, m);
        return;
      }
      const want = GROUP_MEMBER_ROLE[g.kind];
      if (env.hosts[hi].role !== want) err(`${p}.members[${j}]`, `a ${g.kind} group takes ${want} hosts, "${m}" is a ${env.hosts[hi].role}`, m);
    });
    if (g.kind !== "haproxy" && g.servers.length > 0) err(`${p}.servers`, `application servers belong to haproxy groups only`, g.servers.map((s) => s.name));
    const sn = new Set<string>();
    g.servers.forEach((s, j) => {
      if (sn.has(s.name)) err(`${p}.servers[${j}].name`, `duplicate server name`, s.name);
      sn.add(s.name);
    });
  }

  // VIP mappings.
  const vipPort = new Map<string, string>();
  env.vips.forEach((v, i) => {
    const p = `vips[${i}]`;
    const g = env.backendGroups[v.group];
    if (!g) {
      err(`${p}.group`, `VIP ${v.vip} is mapped to an undefined backend group (defined: ${Object.keys(env.backendGroups).sort().join(", ") || "none"})`, v.group);
    } else if (ipaddr.IPv6.isValid(v.vip) && !ipaddr.IPv4.isValid(v.vip)) {
      for (const m of g.members) {
        const hi = byName.get(m);
        if (hi !== undefined && !env.hosts[hi].ingress?.ipv6)
          err(`${p}.vip`, `IPv6 VIP ${v.vip} maps to group "${v.group}" whose member "${m}" has no IPv6 ingress address`, v.vip);
      }
    }
    v.ports.forEach((port, j) => {
      for (const proto of v.protocols) {
        const key = `${canonical(v.vip)}|${port}|${proto}`;
        const first = vipPort.get(key);
        if (first !== undefined) err(`${p}.ports[${j}]`, `${v.vip} port ${port}/${proto} is already mapped (${first})`, port);
        else vipPort.set(key, `${p}.ports[${j}]`);
      }
    });
  });

  // Tier-level requirements.
  const roles = (r: Host["role"]) => env.hosts.filter((h) => h.role === r);
  if (env.vips.length > 0 && roles("gateway").length === 0) err("hosts", "VIPs are mapped but there is no gateway host", undefined);
  if (env.vips.length > 0 && roles("maglev").length === 0) err("hosts", "VIPs are mapped but there is no maglev host", undefined);
  if ((roles("k0s-controller").length > 0 || roles("k0s-worker").length > 0) && !env.k0s)
    err("k0s", "there are k0s hosts but no k0s section (version, sha256)", undefined);
  if (roles("k0s-worker").length > 0 && roles("k0s-controller").length !== 1)
    err("hosts", `k0s workers need exactly one k0s-controller, found ${roles("k0s-controller").length}`, roles("k0s-controller").map((h) => h.name));
  if (roles("shadow-primary").length > 1) err("hosts", "at most one shadow-primary", roles("shadow-primary").map((h) => h.name));
  if (roles("powerdns").length > 0 && roles("shadow-primary").length === 0)
    err("hosts", "PowerDNS secondaries need a shadow-primary to transfer zones from", undefined);
  // Sites.
  const siteNames = Object.keys(env.sites ?? {});
  env.hosts.forEach((h, i) => {
    if (h.site !== undefined && !(h.site in (env.sites ?? {})))
      err(`hosts[${i}].site`, `undefined site (defined: ${siteNames.sort().join(", ") || "none"})`, h.site);
  });
  if (siteNames.length > 0)
    env.hosts.forEach((h, i) => {
      if (h.role === "gateway" && h.site === undefined) err(`hosts[${i}].site`, `the environment has sites: every gateway needs one`, undefined);
    });
  // A prepend only means something to an eBGP upstream: an iBGP peer sees a path carrying its
  // own AS as a loop and drops it, so the site would be withdrawn instead of made less
  // preferred (measured in the lab: the router accepted 0 prefixes from that gateway).
  // LOCAL_PREF, the other way round, is never sent to an eBGP peer.
  const ebgp = env.bgp.upstream.filter((u) => isEbgpUpstream(env.bgp, u));
  const ibgp = env.bgp.upstream.filter((u) => !isEbgpUpstream(env.bgp, u));
  for (const [name, site] of Object.entries(env.sites ?? {})) {
    if ((site.prepend ?? 0) > 0 && ebgp.length === 0)
      err(`sites.${name}.prepend`, `every upstream router is an iBGP peer (no bgp.upstream[].asn other than ${env.bgp.asn}): it drops a path carrying its own AS as a loop, so a prepend would withdraw the site; give the upstream its asn, or use localPreference or med`, site.prepend);
    if (site.localPreference !== undefined && ibgp.length === 0)
      err(`sites.${name}.localPreference`, `every upstream router is an eBGP peer (${ebgp.map((u) => `${u.name} AS ${u.asn}`).join(", ")}): LOCAL_PREF is never sent to it; use prepend or med`, site.localPreference);
  }

  // Watchdog: a threshold above a group's size would keep its family withdrawn for ever.
  const minHealthy = env.maglev?.minHealthyRealServers ?? 1;
  for (const [gname, g] of Object.entries(env.backendGroups)) {
    if (g.members.length > 0 && g.members.length < minHealthy && env.vips.some((v) => v.group === gname))
      err("maglev.minHealthyRealServers", `backend group "${gname}" has ${g.members.length} member(s): its VIPs could never be announced`, minHealthy);
  }

  const ls = env.dns.lightningStream;
  if (ls.enabled) {
    for (const k of ["url", "sha256", "s3Endpoint", "bucket"] as const)
      if (!ls[k]) err(`dns.lightningStream.${k}`, `required when lightningStream is enabled`, undefined);
  }
  return errors;
}
