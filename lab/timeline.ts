/**
 * A failover as a picture: one SVG per timed lab scenario (power cuts, drains, the rolling
 * change), written next to lab-results.json. Top: requests answered and failed per second
 * (the client's wrk, all targets summed); bottom: next hops of the VIP's route on each
 * gateway; vertical lines: the moment of the halt (or drain, or apply) and of the route or
 * weight removal each probe saw.
 *
 * Pure: a Timeline record in, SVG text out. ECharts renders it server-side (`ssr: true`,
 * its SVG renderer): no browser, no canvas, no native module. The record is built by
 * lab/timeline-capture.ts from what a scenario measured, every time on the host's clock.
 */
import * as echarts from "echarts";

/** Requests of one second of load: [t, t + 1000) ms after the timeline's start. */
export interface LoadSecond {
  /** ms since the timeline's start (the second's first ms). */
  t: number;
  /** Answered with 2xx/3xx. */
  ok: number;
  /** Answered with 4xx/5xx, or sent and not answered within that second (reset, timeout). */
  failed: number;
}

/** The next hops one gateway's kernel has for one VIP, from `t` on (until the next sample of the same line). */
export interface NextHopSample {
  /** ms since the timeline's start. */
  t: number;
  gateway: string;
  vip: string;
  nextHops: number;
}

export interface TimelineMarker {
  /** ms since the timeline's start. */
  t: number;
  /** What happened, as the result line names it ("halt lab-vm-mlg01", "route gone on lab-vm-mgw01"). */
  label: string;
  /** halt: the cause (power cut, drain, apply); removal: what a probe saw in answer. */
  kind: "halt" | "removal" | "other";
}

export interface Timeline {
  /** Scenario id (c, d, h, h2, e). */
  scenario: string;
  title: string;
  /** Host-clock start of the timeline, ISO 8601 (every `t` counts from it). */
  startedAt: string;
  /** ms covered: the x axis runs from 0 to this. */
  durationMs: number;
  load: LoadSecond[];
  nextHops: NextHopSample[];
  markers: TimelineMarker[];
  /** One line under the title: the scenario's result, or where the data is synthetic. */
  note?: string;
}

const WIDTH = 960;
const HEIGHT = 600;
/** A result line runs to hundreds of characters: wrapped under the title, at most this many lines. */
const NOTE_LINES = 3;
const NOTE_WIDTH = 150;

/** `text` in lines of at most `width` characters (words kept whole), the last one cut with "…". */
export function wrapNote(text: string, width = NOTE_WIDTH, maxLines = NOTE_LINES): string[] {
  const lines: string[] = [];
  let cur = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (cur && cur.length + 1 + word.length > width) {
      lines.push(cur);
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) lines.push(cur);
  if (lines.length <= maxLines) return lines;
  const last = lines[maxLines - 1];
  return [...lines.slice(0, maxLines - 1), `${last.slice(0, width - 1)}…`];
}
const COLORS = {
  ok: "#2f6fdf",
  failed: "#d62728",
  halt: "#111111",
  removal: "#e67e22",
  other: "#7f7f7f",
};
/** Gateways: none of the colours above. */
const GATEWAY_COLORS = ["#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#e377c2"];

/** The series name of one gateway's line (a VIP is named only when a gateway has several). */
function nextHopLines(samples: NextHopSample[]): { name: string; points: NextHopSample[] }[] {
  const keys = [...new Set(samples.map((s) => `${s.gateway}\u0000${s.vip}`))].sort();
  const gateways = new Set(keys.map((k) => k.split("\u0000")[0]));
  const severalVips = keys.length > gateways.size;
  return keys.map((k) => {
    const [gateway, vip] = k.split("\u0000");
    return {
      name: severalVips ? `${gateway} ${vip}` : gateway,
      points: samples
        .filter((s) => s.gateway === gateway && s.vip === vip)
        .sort((a, b) => a.t - b.t),
    };
  });
}

/** Step points [x s, y] holding each value until the next one, and the last one to the end. */
function steps(points: { t: number; v: number }[], endMs: number): [number, number][] {
  const out = points.map((p) => [p.t / 1000, p.v] as [number, number]);
  if (points.length)
    out.push([Math.max(endMs, points[points.length - 1].t) / 1000, points[points.length - 1].v]);
  return out;
}

