/**
 * FRR 8.4 on the gateways (zebra, bgpd, bfdd: the route reflector between the upstream routers
 * and the maglevs) and on the maglevs (bfdd only): the daemons file, frr.conf of both, BFD
 * profiles, and the site-drain policy `npm run ops -- drain-site` sets at run time. In FRR's
 * own syntax; values through frrWord / frrText / commentText.
 *
 * Both files are self-contained: a host started by hand (the lab runs
 * `/usr/lib/frr/frrinit.sh start` without systemd) reads exactly what `pulumi up` installs.
 */
import { Topology, HostFacts } from "../../topology";
import { header } from "../../plan/header";
import { Environment, Upstream, isEbgpUpstream } from "../../config/schema";
import { commentText, frrText, frrWord } from "../../escape";

export const FRR_CONF = "/etc/frr/frr.conf";
export const FRR_DAEMONS = "/etc/frr/daemons";

/** Every daemon the daemons file knows, in the order of Debian's file. */
const ALL_DAEMONS = [
  "bgpd",
  "ospfd",
  "ospf6d",
  "ripd",
  "ripngd",
  "isisd",
  "pimd",
  "pim6d",
  "ldpd",
  "nhrpd",
  "eigrpd",
  "babeld",
  "sharpd",
  "pbrd",
  "bfdd",
  "fabricd",
  "vrrpd",
  "pathd",
] as const;
export type FrrDaemon = (typeof ALL_DAEMONS)[number];

/** /etc/frr/daemons: zebra and staticd always run (frrinit.sh starts them regardless); `enabled` on top. */
export function frrDaemons(env: Environment, h: HostFacts, enabled: FrrDaemon[]): string {
  const on = new Set(enabled);
  const lines = [
    header(env.name, "#", `FRR daemons of ${h.hostname}`).trimEnd(),
    "#",
    `# zebra and staticd always run. Enabled here: ${enabled.join(", ")}.`,
    ...ALL_DAEMONS.map((d) => `${d}=${on.has(d) ? "yes" : "no"}`),
    "",
    "vtysh_enable=yes",
    // Every daemon's vty on localhost only; zebra's netlink buffer sized for a full table.
    'zebra_options="  -A 127.0.0.1 -s 90000000"',
    'bgpd_options="   -A 127.0.0.1"',
    'staticd_options="-A 127.0.0.1"',
    'bfdd_options="   -A 127.0.0.1"',
    "",
  ];
  return lines.join("\n");
}

/** The first lines of frr.conf, after the header. */
export function frrPreamble(env: Environment, h: HostFacts, what: string): string[] {
  return [
    ...header(env.name, "!", `${what} of ${h.hostname}`).trimEnd().split("\n"),
    "!",
    "frr defaults traditional",
    `hostname ${frrWord(h.hostname, `hostname of ${h.name}`)}`,
    "log syslog informational",
    "service integrated-vtysh-config",
    "!",
  ];
}

/** A BFD profile with the stack's timers. Lines indented for inside `bfd`. */
export function bfdProfile(name: string, bfd: Environment["bgp"]["bfd"]): string[] {
  return [
    ` profile ${name}`,
    `  transmit-interval ${bfd.transmitIntervalMs}`,
    `  receive-interval ${bfd.receiveIntervalMs}`,
    `  detect-multiplier ${bfd.detectMultiplier}`,
    " exit",
  ];
}

/** Detection time in ms, for comments: the slower side's interval × multiplier. */
export function bfdDetectMs(bfd: Environment["bgp"]["bfd"]): number {
  return Math.max(bfd.transmitIntervalMs, bfd.receiveIntervalMs) * bfd.detectMultiplier;
}

// ---------------------------------------------------------------------------------------
// Maglev: bfdd only (ExaBGP has no BFD)
// ---------------------------------------------------------------------------------------

export const GATEWAY_BFD_PROFILE = "gateways";

export function maglevFrrConfig(topo: Topology, h: HostFacts): string {
  const bfd = topo.env.bgp.bfd;
  const L = [
    ...frrPreamble(topo.env, h, "FRR (bfdd only) — BFD towards the gateways"),
    "! ExaBGP speaks BGP but not BFD: bfdd answers the gateways' BFD sessions (bgpd there",
    `! registers them with \`neighbor … bfd\`), so they drop this maglev ~${bfdDetectMs(bfd)} ms after it dies.`,
    "bfd",
    ...bfdProfile(GATEWAY_BFD_PROFILE, bfd),
  ];
  for (const gw of topo.gateways) {
    L.push(
      ` ! ${commentText(gw.hostname, `hostname of ${gw.name}`)}`,
      ` peer ${gw.mgmt.ipv4} local-address ${h.mgmt.ipv4}`,
      `  profile ${GATEWAY_BFD_PROFILE}`,
      " exit",
    );
  }
  L.push("exit", "!", "");
  return L.join("\n");
}

