/**
 * The lab's model of a stack: the managed hosts (named by hostname, e.g. lab-vm-mgw01) with
 * the HostPlans the Pulumi components would apply, plus the lab-only nodes the stack's header
 * comment describes: `router` (upstream FRR), `client`, `app01`, `app02`; and one more FRR
 * router for every further upstream of the stack (e.g. `transit`, an eBGP upstream that shows
 * each site's AS-path prepend in its table; it is on mgmt and ingress, not on the data path).
 *
 * Addresses come from the plan (HostFacts), never invented here, except the lab-only nodes'.
 * The plans' netplan files set the default routes (via the mgmt gateway): the lab's netplan is
 * a no-op, so the same routes go into each node's boot-time `ip -batch` (NodeSpec.ipBatch).
 *
 * One file (just over 400 lines): the lab's model of a stack and the lab-only nodes' configs it
 * implies (router FRR, app HAProxy), derived together from the same plans.
 */
import { randomBytes } from "crypto";
import * as ipaddr from "ipaddr.js";
import { isEbgpUpstream } from "../src/config/schema";
import { loadStack } from "../src/config/load";
import { deriveTopology, Topology, HostFacts } from "../src/topology";
import { buildPlans, HostPlan } from "../src/plan";
import { NodeSpec } from "./guest";

export interface LabModel {
  stack: string;
  /** Project root the stack file was read from. */
  root: string;
  topo: Topology;
  plans: HostPlan[];
  /** Hostname → plan. */
  planOf: Map<string, HostPlan>;
  /** Managed hosts' node specs then the lab-only nodes. */
  specs: NodeSpec[];
  router: LabOnly;
  /** Every upstream of the stack as a lab router; the first is `router`, the data path. */
  routers: LabRouter[];
  client: LabOnly;
  apps: { name: string; ipv4: string; port: number }[];
}

export interface LabOnly {
  name: string;
  mgmt4?: string;
  mgmt6?: string;
  ingress4?: string;
  ingress6?: string;
  client4: string;
  client6: string;
}

/** An upstream router of the stack played by FRR in the lab. */
export interface LabRouter {
  name: string;
  /** Its own AS: the upstream's `asn`, else the cluster's (iBGP). */
  asn: number;
  ebgp: boolean;
  bfd: boolean;
  mgmt4: string;
  mgmt6?: string;
  /** On ingress with the same host number as on mgmt, so the gateways' next hops resolve. */
  ingress4: string;
  ingress6?: string;
}

/** The same host number in another network: 198.18.7.3 in 198.18.7.0/24 → 198.18.10.3 in 198.18.10.0/24. */
export function sameHostIn(addr: string, fromCidr: string, toCidr: string): string {
  const a = ipaddr.parse(addr).toByteArray();
  const [from, fromLen] = ipaddr.parseCIDR(fromCidr);
  const [to] = ipaddr.parseCIDR(toCidr);
  const f = from.toByteArray();
  const t = to.toByteArray();
  const out = a.map((b, i) => {
    const bits = Math.max(0, Math.min(8, fromLen - i * 8));
    const mask = (0xff << (8 - bits)) & 0xff;
    if ((b & mask) !== (f[i] & mask)) throw new Error(`${addr} is not in ${fromCidr}`);
    return (t[i] & mask) | (b & ~mask & 0xff);
  });
  return ipaddr.fromByteArray(out).toString();
}

/** Fixed by the lab stack's header comment. */
export const ROUTER = {
  name: "router",
  mgmt4: "198.18.7.2",
  mgmt6: "fd00:7::2",
  ingress4: "198.18.10.2",
  ingress6: "fd00:a::2",
  client4: "198.19.0.1",
  client6: "fd00:19::1",
};
/**
 * The eBGP upstream the sites scenario adds to a copy of the stack (not in the lab stack: a
 * 14th guest and 4 more sessions on each gateway made the other scenarios' BFD flap more).
 */
export const TRANSIT = { name: "transit", ipv4: "198.18.7.3", ipv6: "fd00:7::3", asn: 64500 };
/**
 * The operator's seat on the mgmt network (lab/guest/ `Lab.operator()`): where `ssh` into the
 * systemd guests comes from, as an operator's workstation or a CI runner on a real one.
 */
