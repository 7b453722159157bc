/**
 * Scenario `maintain-all`: planned maintenance as one command, under load.
 *
 *   1. `ops maintain lab --tier maglev --reboot --lab` — the acceptance: both maglevs, one after
 *      the other, with 0 failed requests, and ECMP back to 2 next hops on every gateway.
 *   2. `ops maintain lab --all --reboot --allow-undrained --force --lab` — every managed guest
 *      in turn: failed requests in total and per host (goal 0), time per host, whole time.
 *      `--force` because the lab has one dnsdist and one PowerDNS server: while either is out
 *      the lab has no DNS (the HTTP load does not use it); `--allow-undrained` for them and the
 *      hidden primary, which have no drain.
 *
 * Both run the code the CLI runs (planMaintenance → runMaintenance with runnerActions over the
 * lab runner and the lab's reboot), with hooks the CLI does not have: a load window chain
 * per host, so a failed request is counted against the host that was in maintenance.
 *
 * The reboot is lab/rebooter.ts: a real reboot of the systemd guest (same disk, no apply).
 *
 * Load: loadMix (keep-alive and new connections, v4 and v6, 20 ms pause per connection, about
 * 400 requests/s, as the other scenarios) in loadChain's bounded windows of 8 s back to back
 * while a host is maintained (at most 75 per host: 10 minutes). Between two windows wrk
 * restarts (well under a second uncovered).
 */
import { LoadFigures, sumFailed } from "../load";
import { labRebooterFor } from "../rebooter";
import { planMaintenance, Selection, MaintenanceOptions } from "../../src/ops/maintain-plan";
import {
  HostResult,
  MaintenanceReport,
  runMaintenance,
  runnerActions,
} from "../../src/ops/maintain";
import { drainStates } from "../../src/ops/check";
import { nextHops, vipRouteCommand } from "../../src/daemons/frr/probes";
import { undrainHost, undrainSite } from "../../src/ops/drain";
import { Ctx, Outcome, reviveNode, Scenario } from "./runner";
import { loadChain, loadFailures } from "./load-mix";

interface PerHost {
  host: string;
  status: string;
  ms: number;
  failed: number;
  requests: number;
  detail: string;
}

/** One maintain run under load, a load chain per host. */
async function maintainUnderLoad(
  c: Ctx,
  sel: Selection,
  opts: MaintenanceOptions,
): Promise<{ report: MaintenanceReport; per: PerHost[]; refusals: string[] }> {
  const { topo, plans } = c.m;
  const plan = planMaintenance(topo, plans, sel, opts);
  if (plan.refusals.length)
    return {
      report: {
        stack: plan.stack,
        ok: false,
        failures: 0,
        maxFailures: 0,
        refused: plan.refusals,
        ms: 0,
        hosts: [],
      },
      per: [],
      refusals: plan.refusals,
    };
  const per: PerHost[] = [];
  let chain: { stop(): Promise<LoadFigures[]> } | undefined;
  try {
    const report = await runMaintenance(
      topo,
      plans,
      plan,
      runnerActions(topo, plans, c.runner, labRebooterFor(c.lab), opts),
      {
        ...opts,
        maxFailures: 0,
        log: (l) => c.log(`     ${l}`),
        hooks: {
          async beforeHost() {
            chain = loadChain(c.lab, c.m);
          },
          async afterHost(step, r: HostResult) {
            const figs = await chain!.stop();
            chain = undefined;
            const s = sumFailed(figs);
            const why = loadFailures(figs);
            per.push({
              host: step.host,
              status: r.status,
              ms: r.ms,
              failed: s.failed,
              requests: s.requests,
              detail: why.join("; "),
            });
          },
        },
      },
    );
    return { report, per, refusals: [] };
  } finally {
    if (chain) await chain.stop();
  }
}

/** Every gateway's next hops per VIP: want = number of maglevs. */
async function ecmpWidths(c: Ctx): Promise<{ ok: boolean; detail: string }> {
  const want = c.m.topo.maglevs.length;
  const bad: string[] = [];
  const widths: number[] = [];
  for (const gw of c.m.topo.gateways)
    for (const vip of [...c.m.topo.vips.ipv4, ...c.m.topo.vips.ipv6]) {
      const r = await c.runner.run(gw.hostname, vipRouteCommand(vip));
      const n = nextHops(r.stdout).length;
      widths.push(n);
      if (n !== want) bad.push(`${gw.name} ${vip}: ${n}`);
    }
  return {
    ok: bad.length === 0,
    detail: bad.length
      ? `ECMP not back to ${want}: ${bad.join(", ")}`
      : `ECMP ${want} next hops for every VIP on every gateway`,
  };
}

