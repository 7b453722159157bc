/**
 * Scenario `s`: sites as the upstream routers see them. A copy of the stack adds `transit` (eBGP,
 * AS 64500) and gives the second site a prepend and a LOCAL_PREF; the routers' BGP tables and
 * FIBs must show that policy after the rollout, `drain-site` of the first site moves every
 * VIP's best path to the other gateway, an apply while drained keeps it drained, and
 * `undrain-site` puts it back. The routers' view (routerView …) is read here only.
 */
import * as fs from "fs";
import { Lab } from "../guest";
import { applyHost, rollout, setupRouter, sleep } from "../cluster";
import { buildLabModel, LabModel, LabRouter, TRANSIT } from "../topology";
import {
  drainSite,
  undrainSite,
  DRAIN_SITE_EXTRA_PREPEND,
  DRAIN_SITE_LOCAL_PREF,
} from "../../src/ops/drain";
import { parseVipRoutes, vipRoutesScript } from "../../src/daemons/frr/probes";
import { Scenario, stackEnv, StackEnvDoc, writeStackVariant } from "./runner";

/** One path of a VIP in a lab router's BGP table. */
interface RouterPath {
  gateway: string;
  asPath: string;
  localPref?: number;
  best: boolean;
}

/** Every VIP's paths in a lab router's BGP table, and the gateways its kernel forwards to. */
interface RouterView {
  paths: Record<string, RouterPath[]>;
  fib: Record<string, string[]>;
}

async function routerView(lab: Lab, m: LabModel, router: LabRouter): Promise<RouterView> {
  const vips = [...m.topo.vips.ipv4, ...m.topo.vips.ipv6];
  const out = await lab.run(
    router.name,
    `vtysh -c 'show bgp ipv4 unicast json' | tr -d '\\n'; echo; vtysh -c 'show bgp ipv6 unicast json' | tr -d '\\n'; echo; ` +
      vipRoutesScript(vips),
    { timeoutMs: 15_000 },
  );
  const lines = out.split("\n");
  const gwOf = (peer: string) =>
    m.topo.gateways.find((g) => g.mgmt.ipv4 === peer || g.mgmt.ipv6 === peer)?.name ?? peer;
  const gwByIngress = (ip: string) =>
    m.topo.gateways.find((g) => g.ingress?.ipv4 === ip || g.ingress?.ipv6 === ip)?.name ?? ip;
  const paths: Record<string, RouterPath[]> = {};
  for (const doc of lines.slice(0, 2)) {
    let routes: Record<
      string,
      { peerId: string; path: string; locPrf?: number; bestpath?: boolean }[]
    > = {};
    try {
      routes = JSON.parse(doc).routes ?? {};
    } catch {
      /* empty table or not up: no paths */
    }
    for (const [prefix, ps] of Object.entries(routes))
      paths[prefix.replace(/\/(32|128)$/, "")] = ps.map((p) => ({
        gateway: gwOf(p.peerId),
        asPath: p.path,
        localPref: p.locPrf,
        best: !!p.bestpath,
      }));
  }
  const fib: Record<string, string[]> = {};
  for (const [vip, hops] of parseVipRoutes(out)) fib[vip] = hops.map(gwByIngress).sort();
  return { paths, fib };
}

/**
 * What both routers must show when `preferred` is the preferred site's gateway: both gateways'
 * paths present, the preferred one best; on the eBGP router the other's AS path `otherAsPath`
 * long, on the iBGP router its LOCAL_PREF `otherLocalPref`; the data-path router forwards to
 * the preferred gateway only. Returns the differences (none = as expected).
 */