export const OPERATOR = { mgmt4: "198.18.7.250/24", mgmt6: "fd00:7::fa/64" };
export const CLIENT = { name: "client", client4: "198.19.0.10", client6: "fd00:19::10" };
export const CLIENT_NET = { v4: "198.19.0.0/24", v6: "fd00:19::/64", len4: 24, len6: 64 };

function prefixLen(cidr: string): number {
  return Number(cidr.split("/")[1]);
}

/** Roles that need FRR (zebra+bgpd) or wrk: 128 MB (LAB-NOTES: 96 MB enough for web/lb). */
function memFor(h: HostFacts): number {
  // A maglev runs ExaBGP and keepalived and, during an apply, the apply program and ExaBGP's
  // own checker — three Pythons: at 128 MB one had 38 MB available at idle, and its apply
  // died twice without a message (exit 1) in the rollout scenario; memory is the likely cause.
  // The PowerDNS guests' pdns died under their apply (checker: a second pdns_server) at 112 MB.
  // A gateway at 128 MB lost bgpd during a re-apply (frr-reload.py, the checker's vtysh and the
  // metrics collector's Python next to FRR; "bgpd is not running" through the rollback too).
  if (h.tier === "maglev" || h.tier === "gateway") return 192;
  return 160;
}

/** systemd, udevd, journald, networkd and sshd of a systemd guest: ~25 MB used after boot. */
const SYSTEMD_MB = 48;

/**
 * The lab model of a stack. Managed hosts boot systemd (a VM's init on a disk of its own,
 * lab/machine/, applied over SSH); the lab-only nodes (router, client, app servers) boot the
 * lab's short bash init (lab/init.sh).
 */
