/**
 * Scenario `h`: a maglev drained under load (its drain file). Its routes leave every gateway,
 * 0 failed requests; undrain restores ECMP.
 */
import { sleep, waitReady } from "../cluster";
import { startLoad } from "../load";
import { drainHost, undrainHost } from "../../src/ops/drain";
import { drainStates } from "../../src/ops/check";
import type { Scenario } from "./runner";
import { gatewayTimeline, nextHopCount } from "./probes";
import { loadMix, loadSummary } from "./load-mix";

export const drainMaglev: Scenario = {
  id: "h",
  title: "Drain a maglev under load (drain file), undrain restores ECMP",
  async run(c) {
    const { lab, m, runner } = c;
    const mg = m.topo.maglevs[0];
    const rec = await gatewayTimeline(lab, m, "h", drainMaglev.title, 60);
    const load = startLoad(lab, loadMix(m), 12, { perSecond: true });
    await sleep(2000);
    const tDrain = Date.now();
    const d = await drainHost(m.topo, m.plans, runner, mg.name, { timeoutMs: 15_000 });
    rec.mark(`drain ${mg.hostname}`, "halt", tDrain);
    rec.mark("routes gone from every gateway", "removal", tDrain + d.ms);
    const states = await drainStates(m.topo, runner);
    const hops = await Promise.all(
      m.topo.gateways.map((g) => nextHopCount(lab, g.hostname, m.topo.vips.ipv4[0])),
    );
    await sleep(2000);
    const tUndrain = Date.now();
    const u = await undrainHost(m.topo, m.plans, runner, mg.name, { timeoutMs: 15_000 });
    rec.mark(`undrain ${mg.hostname}`, "other", tUndrain);
    rec.mark("undrained: routes back", "other", tUndrain + u.ms);
    const figs = await load;
    rec.addLoad(figs);
    const l = loadSummary(figs);
    const end = await waitReady(lab, m, 15_000);
    const bad: string[] = [];
    if (!d.complete) bad.push(`drain: ${d.detail}`);
    if (!states.get(mg.name)) bad.push("check did not show the maglev drained");
    if (hops.some((n) => n !== m.topo.maglevs.length - 1))
      bad.push(`next hops while drained ${hops.join("/")}`);
    if (!u.complete || !end.ok) bad.push(`undrain: ${u.detail}; ${end.detail}`);
    if (l.failed > 0) bad.push(l.text);
    const detail = bad.length
      ? bad.join("; ")
      : `${mg.name}: routes gone from every gateway in ${d.ms} ms, back in ${u.ms} ms; ${l.text}`;
    return {
      ok: bad.length === 0,
      detail,
      figures: {
        drainMs: d.ms,
        undrainMs: u.ms,
        failed: l.failed,
        requests: l.requests,
        timeline: await rec.write(detail),
      },
    };
  },
};