// ---------------------------------------------------------------------------------------
// Gateway: BGP route reflector
// ---------------------------------------------------------------------------------------

/** Peer group of the maglevs on a gateway. */
export const MAGLEV_PEER_GROUP = "MAGLEVS";
/** BFD profile for gateway ↔ maglev sessions (the stack's timers). */
export const MAGLEV_BFD_PROFILE = "maglev";
export const VIP_PREFIX_LIST_V4 = "VIPS-V4";
export const VIP_PREFIX_LIST_V6 = "VIPS-V6";

/**
 * A prefix list permitting exactly the VIPs (/32 or /128, no longer or shorter prefix).
 * Explicit sequence numbers, the ones FRR would assign (5, 10, …), so frr-reload.py finds
 * nothing to change when nothing changed. No VIP of a family: one `deny any`, so the list
 * exists and filters everything (a missing list would not filter).
 */
function prefixList(family: "ip" | "ipv6", name: string, vips: string[]): string[] {
  const len = family === "ip" ? 32 : 128;
  if (vips.length === 0) return [`${family} prefix-list ${name} seq 5 deny any`];
  return vips.map((v, i) => `${family} prefix-list ${name} seq ${(i + 1) * 5} permit ${v}/${len}`);
}

/** Outbound route-map towards iBGP upstreams: next hop on ingress0, the site's LOCAL_PREF and MED. */
export const UPSTREAM_ROUTE_MAP_IBGP = "NH-INGRESS";
/** Outbound route-map towards eBGP upstreams: next hop on ingress0, the site's prepend and MED. */
export const UPSTREAM_ROUTE_MAP_EBGP = "NH-INGRESS-EBGP";

/** The outbound route-map of an upstream session. */
export function upstreamRouteMap(bgp: Environment["bgp"], u: Upstream): string {
  return isEbgpUpstream(bgp, u) ? UPSTREAM_ROUTE_MAP_EBGP : UPSTREAM_ROUTE_MAP_IBGP;
}

/** The outbound route-maps the stack's upstream sessions use, iBGP's first. */
export function upstreamRouteMapsInUse(bgp: Environment["bgp"]): string[] {
  return [UPSTREAM_ROUTE_MAP_IBGP, UPSTREAM_ROUTE_MAP_EBGP].filter((m) =>
    bgp.upstream.some((u) => upstreamRouteMap(bgp, u) === m),
  );
}

/** `n` copies of the AS, as `set as-path prepend` takes them. */
export function asPathPrepend(asn: number, n: number): string {
  return Array(n).fill(asn).join(" ");
}

/**
 * One outbound route-map per kind of upstream session the stack has. Two, because the site's
 * policy differs: an iBGP router compares LOCAL_PREF first and drops a path carrying its own
 * AS (a prepend would withdraw the site), an eBGP router never sees LOCAL_PREF and compares
 * AS-path length. `npm run ops -- drain-site` edits the same entries at run time.
 */
function upstreamRouteMaps(topo: Topology, gw: HostFacts, drain?: SiteDrain): string[] {
  const bgp = topo.env.bgp;
  const ing = gw.ingress!;
  const site = gw.site ? topo.env.sites[gw.site] : undefined;
  const drained = drain ? drainedSitePolicy(topo, drain === "withdrawn") : undefined;
  const L: string[] = [];
  for (const name of upstreamRouteMapsInUse(bgp)) {
    const ebgp = name === UPSTREAM_ROUTE_MAP_EBGP;
    L.push(
      `! Towards the ${ebgp ? "eBGP" : "iBGP"} upstream router: the VIPs are reached through this gateway's ${topo.interfaces.ingress}.`,
    );
    const siteName = gw.site ? commentText(gw.site, `hosts[].site (${gw.name})`) : undefined;
    if (drain === "withdrawn")
      L.push(
        `! Site ${siteName} withdrawn by \`npm run ops -- drain-site --withdraw\`: nothing is announced.`,
        `route-map ${name} deny 5`,
        "exit",
      );
    else if (drain)
      L.push(
        `! Site ${siteName} drained by \`npm run ops -- drain-site\`: ${ebgp ? "a longer AS path" : `LOCAL_PREF ${drained!.localPref}`} than any other site.`,
      );
    else if (site)
      L.push(
        `! Site ${siteName}: ${ebgp ? "AS-path prepend and MED" : "LOCAL_PREF and MED"} from the stack (sites.${siteName}).`,
      );
    L.push(`route-map ${name} permit 10`, ` set ip next-hop ${ing.ipv4}`);
    if (ing.ipv6) L.push(` set ipv6 next-hop global ${ing.ipv6}`);
    // The same lines drain-site's vtysh leaves in the running config, so frr-reload.py finds
    // nothing to change when it reloads a drained gateway to this file.
    const prepend = drain === "drained" ? drained!.prepend : (site?.prepend ?? 0);
    const localPref = drain === "drained" ? drained!.localPref : site?.localPreference;
    if (ebgp && prepend > 0) L.push(` set as-path prepend ${asPathPrepend(bgp.asn, prepend)}`);
    if (site?.med !== undefined) L.push(` set metric ${site.med}`);
    if (!ebgp && localPref !== undefined) L.push(` set local-preference ${localPref}`);
    L.push("exit", "!");
  }
  return L;
}