export function buildLabModel(stack = "lab", root = process.cwd()): LabModel {
  const env = loadStack(stack, root);
  const topo = deriveTopology(env);
  const plans = buildPlans(topo);
  const planOf = new Map(plans.map((p) => [p.hostname, p]));
  const mg = env.networks.mgmt;
  const ing = env.networks.ingress;
  const m4 = prefixLen(mg.ipv4);
  const m6 = mg.ipv6 ? prefixLen(mg.ipv6) : 64;
  const i4 = prefixLen(ing.ipv4);
  const i6 = ing.ipv6 ? prefixLen(ing.ipv6) : 64;
  const mgIf = topo.interfaces.mgmt;
  const ingIf = topo.interfaces.ingress;

  const specs: NodeSpec[] = [];
  for (const h of topo.hosts) {
    const ifs: NodeSpec["interfaces"] = [
      {
        ifname: mgIf,
        network: "mgmt",
        ipv4: `${h.mgmt.ipv4}/${m4}`,
        ipv6: h.mgmt.ipv6 ? `${h.mgmt.ipv6}/${m6}` : undefined,
      },
    ];
    if (h.ingress)
      ifs.push({
        ifname: ingIf,
        network: "ingress",
        ipv4: `${h.ingress.ipv4}/${i4}`,
        ipv6: h.ingress.ipv6 ? `${h.ingress.ipv6}/${i6}` : undefined,
      });
    // What the plan's netplan file says: default routes via the mgmt gateway (DSR replies
    // of the L7 nodes leave this way).
    const ipBatch: string[] = [];
    if (mg.gateway4) ipBatch.push(`route replace default via ${mg.gateway4} dev ${mgIf}`);
    if (mg.gateway6) ipBatch.push(`route replace default via ${mg.gateway6} dev ${mgIf}`);
    specs.push({
      name: h.hostname,
      hostname: h.hostname,
      memMB: memFor(h) + SYSTEMD_MB,
      interfaces: ifs,
      ipBatch,
      machine: "systemd",
      cloudInit: { user: env.proxmox.user },
    });
  }

  const apps: LabModel["apps"] = [];
  for (const g of topo.groups.values()) {
    for (const s of g.servers ?? []) {
      if (!apps.some((a) => a.name === s.name))
        apps.push({ name: s.name, ipv4: s.address, port: s.port });
    }
  }

  const routers: LabRouter[] = env.bgp.upstream.map((u) => ({
    name: u.name,
    asn: u.asn ?? env.bgp.asn,
    ebgp: isEbgpUpstream(env.bgp, u),
    bfd: u.bfd,
    mgmt4: u.ipv4,
    mgmt6: u.ipv6,
    ingress4: sameHostIn(u.ipv4, mg.ipv4, ing.ipv4),
    ingress6: u.ipv6 && mg.ipv6 && ing.ipv6 ? sameHostIn(u.ipv6, mg.ipv6, ing.ipv6) : undefined,
  }));
  const first = routers[0];
  if (
    first.name !== ROUTER.name ||
    first.mgmt4 !== ROUTER.mgmt4 ||
    first.mgmt6 !== ROUTER.mgmt6 ||
    first.ingress4 !== ROUTER.ingress4
  )
    throw new Error(
      `stack ${stack}: the first upstream must be the lab's router (${ROUTER.name}, ${ROUTER.mgmt4}, ${ROUTER.mgmt6}), the client's way in`,
    );
  specs.push({
    name: ROUTER.name,
    memMB: 128,
    interfaces: [
      {
        ifname: mgIf,
        network: "mgmt",
        ipv4: `${ROUTER.mgmt4}/${m4}`,
        ipv6: `${ROUTER.mgmt6}/${m6}`,
      },
      {
        ifname: ingIf,
        network: "ingress",
        ipv4: `${ROUTER.ingress4}/${i4}`,
        ipv6: `${ROUTER.ingress6}/${i6}`,
      },
      {
        ifname: "client0",
        network: "client",
        ipv4: `${ROUTER.client4}/${CLIENT_NET.len4}`,
        ipv6: `${ROUTER.client6}/${CLIENT_NET.len6}`,
      },
    ],
  });
  // Further upstreams: control plane only (their routing table is the evidence). 128 MB as the
  // router: at 112 MB `transit`, booted mid-run, came up twice without IPv6 (a kernel warning
  // during its network init; 2026-12-02 in CI and 2026-12-03 here), failing scenario s.
  for (const r of routers.slice(1)) {
    specs.push({
      name: r.name,
      memMB: 128,
      interfaces: [
        {
          ifname: mgIf,
          network: "mgmt",
          ipv4: `${r.mgmt4}/${m4}`,
          ipv6: r.mgmt6 ? `${r.mgmt6}/${m6}` : undefined,
        },
        {
          ifname: ingIf,
          network: "ingress",
          ipv4: `${r.ingress4}/${i4}`,
          ipv6: r.ingress6 ? `${r.ingress6}/${i6}` : undefined,
        },
      ],
    });
  }
  // The load generator and the app servers run at a lower host CPU priority: on 2 cores a
  // busy wrk would otherwise starve the routers' and maglevs' bfdd (BFD timers) and measure
  // the lab's scheduler instead of the design (seen: maglev BFD sessions flapping under load).
  specs.push({
    name: CLIENT.name,
    nice: 10,
    memMB: 160,
    interfaces: [
      {
        ifname: "client0",
        network: "client",
        ipv4: `${CLIENT.client4}/${CLIENT_NET.len4}`,
        ipv6: `${CLIENT.client6}/${CLIENT_NET.len6}`,
      },
    ],
    ipBatch: [
      `route replace default via ${ROUTER.client4}`,
      `route replace default via ${ROUTER.client6}`,
    ],
  });
  for (const a of apps) {
    specs.push({
      name: a.name,
      nice: 10,
      memMB: 96,
      interfaces: [{ ifname: ingIf, network: "ingress", ipv4: `${a.ipv4}/${i4}` }],
      ipBatch: [`route replace default via ${ROUTER.ingress4}`],
    });
  }
  return { stack, root, topo, plans, planOf, specs, router: ROUTER, routers, client: CLIENT, apps };
}

/** Every `{{secret:<key>}}` key the plans use. */
export function secretKeys(plans: HostPlan[]): string[] {
  const keys = new Set<string>();
  for (const p of plans) for (const f of p.files) for (const k of f.secretKeys ?? []) keys.add(k);
  for (const p of plans)
    for (const f of p.files)
      for (const m of f.content.matchAll(/\{\{secret:([^}]+)\}\}/g)) keys.add(m[1]);
  return [...keys].sort();
}

/** Throwaway lab values: base64 32 bytes (dnsdist's makeKey() format) or hex. */
export function labSecrets(plans: HostPlan[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of secretKeys(plans))
    out[k] =
      /key$/i.test(k) && /dnsdist/i.test(k)
        ? randomBytes(32).toString("base64")
        : `lab-${randomBytes(12).toString("hex")}`;
  return out;
}

