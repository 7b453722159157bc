/**
 * What a timed scenario records for its picture (lab/timeline.ts), all on the host's clock:
 *
 *   load       wrk's per-second counters (startLoad(..., { perSecond: true })), counted by the
 *              client guest's clock and moved by its offset to the host's;
 *   next hops  one bounded sampler per gateway (nextHopSampler), started before the load: it
 *              prints the VIP's next hop count at start, at every route change it reads from
 *              `ip monitor`, and at the end, stamped with the guest's clock and moved likewise;
 *   markers    the scenario's own host-clock moments (the halt, a drain, each apply) and the
 *              probe times it already measured (route or weight removal).
 *
 * `write` puts `lab-timeline-<id>.svg` (and the record as `.json`) in the working directory,
 * next to lab-results.json.
 */
import * as fs from "fs";
import * as path from "path";
import { Lab } from "./guest";
import { LoadFigures } from "./load";
import { CLIENT } from "./topology";
import { LoadSecond, NextHopSample, Timeline, TimelineMarker, timelineSvg } from "./timeline";
import { scriptCommand } from "../src/plan/scripts";

/**
 * Guest clock − host clock, ms. A UML guest keeps its own time after boot and drifts by a few
 * hundred ms under load, so a time taken in a guest is moved to the host's clock before it is
 * compared with the moment of a halt. Best of 3 round trips (error ≤ half that round trip).
 */
export async function clockOffset(
  lab: Lab,
  host: string,
): Promise<{ offsetMs: number; errMs: number }> {
  let best = { offsetMs: 0, errMs: Number.POSITIVE_INFINITY };
  for (let i = 0; i < 3; i++) {
    const t1 = Date.now();
    const r = await lab.exec(host, 'echo "$EPOCHREALTIME"', { timeoutMs: 10_000 });
    const t2 = Date.now();
    const g = Number(r.stdout.trim()) * 1000;
    if (r.code === 0 && (t2 - t1) / 2 < best.errMs)
      best = { offsetMs: g - (t1 + t2) / 2, errMs: (t2 - t1) / 2 };
  }
  return best;
}

/** lab/watches.sh: the watches the lab arms inside a guest (also lab/scenarios/probes.ts). */
export const WATCHES = path.join(__dirname, "watches.sh");

/**
 * A command for a gateway (lab/watches.sh route-sample): `<epoch seconds> <next hops of each
 * VIP>` at start, after every route or nexthop change `ip monitor` reports (the time it was
 * read), and at the end; nothing while nothing changes. Forks only on an event and once a
 * second. Ends within a second once `stopFile` exists, at the latest after `seconds`.
 */
export function nextHopSamplerScript(vips: string[], seconds: number, stopFile: string): string {
  return scriptCommand(
    WATCHES,
    ["route-sample", String(Math.ceil(seconds)), stopFile, ...vips],
    "bash",
  );
}

/** The sampler's lines as samples, host clock (ms since `t0`). */
export function parseNextHopSamples(
  out: string,
  gateway: string,
  vips: string[],
  offsetMs: number,
  t0: number,
): NextHopSample[] {
  const samples: NextHopSample[] = [];
  for (const line of out.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length !== vips.length + 1 || !/^\d+(\.\d+)?$/.test(f[0])) continue;
    const t = Math.round(Number(f[0]) * 1000 - offsetMs - t0);
    vips.forEach((vip, i) => samples.push({ t, gateway, vip, nextHops: Number(f[i + 1]) }));
  }
  return samples;
}

/** Per-second load of several wrk runs (summed by second), host clock (ms since `t0`). */
export function loadSeconds(figs: LoadFigures[], clientOffsetMs: number, t0: number): LoadSecond[] {
  const by = new Map<number, { ok: number; failed: number }>();
  for (const f of figs)
    for (const s of f.perSecond ?? []) {
      const x = by.get(s.second) ?? { ok: 0, failed: 0 };
      x.ok += s.ok;
      x.failed += s.failed;
      by.set(s.second, x);
    }
  return [...by.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([second, x]) => ({ t: Math.round(second * 1000 - clientOffsetMs - t0), ...x }));
}

/** One scenario's timeline in the making. */
export class TimelineRecorder {
  /** Host-clock zero of every `t`. */
  readonly t0 = Date.now();
  private readonly markers: TimelineMarker[] = [];
  private readonly figs: LoadFigures[] = [];
  private readonly samplers: Promise<NextHopSample[]>[] = [];
  private readonly sampling: string[] = [];
  private readonly stopFile: string;
  private clientOffset: Promise<number>;

  constructor(
    private readonly lab: Lab,
    private readonly scenario: string,
    private readonly title: string,
  ) {
    this.clientOffset = clockOffset(lab, CLIENT.name).then((o) => o.offsetMs);
    this.stopFile = `/tmp/lab-nexthops-${scenario.replace(/[^A-Za-z0-9]/g, "_")}-${this.t0}.stop`;
  }

  /** Sample the next hops of `vips` on each gateway until the timeline is taken, at most `seconds` (one exec each, in the background). */
  async sampleNextHops(gateways: string[], vips: string[], seconds: number): Promise<void> {
    const offsets = await Promise.all(gateways.map((g) => clockOffset(this.lab, g)));
    this.sampling.push(...gateways);
    gateways.forEach((g, i) =>
      this.samplers.push(
        this.lab
          .exec(g, nextHopSamplerScript(vips, seconds, this.stopFile), {
            timeoutMs: (seconds + 15) * 1000,
          })
          .then((r) => parseNextHopSamples(r.stdout, g, vips, offsets[i].offsetMs, this.t0))
          // A sampler that failed leaves its gateway out of the picture, not the scenario failed.
          .catch(() => []),
      ),
    );
  }

  /** A moment on the host's clock (Date.now()); NaN or undefined is left out. */
  mark(label: string, kind: TimelineMarker["kind"], at: number | undefined = Date.now()): void {
    if (at !== undefined && Number.isFinite(at))
      this.markers.push({ t: Math.round(at - this.t0), label, kind });
  }

  /** wrk figures with per-second counters; several calls add up (the rolling change's slices). */
  addLoad(figs: LoadFigures[]): void {
    this.figs.push(...figs);
  }

  async timeline(note?: string): Promise<Timeline> {
    const durationMs = Date.now() - this.t0;
    await Promise.all(
      this.sampling
        .splice(0)
        .map((g) =>
          this.lab.exec(g, `touch ${this.stopFile}`, { timeoutMs: 15_000 }).catch(() => undefined),
        ),
    );
    const nextHops = (await Promise.all(this.samplers)).flat();
    const clientOffsetMs = await this.clientOffset.catch(() => 0);
    return {
      scenario: this.scenario,
      title: this.title,
      startedAt: new Date(this.t0).toISOString(),
      durationMs,
      load: loadSeconds(this.figs, clientOffsetMs, this.t0),
      nextHops,
      markers: [...this.markers].sort((a, b) => a.t - b.t),
      ...(note ? { note } : {}),
    };
  }

  /** Write lab-timeline-<id>.svg and .json into `dir`; the SVG's name. Never throws: a picture is not a result. */
  async write(note?: string, dir = process.cwd()): Promise<string> {
    const base = path.join(dir, `lab-timeline-${this.scenario}`);
    try {
      const tl = await this.timeline(note);
      fs.writeFileSync(`${base}.json`, JSON.stringify(tl, null, 2) + "\n");
      fs.writeFileSync(`${base}.svg`, timelineSvg(tl));
      return path.basename(`${base}.svg`);
    } catch (e) {
      return `no timeline (${(e as Error).message.split("\n")[0]})`;
    }
  }
}
