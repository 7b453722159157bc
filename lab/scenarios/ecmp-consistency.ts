/**
 * Scenario `b`: ECMP over every maglev (one next hop each on every gateway, new connections
 * spread), and Maglev consistency: the same 5-tuples through each maglev alone land on the same
 * HAProxy node.
 */
import { readyState, waitReady } from "../cluster";
import { startLoad, sumFailed, url } from "../load";
import { drainHost, undrainHost } from "../../src/ops/drain";
import type { Scenario } from "./runner";
import { ipvsConns, servedBy, webVipPorts } from "./probes";

export const ecmp: Scenario = {
  id: "b",
  title: "ECMP over both maglevs, Maglev consistency",
  async run(c) {
    const { lab, m, runner } = c;
    const want = m.topo.maglevs.length;
    const st = await readyState(lab, m);
    const bad: string[] = [];
    if (!st.ok) bad.push(`next hops: ${st.detail}`);
    // Spread: many new connections, counted by IPVS on each maglev.
    const before = await Promise.all(m.topo.maglevs.map((h) => ipvsConns(lab, h.hostname)));
    const v4 = webVipPorts(m).find((v) => v.family === "ipv4" && v.port === 80)!;
    const v6 = webVipPorts(m).find((v) => v.family === "ipv6" && v.port === 80);
    const figs = await startLoad(
      lab,
      [
        { url: url(v4.vip, 80), newConnections: true, connections: 8, pauseMs: 20 },
        ...(v6
          ? [{ url: url(v6.vip, 80), newConnections: true, connections: 4, pauseMs: 20 }]
          : []),
      ],
      3,
    );
    const after = await Promise.all(m.topo.maglevs.map((h) => ipvsConns(lab, h.hostname)));
    const per = after.map((a, i) => a - before[i]);
    const total = per.reduce((a, b) => a + b, 0);
    if (per.some((n) => n < total * 0.1))
      bad.push(`connections per maglev ${per.join("/")}: not spread`);
    // Consistency: the same 5-tuples through maglev A alone, then B alone, land on the same node.
    const ports = Array.from({ length: 24 }, (_, i) => 41001 + i);
    const targets = [url(v4.vip, 80), ...(v6 ? [url(v6.vip, 80)] : [])];
    const maps: Map<number, string>[][] = [];
    for (const only of m.topo.maglevs) {
      const others = m.topo.maglevs.filter((x) => x.name !== only.name);
      for (const o of others) {
        const r = await drainHost(m.topo, m.plans, runner, o.name, { timeoutMs: 20_000 });
        if (!r.complete) bad.push(`drain ${o.name}: ${r.detail}`);
      }
      // v4 and v6 one after the other: a v6 socket bound to a port holds it for v4 too.
      const run: Map<number, string>[] = [];
      for (const t of targets) run.push(await servedBy(lab, t, ports));
      maps.push(run);
      for (const o of others) {
        const r = await undrainHost(m.topo, m.plans, runner, o.name, { timeoutMs: 20_000 });
        if (!r.complete) bad.push(`undrain ${o.name}: ${r.detail}`);
      }
    }
    let compared = 0;
    let differ = 0;
    const nodesSeen = new Set<string>();
    targets.forEach((t, ti) => {
      for (const p of ports) {
        const seen = maps.map((mm) => mm[ti].get(p) ?? "none");
        seen.forEach((s) => nodesSeen.add(s));
        compared++;
        if (seen.some((s) => s !== seen[0] || !s.startsWith("via ") || s === "none")) {
          differ++;
          if (differ <= 3) bad.push(`${t} from port ${p}: ${seen.join(" vs ")}`);
        }
      }
    });
    if (nodesSeen.size < 2)
      bad.push(`every tuple landed on ${[...nodesSeen].join(",")}: consistency not shown`);
    const end = await waitReady(lab, m, 20_000);
    if (!end.ok) bad.push(`ECMP not restored: ${end.detail}`);
    return {
      ok: bad.length === 0,
      detail: bad.length
        ? bad.join("; ")
        : `${want} next hops per VIP on each gateway; ${total} new connections split ${per.join("/")}; ${compared} 5-tuples through each maglev alone: same HAProxy node every time`,
      figures: {
        nextHopsPerVip: want,
        connectionsPerMaglev: per.join("/"),
        tuplesCompared: compared,
        tuplesDiffering: differ,
        loadFailed: sumFailed(figs).failed,
      },
    };
  },
};