/**
 * A lab router's FRR: a session (v4, and v6 when it has an address) to every gateway's mgmt
 * address — iBGP, or eBGP when the stack gives the upstream its own AS — BFD when the stack
 * says so, ECMP over the gateways.
 */
export function routerFrrConf(m: LabModel, r: LabRouter = m.routers[0]): string {
  const env = m.topo.env;
  const bfd = env.bgp.bfd;
  const gws = m.topo.gateways;
  const lines = [
    "frr defaults traditional",
    `hostname ${r.name}`,
    "service integrated-vtysh-config",
    "!",
  ];
  if (r.bfd)
    lines.push(
      "bfd",
      " profile gateways",
      `  transmit-interval ${bfd?.transmitIntervalMs ?? 300}`,
      `  receive-interval ${bfd?.receiveIntervalMs ?? 300}`,
      `  detect-multiplier ${bfd?.detectMultiplier ?? 3}`,
      " exit",
      "exit",
      "!",
    );
  // FRR ≥ 7.4 accepts and sends nothing on an eBGP session without policy: take everything
  // the gateways announce (they filter), announce nothing back.
  if (r.ebgp)
    lines.push(
      "route-map FROM-GATEWAYS permit 10",
      "exit",
      "route-map TO-GATEWAYS deny 10",
      "exit",
      "!",
    );
  lines.push(
    `router bgp ${r.asn}`,
    ` bgp router-id ${r.mgmt4}`,
    " no bgp default ipv4-unicast",
    ` timers bgp 3 ${env.bgp.holdTimeSeconds ?? 9}`,
  );
  const peers = (six: boolean) =>
    gws
      .map((g) => (six ? g.mgmt.ipv6 : g.mgmt.ipv4))
      .filter((a): a is string => !!a && (!six || !!r.mgmt6));
  for (const g of gws) {
    for (const a of [g.mgmt.ipv4, r.mgmt6 ? g.mgmt.ipv6 : undefined].filter(
      (x): x is string => !!x,
    )) {
      lines.push(
        ` neighbor ${a} remote-as ${r.ebgp ? env.bgp.asn : "internal"}`,
        ` neighbor ${a} description ${g.hostname}`,
        ` neighbor ${a} timers connect 2`,
      );
      if (r.bfd) lines.push(` neighbor ${a} bfd`, ` neighbor ${a} bfd profile gateways`);
    }
  }
  for (const [af, six] of [
    ["ipv4", false],
    ["ipv6", true],
  ] as const) {
    lines.push(` address-family ${af} unicast`, "  maximum-paths 8", "  maximum-paths ibgp 8");
    for (const a of peers(six)) {
      lines.push(`  neighbor ${a} activate`);
      if (r.ebgp)
        lines.push(
          `  neighbor ${a} route-map FROM-GATEWAYS in`,
          `  neighbor ${a} route-map TO-GATEWAYS out`,
        );
    }
    lines.push(" exit-address-family");
  }
  lines.push("exit", "!");
  return lines.join("\n") + "\n";
}

export const ROUTER_DAEMONS = `bgpd=yes
bfdd=yes
vtysh_enable=yes
zebra_options="  -A 127.0.0.1 -s 90000000"
bgpd_options="   -A 127.0.0.1"
bfdd_options="   -A 127.0.0.1"
staticd_options="-A 127.0.0.1"
`;

/**
 * The application servers: HAProxy as a tiny, fast HTTP responder that names itself
 * (python's http.server tops out at ~200 req/s in a guest, which would hide everything).
 * `/big` returns 48 KB (it must fit tune.bufsize) (the DSR evidence needs replies much larger than requests).
 */
export function appHaproxyCfg(name: string, port: number): string {
  return `global
    maxconn 20000
    tune.bufsize 65536
defaults
    mode http
    timeout client 30s
    timeout connect 5s
    timeout server 30s
frontend app
    bind 0.0.0.0:${port}
    bind :::${port} v6only
    http-request return status 200 content-type text/plain file /run/lab/big.txt if { path /big }
    # Names itself and the HAProxy node that connected (the scenarios map 5-tuples to nodes).
    http-request return status 200 content-type text/plain lf-string "${name} via %[src]\\n"
`;
}
