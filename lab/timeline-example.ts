/**
 * `npx tsx lab/timeline-example.ts [out.svg]`: the example timeline docs/lab.md names, from SYNTHETIC
 * data shaped like scenario c (a maglev power cut under ~400 requests/s, BFD removing the
 * route on both gateways about a second later). Until a lab run's own lab-timeline-c.svg
 * replaces it, this shows what the picture looks like; it measures nothing.
 */
import * as fs from "fs";
import { Timeline, timelineSvg } from "./timeline";

export function syntheticPowerCut(): Timeline {
  const halt = 4300;
  const removal = [halt + 1180, halt + 1420];
  const load = Array.from({ length: 12 }, (_, i) => {
    const t = i * 1000;
    // Flows hashed to the halted maglev stall until the gateways drop its next hop, then reach
    // the other one (Maglev hashing: the same real server); a few requests are counted failed.
    const stalled = t + 1000 > halt && t < removal[1];
    return { t, ok: stalled ? 230 + (i % 2) * 15 : 395 + ((i * 7) % 11), failed: i === 5 ? 3 : 0 };
  });
  const gateways = ["lab-vm-mgw01", "lab-vm-mgw02"];
  return {
    scenario: "c",
    title: "Maglev power cut under load: failed requests, route removal time",
    startedAt: "2026-12-01T00:00:00.000Z",
    durationMs: 12_000,
    load,
    nextHops: gateways.flatMap((gateway, i) => [
      { t: 0, gateway, vip: "198.18.7.15", nextHops: 2 },
      { t: removal[i], gateway, vip: "198.18.7.15", nextHops: 1 },
    ]),
    markers: [
      { t: halt, label: "halt lab-vm-maglev01", kind: "halt" },
      ...gateways.map((g, i) => ({
        t: removal[i],
        label: `route gone on ${g}`,
        kind: "removal" as const,
      })),
    ],
    note: "SYNTHETIC example (lab/timeline-example.ts), not a measurement: `npm run lab -- test c` writes the real one",
  };
}

if (require.main === module) {
  const out = process.argv[2] ?? "lab/timeline-example.svg";
  fs.writeFileSync(out, timelineSvg(syntheticPowerCut()));
  console.log(`wrote ${out}`);
}
