/**
 * Scenario `h2`: an HAProxy node drained under load (health API 503 → weight 0 on every
 * maglev), 0 failed requests; undrain restores the weight.
 */
import { sleep } from "../cluster";
import { startLoad } from "../load";
import { drainHost, undrainHost } from "../../src/ops/drain";
import { drainStates } from "../../src/ops/check";
import type { Scenario } from "./runner";
import { gatewayTimeline, haproxyMembers } from "./probes";
import { loadMix, loadSummary } from "./load-mix";

export const drainHaproxy: Scenario = {
  id: "h2",
  title: "Drain an HAProxy node under load (health API 503 → weight 0), undrain restores",
  async run(c) {
    const { lab, m, runner } = c;
    const h = haproxyMembers(m)[0];
    const rec = await gatewayTimeline(lab, m, "h2", drainHaproxy.title, 60);
    const load = startLoad(lab, loadMix(m), 14, { perSecond: true });
    await sleep(2000);
    // Keep-alive clients (wrk) never close: the drain's second phase (connections finish)
    // times out by design here; what must hold is weight 0 everywhere and no failed request.
    const tDrain = Date.now();
    const d = await drainHost(m.topo, m.plans, runner, h.name, { timeoutMs: 6_000 });
    rec.mark(`drain ${h.hostname}`, "halt", tDrain);
    rec.mark(
      "weight 0 on every maglev",
      "removal",
      d.weightZeroMs === undefined ? undefined : tDrain + d.weightZeroMs,
    );
    const states = await drainStates(m.topo, runner);
    await sleep(2000);
    const tUndrain = Date.now();
    const u = await undrainHost(m.topo, m.plans, runner, h.name, { timeoutMs: 20_000 });
    rec.mark(`undrain ${h.hostname}`, "other", tUndrain);
    rec.mark("weight back", "other", tUndrain + u.ms);
    const figs = await load;
    rec.addLoad(figs);
    const l = loadSummary(figs);
    const bad: string[] = [];
    if (d.weightZeroMs === undefined) bad.push(`drain: ${d.detail}`);
    if (!states.get(h.name)) bad.push("check did not show the node drained");
    if (!u.complete) bad.push(`undrain: ${u.detail}`);
    if (l.failed > 0) bad.push(l.text);
    const detail = bad.length
      ? bad.join("; ")
      : `${h.name}: ${d.detail}; weight back after ${u.ms} ms; ${l.text}`;
    return {
      ok: bad.length === 0,
      detail,
      figures: {
        weightZeroMs: d.weightZeroMs ?? Number.NaN,
        undrainMs: u.ms,
        failed: l.failed,
        requests: l.requests,
        timeline: await rec.write(detail),
      },
    };
  },
};
