/**
 * Bounded HTTP load from the lab's `client` guest: `wrk`, keep-alive and new-connection
 * (Connection: close) at once, for a fixed number of seconds. Every run stops by itself
 * (wrk -d, and the exec has a timeout); targets are lab VIPs only.
 */
import * as path from "path";
import { Lab } from "./guest";
import { parseWrkSeconds, WrkSecond, wrkSecondsScript } from "./load-seconds";
import { scriptCommand } from "../src/plan/scripts";

/** lab/load-wrk.sh: the wrk runs in the client guest, the targets as arguments. */
export const LOAD_WRK = path.join(__dirname, "load-wrk.sh");

export interface LoadTarget {
  /** URL inside the lab, e.g. http://198.18.7.15:80/ or http://[fd00:7::10]:80/ */
  url: string;
  /** true: a new TCP connection per request (Connection: close). */
  newConnections?: boolean;
  /** Concurrent connections. @default 8 */
  connections?: number;
  /**
   * Pause per connection between requests, ms (wrk's Lua `delay()`): an open-ended closed loop
   * saturates the slowest guest, and on 2 cores that starves bfdd (300 ms × 3) and flaps BGP —
   * measuring the lab's CPU, not the design. @default 0 (as fast as the chain goes)
   */
  pauseMs?: number;
}

export interface LoadFigures {
  url: string;
  newConnections: boolean;
  requests: number;
  /** Socket errors (connect + read + write + timeout) plus non-2xx/3xx answers. */
  failed: number;
  rps: number;
  detail: string;
  /** Per second of the client's clock, when startLoad was asked for it (lab/load-seconds.ts). */
  perSecond?: WrkSecond[];
}

const LAB_URL = /^http:\/\/(198\.1[89]\.\d+\.\d+|\[fd00:[0-9a-f:]*\]):\d+\/\S*$/;

/** Parse wrk's report. */
export function parseWrk(url: string, newConnections: boolean, out: string): LoadFigures {
  const n = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
  const requests = n(/(\d+) requests in/);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const sock = se ? se.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const non2xx = n(/Non-2xx or 3xx responses: (\d+)/);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const ok = /requests in/.test(out);
  return {
    url,
    newConnections,
    requests,
    failed: ok ? sock + non2xx : Number.NaN,
    rps,
    detail: ok
      ? `${requests} requests, ${sock} socket errors${se ? ` (${se.slice(1).join("/")} connect/read/write/timeout)` : ""}, ${non2xx} non-2xx`
      : `wrk did not report: ${out.trim().slice(-300)}`,
  };
}

/**
 * Start the load and return a promise of its figures; the caller acts (halts a node, applies…)
 * while it runs. Resolves after `seconds` (+ wrk's shutdown).
 */
export function startLoad(
  lab: Lab,
  targets: LoadTarget[],
  seconds: number,
  opts: { perSecond?: boolean } = {},
): Promise<LoadFigures[]> {
  if (seconds <= 0 || seconds > 120)
    throw new Error(`load duration ${seconds}s out of bounds (1–120)`);
  for (const t of targets)
    if (!LAB_URL.test(t.url)) throw new Error(`refusing to load ${t.url}: not a lab address`);
  // Every target's wrk script: the per-second counters (for the timelines) include the pause.
  const lua = (p: number) =>
    opts.perSecond ? wrkSecondsScript(p) : p > 0 ? `function delay()\n  return ${p}\nend\n` : "";
  const script = scriptCommand(
    LOAD_WRK,
    [
      String(seconds),
      ...targets.flatMap((t) => [
        String(t.connections ?? 8),
        t.newConnections ? "close" : "keep",
        lua(t.pauseMs ?? 0),
        t.url,
      ]),
    ],
    "bash",
  );
  return lab.exec("client", script, { timeoutMs: (seconds + 30) * 1000 }).then((r) => {
    const parts = r.stdout.split(/^=== (\d+)$/m);
    return targets.map((t, i) => {
      const idx = parts.indexOf(String(i));
      const text = idx >= 0 ? parts[idx + 1] : r.stdout + r.stderr;
      return {
        ...parseWrk(t.url, !!t.newConnections, text),
        ...(opts.perSecond ? { perSecond: parseWrkSeconds(text) } : {}),
      };
    });
  });
}

export function sumFailed(figs: LoadFigures[]): { failed: number; requests: number } {
  return figs.reduce(
    (a, f) => ({
      failed: a.failed + (Number.isNaN(f.failed) ? 1 : f.failed),
      requests: a.requests + f.requests,
    }),
    { failed: 0, requests: 0 },
  );
}

export function url(vip: string, port: number, p = "/"): string {
  return `http://${vip.includes(":") ? `[${vip}]` : vip}:${port}${p}`;
}
