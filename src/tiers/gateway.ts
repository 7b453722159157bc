/**
 * Gateway (mgw01/02): FRR route reflector between the upstream router and the maglevs.
 *
 * Control plane on mgmt, data plane on ingress0:
 *   - the maglevs (route-reflector clients, BFD) announce the VIPs with their ingress0
 *     address as next hop; the gateway accepts nothing but the stack's VIPs from them and
 *     installs one ECMP route per VIP over every maglev (`maximum-paths ibgp <maglevs>`);
 *   - towards the upstream router it reflects those routes with the next hop rewritten to
 *     its own ingress0 address (NH-INGRESS; FRR applies an outbound route-map to reflected
 *     routes only with `bgp route-reflector allow-outbound-policy`), and accepts nothing
 *     from it (NO-IN);
 *   - the kernel spreads flows over the maglevs by 5-tuple (fib_multipath_hash_policy=1).
 */
import { Topology, HostFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { planFrr } from "./frr-common";
import { hostScript, PYTHON_SYNTAX } from "../plan/scripts";
import { BFD_SINGLE_HOP, FirewallSpec, planFirewall } from "./firewall";
import { gatewayFrrConfig, SITE_DRAIN_FILE, siteDrainMarker } from "../daemons/frr/render";

// The gateway's frr.conf is rendered in src/daemons/frr; its names stay importable here.
export {
  MAGLEV_PEER_GROUP,
  MAGLEV_BFD_PROFILE,
  VIP_PREFIX_LIST_V4,
  VIP_PREFIX_LIST_V6,
  UPSTREAM_ROUTE_MAP_IBGP,
  UPSTREAM_ROUTE_MAP_EBGP,
  upstreamRouteMap,
  upstreamRouteMapsInUse,
  asPathPrepend,
  type SiteDrain,
  DRAIN_SITE_LOCAL_PREF,
  DRAIN_SITE_EXTRA_PREPEND,
  type SitePolicy,
  drainedSitePolicy,
  siteDrainMarker,
  gatewayFrrConfig,
  SITE_DRAIN_FILE,
} from "../daemons/frr/render";

/** The gateway's health gate, a program of its own (scripts/host/gateway-health). */
export const GATEWAY_HEALTH = "/usr/local/lib/maglev-infra/gateway-health";

/** Where the apply program's lock lives (a tmpfs: emptied by a reboot). */
const RUN_DIR = "/run/maglev-infra";

/**
 * FRR's `show bgp neighbors json` right before an apply changes the gateway: the record the
 * health gate's `--before` reads. In /run: a reboot, which restarts bgpd anyway, leaves no
 * stale record behind.
 */
export const GATEWAY_SESSIONS_BEFORE = `${RUN_DIR}/gateway-sessions-before.json`;

/**
 * The gate's pre-change step: FRR's own answer, so it needs nothing from the bundle being
 * applied (the gateway-health it carries is not live yet, and not there at all on a first
 * apply). No answer (bgpd not running yet) leaves no record, and the gate then goes by the
 * sessions' counters, as it does without one: the step never fails an apply.
 */
export function gatewaySessionsRecord(): string {
  const f = GATEWAY_SESSIONS_BEFORE;
  return `mkdir -p ${RUN_DIR} && { vtysh -c 'show bgp neighbors json' > ${f}.new 2>/dev/null && mv -f ${f}.new ${f} || rm -f ${f}.new ${f}; }`;
}

export function planGateway(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  // A drained site stays drained through every apply, restart and reboot: while the operator's
  // drain file is on the gateway, the apply installs the frr.conf with the drained policy.
  const variants = h.site
    ? (["withdrawn", "drained"] as const).map((d) => ({
        when: { path: SITE_DRAIN_FILE, contains: siteDrainMarker(d) },
        content: gatewayFrrConfig(topo, h, d),
      }))
    : undefined;
  planFrr(topo, h, b, ["bgpd", "bfdd"], gatewayFrrConfig(topo, h), variants);

  // A router: forwards VIP traffic from the upstream to the maglevs.
  b.sysctl("net.ipv4.conf.all.forwarding", 1);
  b.sysctl("net.ipv6.conf.all.forwarding", 1);
  // ECMP by L4 hash (src, dst, proto, ports): every packet of a flow takes the same maglev,
  // and flows spread over all of them. The default (0, L3 only) would pin a client to one maglev.
  b.sysctl("net.ipv4.fib_multipath_hash_policy", 1);
  b.sysctl("net.ipv6.fib_multipath_hash_policy", 1);
  // Skip a next hop whose neighbour entry is failed (a maglev gone before BFD noticed).
  b.sysctl("net.ipv4.fib_multipath_use_neigh", 1);
  // Client packets arrive on ingress0 while the route back to a client is the default route on
  // mgmt: strict reverse-path filtering would drop them. Loose (2) only asks for some route;
  // the effective value is max(all, interface), so `all` decides.
  b.sysctl("net.ipv4.conf.all.rp_filter", 2);

  // A router that sends a packet back out of the interface it came in on (ingress0 → ingress0,
  // upstream → maglev) would tell the upstream to use the maglev directly: never send redirects.
  // The effective value is `all` AND the interface's, so `all` = 0 turns them off everywhere.
  b.sysctl("net.ipv4.conf.all.send_redirects", 0);
  b.sysctl("net.ipv4.conf.default.send_redirects", 0);

  planFirewall(topo, h, b, gatewayFirewall(topo), ["frr.service"]);

  // Health gate: the next gateway changes only once this one's sessions are back.
  b.file({
    path: GATEWAY_HEALTH,
    mode: "0755",
    content: hostScript("gateway-health", topo.env.name),
    validate: PYTHON_SYNTAX,
  });
  const upstreams = topo.env.bgp.upstream.flatMap((u) => (u.ipv6 ? [u.ipv4, u.ipv6] : [u.ipv4]));
  const maglevs = topo.maglevs.map((m) => m.mgmt.ipv4);
  // A maglev that has never connected since bgpd started passes (the first `up`: the maglevs
  // come after the gateways). An apply that restarts FRR resets that counter, so the gate also
  // reads which maglevs were Established right before the change: those must be again.
  b.health = {
    command: `${GATEWAY_HEALTH} --upstream ${upstreams.join(",")} --maglev ${maglevs.join(",") || ","} --before ${GATEWAY_SESSIONS_BEFORE}`,
    timeoutSeconds: 120,
    description: `BGP sessions of ${h.hostname} to ${topo.env.bgp.upstream.map((u) => u.name).join(", ")} and its maglevs are Established`,
    before: gatewaySessionsRecord(),
  };
}

/**
 * A gateway opens BGP and BFD on mgmt to its peers only (the upstream routers and the maglevs),
 * nothing on ingress0 for itself, and forwards exactly the stack's VIP:port mappings from the
 * upstream to the maglevs, untracked (the seed's stateless gateways).
 */
export function gatewayFirewall(topo: Topology): FirewallSpec {
  const upstream = topo.env.bgp.upstream;
  const upstreamAddrs = upstream.flatMap((u) => (u.ipv6 ? [u.ipv4, u.ipv6] : [u.ipv4]));
  // Every upstream is on the mgmt network (a schema rule) and so are the maglevs: bgpd registers
  // single-hop BFD sessions only (RFC 5881, port 3784). Multihop (4784) is never used, never opened.
  const bfdUpstream = upstream
    .filter((u) => u.bfd)
    .flatMap((u) => (u.ipv6 ? [u.ipv4, u.ipv6] : [u.ipv4]));
  const maglevs = topo.maglevs.map((m) => m.mgmt.ipv4);
  return {
    what: "gateway",
    mgmt: [
      {
        why: "BGP from the upstream routers and the maglevs",
        protocols: ["tcp"],
        ports: [179],
        from: [...upstreamAddrs, ...maglevs],
      },
      {
        why: "BFD (single hop) from the maglevs and the upstream routers that speak it",
        protocols: ["udp"],
        ports: [BFD_SINGLE_HOP],
        from: [...maglevs, ...bfdUpstream],
      },
    ],
    ingress: [],
    vips: { role: "forward", services: topo.vipPorts },
  };
}