/** An operator's drain of the gateway's site: the policy drain-site set, kept in SITE_DRAIN_FILE. */
export type SiteDrain = "drained" | "withdrawn";

/** LOCAL_PREF a drained site's gateways advertise to an iBGP upstream (below any rendered site's). */
export const DRAIN_SITE_LOCAL_PREF = 10;
/** Copies of the AS a drained site prepends beyond the longest prepend of any site. */
export const DRAIN_SITE_EXTRA_PREPEND = 3;

/** What a drained (or withdrawn) site advertises. */
export interface SitePolicy {
  withdrawn: boolean;
  localPref: number;
  prepend: number;
}

/** The policy drain-site sets. */
export function drainedSitePolicy(topo: Topology, withdraw: boolean): SitePolicy {
  const longest = Math.max(0, ...Object.values(topo.env.sites).map((x) => x.prepend));
  return {
    withdrawn: withdraw,
    localPref: DRAIN_SITE_LOCAL_PREF,
    prepend: Math.min(10, longest + DRAIN_SITE_EXTRA_PREPEND),
  };
}

/** The first line of SITE_DRAIN_FILE says which drain it holds; the apply chooses frr.conf by it. */
export function siteDrainMarker(drain: SiteDrain): string {
  return drain === "withdrawn"
    ? "withdrawn by `npm run ops -- drain-site --withdraw`"
    : "drained by `npm run ops -- drain-site`";
}