/** The timeline as SVG text. Every series and marker is named in the legend or a label. */
export function timelineSvg(tl: Timeline): string {
  const seconds = [...tl.load].sort((a, b) => a.t - b.t);
  const lastLoad = seconds.length ? seconds[seconds.length - 1].t + 1000 : 0;
  const endMs = Math.max(
    tl.durationMs,
    lastLoad,
    ...tl.markers.map((m) => m.t),
    ...tl.nextHops.map((s) => s.t),
  );
  const lines = nextHopLines(tl.nextHops);
  const maxHops = Math.max(1, ...tl.nextHops.map((s) => s.nextHops));
  const markLine = (withLabels: boolean) => ({
    silent: true,
    symbol: "none",
    data: tl.markers.map((m) => ({
      xAxis: m.t / 1000,
      lineStyle: {
        color: COLORS[m.kind],
        type: m.kind === "halt" ? "solid" : "dashed",
        width: m.kind === "halt" ? 2 : 1,
      },
      label: withLabels
        ? {
            show: true,
            formatter: m.label,
            position: "insideEndTop",
            color: COLORS[m.kind],
            fontSize: 11,
          }
        : { show: false },
    })),
  });
  const sub = [...(tl.note ? wrapNote(tl.note) : []), `started ${tl.startedAt}`];
  // Everything below the subtitle moves down by its extra lines.
  const dy = (sub.length - 2) * 14;
  const chart = echarts.init(null, null, {
    renderer: "svg",
    ssr: true,
    width: WIDTH,
    height: HEIGHT + dy,
  });
  try {
    chart.setOption({
      animation: false,
      backgroundColor: "#ffffff",
      title: {
        text: `lab ${tl.scenario}: ${tl.title}`,
        subtext: sub.join("\n"),
        left: 16,
        top: 8,
        textStyle: { fontSize: 15 },
      },
      legend: {
        top: 62 + dy,
        left: 16,
        itemGap: 36,
        data: ["answered/s", "failed/s", ...lines.map((l) => `next hops ${l.name}`)],
      },
      grid: [
        { left: 70, right: 70, top: 120 + dy, height: 240 },
        { left: 70, right: 70, top: 420 + dy, height: 130 },
      ],
      xAxis: [
        {
          gridIndex: 0,
          type: "value",
          min: 0,
          max: Math.ceil(endMs / 1000),
          axisLabel: { show: false },
        },
        {
          gridIndex: 1,
          type: "value",
          min: 0,
          max: Math.ceil(endMs / 1000),
          name: "seconds since the start",
          nameLocation: "middle",
          nameGap: 28,
        },
      ],
      yAxis: [
        {
          gridIndex: 0,
          type: "value",
          name: "answered per second",
          nameTextStyle: { color: COLORS.ok, align: "left" },
          min: 0,
        },
        // Failures on their own scale: a handful next to hundreds answered would be a flat line.
        {
          gridIndex: 0,
          type: "value",
          name: "failed per second",
          nameTextStyle: { color: COLORS.failed, align: "right" },
          position: "right",
          min: 0,
          minInterval: 1,
          max: (v: { max: number }) => Math.max(5, v.max),
          splitLine: { show: false },
          axisLabel: { color: COLORS.failed },
        },
        {
          gridIndex: 1,
          type: "value",
          name: "next hops",
          nameTextStyle: { align: "left" },
          min: 0,
          max: maxHops,
          interval: 1,
        },
      ],
      series: [
        {
          name: "answered/s",
          type: "line",
          step: "end",
          showSymbol: false,
          xAxisIndex: 0,
          yAxisIndex: 0,
          color: COLORS.ok,
          data: steps(
            seconds.map((s) => ({ t: s.t, v: s.ok })),
            lastLoad,
          ),
          markLine: markLine(true),
        },
        {
          name: "failed/s",
          type: "line",
          step: "end",
          showSymbol: false,
          xAxisIndex: 0,
          yAxisIndex: 1,
          color: COLORS.failed,
          areaStyle: { opacity: 0.35 },
          data: steps(
            seconds.map((s) => ({ t: s.t, v: s.failed })),
            lastLoad,
          ),
        },
        // Without a gateway line the lower grid still shows the markers.
        ...(lines.length ? lines : [{ name: "", points: [] as NextHopSample[] }]).map((l, i) => ({
          name: l.name ? `next hops ${l.name}` : "",
          type: "line",
          step: "end",
          showSymbol: false,
          xAxisIndex: 1,
          yAxisIndex: 2,
          color: GATEWAY_COLORS[i % GATEWAY_COLORS.length],
          // Lines of several gateways on the same value would hide each other: a small offset each.
          data: steps(
            l.points.map((p) => ({
              t: p.t,
              v: p.nextHops + (lines.length > 1 ? (i - (lines.length - 1) / 2) * 0.04 : 0),
            })),
            endMs,
          ),
          ...(i === 0 ? { markLine: markLine(false) } : {}),
        })),
      ],
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}
