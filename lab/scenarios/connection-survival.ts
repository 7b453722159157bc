/**
 * Scenario `survival`: do established, long-lived connections survive a failover? The request
 * figures of the other scenarios count failed requests of short or paced connections; this one
 * holds 200 TCP connections open across the v4 and v6 web VIPs (lab/conn-hold.py on `client`,
 * a request on each every 500 ms — 400 requests/s, the rate of the other scenarios' load)
 * through:
 *
 *   maglev-power-cut  the first maglev halted (its flows move to the other maglev by ECMP;
 *                     sloppy_tcp + Maglev hashing must pick the same HAProxy node there)
 *   maglev-drain      the first maglev drained, then undrained (flows move away and back)
 *   haproxy-drain     the first HAProxy node drained (weight 0: its connections must go on),
 *                     then undrained
 *   haproxy-add       an HAProxy node added to the web group and rolled out as `pulumi up`
 *                     does (the node, then each maglev drained → applied → undrained): the lab
 *                     has two HAProxy nodes, both in the group, so the case first rolls out the
 *                     stack without the group's last member, then holds the connections through
 *                     the rollout of the stack as written
 *
 * Survived / total per case (goal: all of them).
 */
import * as fs from "fs";
import * as path from "path";
import { rollout, sleep, waitReady } from "../cluster";
import { buildLabModel, CLIENT, LabModel } from "../topology";
import { drainHost, undrainHost } from "../../src/ops/drain";
import { Ctx, reviveNode, Scenario, stackEnv, writeStackVariant } from "./runner";
import { haproxyMembers, webVipPorts } from "./probes";

const HOLDER = path.join(__dirname, "..", "conn-hold.py");

/** What conn-hold.py prints. */
export interface HoldResult {
  connections: number;
  survived: number;
  requests: number;
  per_target: Record<string, { connections: number; opened: number; survived: number }>;
  failures: { target: string; at_s: number; reason: string }[];
}

export interface HoldOptions {
  /** @default 200 */
  connections?: number;
  /** @default 500 */
  intervalMs?: number;
  /** @default 24 */
  seconds?: number;
}

/** The web VIPs on port 80 as conn-hold.py's targets: `198.18.7.15:80,[fd00:7::10]:80`. */
export function holdTargets(m: LabModel): string[] {
  return webVipPorts(m)
    .filter((v) => v.port === 80)
    .map((v) => (v.family === "ipv6" ? `[${v.vip}]:${v.port}` : `${v.vip}:${v.port}`));
}

/** Start the holder on `client`; resolves with its result when it ends (bounded by `seconds`). */
export function hold(c: Pick<Ctx, "lab" | "m">, opts: HoldOptions = {}): Promise<HoldResult> {
  const { connections = 200, intervalMs = 500, seconds = 24 } = opts;
  fs.copyFileSync(HOLDER, path.join(c.lab.nodeDir(CLIENT.name), "conn-hold.py"));
  return c.lab
    .exec(
      CLIENT.name,
      `python3 /run/lab/conn-hold.py --targets ${holdTargets(c.m).join(",")} --connections ${connections} --interval-ms ${intervalMs} --seconds ${seconds}`,
      { timeoutMs: (seconds + 30) * 1000 },
    )
    .then((r) => {
      if (r.code !== 0)
        throw new Error(`conn-hold.py failed (exit ${r.code}): ${r.stderr.trim().slice(-300)}`);
      return JSON.parse(r.stdout) as HoldResult;
    });
}

/** "200 of 200 survived" or "196 of 200 survived (4 lost: 3 eof at 6.1–6.4 s, 1 recv: …)". */
export function survivalText(r: HoldResult): string {
  const lost = r.connections - r.survived;
  if (!lost) return `${r.survived} of ${r.connections} survived`;
  const why = new Map<string, number[]>();
  for (const f of r.failures) why.set(f.reason, [...(why.get(f.reason) ?? []), f.at_s]);
  const parts = [...why.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([reason, at]) =>
        `${at.length} ${reason} at ${Math.min(...at).toFixed(1)}–${Math.max(...at).toFixed(1)} s`,
    );
  const unopened = lost - r.failures.length;
  if (unopened > 0) parts.push(`${unopened} never answered`);
  return `${r.survived} of ${r.connections} survived (${lost} lost: ${parts.join(", ")})`;
}

interface Case {
  name: string;
  /** Before the hold: the state the event starts from. */
  prepare?(c: Ctx): Promise<void>;
  /** How long the connections are held, s (the event must end inside it). @default 24 */
  holdS?: number;
  /** The event, started 6 s into the hold: what it did, in words. */
  event(c: Ctx): Promise<string>;
  /** Put back what the event left (after the hold). */
  restore(c: Ctx): Promise<void>;
}

