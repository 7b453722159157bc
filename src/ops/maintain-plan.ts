/**
 * Planned maintenance, the plan: which hosts, in which order, drained how, waited for how.
 * Pure — no I/O, no clock — so `maintain --dry-run` prints exactly what a run would do, and the
 * same step function decides again, from live drain states, right before each host is touched.
 *
 * One host at a time, and a host is back in service (undrained, confirmed) before the next is
 * drained, so at most one host is ever out on purpose. What the order and the per-host rules
 * add to that:
 *   - a host is maintained only if taking it out leaves its tier able to carry its traffic:
 *     every backend group it is a member of keeps `maglev.minHealthyRealServers` serving
 *     members (below that every maglev's watchdog withdraws the group's VIPs), a maglev is
 *     never the last announcing one, a gateway never the last routing one;
 *   - gateways go one site at a time (every gateway of a site, then the next site), because a
 *     gateway is drained by draining its whole site (`drain-site`);
 *   - tiers go from the inside out (TIER_ORDER), see there;
 *   - within a tier, by name (code-unit order): deterministic, and independent of the order
 *     hosts are written in the stack (the topology sorts them).
 *
 * One file (over 400 lines) on purpose: one pure planner; the decision per host and the phases it
 * plans share every rule above, and `maintain --dry-run` prints what this file decides.
 */
import { Topology, HostFacts } from "../topology";
import { HostPlan, Tier } from "../plan/types";
import { tiers } from "../config/schema";
import { DRAIN_FILE } from "../tiers/maglev";
import { HAPROXY_DRAIN_COMMAND } from "../tiers/haproxy";
import { drainedSitePolicy } from "../tiers/gateway";
import { shellWord } from "../escape";
import { isEbgpUpstream } from "../config/schema";

/**
 * Tiers from the inside of the request path out, each tier's reason in one line:
 *
 *   shadow-primary  no client traffic (the hidden primary only feeds zone transfers)
 *   powerdns        behind dnsdist: dnsdist's own backend checks carry a query elsewhere
 *   k0s-controller  before the workers: Kubernetes' version-skew rule is control plane first
 *   k0s-worker      the cluster's nodes, then its edge (ingress) members
 *   dnsdist         L7, one group member of several
 *   haproxy         L7, one group member of several
 *   maglev          L4: one maglev carries 1/n of every VIP
 *   gateway         the edge: one site carries everything that site announces
 *
 * Smallest blast radius first: a bad upgrade shows on one L7 node of a group before it reaches
 * a maglev or a gateway. And each tier's drain is confirmed by the tier outside it (an L7
 * node's weight is read on every maglev, a maglev's routes on every gateway), so the outer
 * tiers are still in their known state while the inner ones are measured through them.
 */
export const TIER_ORDER: readonly Tier[] = [
  "shadow-primary",
  "powerdns",
  "k0s-controller",
  "k0s-worker",
  "dnsdist",
  "haproxy",
  "maglev",
  "gateway",
];

/** How a host is taken out of service. */
export type DrainKind =
  /** Drain file → the announce process withdraws every VIP (`ops drain`). */
  | "maglev"
  /** `hactl drain` → health API 503 → weight 0 on every maglev (`ops drain`). */
  | "haproxy"
  /** Its site announced less preferred on every upstream session (`ops drain-site`). */
  | "site"
  /** Nothing: the tier has no drain here (see the step's `undrained` or `note`). */
  | "none";

export type PhaseName = "record" | "drain" | "run" | "reboot" | "health" | "check" | "undrain";

/**
 * Bound of the health gate's pre-change step, seconds: the apply program's own (CHECK_TIMEOUT
 * in scripts/maglev-apply, which runs the same step as its `record` phase).
 */
export const RECORD_TIMEOUT_S = 120;

export interface PlannedPhase {
  phase: PhaseName;
  /** What is done and what is waited for, for a person. */
  what: string;
  /** Upper bound of the wait, seconds. */
  boundS?: number;
  /** Nothing to do (no drain, no health gate, already drained): shown in the plan where it says something, never run. */
  noop?: boolean;
}