function viewProblems(
  m: LabModel,
  views: Map<string, RouterView>,
  preferred: string,
  otherAsPathLen: number,
  otherLocalPref: number,
): string[] {
  const vips = [...m.topo.vips.ipv4, ...m.topo.vips.ipv6];
  const other = m.topo.gateways.find((g) => g.name !== preferred)!.name;
  const bad: string[] = [];
  for (const r of m.routers) {
    const v = views.get(r.name)!;
    for (const vip of vips) {
      const ps = v.paths[vip] ?? [];
      const best = ps.filter((p) => p.best).map((p) => p.gateway);
      const o = ps.find((p) => p.gateway === other);
      const want = r.ebgp
        ? o && o.asPath.split(" ").length === otherAsPathLen
        : o && (o.localPref ?? 100) === otherLocalPref;
      if (ps.length !== 2 || best.join() !== preferred || !want)
        bad.push(`${r.name} ${vip}: ${pathsText(v, vip, r.ebgp) || "no path"}`);
    }
    if (r.name === m.router.name)
      for (const vip of vips)
        if ((v.fib[vip] ?? []).join() !== preferred)
          bad.push(`${r.name} forwards ${vip} to ${(v.fib[vip] ?? []).join("+") || "nothing"}`);
  }
  return bad;
}

/** Poll both routers until `problems` is empty or the timeout; the time it took, host clock. */
async function routerViews(lab: Lab, m: LabModel): Promise<Map<string, RouterView>> {
  return new Map(
    await Promise.all(m.routers.map(async (r) => [r.name, await routerView(lab, m, r)] as const)),
  );
}

/** Poll both routers until `problems` is empty or the timeout; the time it took, host clock. */
async function waitRouterView(
  lab: Lab,
  m: LabModel,
  problems: (views: Map<string, RouterView>) => string[],
  timeoutMs: number,
) {
  const t0 = Date.now();
  for (;;) {
    const views = await routerViews(lab, m);
    const bad = problems(views);
    if (bad.length === 0 || Date.now() - t0 > timeoutMs) return { ms: Date.now() - t0, bad, views };
    // Every 500 ms, not faster: the router forwards the load, and its BFD with the gateways
    // (100 ms × 3) must not wait behind our vtysh dumps.
    await sleep(500);
  }
}

/** One VIP's paths on a router, as `show bgp` would summarise them. */
function pathsText(v: RouterView, vip: string, ebgp: boolean): string {
  return (v.paths[vip] ?? [])
    .map(
      (p) =>
        `${p.gateway}${p.best ? "*" : ""} ${ebgp ? `AS path "${p.asPath}"` : `LP ${p.localPref ?? 100}`}`,
    )
    .join(", ");
}

