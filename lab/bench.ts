/**
 * npm run bench:lab — figures of the lab's data path, one `name=value` line each, so runs can
 * be compared over time (compare ratios within a run, never absolute figures across machines):
 *
 *   chain_rps             keep-alive requests/s client → router → gateway → maglev → HAProxy → app
 *   direct_rps            the same load, same run, client → router → one HAProxy node → app
 *                         (the router sends the VIP straight to that node for the measurement)
 *   chain_direct_ratio    chain_rps / direct_rps
 *   failover_*            a maglev power cut under paced load (scenario c): failed / total
 *   route_removal_ms_*    halt → route gone on the gateways
 *   survival_*            long-lived connections (scenario survival: 200, v4 + v6) held open
 *                         through a maglev power cut, a maglev drain, an HAProxy drain:
 *                         survived / total per case
 *
 * Brings the lab up when none is running (and down afterwards). Loads are bounded (wrk -d).
 */
import { DEFAULT_STATE_DIR } from "./guest";
import { labForBench, runBench, waitReady } from "./cluster";
import { CLIENT_NET, ROUTER } from "./topology";
import { labRunner } from "./runner";
import { startLoad, url } from "./load";
import type { Ctx } from "./scenarios/runner";
import { maglevFailure } from "./scenarios/maglev-power-cut";
import { connectionSurvival } from "./scenarios/connection-survival";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const line = (k: string, v: string | number | boolean) => console.log(`${k}=${v}`);

async function main(): Promise<number> {
  const stateDir = DEFAULT_STATE_DIR;
  const log = (s: string) => console.error(s);
  const { lab, m, cf, broughtUp } = await labForBench(log, stateDir);
  try {
    const vp = m.topo.vipPorts.find(
      (v) => v.family === "ipv4" && v.port === 80 && m.topo.groups.get(v.group)?.kind === "haproxy",
    )!;
    const node = m.topo.groups.get(vp.group)!.members[0];
    const target = [{ url: url(vp.vip, 80), connections: 16 }];
    line("bench_seconds", SECONDS);
    const [chain] = await startLoad(lab, target, SECONDS);
    // Straight to one HAProxy node: for the client's traffic only, the router routes the VIP to
    // the node's ingress address (policy rule, removed right after).
    const rule = `from ${CLIENT_NET.v4} to ${vp.vip}/32 lookup 4242 priority 4242`;
    await lab.run(
      ROUTER.name,
      `ip route replace ${vp.vip}/32 via ${node.ingress!.ipv4} table 4242 && ip rule add ${rule}`,
    );
    let direct;
    try {
      [direct] = await startLoad(lab, target, SECONDS);
    } finally {
      await lab.run(ROUTER.name, `ip rule del ${rule}; ip route flush table 4242`);
    }
    line("chain_rps", chain.rps.toFixed(0));
    line("chain_failed", chain.failed);
    line("direct_rps", direct.rps.toFixed(0));
    line("direct_failed", direct.failed);
    line("direct_node", node.hostname);
    line("chain_direct_ratio", (chain.rps / direct.rps).toFixed(2));

    const pending: (() => Promise<void>)[] = [];
    const ctx: Ctx = {
      lab,
      m,
      secrets: cf.secrets,
      runner: labRunner(stateDir),
      log,
      quick: false,
      restoreLater: (_w, fn) => pending.push(fn),
    };
    const f = await maglevFailure.run(ctx);
    const fig = f.figures;
    line("failover_failed", fig.failed);
    line("failover_requests", fig.requests);
    line(
      "failover_error_rate",
      Number(fig.requests) ? (Number(fig.failed) / Number(fig.requests)).toFixed(5) : "NaN",
    );
    line("route_removal_ms_worst", fig.removalMsWorst);
    line("route_removal_ms_each", fig.removalMs);
    line("route_removal_clock_error_ms", fig.clockErrorMs);
    // The power cut's restore first: survival starts from a ready lab.
    for (const fn of pending.splice(0)) await fn();
    await waitReady(lab, m, 60_000);
    const sv = await connectionSurvival.run(ctx);
    for (const [k, v] of Object.entries(sv.figures)) {
      const c = /^(.*)Survived$/.exec(k);
      if (c)
        line(`survival_${c[1].replace(/-/g, "_")}`, `${v}/${sv.figures[`${c[1]}Connections`]}`);
    }
    line("survival_ok", sv.ok);
    for (const fn of pending.splice(0)) await fn();
    if (!broughtUp) await waitReady(lab, m, 60_000);
    return sv.ok ? 0 : 1;
  } finally {
    if (broughtUp) await lab.down();
  }
}

runBench("bench:lab", main);
