/**
 * Scenario `watchdog`: HAProxy nodes cut one by one. While at least minHealthyRealServers
 * are left the VIPs stay; below it the maglevs withdraw that group's VIPs from the gateways, and
 * the DNS VIP (another group) stays.
 */
import { sleep } from "../cluster";
import { restoreNodeLater, Scenario } from "./runner";
import {
  armWatches,
  dnsVipPort,
  haproxyMembers,
  nextHopCount,
  watchRaw,
  webVipPorts,
} from "./probes";

export const watchdog: Scenario = {
  id: "watchdog",
  retryOnce: true,
  title: "Watchdog: a maglev withdraws the VIPs whose L7 group is below minHealthyRealServers",
  async run(c) {
    const { lab, m } = c;
    const members = haproxyMembers(m);
    const min = m.topo.env.maglev?.minHealthyRealServers ?? 1;
    const vip = webVipPorts(m)[0].vip;
    const dnsVip = dnsVipPort(m)?.vip;
    const steps: string[] = [];
    const problems: string[] = [];
    const t0 = Date.now();
    try {
      for (let i = 0; i < members.length; i++) {
        const left = members.length - i - 1;
        const shouldWithdraw = left < min;
        const watches = shouldWithdraw
          ? await armWatches(
              lab,
              m.topo.gateways.map((g) => g.hostname),
              (gw) => [watchRaw(lab, gw, vip, 1, 20)],
            )
          : undefined;
        const ts = Date.now();
        await lab.stop(members[i].hostname);
        if (watches) {
          const ms = await watches.msAfter(ts);
          steps.push(
            `${members[i].name} down (${left} healthy): ${vip} withdrawn from the gateways after ${ms.map((x) => x.toFixed(0)).join("/")} ms`,
          );
          if (ms.some((x) => Number.isNaN(x)))
            problems.push(`${vip} still routed with ${left} healthy members`);
          if (dnsVip) {
            const n = await Promise.all(
              m.topo.gateways.map((g) => nextHopCount(lab, g.hostname, dnsVip)),
            );
            if (n.some((x) => x !== m.topo.maglevs.length))
              problems.push(
                `the DNS VIP lost next hops too (${n.join("/")}): the watchdog is not per service`,
              );
            else steps.push(`${dnsVip} (other group) still ${n.join("/")} next hops`);
          }
        } else {
          await sleep(
            (m.topo.groups.get(members[i].groups[0])!.healthCheck.intervalSeconds + 3) * 1000,
          );
          const n = await Promise.all(
            m.topo.gateways.map((g) => nextHopCount(lab, g.hostname, vip)),
          );
          steps.push(
            `${members[i].name} down (${left} healthy): ${vip} keeps ${n.join("/")} next hops`,
          );
          if (n.some((x) => x !== m.topo.maglevs.length))
            problems.push(`withdrawn too early with ${left} healthy`);
        }
      }
    } finally {
      for (const h of members) restoreNodeLater(c, h.hostname);
    }
    return {
      ok: problems.length === 0,
      detail: steps.join("; ") + (problems.length ? "; " + problems.join("; ") : ""),
      figures: { minHealthyRealServers: min, ms: Date.now() - t0 },
    };
  },
};
