/**
 * The scenarios' load and how it is reported: one mix of keep-alive and new connections, v4 and
 * v6 (loadMix), a chain of bounded windows for as long as a change runs (loadChain), and the
 * summary a result line carries (loadSummary).
 */
import { Lab } from "../guest";
import { LoadFigures, LoadTarget, startLoad, sumFailed, url } from "../load";
import { LabModel } from "../topology";
import { webVipPorts } from "./probes";

/**
 * The scenarios' load: keep-alive and new connections, v4 and v6, each connection pausing
 * 20 ms between requests — about 400 requests/s in all, well under what the lab's chain
 * carries, so a failover is measured on a system that is not itself saturated.
 */
export function loadMix(m: LabModel, connections = 4): LoadTarget[] {
  const web = webVipPorts(m).filter((v) => v.port === 80);
  const v4 = web.find((v) => v.family === "ipv4")!;
  const v6 = web.find((v) => v.family === "ipv6");
  const pauseMs = 20;
  const targets = [
    { url: url(v4.vip, v4.port), connections, pauseMs },
    {
      url: url(v4.vip, v4.port),
      newConnections: true,
      connections: Math.max(2, connections / 2),
      pauseMs,
    },
  ];
  if (v6)
    targets.push(
      { url: url(v6.vip, v6.port), connections: Math.max(2, connections / 2), pauseMs },
      { url: url(v6.vip, v6.port), newConnections: true, connections: 2, pauseMs },
    );
  return targets;
}

/** Why the load's failed parts failed: `<url>[ new-conn]: <detail>` each. */
export function loadFailures(figs: LoadFigures[]): string[] {
  return figs
    .filter((f) => Number.isNaN(f.failed) || f.failed > 0)
    .map((f) => `${f.url}${f.newConnections ? " new-conn" : ""}: ${f.detail}`);
}

export function loadSummary(figs: LoadFigures[]): {
  failed: number;
  requests: number;
  text: string;
} {
  const s = sumFailed(figs);
  const why = loadFailures(figs);
  return {
    ...s,
    text: `${s.failed} failed of ${s.requests} requests (keep-alive + new connections, v4 + v6)${why.length ? ` [${why.join("; ")}]` : ""}`,
  };
}

export interface LoadChainOptions {
  /** Seconds per window (wrk restarts between two: well under a second uncovered). */
  windowS?: number;
  /** At most this many windows: the bound. */
  maxWindows?: number;
  /** wrk's per-second counters (for a timeline). */
  perSecond?: boolean;
  /** Called after each window with the time it started. */
  onWindow?: (startedAt: number, figs: LoadFigures[]) => void;
}

/**
 * The client's load generator gave no figures for a whole window: wrk did not run, or the
 * client's exec agent is gone. Every later window and scenario would wait out its time limit for
 * nothing (one dead agent cost a `maintain-all` run its full length twice), so the chain stops
 * at once and the scenario runner neither retries nor goes on.
 */
export class LoadGeneratorDead extends Error {
  constructor(detail: string) {
    super(`the load generator on client gave no figures for a whole window: ${detail}`);
    this.name = "LoadGeneratorDead";
  }
}

/**
 * loadMix in windows back to back until stopped (bounded): the figures of every window. stop()
 * throws LoadGeneratorDead when a window came back without a figure.
 */
export function loadChain(
  lab: Lab,
  m: LabModel,
  { windowS = 8, maxWindows = 75, perSecond, onWindow }: LoadChainOptions = {},
): { stop(): Promise<LoadFigures[]> } {
  const t = loadMix(m);
  let stopping = false;
  const figs: LoadFigures[] = [];
  let dead: string | undefined;
  const loop = (async () => {
    for (let i = 0; i < maxWindows && !stopping; i++) {
      const t0 = Date.now();
      const w = await startLoad(lab, t, windowS, perSecond ? { perSecond } : undefined).catch(
        (e: Error) => {
          dead = e.message.split("\n")[0];
          return [];
        },
      );
      if (!dead && w.every((f) => Number.isNaN(f.failed))) dead = w[0]?.detail ?? "no output";
      if (dead) return;
      onWindow?.(t0, w);
      figs.push(...w);
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      if (dead) throw new LoadGeneratorDead(dead);
      return figs;
    },
  };
}