export interface MaintenanceStep {
  host: string;
  hostname: string;
  tier: Tier;
  site?: string;
  drain: DrainKind;
  /** The host is drained already (by an operator): maintained drained, left drained. */
  alreadyDrained: boolean;
  /** Why this drain (or none), for the plan. */
  note: string;
  /** Set when maintaining the host now would take traffic down: why. Only `--force` runs it. */
  blocked?: string;
  /** Set when the host carries client traffic but has no drain: what that costs. Only `--allow-undrained` runs it. */
  undrained?: string;
  phases: PlannedPhase[];
}

export interface Selection {
  /** Short names or full hostnames. */
  hosts?: readonly string[];
  tier?: string;
  all?: boolean;
}

export interface MaintenanceOptions {
  /** Operator command run on each host (as root, `sh -c`). @default none */
  run?: string;
  /** Reboot each host. @default false */
  reboot?: boolean;
  /** `systemd`: `systemctl reboot` over the runner; `lab`: the lab's reboot (reboot.target, same disk). @default systemd */
  rebootKind?: "systemd" | "lab";
  /** Hosts drained now (maglevs, HAProxy nodes, gateways of a drained site) or left out by a failure. @default none */
  drained?: ReadonlySet<string>;
  /** Also hosts that carry traffic and have no drain. @default false */
  allowUndrained?: boolean;
  /** Also hosts whose maintenance takes a group, all VIPs or all routing down. @default false */
  force?: boolean;
  /**
   * Seconds to wait after an HAProxy node's undrain, before the next host. The connections
   * opened while it was drained went to the group's other members (Maglev's fallback); the
   * maglevs keep no shared connection state, so a flow move between maglevs (the next maglev's
   * drain, a gateway's) resets those still open. The wait lets the short ones finish.
   * @default 10
   */
  settleS?: number;
  /** Bounds, seconds. @default drain 60, reboot 600, check 120, run 1800 */
  drainTimeoutS?: number;
  rebootTimeoutS?: number;
  checkTimeoutS?: number;
  runTimeoutS?: number;
}

export interface MaintenancePlan {
  stack: string;
  steps: MaintenanceStep[];
  /** Why a run would refuse to start (empty: it starts). */
  refusals: string[];
  /** Drained hosts the plan started from, sorted. */
  assumedDrained: string[];
}

export const DEFAULTS = {
  settleS: 10,
  drainTimeoutS: 60,
  rebootTimeoutS: 600,
  checkTimeoutS: 120,
  runTimeoutS: 1800,
} as const;

const tierRank = new Map(TIER_ORDER.map((t, i) => [t, i]));

/** The hosts a selection names, or an error a person can act on. Exactly one of hosts / tier / all. */
export function selectHosts(topo: Topology, sel: Selection): HostFacts[] {
  const kinds = [sel.hosts?.length ? 1 : 0, sel.tier !== undefined ? 1 : 0, sel.all ? 1 : 0].reduce(
    (a, b) => a + b,
    0,
  );
  if (kinds !== 1) throw new Error("name hosts, or --tier <tier>, or --all (exactly one of them)");
  if (sel.all) return topo.hosts.slice();
  if (sel.tier !== undefined) {
    if (!(tiers as readonly string[]).includes(sel.tier))
      throw new Error(`no tier "${sel.tier}" (tiers: ${TIER_ORDER.join(", ")})`);
    const hs = topo.hosts.filter((h) => h.tier === sel.tier);
    if (!hs.length) throw new Error(`stack ${topo.env.name} has no ${sel.tier} host`);
    return hs;
  }
  const out = new Map<string, HostFacts>();
  const unknown: string[] = [];
  for (const n of sel.hosts!) {
    const h = topo.hosts.find((x) => x.name === n || x.hostname === n);
    if (h) out.set(h.name, h);
    else unknown.push(n);
  }
  // JSON.stringify: a name from the command line is shown as data, whatever it holds.
  if (unknown.length)
    throw new Error(
      `no host ${unknown.map((u) => JSON.stringify(u)).join(", ")} in stack ${topo.env.name} (hosts: ${topo.hosts.map((x) => x.name).join(", ")})`,
    );
  return [...out.values()];
}