/** Put back what a failed run left: boot halted guests (and re-apply), undrain what is drained. */
function restoreLater(c: Ctx): void {
  c.restoreLater(
    "boot any halted guest, re-apply it, undrain what maintain left drained",
    async () => {
      for (const h of c.m.topo.hosts) await reviveNode(c, h.hostname);
      const st = await drainStates(c.m.topo, c.runner);
      const sites = new Set<string>();
      for (const [name, drained] of st) {
        if (!drained) continue;
        const h = c.m.topo.byName.get(name)!;
        if (h.tier === "gateway" && h.site) sites.add(h.site);
        else if (h.tier === "maglev" || h.tier === "haproxy")
          await undrainHost(c.m.topo, c.m.plans, c.runner, name);
      }
      for (const s of sites) await undrainSite(c.m.topo, c.runner, s);
    },
  );
}

const table = (per: PerHost[]) =>
  per
    .map(
      (p) =>
        `${p.host} ${p.status} ${(p.ms / 1000).toFixed(0)} s ${p.failed}/${p.requests}${p.detail ? ` [${p.detail}]` : ""}`,
    )
    .join(", ");

export const maintainAll: Scenario = {
  id: "maintain-all",
  title:
    "Planned maintenance as one command under load: the maglev tier, then every guest, rebooted in turn",
  async run(c): Promise<Outcome> {
    restoreLater(c);
    const problems: string[] = [];
    const figures: Record<string, number | string | boolean> = {};
    const base: MaintenanceOptions = { reboot: true, rebootKind: "lab" };

    // 1. The acceptance: the maglev tier.
    const t1 = Date.now();
    const a = await maintainUnderLoad(c, { tier: "maglev" }, base);
    const aMs = Date.now() - t1;
    const aFailed = a.per.reduce((x, p) => x + p.failed, 0);
    const ecmp = await ecmpWidths(c);
    if (a.refusals.length) problems.push(`maglev tier refused: ${a.refusals.join("; ")}`);
    if (!a.report.ok) problems.push(`maglev tier: ${a.report.stopped ?? "failed"}`);
    if (aFailed > 0) problems.push(`maglev tier: ${aFailed} requests failed`);
    if (!ecmp.ok) problems.push(ecmp.detail);
    figures.maglevTierMs = aMs;
    figures.maglevTierFailed = aFailed;
    figures.maglevTierRequests = a.per.reduce((x, p) => x + p.requests, 0);
    figures.ecmpBack = ecmp.ok;
    for (const p of a.per) figures[`maglevTier.${p.host}.ms`] = p.ms;

    // 2. Every managed guest (only if the first part left the lab whole).
    let bText = "not run (the maglev tier failed)";
    if (a.report.ok) {
      const t2 = Date.now();
      const b = await maintainUnderLoad(
        c,
        { all: true },
        { ...base, allowUndrained: true, force: true },
      );
      const bMs = Date.now() - t2;
      const bFailed = b.per.reduce((x, p) => x + p.failed, 0);
      if (b.refusals.length) problems.push(`--all refused: ${b.refusals.join("; ")}`);
      if (!b.report.ok) problems.push(`--all: ${b.report.stopped ?? "failed"}`);
      if (bFailed > 0)
        problems.push(
          `--all: ${bFailed} requests failed (${b.per
            .filter((p) => p.failed > 0)
            .map((p) => `${p.host} ${p.failed}`)
            .join(", ")})`,
        );
      const ecmp2 = await ecmpWidths(c);
      if (!ecmp2.ok) problems.push(`after --all: ${ecmp2.detail}`);
      figures.allMs = bMs;
      figures.allFailed = bFailed;
      figures.allRequests = b.per.reduce((x, p) => x + p.requests, 0);
      figures.allHosts = b.per.length;
      for (const p of b.per) {
        figures[`all.${p.host}.failed`] = p.failed;
        figures[`all.${p.host}.ms`] = p.ms;
      }
      bText = `--all: ${b.per.length} guests in ${(bMs / 1000).toFixed(0)} s, ${bFailed} failed of ${figures.allRequests} (${table(b.per)})`;
    }
    return {
      ok: problems.length === 0,
      detail: `--tier maglev: ${a.per.length} maglevs in ${(aMs / 1000).toFixed(0)} s, ${aFailed} failed of ${figures.maglevTierRequests} (${table(a.per)}); ${ecmp.detail}; ${bText}${problems.length ? "; " + problems.join("; ") : ""}`,
      figures,
    };
  },
};