export function gatewayFrrConfig(topo: Topology, gw: HostFacts, drain?: SiteDrain): string {
  const env = topo.env;
  const bgp = env.bgp;
  if (!gw.ingress)
    throw new Error(
      `gateway ${gw.name} has no ingress addresses: it cannot rewrite next hops to its data plane`,
    );
  const ing = gw.ingress;
  const maglevs = topo.maglevs;
  const width = Math.max(1, topo.ecmpWidth);
  const keepalive = Math.max(1, Math.floor(bgp.holdTimeSeconds / 3));
  const L: string[] = [
    ...frrPreamble(env, gw, "FRR (zebra, bgpd, bfdd) — BGP route reflector for the maglevs"),
  ];

  L.push(
    `! BFD towards the maglevs: a dead maglev leaves the ECMP group in ~${bfdDetectMs(bgp.bfd)} ms`,
    `! (${bgp.bfd.transmitIntervalMs} ms × ${bgp.bfd.detectMultiplier}) instead of the ${bgp.holdTimeSeconds} s BGP hold time.`,
    "bfd",
    ...bfdProfile(MAGLEV_BFD_PROFILE, bgp.bfd),
    "exit",
    "!",
    "! The only prefixes a maglev may announce: the stack's VIPs. Anything else is dropped.",
    ...prefixList("ip", VIP_PREFIX_LIST_V4, topo.vips.ipv4),
    "!",
    ...prefixList("ipv6", VIP_PREFIX_LIST_V6, topo.vips.ipv6),
    "!",
    "! Nothing is accepted from the upstream router.",
    "route-map NO-IN deny 10",
    "exit",
    "!",
    "! The maglevs need no routes from the gateway.",
    "route-map NO-OUT deny 10",
    "exit",
    "!",
  );
  L.push(...upstreamRouteMaps(topo, gw, drain));

  L.push(
    `router bgp ${bgp.asn}`,
    ` bgp router-id ${gw.mgmt.ipv4}`,
    " bgp log-neighbor-changes",
    " no bgp default ipv4-unicast",
    // Without it FRR never applies NH-INGRESS to the routes it reflects from the maglevs.
    " bgp route-reflector allow-outbound-policy",
    ` timers bgp ${keepalive} ${bgp.holdTimeSeconds}`,
  );
  // Upstream: IPv4 session; an IPv6 session too when the stack names the router's IPv6 address,
  // otherwise the IPv6 VIPs travel over the IPv4 session.
  const upstreamV4 = (u: (typeof bgp.upstream)[number]) => u.ipv4;
  const upstreamFor6 = (u: (typeof bgp.upstream)[number]) => u.ipv6 ?? u.ipv4;
  bgp.upstream.forEach((u, i) => {
    const description = frrText(
      `${u.name} (upstream${isEbgpUpstream(bgp, u) ? ", eBGP" : ""})`,
      `bgp.upstream[${i}].name`,
    );
    const sessions: [string, string][] = [[u.ipv4, gw.mgmt.ipv4]];
    if (u.ipv6) sessions.push([u.ipv6, gw.mgmt.ipv6]);
    for (const [addr, src] of sessions) {
      L.push(
        ` neighbor ${addr} remote-as ${isEbgpUpstream(bgp, u) ? u.asn : "internal"}`,
        ` neighbor ${addr} description ${description}`,
        ` neighbor ${addr} update-source ${src}`,
        ` neighbor ${addr} timers connect 2`,
      );
      if (u.bfd) L.push(` neighbor ${addr} bfd`);
    }
  });
  L.push(
    ` neighbor ${MAGLEV_PEER_GROUP} peer-group`,
    ` neighbor ${MAGLEV_PEER_GROUP} remote-as internal`,
    ` neighbor ${MAGLEV_PEER_GROUP} update-source ${gw.mgmt.ipv4}`,
    ` neighbor ${MAGLEV_PEER_GROUP} timers connect 2`,
    ` neighbor ${MAGLEV_PEER_GROUP} bfd`,
    ` neighbor ${MAGLEV_PEER_GROUP} bfd profile ${MAGLEV_BFD_PROFILE}`,
  );
  for (const m of maglevs) {
    L.push(
      ` neighbor ${m.mgmt.ipv4} peer-group ${MAGLEV_PEER_GROUP}`,
      ` neighbor ${m.mgmt.ipv4} description ${frrText(m.hostname, `hostname of ${m.name}`)}`,
    );
  }
  const af = (family: "ipv4" | "ipv6") => {
    const out = [` address-family ${family} unicast`];
    for (const u of bgp.upstream) {
      const addr = family === "ipv4" ? upstreamV4(u) : upstreamFor6(u);
      // Without an ingress0 IPv6 address there is no data-plane next hop to give the upstream.
      if (family === "ipv6" && !ing.ipv6) {
        out.push(
          `  ! ${commentText(u.name, "bgp.upstream[].name")}: no IPv6 routes, ${gw.name} has no ${topo.interfaces.ingress} IPv6 address to use as next hop`,
        );
        continue;
      }
      out.push(
        `  neighbor ${addr} activate`,
        `  neighbor ${addr} route-map NO-IN in`,
        `  neighbor ${addr} route-map ${upstreamRouteMap(bgp, u)} out`,
      );
    }
    out.push(
      `  neighbor ${MAGLEV_PEER_GROUP} activate`,
      `  neighbor ${MAGLEV_PEER_GROUP} route-reflector-client`,
      `  neighbor ${MAGLEV_PEER_GROUP} prefix-list ${family === "ipv4" ? VIP_PREFIX_LIST_V4 : VIP_PREFIX_LIST_V6} in`,
      `  neighbor ${MAGLEV_PEER_GROUP} route-map NO-OUT out`,
      // One path per maglev: every maglev carries a share of the flows.
      `  maximum-paths ibgp ${width}`,
      " exit-address-family",
    );
    return out;
  };
  L.push(" !", ...af("ipv4"), " !", ...af("ipv6"), "exit", "!", "");
  return L.join("\n");
}

/**
 * An operator's site drain (`npm run ops -- drain-site`): the vtysh config lines it applied,
 * kept on each of the site's gateways until `undrain-site`. The apply reloads FRR to the
 * rendered frr.conf, which would silently undrain the site; it re-applies this file right
 * after, inside the same route-map delay (5 s), so the upstreams never see the site undrained.
 */
export const SITE_DRAIN_FILE = "/etc/maglev-infra/site-drain.vtysh";