export const sites: Scenario = {
  id: "s",
  title:
    "Sites: dc2's prepend (transit, eBGP) and LOCAL_PREF (router, iBGP) in the routers' view; drain-site dc1, kept through an apply; undrain-site",
  async run(c) {
    const { lab, m, log, runner } = c;
    const [gw1, gw2] = m.topo.gateways;
    const [site1, site2] = [gw1.site!, gw2.site!];
    const asn = m.topo.env.bgp.asn;
    const prepend = 2;
    const localPref = 50;
    // A copy of the stack with an eBGP upstream (transit, AS 64500) and dc2's policy: prepend
    // towards transit, LOCAL_PREF towards router.
    const env = stackEnv(m);
    env.bgp.upstream.push({
      name: TRANSIT.name,
      ipv4: TRANSIT.ipv4,
      ipv6: TRANSIT.ipv6,
      asn: TRANSIT.asn,
    });
    (env.sites ??= {})[site2] = { prepend, localPreference: localPref };
    const root = writeStackVariant(m, env);
    const changed = buildLabModel(m.stack, root);
    const transit = changed.routers.find((r) => r.name === TRANSIT.name)!;
    const problems: string[] = [];
    const figures: Record<string, number | string> = {};
    const rendered = changed.planOf
      .get(gw2.hostname)!
      .files.find((f) => f.path === "/etc/frr/frr.conf")!.content;
    const wantLine = ` set as-path prepend ${Array(prepend).fill(asn).join(" ")}`;
    if (
      !rendered.includes(`\n${wantLine}\n`) ||
      !rendered.includes(`\n set local-preference ${localPref}\n`)
    )
      problems.push(
        `rendered ${gw2.hostname} frr.conf lacks "${wantLine.trim()}" or "set local-preference ${localPref}"`,
      );
    const vip4 = changed.topo.vips.ipv4[0];
    const vip6 = changed.topo.vips.ipv6[0] ?? vip4;
    const shown: string[] = [];
    const show = (label: string, views: Map<string, RouterView>) => {
      for (const r of changed.routers)
        shown.push(`${label} ${r.name} ${vip4}: ${pathsText(views.get(r.name)!, vip4, r.ebgp)}`);
      log(`    ${shown.slice(-changed.routers.length).join("\n    ")}`);
    };
    try {
      lab.define(changed.specs.find((x) => x.name === TRANSIT.name)!);
      await lab.start(TRANSIT.name);
      await setupRouter(lab, changed, transit);
      // 1. Rollout: both gateways get the transit sessions, mgw02 its site's policy.
      const ro = await rollout(lab, changed, (x) => log(`    ${x.trim()}`));
      figures.rolledOut = ro.applied.join(" ");
      const a = await waitRouterView(
        lab,
        changed,
        (v) => viewProblems(changed, v, gw1.name, prepend + 1, localPref),
        60_000,
      );
      show("rollout:", a.views);
      figures.policyMs = a.ms;
      if (a.bad.length) problems.push(`after the rollout (${a.ms} ms): ${a.bad.join("; ")}`);
      // 2. drain-site dc1 (against the stack as now deployed: its prepend must beat dc2's): dc1
      //    longer than dc2 at transit, LOCAL_PREF 10 < 50 at router.
      const t1 = Date.now();
      const d = await drainSite(changed.topo, runner, site1);
      figures.drainSiteCommandMs = Date.now() - t1;
      if (d.some((x) => !x.complete))
        problems.push(`drain-site ${site1}: ${d.map((x) => x.detail).join("; ")}`);
      const drainedLen = Math.min(10, prepend + DRAIN_SITE_EXTRA_PREPEND) + 1;
      const b = await waitRouterView(
        lab,
        changed,
        (v) => viewProblems(changed, v, gw2.name, drainedLen, DRAIN_SITE_LOCAL_PREF),
        30_000,
      );
      show(`drain-site ${site1}:`, b.views);
      figures.drainSiteMs = Date.now() - t1;
      if (b.bad.length)
        problems.push(`after drain-site ${site1} (${b.ms} ms): ${b.bad.join("; ")}`);
      // 3. An apply while dc1 is drained: mgw01 gets a changed frr.conf (dc1 MED 10), so the
      //    apply reloads its FRR to the rendered policy — which is not drained. The gateway
      //    re-applies the drain file right after; once the apply is done dc1 must be drained on
      //    both routers. Watched every 500 ms through the apply and 7 s after it: a view where
      //    mgw01's path carries the undrained policy (LOCAL_PREF / AS path) is counted and shown
      //    — a session that re-establishes (a BFD drop) in the second between FRR's reload and
      //    the re-apply gets the rendered policy until the re-apply's soft clear.
      const env2 = JSON.parse(JSON.stringify(env)) as StackEnvDoc;
      (env2.sites ??= {})[site1] = { med: 10 };
      const root2 = writeStackVariant(m, env2);
      try {
        const changed2 = buildLabModel(m.stack, root2);
        const undrained: string[] = [];
        let undrainedViews = 0;
        let watching = true;
        let polls = 0;
        const watch = (async () => {
          while (watching) {
            const views = await routerViews(lab, changed);
            polls++;
            let seen = false;
            for (const r of changed.routers)
              for (const vip of [...changed.topo.vips.ipv4, ...changed.topo.vips.ipv6]) {
                const p1 = (views.get(r.name)!.paths[vip] ?? []).find(
                  (p) => p.gateway === gw1.name,
                );
                const drainedPath =
                  !p1 ||
                  (r.ebgp
                    ? p1.asPath.split(" ").length === drainedLen
                    : (p1.localPref ?? 100) === DRAIN_SITE_LOCAL_PREF);
                if (!drainedPath && !seen) {
                  seen = true;
                  if (undrained.length < 2)
                    undrained.push(
                      `${r.name} ${vip}: ${pathsText(views.get(r.name)!, vip, r.ebgp)}`,
                    );
                }
              }
            if (seen) undrainedViews++;
            await sleep(500);
          }
        })();
        const t3 = Date.now();
        try {
          const res = await applyHost(lab, changed2, gw1.hostname, c.secrets, (x) =>
            log(`    ${x.trim()}`),
          );
          if (!res.phases.some((x) => /^maglev-apply: applied/.test(x)))
            problems.push(
              `apply of ${gw1.hostname} while drained: frr.conf not applied: ${res.phases.slice(-2).join(" / ")}`,
            );
          figures.applyWhileDrainedMs = Date.now() - t3;
          await sleep(7000);
        } finally {
          watching = false;
          await watch;
        }
        const still = await waitRouterView(
          lab,
          changed,
          (v) => viewProblems(changed, v, gw2.name, drainedLen, DRAIN_SITE_LOCAL_PREF),
          30_000,
        );
        show(`apply ${gw1.name} (MED 10) while ${site1} drained:`, still.views);
        if (still.bad.length)
          problems.push(
            `after the apply of ${gw1.hostname} while ${site1} was drained: ${still.bad.join("; ")}`,
          );
        figures.applyWhileDrainedPolls = polls;
        figures.applyWhileDrainedUndrainedViews = undrainedViews;
        if (undrained.length) figures.applyWhileDrainedUndrainedSeen = undrained.join("; ");
      } finally {
        fs.rmSync(root2, { recursive: true, force: true });
      }
      // 4. undrain-site dc1: back to the rendered policy (frr-reload).
      const t2 = Date.now();
      const u = await undrainSite(changed.topo, runner, site1);
      figures.undrainSiteCommandMs = Date.now() - t2;
      if (u.some((x) => !x.complete))
        problems.push(`undrain-site ${site1}: ${u.map((x) => x.detail).join("; ")}`);
      const e = await waitRouterView(
        lab,
        changed,
        (v) => viewProblems(changed, v, gw1.name, prepend + 1, localPref),
        30_000,
      );
      show(`undrain-site ${site1}:`, e.views);
      figures.undrainSiteMs = Date.now() - t2;
      if (e.bad.length)
        problems.push(`after undrain-site ${site1} (${e.ms} ms): ${e.bad.join("; ")}`);
      shown.push(`${transit.name} ${vip6}: ${pathsText(e.views.get(transit.name)!, vip6, true)}`);
    } catch (err) {
      problems.push(String((err as Error).message ?? err));
    } finally {
      c.restoreLater(
        `roll the stack back to ${m.stack} as written (no transit, both sites equal), stop transit`,
        async () => {
          try {
            await rollout(lab, m, (x) => log(`    ${x.trim()}`));
            await lab.stop(TRANSIT.name);
          } finally {
            fs.rmSync(root, { recursive: true, force: true });
          }
        },
      );
    }
    figures.routerView = shown.join(" | ");
    return {
      ok: problems.length === 0,
      detail: problems.length
        ? problems.join("; ")
        : `${site2} prepend ${prepend} + LOCAL_PREF ${localPref} seen by both routers ${figures.policyMs} ms after the rollout of ${figures.rolledOut}; drain-site ${site1} moved every VIP's best path to ${gw2.name} on both routers in ${figures.drainSiteMs} ms (the command confirmed the advertisements after ${figures.drainSiteCommandMs} ms); an apply of ${gw1.hostname} with a changed frr.conf (${figures.applyWhileDrainedMs} ms) left ${site1} drained (${figures.applyWhileDrainedUndrainedViews} of ${figures.applyWhileDrainedPolls} router views meanwhile showed it undrained${figures.applyWhileDrainedUndrainedSeen ? `: ${figures.applyWhileDrainedUndrainedSeen}` : ""}); undrain-site back in ${figures.undrainSiteMs} ms (${figures.undrainSiteCommandMs} ms); ${shown[0]}; ${shown[1]}`,
      figures,
    };
  },
};