/** Sort key: tier, then (gateways) site — sited ones by site name, site-less last — then name. */
function orderKey(h: HostFacts): [number, number, string, string] {
  const rank = tierRank.get(h.tier as Tier) ?? TIER_ORDER.length;
  return [
    rank,
    h.tier === "gateway" && h.site === undefined ? 1 : 0,
    h.tier === "gateway" ? (h.site ?? "") : "",
    h.name,
  ];
}

function compareHosts(a: HostFacts, b: HostFacts): number {
  const x = orderKey(a);
  const y = orderKey(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

/** The order hosts are maintained in. */
export function maintenanceOrder(hosts: readonly HostFacts[]): HostFacts[] {
  return hosts.slice().sort(compareHosts);
}

interface Decision {
  drain: DrainKind;
  note: string;
  blocked?: string;
  undrained?: string;
}

const names = (hs: HostFacts[]) => hs.map((x) => x.name).join(", ");

/** Groups with VIPs (the ones IPVS serves) this host is a member of, each with who keeps serving. */
function groupShortfalls(topo: Topology, h: HostFacts, drained: ReadonlySet<string>): string[] {
  const min = topo.env.maglev.minHealthyRealServers;
  const out: string[] = [];
  for (const gname of h.groups) {
    const g = topo.groups.get(gname);
    if (!g || g.vips.ipv4.length + g.vips.ipv6.length === 0) continue;
    const serving = g.members.filter((m) => m.name !== h.name && !drained.has(m.name));
    if (serving.length < min)
      out.push(
        `group ${gname} would keep ${serving.length} serving member(s)${serving.length ? ` (${names(serving)})` : ""}, below maglev.minHealthyRealServers ${min}: every maglev would withdraw its VIPs`,
      );
  }
  return out;
}

/** How one host is taken out and what that costs, given who is out already. Pure. */
export function decide(topo: Topology, h: HostFacts, drained: ReadonlySet<string>): Decision {
  const shortfalls = groupShortfalls(topo, h, drained);
  const blockedBy = (more: string[]) => {
    const all = [...more, ...shortfalls];
    return all.length ? all.join("; ") : undefined;
  };
  switch (h.tier) {
    case "maglev": {
      const others = topo.maglevs.filter((m) => m.name !== h.name && !drained.has(m.name));
      return {
        drain: "maglev",
        note: others.length
          ? `withdraws its VIPs; still announcing: ${names(others)}`
          : "withdraws its VIPs",
        blocked: blockedBy(
          others.length ? [] : ["the last announcing maglev: every VIP would go offline"],
        ),
      };
    }
    case "haproxy":
      return {
        drain: "haproxy",
        note: `weight 0 on every maglev (${names(topo.maglevs) || "none"}); the group's other members take its share`,
        blocked: blockedBy([]),
      };
    case "gateway": {
      const others = topo.gateways.filter((g) => g.name !== h.name && !drained.has(g.name));
      if (!others.length)
        return {
          drain: "none",
          note: "no other gateway routes",
          blocked: blockedBy([
            "the last routing gateway: every VIP would be unreachable from the upstream",
          ]),
        };
      const otherSites = others.filter((g) => g.site !== undefined && g.site !== h.site);
      if (h.site !== undefined && otherSites.length)
        return {
          drain: "site",
          note: `drains site ${h.site} (its gateways ${names(topo.gateways.filter((g) => g.site === h.site))}); the upstream prefers ${names(otherSites)}`,
          blocked: blockedBy([]),
        };
      const why =
        h.site === undefined
          ? "it has no site (hosts[].site), and a drain is per site"
          : `no other site has a routing gateway, so a drain of site ${h.site} would move nothing`;
      return {
        drain: "none",
        note: why,
        undrained: `${why}: the upstream moves to ${names(others)} only when this gateway's BGP session drops (BFD or the hold timer); flows through it meanwhile fail`,
        blocked: blockedBy([]),
      };
    }
    case "dnsdist":
    case "k0s-worker": {
      const served = h.groups.filter((g) => {
        const gr = topo.groups.get(g);
        return gr && gr.vips.ipv4.length + gr.vips.ipv6.length > 0;
      });
      if (served.length)
        return {
          drain: "none",
          note: `no drain for a ${h.tier} member yet (only HAProxy nodes have a drain switch)`,
          undrained: `no drain for a ${h.tier} member: the maglevs set it to weight 0 only when keepalived's check fails (interval × 2 of group ${served.join(", ")}); requests to it meanwhile fail`,
          blocked: blockedBy([]),
        };
      if (h.tier === "k0s-worker")
        return {
          drain: "none",
          note: "no drain (no cordon/drain of the node yet)",
          undrained:
            "its pods stop with it (no `kubectl drain` yet): requests the ingress sends them fail until Kubernetes moves them",
          blocked: blockedBy([]),
        };
      return {
        drain: "none",
        note: "not a member of any group with a VIP",
        blocked: blockedBy([]),
      };
    }
    case "powerdns": {
      const others = topo.hosts.filter(
        (x) => x.tier === "powerdns" && x.name !== h.name && !drained.has(x.name),
      );
      return {
        drain: "none",
        note: "behind dnsdist, which checks its backends",
        undrained: `no drain: dnsdist stops sending it queries once its backend check fails; queries to it meanwhile go unanswered`,
        blocked: blockedBy(
          others.length ? [] : ["the last PowerDNS server: no DNS answers while it is out"],
        ),
      };
    }
    case "shadow-primary":
      return {
        drain: "none",
        note: "no client traffic (hidden primary: zone transfers resume when it is back)",
        blocked: blockedBy([]),
      };
    case "k0s-controller":
      return {
        drain: "none",
        note: "no client traffic (control plane: running pods and the ingress keep serving)",
        blocked: blockedBy([]),
      };
  }
}

function drainWhat(topo: Topology, h: HostFacts, d: DrainKind, boundS: number): PlannedPhase {
  const gws = names(topo.gateways) || "none";
  switch (d) {
    case "maglev":
      return {
        phase: "drain",
        what: `create ${DRAIN_FILE} (the announce process withdraws every VIP); wait until no gateway (${gws}) routes a VIP via ${[h.ingress?.ipv4, h.ingress?.ipv6].filter(Boolean).join(" / ")}, then until IPVS has no active connection or no packet arrived for 1 s`,
        boundS,
      };
    case "haproxy":
      return {
        phase: "drain",
        what: `\`${HAPROXY_DRAIN_COMMAND}\` (health API 503); wait for weight 0 on every maglev (${names(topo.maglevs) || "none"}), then for 0 client connections on its VIP frontends (\`hactl sessions\`)`,
        boundS,
      };
    case "site": {
      const p = drainedSitePolicy(topo, false);
      const bgp = topo.env.bgp;
      const how = [
        bgp.upstream.some((u) => !isEbgpUpstream(bgp, u))
          ? `LOCAL_PREF ${p.localPref} to the iBGP upstreams`
          : "",
        bgp.upstream.some((u) => isEbgpUpstream(bgp, u))
          ? `an AS path of ${p.prepend} prepends to the eBGP ones`
          : "",
      ].filter(Boolean);
      return {
        phase: "drain",
        what: `drain-site ${h.site}: ${how.join(", ")}, on ${names(topo.gateways.filter((g) => g.site === h.site))}; wait until advertised on every upstream session`,
        boundS,
      };
    }
    case "none":
      return { phase: "drain", what: "none", noop: true };
  }
}

function undrainWhat(
  topo: Topology,
  h: HostFacts,
  d: DrainKind,
  boundS: number,
  settleS: number,
): PlannedPhase {
  switch (d) {
    case "maglev":
      return {
        phase: "undrain",
        what: `wait until its IPVS weights are the other maglevs' (a rebooted keepalived's checks pass one by one); remove ${DRAIN_FILE}; wait until every gateway (${names(topo.gateways) || "none"}) routes every VIP via it again (ECMP ${topo.maglevs.length} wide)`,
        boundS,
      };
    case "haproxy":
      return {
        phase: "undrain",
        what: `\`hactl undrain\`; wait for weight > 0 on every maglev, for each of its services${settleS ? `; then ${settleS} s for the connections opened during its drain (on the group's other members) to finish before the next host moves flows` : ""}`,
        boundS,
      };
    case "site":
      return {
        phase: "undrain",
        what: `undrain-site ${h.site}: the rendered policy (frr-reload); wait until advertised on every upstream session`,
        boundS,
      };
    case "none":
      return { phase: "undrain", what: "none", noop: true };
  }
}

/** One host's step, given who is out already. Pure; the run calls it again right before the host. */
export function planStep(
  topo: Topology,
  plans: readonly HostPlan[],
  h: HostFacts,
  opts: MaintenanceOptions = {},
): MaintenanceStep {
  const drained = opts.drained ?? new Set<string>();
  const others = new Set([...drained].filter((n) => n !== h.name));
  const d = decide(topo, h, others);
  const plan = plans.find((p) => p.name === h.name);
  const alreadyDrained = drained.has(h.name) && d.drain !== "none";
  const drainS = opts.drainTimeoutS ?? DEFAULTS.drainTimeoutS;
  const phases: PlannedPhase[] = [];
  // The health gate's pre-change step, as the apply runs it (its `record` phase: after the
  // checkers, before the drain): what the gate compares the host with afterwards. Without it a
  // gateway's gate would go by a record an earlier apply left in /run (maglevs Established
  // then) or, after an FRR restart by `--run`, by counters that restart reset.
  if (plan?.health?.before)
    phases.push({
      phase: "record",
      what: `health gate's record of the host before the change (the apply's \`record\` step): ${plan.health.before}`,
      boundS: RECORD_TIMEOUT_S,
    });
  phases.push(
    alreadyDrained
      ? {
          phase: "drain",
          what: "already drained (kept: it was drained before maintenance)",
          noop: true,
        }
      : drainWhat(topo, h, d.drain, drainS),
  );
  if (opts.run !== undefined)
    phases.push({
      phase: "run",
      what: `sh -c ${shellWord(opts.run, "--run command")} as root`,
      boundS: opts.runTimeoutS ?? DEFAULTS.runTimeoutS,
    });
  if (opts.reboot)
    phases.push(
      opts.rebootKind === "lab"
        ? {
            phase: "reboot",
            what: "lab reboot: reboot.target in the systemd guest (same disk, no apply); wait until its boot has finished",
            boundS: opts.rebootTimeoutS ?? DEFAULTS.rebootTimeoutS,
          }
        : {
            phase: "reboot",
            what: "`systemctl reboot`; wait until the host answers with a new boot id",
            boundS: opts.rebootTimeoutS ?? DEFAULTS.rebootTimeoutS,
          },
    );
  phases.push(
    plan?.health
      ? {
          phase: "health",
          what: `health gate: ${plan.health.description} (3 passes in a row)`,
          boundS: plan.health.timeoutSeconds,
        }
      : { phase: "health", what: "none (the plan has no health gate)", noop: true },
  );
  phases.push({
    phase: "check",
    what: `check --host ${h.name}: every row ✓`,
    boundS: opts.checkTimeoutS ?? DEFAULTS.checkTimeoutS,
  });
  phases.push(
    alreadyDrained
      ? { phase: "undrain", what: "none (left drained, as it was)", noop: true }
      : undrainWhat(topo, h, d.drain, drainS, opts.settleS ?? DEFAULTS.settleS),
  );
  return {
    host: h.name,
    hostname: h.hostname,
    tier: h.tier as Tier,
    ...(h.site !== undefined ? { site: h.site } : {}),
    drain: d.drain,
    alreadyDrained,
    note: d.note,
    ...(d.blocked ? { blocked: d.blocked } : {}),
    ...(d.undrained ? { undrained: d.undrained } : {}),
    phases,
  };
}

/** What would stop a step from running: refused unless forced / allowed. */
export function stepRefusal(
  step: MaintenanceStep,
  opts: Pick<MaintenanceOptions, "force" | "allowUndrained">,
): string | undefined {
  if (step.blocked && !opts.force)
    return `${step.host}: ${step.blocked} (--force to maintain it anyway)`;
  if (step.undrained && !step.alreadyDrained && !opts.allowUndrained)
    return `${step.host}: carries traffic and has no drain (--allow-undrained to maintain it anyway)`;
  return undefined;
}

/**
 * The plan: selected hosts in maintenance order, each step decided against the drain states
 * given (the run decides each step again from live states: one host at a time means the same
 * hosts are out then, unless a failure within the budget left one out).
 */
export function planMaintenance(
  topo: Topology,
  plans: readonly HostPlan[],
  sel: Selection,
  opts: MaintenanceOptions = {},
): MaintenancePlan {
  if (opts.run !== undefined && opts.run.trim() === "") throw new Error("--run needs a command");
  if (opts.run !== undefined) shellWord(opts.run, "--run command"); // refuses what no shell word can carry (NUL, broken UTF-16)
  const hosts = maintenanceOrder(selectHosts(topo, sel));
  const steps = hosts.map((h) => planStep(topo, plans, h, opts));
  const refusals = steps
    .map((s) => stepRefusal(s, opts))
    .filter((x): x is string => x !== undefined);
  return {
    stack: topo.env.name,
    steps,
    refusals,
    assumedDrained: [...(opts.drained ?? [])].sort(),
  };
}

/** The plan for a person: one block per host, deterministic (no times, no host state read). */
export function formatPlan(
  p: MaintenancePlan,
  opts: MaintenanceOptions = {},
  maxFailures = 0,
): string {
  const L: string[] = [];
  const what =
    [
      opts.run !== undefined ? "run a command" : "",
      opts.reboot ? (opts.rebootKind === "lab" ? "reboot (lab)" : "reboot") : "",
    ]
      .filter(Boolean)
      .join(" + ") || "drain, check, undrain";
  L.push(
    `maintain ${p.stack}: ${p.steps.length} host(s), one at a time — ${what}; ${maxFailures ? `stops when more than ${maxFailures} host(s) failed` : "stops at the first failure"}, leaving that host drained`,
  );
  L.push(
    `order: ${TIER_ORDER.filter((t) => p.steps.some((s) => s.tier === t)).join(" → ")} (inside out: smallest blast radius first; each drain is confirmed through the tier outside it)`,
  );
  L.push(
    p.assumedDrained.length
      ? `drained before maintenance: ${p.assumedDrained.join(", ")}`
      : "assumes no host is drained now; a run reads the drain states and decides each host again right before it",
  );
  L.push("");
  const w = Math.max(4, ...p.steps.map((s) => s.host.length));
  p.steps.forEach((s, i) => {
    const flag = s.blocked ? "  [BLOCKED]" : s.undrained && !s.alreadyDrained ? "  [NO DRAIN]" : "";
    L.push(
      `${String(i + 1).padStart(3)}. ${s.host.padEnd(w)}  ${s.tier}${s.site !== undefined ? ` (site ${s.site})` : ""} — drain: ${s.drain}; ${s.note}${flag}`,
    );
    // A phase with nothing to do is already said by the host's line ("drain: none").
    for (const ph of s.phases.filter((x) => x.what !== "none"))
      L.push(
        `       ${ph.phase.padEnd(8)} ${ph.what}${ph.boundS !== undefined ? ` (≤ ${ph.boundS} s)` : ""}`,
      );
    if (s.blocked) L.push(`       blocked  ${s.blocked}`);
    if (s.undrained && !s.alreadyDrained) L.push(`       no drain ${s.undrained}`);
  });
  L.push("");
  if (p.refusals.length) {
    L.push(`a run would refuse to start (${p.refusals.length}):`);
    for (const r of p.refusals) L.push(`  - ${r}`);
  } else L.push("a run would start");
  return L.join("\n") + "\n";
}
