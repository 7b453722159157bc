/**
 * The maintenance planner: which hosts, in which order, drained how. Properties over generated
 * environments (src/testing/generate.ts, with random maglev counts, group counts, sites, a
 * random watchdog threshold and random drained hosts) — invariants, not examples — and the
 * one example a new user checks: the order for all 20 hosts of mgmt02.
 */
import fc from "fast-check";
import { generateEnvironment } from "../../src/testing/generate";
import { deriveTopology, Topology, HostFacts } from "../../src/topology";
import { buildPlans } from "../../src/plan";
import {
  MaintenancePlan,
  planMaintenance,
  Selection,
  TIER_ORDER,
} from "../../src/ops/maintain-plan";
import { mgmt02Raw, mustValidate } from "../helpers";

/** Fisher–Yates with fast-check's random keys, so a failure shrinks to a small permutation. */
function permute<T>(xs: T[], keys: number[]): T[] {
  return xs
    .map((x, i) => ({ x, k: keys[i] ?? 0, i }))
    .sort((a, b) => a.k - b.k || a.i - b.i)
    .map((e) => e.x);
}

interface World {
  hosts: number;
  maglevs: number;
  groups: number;
  /** 0: no sites; 1: both gateways in one site; 2: one site each. */
  sites: 0 | 1 | 2;
  minHealthy: number;
  drainedKeys: number[];
  orderKeys: number[];
  selection: { kind: "all" } | { kind: "tier"; tier: number } | { kind: "hosts"; pick: number[] };
}

const worldArb: fc.Arbitrary<World> = fc.record({
  /** Hosts beyond the fixed ones (gateways, maglevs, DNS) and two per HAProxy group. */
  hosts: fc.integer({ min: 0, max: 20 }),
  maglevs: fc.integer({ min: 1, max: 4 }),
  groups: fc.integer({ min: 1, max: 3 }),
  sites: fc.constantFrom(0 as const, 1 as const, 2 as const),
  minHealthy: fc.integer({ min: 1, max: 3 }),
  drainedKeys: fc.array(fc.integer({ min: 0, max: 99 }), { maxLength: 6 }),
  orderKeys: fc.array(fc.integer(), { minLength: 40, maxLength: 40 }),
  selection: fc.oneof(
    fc.constant({ kind: "all" as const }),
    fc.record({ kind: fc.constant("tier" as const), tier: fc.integer({ min: 0, max: 7 }) }),
    fc.record({
      kind: fc.constant("hosts" as const),
      pick: fc.array(fc.integer({ min: 0, max: 99 }), { minLength: 1, maxLength: 8 }),
    }),
  ),
});

/** The generated environment as written in a stack; `order` shuffles hosts and group members. */
function rawOf(w: World, order: number[] = []): any {
  const raw: any = generateEnvironment({
    hosts: 5 + w.maglevs + 2 * w.groups + w.hosts,
    maglevs: w.maglevs,
    haproxyGroups: w.groups,
  });
  if (w.sites) {
    raw.sites = w.sites === 1 ? { dc1: {} } : { dc1: {}, dc2: {} };
    for (const h of raw.hosts)
      if (h.tier === "gateway") h.site = w.sites === 1 || h.name === "gw01" ? "dc1" : "dc2";
  }
  // A threshold above a group's size is refused by the schema for groups with VIPs: such a
  // group (the DNS group has one dnsdist) then serves no VIP.
  const min = w.minHealthy;
  if (min > 1)
    raw.vips = raw.vips.filter((v: any) => raw.backendGroups[v.group].members.length >= min);
  raw.maglev = { minHealthyRealServers: min };
  if (order.length) {
    raw.hosts = permute(raw.hosts, order);
    for (const g of Object.values(raw.backendGroups as Record<string, { members: string[] }>))
      g.members = permute(g.members, order.slice(3));
  }
  return raw;
}

function selectionOf(w: World, topo: Topology): Selection {
  if (w.selection.kind === "all") return { all: true };
  if (w.selection.kind === "tier") {
    const present = TIER_ORDER.filter((t) => topo.hosts.some((h) => h.tier === t));
    return { tier: present[w.selection.tier % present.length] };
  }
  return { hosts: w.selection.pick.map((i) => topo.hosts[i % topo.hosts.length].name) };
}

function drainedOf(w: World, topo: Topology): Set<string> {
  return new Set(w.drainedKeys.map((i) => topo.hosts[i % topo.hosts.length].name));
}

/**
 * Host plans only feed the health phase's text, and building them renders every file: the
 * properties plan without them (the mgmt02 examples below use the real ones).
 */
