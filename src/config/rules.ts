/**
 * Cross-field rules of an environment. Each returns every problem it finds; the loader
 * reports all of them at once, each with the path in the stack config and the value.
 *
 * One file (over 400 lines) on purpose: the loader runs this one list of rules, and a reader checks
 * what the stack may not say in one place.
 */
import * as ipaddr from "ipaddr.js";
import { Environment, Host, isEbgpUpstream, PLACEHOLDER_SHA256 } from "./schema";
import { interfaceName } from "../topology/interfaces";

export interface ConfigError {
  /** Path inside the environment object, e.g. `hosts[3].mgmt.ipv4`. */
  path: string;
  /** What is wrong, in the users' words. */
  message: string;
  /** The offending value. */
  value: unknown;
}

/**
 * Canonical text of an address, so `2a0a:0::4` and `2a0a::4` compare equal, and an
 * IPv4-mapped `::ffff:10.1.7.15` equals `10.1.7.15`.
 */
export function canonical(addr: string): string {
  try {
    return ipaddr.process(addr).toNormalizedString();
  } catch {
    return addr;
  }
}

/**
 * A message when `addr`, inside `cidr`, is not a host address of it: the network address
 * (IPv4), the broadcast address (IPv4), or the subnet-router anycast address (IPv6, RFC 4291
 * 2.6.1: the all-zero host part). /31, /32, /127 and /128 have no such addresses.
 */
export function reservedInNetwork(addr: string, cidr: string): string | undefined {
  try {
    const a = ipaddr.parse(addr);
    const [net, len] = ipaddr.parseCIDR(cidr);
    if (a.kind() !== net.kind() || !a.match(net, len)) return undefined;
    const s = a.toNormalizedString();
    if (a.kind() === "ipv4") {
      if (len >= 31) return undefined;
      if (s === ipaddr.IPv4.networkAddressFromCIDR(cidr).toNormalizedString())
        return `is the network address of ${cidr}, not a host address`;
      if (s === ipaddr.IPv4.broadcastAddressFromCIDR(cidr).toNormalizedString())
        return `is the broadcast address of ${cidr}, not a host address`;
    } else {
      if (len >= 127) return undefined;
      if (s === ipaddr.IPv6.networkAddressFromCIDR(cidr).toNormalizedString())
        return `is the subnet-router anycast address of ${cidr} (all-zero host part), not a host address`;
    }
  } catch {
    /* malformed: the field rules report it */
  }
  return undefined;
}

export function networksOverlap(a: string, b: string): boolean {
  try {
    const [na, la] = ipaddr.parseCIDR(a);
    const [nb, lb] = ipaddr.parseCIDR(b);
    if (na.kind() !== nb.kind()) return false;
    const len = Math.min(la, lb);
    return na.match(nb, len);
  } catch {
    return false;
  }
}

const isLinkLocal = (addr: string) => {
  try {
    return ipaddr.parse(addr).range() === "linkLocal";
  } catch {
    return false;
  }
};

/** Interface names the host plans create themselves (loopback, the VIP dummy). */
export const RESERVED_INTERFACES = ["lo", "vip"] as const;

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
const NEEDS_INGRESS = new Set<Host["tier"]>([
  "gateway",
  "maglev",
  "haproxy",
  "k0s-worker",
  "dnsdist",
  "powerdns",
]);

/** The tier a member of each kind of backend group must have. */
const GROUP_MEMBER_TIER = {
  haproxy: "haproxy",
  "k0s-ingress": "k0s-worker",
  dnsdist: "dnsdist",
} as const;