/** The lab stack with the first HAProxy group's last member taken out of it (a spare node). */
function withoutLastMember(m: LabModel): { root: string; node: string; group: string } {
  const env = stackEnv(m);
  const [group, g] = Object.entries(env.backendGroups).find(([, x]) => x.kind === "haproxy")!;
  const node = g.members[g.members.length - 1];
  g.members = g.members.filter((x) => x !== node);
  return { root: writeStackVariant(m, env, "maglev-lab-survival-"), node, group };
}

let shrunk: { root: string; node: string; group: string } | undefined;

const CASES: Case[] = [
  {
    name: "maglev-power-cut",
    async event(c) {
      const mg = c.m.topo.maglevs[0];
      await c.lab.stop(mg.hostname);
      return `${mg.name} halted`;
    },
    async restore(c) {
      await reviveNode(c, c.m.topo.maglevs[0].hostname);
    },
  },
  {
    name: "maglev-drain",
    // Drain + 3 s + undrain took 16–23 s on 2 cores: held long enough to see its end.
    holdS: 45,
    async event(c) {
      const mg = c.m.topo.maglevs[0];
      const d = await drainHost(c.m.topo, c.m.plans, c.runner, mg.name, { timeoutMs: 15_000 });
      await sleep(3000);
      const u = await undrainHost(c.m.topo, c.m.plans, c.runner, mg.name, { timeoutMs: 15_000 });
      return `${mg.name} drained (${d.complete ? `${d.ms} ms` : d.detail}), undrained (${u.complete ? `${u.ms} ms` : u.detail})`;
    },
    async restore() {},
  },
  {
    name: "haproxy-drain",
    holdS: 45,
    async event(c) {
      const node = haproxyMembers(c.m)[0];
      // Weight 0 on every maglev, then a short wait for sessions: these connections do not end
      // by themselves, so the drain reports them still open — which is the point.
      const d = await drainHost(c.m.topo, c.m.plans, c.runner, node.name, { timeoutMs: 6000 });
      await sleep(3000);
      const u = await undrainHost(c.m.topo, c.m.plans, c.runner, node.name, {
        timeoutMs: 15_000,
      });
      return `${node.name} drained (${d.weightZeroMs !== undefined ? `weight 0 after ${d.weightZeroMs} ms` : d.detail}), undrained (${u.complete ? `${u.ms} ms` : u.detail})`;
    },
    async restore() {},
  },
  {
    name: "haproxy-add",
    // The rollout of 3 hosts (the node, two maglevs) took 60–90 s on 2 cores: held 150 s.
    holdS: 150,
    async prepare(c) {
      shrunk = withoutLastMember(c.m);
      await rollout(c.lab, buildLabModel(c.m.stack, shrunk.root), () => undefined);
      const st = await waitReady(c.lab, c.m, 60_000);
      if (!st.ok) throw new Error(`lab not ready without ${shrunk.node}: ${st.detail}`);
    },
    async event(c) {
      const r = await rollout(c.lab, c.m, () => undefined);
      return `${shrunk!.node} added to ${shrunk!.group}, rolled out to ${r.applied.join(", ")} in ${(r.ms / 1000).toFixed(1)} s`;
    },
    async restore(c) {
      if (!shrunk) return;
      const root = shrunk.root;
      shrunk = undefined;
      // The event's rollout already restored the stack as written unless it failed; once more
      // costs only a plan-hash comparison per host then.
      try {
        await rollout(c.lab, c.m, () => undefined);
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    },
  },
];

export const connectionSurvival: Scenario = {
  id: "survival",
  title:
    "Long-lived connections (200, v4 + v6) through a maglev power cut, a maglev drain, an HAProxy drain, an HAProxy node added",
  async run(c) {
    const rows: string[] = [];
    const figures: Record<string, number | string | boolean> = {};
    let ok = true;
    for (const k of CASES) {
      const ready = await waitReady(c.lab, c.m, 60_000);
      if (!ready.ok)
        return { ok: false, detail: `lab not ready before ${k.name}: ${ready.detail}`, figures };
      try {
        await k.prepare?.(c);
      } catch (e) {
        await k.restore(c);
        throw e;
      }
      const holdS = k.holdS ?? 24;
      const held = hold(c, { seconds: holdS });
      await sleep(6000);
      let what: string;
      const t0 = Date.now();
      try {
        what = await k.event(c);
        // A connection lost after the hold ended would not be counted: the event must be over.
        if (Date.now() - t0 > (holdS - 8) * 1000) {
          ok = false;
          what += ` (NOT inside the ${holdS} s hold: took ${((Date.now() - t0) / 1000).toFixed(0)} s)`;
        }
      } finally {
        // The hold ends on its own clock; restore only after it.
        await held.catch(() => undefined);
        await k.restore(c);
      }
      const r = await held;
      const line = `${k.name}: ${what}; ${survivalText(r)}, ${r.requests} requests`;
      rows.push(line);
      c.log(`     ${line}`);
      figures[`${k.name}Survived`] = r.survived;
      figures[`${k.name}Connections`] = r.connections;
      if (r.survived !== r.connections) ok = false;
    }
    return { ok, detail: rows.join("; "), figures };
  },
};