function build(w: World, order: number[] = []): { topo: Topology; plan: MaintenancePlan } {
  const topo = deriveTopology(mustValidate(rawOf(w, order)));
  return {
    topo,
    plan: planMaintenance(topo, [], selectionOf(w, topo), {
      reboot: true,
      drained: drainedOf(w, topo),
    }),
  };
}

/** What taking `h` out while `drained` are out breaks, from the stack's facts alone (the test's own reading of the rules). */
function breaks(topo: Topology, h: HostFacts, drained: Set<string>): string[] {
  const out: string[] = [];
  const serving = (xs: HostFacts[]) => xs.filter((x) => x.name !== h.name && !drained.has(x.name));
  for (const g of topo.groups.values()) {
    if (!g.members.some((m) => m.name === h.name) || g.vips.ipv4.length + g.vips.ipv6.length === 0)
      continue;
    if (serving(g.members).length < topo.env.maglev.minHealthyRealServers)
      out.push(`group ${g.name}`);
  }
  if (h.tier === "maglev" && serving(topo.maglevs).length === 0) out.push("last maglev");
  if (h.tier === "gateway" && serving(topo.gateways).length === 0) out.push("last gateway");
  if (
    h.tier === "powerdns" &&
    serving(topo.hosts.filter((x) => x.tier === "powerdns")).length === 0
  )
    out.push("last powerdns");
  return out;
}

// Each run validates and derives a generated environment (~0.1 s alone, more in a full parallel jest).
const RUNS = { numRuns: 30 };

describe("maintenance plan (properties over generated environments)", () => {
  test("GIVEN any environment and selection WHEN planned THEN every selected host appears exactly once, and no other", () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const { topo, plan } = build(w);
        const sel = selectionOf(w, topo);
        const want = sel.all
          ? topo.hosts.map((h) => h.name)
          : sel.tier
            ? topo.hosts.filter((h) => h.tier === sel.tier).map((h) => h.name)
            : [...new Set(sel.hosts)];
        expect(plan.steps.map((s) => s.host).sort()).toEqual([...want].sort());
      }),
      RUNS,
    );
  });

  test("GIVEN the same environment with its hosts and group members in another order WHEN planned THEN the plan is identical", () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const { topo, plan } = build(w);
        expect(build(w, w.orderKeys).plan).toEqual(plan);
        // and planning twice gives the same plan
        expect(
          planMaintenance(topo, [], selectionOf(w, topo), {
            reboot: true,
            drained: drainedOf(w, topo),
          }),
        ).toEqual(plan);
      }),
      RUNS,
    );
  });

  test("GIVEN any plan WHEN its steps are read in order THEN tiers never go backwards, a site's gateways are consecutive, and names ascend within a tier and site", () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const { plan } = build(w);
        const rank = plan.steps.map((s) => TIER_ORDER.indexOf(s.tier));
        expect(rank.every((r) => r >= 0)).toBe(true);
        for (let i = 1; i < rank.length; i++) expect(rank[i]).toBeGreaterThanOrEqual(rank[i - 1]);
        const gwSites = plan.steps
          .filter((s) => s.tier === "gateway")
          .map((s) => s.site ?? "(none)");
        const seen = new Set<string>();
        gwSites.forEach((site, i) => {
          if (i > 0 && gwSites[i - 1] !== site) expect(seen.has(site)).toBe(false); // a site never comes back
          seen.add(site);
        });
        for (let i = 1; i < plan.steps.length; i++) {
          const a = plan.steps[i - 1];
          const b = plan.steps[i];
          if (a.tier === b.tier && (a.site ?? "") === (b.site ?? ""))
            expect(a.host < b.host).toBe(true);
        }
      }),
      RUNS,
    );
  });

  test("GIVEN any drained hosts WHEN planned THEN a step is blocked exactly when taking its host out leaves a group below its minimum, no maglev, no gateway or no PowerDNS", () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const { topo, plan } = build(w);
        const drained = drainedOf(w, topo);
        for (const s of plan.steps) {
          const h = topo.byName.get(s.host)!;
          const others = new Set([...drained].filter((n) => n !== h.name));
          expect({ host: s.host, blocked: s.blocked !== undefined }).toEqual({
            host: s.host,
            blocked: breaks(topo, h, others).length > 0,
          });
        }
      }),
      RUNS,
    );
  });

  test("GIVEN any plan WHEN a step drains THEN the drain is its tier's: maglev, HAProxy node, or a site that leaves another site routing", () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const { topo, plan } = build(w);
        const drained = drainedOf(w, topo);
        for (const s of plan.steps) {
          const h = topo.byName.get(s.host)!;
          if (s.drain === "maglev") expect(h.tier).toBe("maglev");
          if (s.drain === "haproxy") expect(h.tier).toBe("haproxy");
          if (s.drain === "site") {
            expect(h.tier).toBe("gateway");
            expect(h.site).toBeDefined();
            expect(
              topo.gateways.some(
                (g) => g.site !== undefined && g.site !== h.site && !drained.has(g.name),
              ),
            ).toBe(true);
          }
          if (h.tier === "maglev" || h.tier === "haproxy") expect(s.drain).toBe(h.tier);
          // a host that carries traffic without a drain is marked so, and only such a host
          if (s.drain !== "none") expect(s.undrained).toBeUndefined();
          // the drain is confirmed (a bound) and undone, unless the operator had drained it
          const ph = s.phases.map((p) => p.phase);
          expect(ph[0]).toBe("drain");
          expect(ph[ph.length - 1]).toBe("undrain");
          expect(ph).toContain("health");
          expect(ph).toContain("check");
          expect(ph).toContain("reboot");
        }
      }),
      RUNS,
    );
  });

  test("GIVEN any plan WHEN nothing is forced or allowed THEN a run would refuse exactly when a step is blocked or carries traffic without a drain", () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const { plan } = build(w);
        const bad = plan.steps
          .filter((s) => s.blocked || (s.undrained && !s.alreadyDrained))
          .map((s) => s.host);
        expect(plan.refusals.map((r) => r.split(":")[0])).toEqual(bad);
      }),
      RUNS,
    );
  });
});

