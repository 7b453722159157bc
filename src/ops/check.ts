/**
 * Live diagnostics (the seed's "Horizon", as part of the tool): for every host, compare what
 * runs with the plan — file hashes (drift), services, BGP sessions and BFD peers, ECMP width
 * per VIP on each gateway, IPVS services and real-server weights, HAProxy backend states,
 * IPVS conntrack off, ingress0 MTU and interface errors. One row per check, ✓ or ✗.
 *
 * Written against `HostRunner`, so the same checks run over SSH and in the lab. This file runs
 * them; what is asked and judged is in ./check-rows.ts, the `--diff` of drifted files in
 * ./check-diff.ts, the framing of many probes in one run in ./probe-frames.ts.
 */
import { Topology, HostFacts } from "../topology";
import { HostPlan } from "../plan/types";
import { HostRunner } from "./runner";
import { CheckRow, drainProbe, driftedFiles, hostRows, isDrained, probeHost } from "./check-rows";
import { FileDiff, hostDiffs } from "./check-diff";

// The IPVS and route parsers live with their daemons (one parser for the operations and the
// lab); the rows, diffs and probe framing in their own files. Their names stay importable here.
export { parseIpvs } from "../daemons/keepalived/probes";
export { nextHops } from "../daemons/frr/probes";
export {
  type CheckRow,
  type DriftedFile,
  type HostProbe,
  driftedFiles,
  hostRows,
} from "./check-rows";
export {
  type FileDiff,
  HOST_MASKER,
  DIFF_MAX_LINES,
  diffScript,
  parseDiffOutput,
  unifiedDiff,
  formatDiffs,
} from "./check-diff";
export { type Probe, type ProbeResult, probeScript, parseProbes } from "./probe-frames";

/** Drain state of every maglev, gateway (site drain) and HAProxy node, asked once (expected weights and ECMP width depend on it). */
export async function drainStates(
  topo: Topology,
  runner: HostRunner,
  hosts: HostFacts[] = topo.hosts,
): Promise<Map<string, boolean>> {
  const out = new Map<string, boolean>();
  await Promise.all(
    hosts.map(async (h) => {
      const probe = drainProbe(h);
      if (!probe) return;
      const r = await runner.run(h.hostname, probe);
      out.set(h.name, isDrained(r.stdout));
    }),
  );
  return out;
}

/**
 * Check every host (or only those named): one probe run per host, all hosts at once, then the
 * rows. The gateways' expected ECMP width and the maglevs' expected weights depend on which
 * nodes are drained, so hosts outside `only` are still asked for their drain state.
 */
export async function checkEnvironment(
  topo: Topology,
  plans: HostPlan[],
  runner: HostRunner,
  only?: string[],
): Promise<CheckRow[]> {
  return (await checkHosts(topo, plans, runner, { hosts: only })).rows;
}

/** Which hosts to check and whether to fetch the drifted files' diffs. */
export interface CheckOptions {
  /** Only these hosts (short or full names). @default every host */
  hosts?: string[];
  /** Only hosts of these tiers. @default every tier */
  tiers?: string[];
  /** Fetch every drifted file (secrets masked on the host) and diff it against the plan. @default false */
  diff?: boolean;
}

/** What `check` found: the rows, and with `diff` one unified diff per drifted file. */
export interface CheckReport {
  rows: CheckRow[];
  diffs: FileDiff[];
}

/** The hosts `check` looks at: named ones and tiers, both when both are given. */
export function selectHosts(
  topo: Topology,
  opts: Pick<CheckOptions, "hosts" | "tiers">,
): HostFacts[] {
  const { hosts: only, tiers } = opts;
  return topo.hosts.filter(
    (h) =>
      (!only?.length || only.includes(h.name) || only.includes(h.hostname)) &&
      (!tiers?.length || tiers.includes(h.tier)),
  );
}

export async function checkHosts(
  topo: Topology,
  plans: HostPlan[],
  runner: HostRunner,
  opts: CheckOptions = {},
): Promise<CheckReport> {
  const byName = new Map(plans.map((p) => [p.name, p]));
  const hosts = selectHosts(topo, opts);
  const probed = await Promise.all(
    hosts.map((h) => probeHost(topo, byName.get(h.name)!, h, runner)),
  );
  const drained = new Map<string, boolean>();
  hosts.forEach((h, i) => {
    const d = probed[i].results.get("drain");
    if (d) drained.set(h.name, isDrained(d.out));
  });
  const others = topo.hosts.filter((h) => !hosts.includes(h) && drainProbe(h));
  if (others.length)
    for (const [name, d] of await drainStates(topo, runner, others)) drained.set(name, d);
  const rows = hosts.flatMap((h, i) => hostRows(topo, byName.get(h.name)!, h, probed[i], drained));
  const diffs = opts.diff
    ? (
        await Promise.all(
          hosts.map((h, i) =>
            hostDiffs(byName.get(h.name)!, h, driftedFiles(byName.get(h.name)!, probed[i]), runner),
          ),
        )
      ).flat()
    : [];
  return { rows, diffs };
}

export function formatTable(rows: CheckRow[]): string {
  const hw = Math.max(4, ...rows.map((r) => r.host.length));
  const cw = Math.max(5, ...rows.map((r) => r.check.length));
  const lines = rows.map(
    (r) => `${r.ok ? "✓" : "✗"}  ${r.host.padEnd(hw)}  ${r.check.padEnd(cw)}  ${r.detail}`,
  );
  const failed = rows.filter((r) => !r.ok).length;
  return [...lines, "", `${rows.length - failed} passed, ${failed} failed`].join("\n") + "\n";
}