export function crossFieldErrors(env: Environment): ConfigError[] {
  const errors: ConfigError[] = [];
  const err = (path: string, message: string, value: unknown) =>
    errors.push({ path, message, value });

  // Host names.
  const byName = new Map<string, number>();
  env.hosts.forEach((h, i) => {
    const first = byName.get(h.name);
    if (first !== undefined)
      err(`hosts[${i}].name`, `duplicate host name (also hosts[${first}])`, h.name);
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
  /** Not the network, broadcast or subnet-router anycast address of a host network it is in. */
  const notReserved = (addr: string | undefined, path: string) => {
    if (!addr) return;
    for (const n of ["mgmt", "ingress"] as const)
      for (const f of ["ipv4", "ipv6"] as const) {
        const why = nets[n]?.[f] ? reservedInNetwork(addr, nets[n][f]) : undefined;
        if (why) {
          err(path, `${why} (the ${n} network)`, addr);
          return;
        }
      }
  };
  // Upstream routers first: a network's default gateway may be the upstream router itself.
  const upstreamAddrs = new Set(
    env.bgp.upstream.flatMap((u) =>
      [u.ipv4, u.ipv6].filter((a): a is string => !!a).map(canonical),
    ),
  );
  env.bgp.upstream.forEach((u, i) => {
    claim(u.ipv4, `bgp.upstream[${i}].ipv4`);
    claim(u.ipv6, `bgp.upstream[${i}].ipv6`);
  });
  (["mgmt", "ingress"] as const).forEach((n) => {
    for (const k of ["gateway4", "gateway6"] as const) {
      const a = nets[n][k];
      // A link-local gateway is per link: the same fe80::1 on two networks is normal.
      if (a && !upstreamAddrs.has(canonical(a)) && !isLinkLocal(a)) claim(a, `networks.${n}.${k}`);
    }
    if (nets[n].gateway4 && !inNetwork(nets[n].gateway4!, nets[n].ipv4))
      err(
        `networks.${n}.gateway4`,
        `address is outside the ${n} network ${nets[n].ipv4}`,
        nets[n].gateway4,
      );
    if (
      nets[n].gateway6 &&
      !isLinkLocal(nets[n].gateway6!) &&
      !inNetwork(nets[n].gateway6!, nets[n].ipv6)
    )
      err(
        `networks.${n}.gateway6`,
        `address is outside the ${n} network ${nets[n].ipv6} (and not a link-local fe80::/10 router address)`,
        nets[n].gateway6,
      );
    notReserved(nets[n].gateway4, `networks.${n}.gateway4`);
    notReserved(nets[n].gateway6, `networks.${n}.gateway6`);
  });
  env.bgp.upstream.forEach((u, i) => {
    notReserved(u.ipv4, `bgp.upstream[${i}].ipv4`);
    notReserved(u.ipv6, `bgp.upstream[${i}].ipv6`);
    if (!inNetwork(u.ipv4, nets.mgmt.ipv4))
      err(
        `bgp.upstream[${i}].ipv4`,
        `address is outside the mgmt network ${nets.mgmt.ipv4}`,
        u.ipv4,
      );
    if (u.ipv6 && !inNetwork(u.ipv6, nets.mgmt.ipv6))
      err(
        `bgp.upstream[${i}].ipv6`,
        `address is outside the mgmt network ${nets.mgmt.ipv6}`,
        u.ipv6,
      );
  });
  env.hosts.forEach((h, i) => {
    const p = `hosts[${i}]`;
    claim(h.mgmt.ipv4, `${p}.mgmt.ipv4`);
    claim(h.mgmt.ipv6, `${p}.mgmt.ipv6`);
    notReserved(h.mgmt.ipv4, `${p}.mgmt.ipv4`);
    notReserved(h.mgmt.ipv6, `${p}.mgmt.ipv6`);
    if (h.ingress) {
      notReserved(h.ingress.ipv4, `${p}.ingress.ipv4`);
      notReserved(h.ingress.ipv6, `${p}.ingress.ipv6`);
    }
    if (!inNetwork(h.mgmt.ipv4, nets.mgmt.ipv4))
      err(`${p}.mgmt.ipv4`, `address is outside the mgmt network ${nets.mgmt.ipv4}`, h.mgmt.ipv4);
    if (!inNetwork(h.mgmt.ipv6, nets.mgmt.ipv6))
      err(`${p}.mgmt.ipv6`, `address is outside the mgmt network ${nets.mgmt.ipv6}`, h.mgmt.ipv6);
    if (h.ingress) {
      claim(h.ingress.ipv4, `${p}.ingress.ipv4`);
      claim(h.ingress.ipv6, `${p}.ingress.ipv6`);
      if (!inNetwork(h.ingress.ipv4, nets.ingress.ipv4))
        err(
          `${p}.ingress.ipv4`,
          `address is outside the ingress network ${nets.ingress.ipv4}`,
          h.ingress.ipv4,
        );
      if (h.ingress.ipv6 && !inNetwork(h.ingress.ipv6, nets.ingress.ipv6))
        err(
          `${p}.ingress.ipv6`,
          `address is outside the ingress network ${nets.ingress.ipv6}`,
          h.ingress.ipv6,
        );
    } else if (NEEDS_INGRESS.has(h.tier)) {
      err(
        `${p}.ingress`,
        `a ${h.tier} carries data-plane traffic and needs an ingress address`,
        undefined,
      );
    }
    if (h.provider === "proxmox" && !h.vm)
      err(`${p}.vm`, `a host with provider proxmox needs a vm (id, placement)`, undefined);
  });

  // VIPs: one address claim per distinct VIP (a VIP serves several ports and groups).
  const vipFirst = new Map<string, number>();
  env.vips.forEach((v, i) => {
    const key = canonical(v.vip);
    if (!vipFirst.has(key)) {
      vipFirst.set(key, i);
      claim(v.vip, `vips[${i}].vip`);
      notReserved(v.vip, `vips[${i}].vip`);
    }
  });

  // Proxmox VM ids.
  const vmIds = new Map<number, string>();
  const templates = new Map<number, string>();
  const defaultTemplate = env.proxmox?.defaults?.template;
  if (typeof defaultTemplate === "number")
    templates.set(defaultTemplate, "proxmox.defaults.template");
  env.hosts.forEach((h, i) => {
    if (h.vm && typeof h.vm.template === "number" && !templates.has(h.vm.template))
      templates.set(h.vm.template, `hosts[${i}].vm.template`);
  });
  env.hosts.forEach((h, i) => {
    if (!h.vm) return;
    const first = vmIds.get(h.vm.id);
    if (first !== undefined)
      err(`hosts[${i}].vm.id`, `duplicate Proxmox VM id (also ${first})`, h.vm.id);
    else vmIds.set(h.vm.id, `hosts[${i}].vm.id`);
    const tpl = templates.get(h.vm.id);
    if (tpl !== undefined)
      err(
        `hosts[${i}].vm.id`,
        `VM id is the id of a template (${tpl}): the clone would target its own source`,
        h.vm.id,
      );
  });

  // Hostnames: `<prefix><name>` is one DNS label (≤ 63, no leading -), and the longest
  // record name `ingress0.<hostname>.<zone>` fits in 253 characters.
  const prefix = env.hostnamePrefix ?? `${env.name}-vm-`;
  env.hosts.forEach((h, i) => {
    if (typeof h.name !== "string") return;
    const hostname = `${prefix}${h.name}`;
    if (hostname.length > 63)
      err(
        `hosts[${i}].name`,
        `hostname "${hostname}" is ${hostname.length} characters; a hostname is at most 63 (shorten the name or hostnamePrefix)`,
        h.name,
      );
    else if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(hostname))
      err(
        `hosts[${i}].name`,
        `hostname "${hostname}" is not a DNS label (no leading or trailing -)`,
        h.name,
      );
    else if (
      typeof env.dns?.zone === "string" &&
      `ingress0.${hostname}.${env.dns.zone}`.length > 253
    )
      err(
        `hosts[${i}].name`,
        `record name ingress0.${hostname}.${env.dns.zone} is over 253 characters`,
        h.name,
      );
  });

  // Interfaces: two distinct names, neither one the host plans create themselves.
  const ifMgmt = interfaceName(nets, "mgmt");
  const ifIngress = interfaceName(nets, "ingress");
  (["mgmt", "ingress"] as const).forEach((n) => {
    const name = n === "mgmt" ? ifMgmt : ifIngress;
    if ((RESERVED_INTERFACES as readonly string[]).includes(name))
      err(
        `networks.${n}.interface`,
        `interface name "${name}" is reserved (${RESERVED_INTERFACES.join(", ")}: loopback and the VIP dummy)`,
        name,
      );
  });
  if (ifMgmt === ifIngress)
    err(
      nets.ingress?.interface !== undefined
        ? "networks.ingress.interface"
        : "networks.mgmt.interface",
      `the mgmt and ingress networks need distinct interfaces (both "${ifMgmt}"): one would take the other's addresses and routes`,
      ifIngress,
    );

  // Networks: the host networks and k0s's pod and service networks are disjoint.
  const netList: [string, string][] = [];
  for (const n of ["mgmt", "ingress"] as const)
    for (const f of ["ipv4", "ipv6"] as const)
      if (typeof nets[n]?.[f] === "string") netList.push([`networks.${n}.${f}`, nets[n][f]]);
  const hasK0sHosts = env.hosts.some((h) => h.tier === "k0s-controller" || h.tier === "k0s-worker");
  if (env.k0s && hasK0sHosts)
    for (const k of ["podCidr4", "podCidr6", "serviceCidr4", "serviceCidr6"] as const)
      if (typeof env.k0s[k] === "string") netList.push([`k0s.${k}`, env.k0s[k]]);
  for (let a = 0; a < netList.length; a++)
    for (let b = 0; b < a; b++)
      if (networksOverlap(netList[a][1], netList[b][1]))
        err(
          netList[a][0],
          `network ${netList[a][1]} overlaps ${netList[b][0]} (${netList[b][1]})`,
          netList[a][1],
        );
  if (env.k0s && hasK0sHosts)
    env.vips.forEach((v, i) => {
      for (const k of ["podCidr4", "podCidr6", "serviceCidr4", "serviceCidr6"] as const)
        if (typeof env.k0s![k] === "string" && inNetwork(v.vip, env.k0s![k]))
          err(
            `vips[${i}].vip`,
            `VIP is inside k0s.${k} (${env.k0s![k]}): kube-proxy and the CNI would route it inside the cluster`,
            v.vip,
          );
    });

  // BGP and BFD timers: BFD is there to detect a failure before the hold timer does.
  const bfd = env.bgp.bfd;
  const hold = env.bgp.holdTimeSeconds ?? 9;
  if (
    bfd &&
    [bfd.transmitIntervalMs, bfd.receiveIntervalMs, bfd.detectMultiplier].every(
      (x) => typeof x === "number",
    )
  ) {
    const detectMs = Math.max(bfd.transmitIntervalMs, bfd.receiveIntervalMs) * bfd.detectMultiplier;
    if (detectMs >= hold * 1000)
      err(
        "bgp.bfd",
        `BFD detection time max(${bfd.transmitIntervalMs}, ${bfd.receiveIntervalMs}) ms × ${bfd.detectMultiplier} = ${detectMs} ms is not below bgp.holdTimeSeconds (${hold} s): BFD would never detect a failure first`,
        detectMs,
      );
  }

  // Backend groups.
  const groupIds = new Map<number, string>();
  for (const [gname, g] of Object.entries(env.backendGroups)) {
    const p = `backendGroups.${gname}`;
    const first = groupIds.get(g.id);
    if (first !== undefined)
      err(
        `${p}.id`,
        `duplicate group id (also backendGroups.${first}.id); fwmarks would collide`,
        g.id,
      );
    else groupIds.set(g.id, gname);
    if (g.members.length === 0)
      err(`${p}.members`, `backend group "${gname}" has no members`, g.members);
    const memberSeen = new Set<string>();
    g.members.forEach((m, j) => {
      if (memberSeen.has(m)) err(`${p}.members[${j}]`, `member listed twice`, m);
      memberSeen.add(m);
      const hi = byName.get(m);
      if (hi === undefined) {
        err(`${p}.members[${j}]`, `no host named "${m}"`, m);
        return;
      }
      const want = GROUP_MEMBER_TIER[g.kind];
      if (env.hosts[hi].tier !== want)
        err(
          `${p}.members[${j}]`,
          `a ${g.kind} group takes ${want} hosts, "${m}" is a ${env.hosts[hi].tier}`,
          m,
        );
    });
    if (g.kind !== "haproxy" && g.servers.length > 0)
      err(
        `${p}.servers`,
        `application servers belong to haproxy groups only`,
        g.servers.map((s) => s.name),
      );
    const sn = new Set<string>();
    g.servers.forEach((s, j) => {
      if (sn.has(s.name)) err(`${p}.servers[${j}].name`, `duplicate server name`, s.name);
      sn.add(s.name);
    });
  }

  // A host in several haproxy groups serves one health API, on one port: the groups must agree
  // (planning would otherwise stop at this host with no path).
  const haproxyPort = new Map<string, { group: string; port: number }>();
  for (const [gname, g] of Object.entries(env.backendGroups)) {
    if (g.kind !== "haproxy") continue;
    const port = g.healthCheck?.port ?? 9300;
    const reported = new Set<string>();
    for (const m of g.members) {
      const first = haproxyPort.get(m);
      if (!first) haproxyPort.set(m, { group: gname, port });
      else if (first.port !== port && !reported.has(first.group)) {
        reported.add(first.group);
        err(
          `backendGroups.${gname}.healthCheck.port`,
          `host "${m}" is in haproxy groups "${first.group}" (health-check port ${first.port}) and "${gname}" (port ${port}); a node serves one health API, give both groups the same port`,
          port,
        );
      }
    }
  }

  // Served zones: each once.
  const zoneSeen = new Map<string, number>();
  (env.dns?.servedZones ?? []).forEach((z, i) => {
    if (typeof z !== "string") return;
    const k = z.toLowerCase().replace(/\.$/, "");
    if (zoneSeen.has(k))
      err(
        `dns.servedZones[${i}]`,
        `zone listed twice (also dns.servedZones[${zoneSeen.get(k)}])`,
        z,
      );
    else zoneSeen.set(k, i);
  });

  // VIP mappings.
  const vipPort = new Map<string, string>();
  env.vips.forEach((v, i) => {
    const p = `vips[${i}]`;
    const g = env.backendGroups[v.group];
    if (!g) {
      err(
        `${p}.group`,
        `VIP ${v.vip} is mapped to an undefined backend group (defined: ${Object.keys(env.backendGroups).sort().join(", ") || "none"})`,
        v.group,
      );
    } else if (ipaddr.IPv6.isValid(v.vip) && !ipaddr.IPv4.isValid(v.vip)) {
      for (const m of g.members) {
        const hi = byName.get(m);
        if (hi !== undefined && !env.hosts[hi].ingress?.ipv6)
          err(
            `${p}.vip`,
            `IPv6 VIP ${v.vip} maps to group "${v.group}" whose member "${m}" has no IPv6 ingress address`,
            v.vip,
          );
      }
    }
    v.ports.forEach((port, j) => {
      for (const proto of v.protocols) {
        const key = `${canonical(v.vip)}|${port}|${proto}`;
        const first = vipPort.get(key);
        if (first !== undefined)
          err(
            `${p}.ports[${j}]`,
            `${v.vip} port ${port}/${proto} is already mapped (${first})`,
            port,
          );
        else vipPort.set(key, `${p}.ports[${j}]`);
      }
    });
  });

  // Tier-level requirements.
  const ofTier = (t: Host["tier"]) => env.hosts.filter((h) => h.tier === t);
  if (env.vips.length > 0 && ofTier("gateway").length === 0)
    err("hosts", "VIPs are mapped but there is no gateway host", undefined);
  if (env.vips.length > 0 && ofTier("maglev").length === 0)
    err("hosts", "VIPs are mapped but there is no maglev host", undefined);
  if ((ofTier("k0s-controller").length > 0 || ofTier("k0s-worker").length > 0) && !env.k0s)
    err("k0s", "there are k0s hosts but no k0s section (version, sha256)", undefined);
  if (ofTier("k0s-worker").length > 0 && ofTier("k0s-controller").length !== 1)
    err(
      "hosts",
      `k0s workers need exactly one k0s-controller, found ${ofTier("k0s-controller").length}`,
      ofTier("k0s-controller").map((h) => h.name),
    );
  if (ofTier("shadow-primary").length > 1)
    err(
      "hosts",
      "at most one shadow-primary",
      ofTier("shadow-primary").map((h) => h.name),
    );
  if (ofTier("powerdns").length > 0 && ofTier("shadow-primary").length === 0)
    err("hosts", "PowerDNS secondaries need a shadow-primary to transfer zones from", undefined);
  // Sites.
  const siteNames = Object.keys(env.sites ?? {});
  env.hosts.forEach((h, i) => {
    if (h.site !== undefined && !(h.site in (env.sites ?? {})))
      err(
        `hosts[${i}].site`,
        `undefined site (defined: ${siteNames.sort().join(", ") || "none"})`,
        h.site,
      );
  });
  if (siteNames.length > 0)
    env.hosts.forEach((h, i) => {
      if (h.tier === "gateway" && h.site === undefined)
        err(`hosts[${i}].site`, `the environment has sites: every gateway needs one`, undefined);
    });
  // A prepend only means something to an eBGP upstream: an iBGP peer sees a path carrying its
  // own AS as a loop and drops it, so the site would be withdrawn instead of made less
  // preferred (measured in the lab: the router accepted 0 prefixes from that gateway).
  // LOCAL_PREF, the other way round, is never sent to an eBGP peer.
  const ebgp = env.bgp.upstream.filter((u) => isEbgpUpstream(env.bgp, u));
  const ibgp = env.bgp.upstream.filter((u) => !isEbgpUpstream(env.bgp, u));
  for (const [name, site] of Object.entries(env.sites ?? {})) {
    if ((site.prepend ?? 0) > 0 && ebgp.length === 0)
      err(
        `sites.${name}.prepend`,
        `every upstream router is an iBGP peer (no bgp.upstream[].asn other than ${env.bgp.asn}): it drops a path carrying its own AS as a loop, so a prepend would withdraw the site; give the upstream its asn, or use localPreference or med`,
        site.prepend,
      );
    if (site.localPreference !== undefined && ibgp.length === 0)
      err(
        `sites.${name}.localPreference`,
        `every upstream router is an eBGP peer (${ebgp.map((u) => `${u.name} AS ${u.asn}`).join(", ")}): LOCAL_PREF is never sent to it; use prepend or med`,
        site.localPreference,
      );
  }

  // Watchdog: a threshold above a group's size would keep its family withdrawn for ever.
  const minHealthy = env.maglev?.minHealthyRealServers ?? 1;
  for (const [gname, g] of Object.entries(env.backendGroups)) {
    if (
      g.members.length > 0 &&
      g.members.length < minHealthy &&
      env.vips.some((v) => v.group === gname)
    )
      err(
        "maglev.minHealthyRealServers",
        `backend group "${gname}" has ${g.members.length} member(s): its VIPs could never be announced`,
        minHealthy,
      );
  }

  const ls = env.dns.lightningStream ?? { enabled: false };
  if (ls.enabled) {
    for (const k of ["url", "sha256", "s3Endpoint", "bucket"] as const)
      if (!ls[k])
        err(`dns.lightningStream.${k}`, `required when lightningStream is enabled`, undefined);
  }
  return errors;
}

/** A download of the stack that some host installs: where its digest is in the stack. */
interface DigestUse {
  path: string;
  sha256: string | undefined;
  needed: boolean;
  what: string;
}

/**
 * Placeholder digests (all-zero, all-f) of downloads a host of the stack needs: the install
 * step would refuse the binary, so `up` fails late (issue 14 item 1). Reported when asked
 * for (`validateEnvironment(raw, { requirePinnedDigests: true })`): the Pulumi program and
 * `npm run preview:offline` ask; render, validate, the lab and the golden tests do not, so a
 * stack whose releases are not pinned yet still renders for review.
 */
export function placeholderDigestErrors(env: Environment): ConfigError[] {
  const tiers = new Set(env.hosts.map((h) => h.tier));
  const uses: DigestUse[] = [
    {
      path: "k0s.sha256",
      sha256: env.k0s?.sha256,
      needed: tiers.has("k0s-controller") || tiers.has("k0s-worker"),
      what: "the k0s binary",
    },
    {
      path: "dns.powerAdmin.sha256",
      sha256: env.dns.powerAdmin?.sha256,
      needed: tiers.has("shadow-primary"),
      what: "the PowerAdmin tarball",
    },
    {
      path: "dns.lightningStream.sha256",
      sha256: env.dns.lightningStream?.sha256,
      needed:
        !!env.dns.lightningStream?.enabled &&
        (tiers.has("powerdns") || tiers.has("shadow-primary")),
      what: "the lightningstream binary",
    },
  ];
  return uses
    .filter((u) => u.needed && u.sha256 !== undefined && PLACEHOLDER_SHA256.has(u.sha256))
    .map((u) => ({
      path: u.path,
      message: `is a placeholder digest, but a host of this stack downloads ${u.what}: put the sha256 of the release you pin`,
      value: u.sha256,
    }));
}