describe("maintenance plan of mgmt02", () => {
  const topo = deriveTopology(mustValidate(mgmt02Raw()));
  const plans = buildPlans(topo);

  test("GIVEN mgmt02 WHEN all hosts are planned THEN all 20 come in tier order, inside out, by name within a tier", () => {
    const plan = planMaintenance(topo, plans, { all: true }, { reboot: true });
    expect(plan.steps.map((s) => s.host)).toEqual([
      "dns00",
      "dns01",
      "dns02",
      "dns03",
      "k0s00",
      "k0s01",
      "k0s02",
      "k0s03",
      "k0s04",
      "k0s05",
      "k0s06",
      "dnsdist01",
      "dnsdist02",
      "mlb01",
      "mlb02",
      "mlb03",
      "maglev01",
      "maglev02",
      "mgw01",
      "mgw02",
    ]);
  });

  test("GIVEN mgmt02 WHEN the maglev tier is planned THEN each maglev is drained, rebooted, gated, checked and undrained, and a run would start", () => {
    const plan = planMaintenance(topo, plans, { tier: "maglev" }, { reboot: true });
    expect(plan.refusals).toEqual([]);
    expect(
      plan.steps.map((s) => [s.host, s.drain, s.phases.map((p) => p.phase).join(",")]),
    ).toEqual([
      ["maglev01", "maglev", "drain,reboot,health,check,undrain"],
      ["maglev02", "maglev", "drain,reboot,health,check,undrain"],
    ]);
  });

  test("GIVEN maglev02 drained by an operator WHEN the maglev tier is planned THEN maglev01 is blocked (the last announcing one) and maglev02 is kept drained", () => {
    const plan = planMaintenance(
      topo,
      plans,
      { tier: "maglev" },
      { reboot: true, drained: new Set(["maglev02"]) },
    );
    expect(plan.steps[0].blocked).toMatch(/last announcing maglev/);
    expect(plan.steps[1].alreadyDrained).toBe(true);
    expect(plan.steps[1].phases.find((p) => p.phase === "undrain")!.what).toMatch(/left drained/);
  });

  test("GIVEN a --run command with quotes, $ and ; WHEN planned THEN it is shown as one single-quoted shell word", () => {
    const plan = planMaintenance(
      topo,
      plans,
      { hosts: ["mlb01"] },
      { run: `echo 'a' "$HOME"; touch /tmp/x` },
    );
    expect(plan.steps[0].phases.find((p) => p.phase === "run")!.what).toBe(
      `sh -c 'echo '\\''a'\\'' "$HOME"; touch /tmp/x' as root`,
    );
  });

  test("GIVEN a host name the stack does not have, or no selection WHEN planned THEN the error names the problem", () => {
    expect(() => planMaintenance(topo, plans, { hosts: ["mlb09\u001b[2J"] })).toThrow(
      /no host "mlb09\\u001b\[2J" in stack mgmt02/,
    );
    expect(() => planMaintenance(topo, plans, {})).toThrow(/exactly one/);
    expect(() => planMaintenance(topo, plans, { tier: "router" })).toThrow(/no tier "router"/);
  });
});
