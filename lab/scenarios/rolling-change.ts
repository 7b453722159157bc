/**
 * Scenario `e`: a rolling change under load. A VIP added and a port moved to a new one-node
 * HAProxy group, rolled out serially as `pulumi up` does it; 0 failed requests; the stack as
 * written is rolled out again afterwards (a restore).
 */
import * as fs from "fs";
import { rollout, waitReady } from "../cluster";
import { notReadyEvidence } from "../readiness";
import { LoadFigures, url } from "../load";
import { buildLabModel, CLIENT, LabModel } from "../topology";
import { HostFacts } from "../../src/topology";
import { Scenario, stackEnv, writeStackVariant } from "./runner";
import { gatewayTimeline } from "./probes";
import { loadChain, loadSummary } from "./load-mix";

/** The lab stack with one VIP added and one port moved to a new, one-node HAProxy group. */
function changedStack(m: LabModel): {
  root: string;
  added: string;
  moved: { vip: string; port: number; group: string; node: HostFacts };
} {
  const env = stackEnv(m);
  const groups = env.backendGroups;
  const [gname, g] = Object.entries(groups).find(([, g]) => g.kind === "haproxy")!;
  const ids = Object.values(groups).map((x) => x.id);
  const node = g.members[g.members.length - 1];
  const newGroup = `${gname}-b`;
  groups[newGroup] = { ...g, id: Math.max(...ids) + 1, members: [node] };
  const vips = env.vips;
  const multi = vips.find((v) => v.group === gname && v.ports.length > 1 && !v.vip.includes(":"))!;
  const port = multi.ports[multi.ports.length - 1];
  multi.ports = multi.ports.filter((p) => p !== port);
  vips.push({ vip: multi.vip, ports: [port], group: newGroup });
  // A free address in the mgmt network next to the existing VIPs (no host, VIP or router has it).
  const base = multi.vip.split(".").slice(0, 3).join(".");
  const used = new Set([
    ...vips.map((v) => v.vip),
    ...m.topo.hosts.flatMap((h) => [h.mgmt.ipv4, h.ingress?.ipv4 ?? ""]),
    ...m.routers.map((r) => r.mgmt4),
  ]);
  let added = "";
  for (let i = 17; i < 30 && !added; i++) if (!used.has(`${base}.${i}`)) added = `${base}.${i}`;
  vips.push({ vip: added, ports: [80], group: gname });
  const root = writeStackVariant(m, env);
  const model = buildLabModel(m.stack, root);
  return {
    root,
    added,
    moved: {
      vip: multi.vip,
      port,
      group: newGroup,
      node: model.topo.hosts.find((h) => h.name === node)!,
    },
  };
}

export const rollingChange: Scenario = {
  id: "e",
  title: "Rolling change under load: a VIP added, a port moved to another group",
  // Runs once more after a failure: on 2026-12-01 one run lost 1 new connection of 22,981 (v6,
  // a read reset while lab-vm-mlb02 applied, no BFD drop), the full run before it 0 of 27,467;
  // earlier sessions saw 1–2 of ~28,000 the same way. Not explained yet (an HAProxy reload
  // racing the drain's weight 0?); both attempts stay in the result line and lab-results.json.
  retryOnce: true,
  async run(c) {
    const { lab, m, log } = c;
    const ch = changedStack(m);
    const changed = buildLabModel(m.stack, ch.root);
    const problems: string[] = [];
    // When each 10 s load slice and each host's apply started: a failed request is then
    // attributed to the hosts being applied during its slice.
    const sliceStarts: { t: number; figs: LoadFigures[] }[] = [];
    const applies: { t: number; host: string }[] = [];
    const rec = await gatewayTimeline(lab, m, "e", rollingChange.title, 420);
    // Load on what does not change, in 10 s slices for as long as the rollouts run (bounded).
    const loader = loadChain(lab, m, {
      windowS: 10,
      maxWindows: 40,
      perSecond: true,
      onWindow: (t, figs) => {
        rec.addLoad(figs);
        sliceStarts.push({ t, figs });
      },
    });
    let slices: LoadFigures[];
    let forward: { applied: string[]; ms: number };
    try {
      forward = await rollout(lab, changed, (s) => {
        const a = /apply (\S+) \(/.exec(s);
        if (a) applies.push({ t: Date.now(), host: a[1] });
        log(`    ${s.trim()}`);
      });
      const st = await waitReady(lab, changed, 30_000);
      if (!st.ok) {
        problems.push(`after the change: ${st.detail}`);
        // What the gateways and maglevs said (CI, 2026-12-03: mgw01 had no next hop and no
        // BFD to either maglev 30 s after the rollout, and passed on the second attempt).
        for (const l of (await notReadyEvidence(lab, changed)).split("\n")) log(`     | ${l}`);
      }
      const ans = await lab.run(
        CLIENT.name,
        `echo "ADDED $(curl -s -m 3 -w ' %{http_code}' '${url(ch.added, 80)}' | tr -d '\\n')"; ` +
          `for i in 1 2 3 4 5 6; do echo "MOVED $(curl -s -m 3 '${url(ch.moved.vip, ch.moved.port)}' | tr -d '\\n')"; done`,
        { timeoutMs: 60_000 },
      );
      if (!/^ADDED app\d+ via \S+ 200$/m.test(ans))
        problems.push(`new VIP ${ch.added}:80: ${/^ADDED(.*)$/m.exec(ans)?.[1]}`);
      const moved = [...ans.matchAll(/^MOVED (.*)$/gm)].map((x) => x[1]);
      const wantVia = `via ${ch.moved.node.ingress?.ipv4}`;
      if (moved.length !== 6 || moved.some((x) => !x.endsWith(wantVia)))
        problems.push(
          `${ch.moved.vip}:${ch.moved.port} not served by group ${ch.moved.group} only (${wantVia}): ${moved.join(" | ")}`,
        );
    } finally {
      slices = await loader.stop();
      // Back to the stack as written (skipped when the lab goes down next).
      c.restoreLater(`roll the stack back to ${m.stack} as written`, async () => {
        try {
          await rollout(lab, m, (s) => log(`    ${s.trim()}`));
        } finally {
          fs.rmSync(ch.root, { recursive: true, force: true });
        }
      });
    }
    for (const a of applies) rec.mark(`apply ${a.host}`, "other", a.t);
    const l = loadSummary(slices);
    if (l.failed > 0) {
      const during = sliceStarts
        .filter((x) => x.figs.some((f) => Number.isNaN(f.failed) || f.failed > 0))
        .map((x) => {
          const hosts = applies
            .filter(
              (a, i) => a.t < x.t + 10_000 && (applies[i + 1]?.t ?? Number.POSITIVE_INFINITY) > x.t,
            )
            .map((a) => a.host);
          return `slice at +${((x.t - (sliceStarts[0]?.t ?? x.t)) / 1000).toFixed(0)} s while applying ${hosts.join(", ") || "nothing"}`;
        });
      problems.push(`${l.text} (${during.join("; ")})`);
    }
    const detail = problems.length
      ? problems.join("; ")
      : `added ${ch.added}:80, moved ${ch.moved.vip}:${ch.moved.port} to ${ch.moved.group}: serial rollout of ${forward.applied.length} hosts (${forward.applied.join(", ")}) in ${(forward.ms / 1000).toFixed(1)} s; ${l.text}`;
    return {
      ok: problems.length === 0,
      detail,
      figures: {
        rolloutMs: forward.ms,
        hostsApplied: forward.applied.length,
        failed: l.failed,
        requests: l.requests,
        timeline: await rec.write(detail),
      },
    };
  },
};
