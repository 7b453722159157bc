/**
 * Scenario `marks`: the mark table flushed on a maglev under load (`nft flush ruleset`: marks
 * and firewall gone; IPVS, BGP and BFD up). The watchdog sees it and the maglev's routes leave
 * both gateways.
 */
import { sleep } from "../cluster";
import { startLoad } from "../load";
import type { Scenario } from "./runner";
import { armWatches, firstVips, watchRaw } from "./probes";
import { loadMix, loadSummary } from "./load-mix";

export const markFlush: Scenario = {
  id: "marks",
  retryOnce: true,
  title:
    "Mark table flushed on a maglev under load (`nft flush ruleset`): its routes leave both gateways within seconds",
  async run(c) {
    const { lab, m } = c;
    const mg = m.topo.maglevs[0];
    const vips = firstVips(m);
    const bound = 15;
    const load = startLoad(lab, loadMix(m, 8), 14);
    await sleep(3000);
    const want = m.topo.maglevs.length;
    const watches = await armWatches(
      lab,
      m.topo.gateways.map((g) => g.hostname),
      (gw) => vips.map((v) => watchRaw(lab, gw, v, want, bound)),
    );
    const t0 = Date.now();
    // What an operator's `nft flush ruleset` or a stopped nftables.service does: the marks and
    // the host firewall are gone, IPVS and BGP/BFD are not.
    await lab.run(mg.hostname, "nft flush ruleset", { timeoutMs: 15_000 });
    c.restoreLater(`reload ${mg.hostname}'s nftables units`, async () => {
      await lab.run(mg.hostname, "systemctl restart maglev-infra-fwmarks maglev-firewall", {
        timeoutMs: 60_000,
      });
    });
    const ms = await watches.msAfter(t0);
    const l = loadSummary(await load);
    const clockErr = watches.clockErrMs;
    const worst = Math.max(...ms);
    const problems: string[] = [];
    if (ms.some((x) => Number.isNaN(x)))
      problems.push(
        `a route to ${mg.hostname} was still on a gateway ${bound} s after the flush: the watchdog did not see the marks go`,
      );
    return {
      ok: problems.length === 0,
      detail: `${mg.hostname} mark table flushed: routes removed on the gateways after ${ms.map((x) => (Number.isNaN(x) ? "never" : x.toFixed(0))).join("/")} ms (v4/v6 per gateway, ±${clockErr.toFixed(0)} ms); ${l.text}${problems.length ? "; " + problems.join("; ") : ""}`,
      figures: {
        removalMsWorst: worst,
        removalMs: ms.join("/"),
        clockErrorMs: Math.round(clockErr),
        failed: l.failed,
        requests: l.requests,
      },
    };
  },
};
