/**
 * npm run bench:apply — what one host's apply costs, one `name=value` line each:
 *
 *   resources_per_host_max / _mean   resources the Pulumi program registers per mgmt02 host
 *                                    (under mocks, as `npm run preview:offline` shows them)
 *   first_apply_ms_<host>            its first apply during `lab up` (all hosts in parallel)
 *   noop_apply_ms_<host>             a second apply of the same bundle ("unchanged"), one at a time
 *   one_file_apply_ms_<host>         one file changed (a comment line added to a file without an
 *                                    activation): checkers, the tier's drain, health gate, commit —
 *                                    then the host is put back on its plan
 *
 * The apply commands are the ones `pulumi up` runs (lab/transport.ts). Compare hosts and
 * ratios within one run; the lab shares 2 cores between 13 guests.
 */
import { labForBench, runBench } from "./cluster";
import { applyBundleInLab } from "./transport";
import { readStackConfig, synthesize } from "../src/program/offline";
import { HostPlan } from "../src/plan/types";

const line = (k: string, v: string | number) => console.log(`${k}=${v}`);

/** The plan with a comment line added to its first file that has no activation (or undefined). */
function oneFileChanged(p: HostPlan): HostPlan | undefined {
  const f = p.files.find(
    (x) => x.activate.kind === "none" && !x.secretKeys && !x.variants && x.content.startsWith("#"),
  );
  if (!f) return undefined;
  return {
    ...p,
    files: p.files.map((x) =>
      x === f ? { ...x, content: x.content + "# bench:apply: one changed line\n" } : x,
    ),
  };
}

async function main(): Promise<number> {
  const synth = await synthesize({ stack: "mgmt02", config: readStackConfig("mgmt02") });
  const hosts = new Map<string, number>();
  for (const r of synth.resources.filter(
    (x) => x.custom && x.type !== "pulumi:providers:proxmoxve",
  )) {
    const h = r.name.split("-")[0];
    hosts.set(h, (hosts.get(h) ?? 0) + 1);
  }
  line("resources_total", synth.resources.length);
  line("resources_per_host_max", Math.max(...hosts.values()));
  line(
    "resources_per_host_mean",
    ([...hosts.values()].reduce((a, b) => a + b, 0) / hosts.size).toFixed(2),
  );

  const log = (s: string) => console.error(s);
  const { lab, m, cf, broughtUp } = await labForBench(log);
  const opts = { user: m.topo.env.proxmox.user, stack: m.topo.env.name, secrets: cf.secrets };
  try {
    for (const p of m.plans)
      if (cf.firstApplyMs?.[p.hostname] !== undefined)
        line(`first_apply_ms_${p.name}`, cf.firstApplyMs[p.hostname]);
    for (const p of m.plans) {
      const r = await applyBundleInLab(lab, p.hostname, p, opts);
      line(
        `noop_apply_ms_${p.name}`,
        r.unchanged ? r.ms : `NaN (${r.phases.slice(-1)[0] ?? r.code})`,
      );
    }
    for (const p of m.plans) {
      const changed = oneFileChanged(p);
      if (!changed) continue;
      const r = await applyBundleInLab(lab, p.hostname, changed, opts);
      line(`one_file_apply_ms_${p.name}`, r.code === 0 ? r.ms : `NaN (exit ${r.code})`);
      // Where the time went (or why it failed), for the reader of the figures.
      log(
        `${p.hostname} one-file apply: ${r.phases.map((x) => x.replace(/^maglev-apply: /, "")).join(" | ")}${r.code ? ` | ${r.stderr.trim().split("\n").slice(-3).join(" | ")}` : ""}`,
      );
      const back = await applyBundleInLab(lab, p.hostname, p, opts);
      if (back.code !== 0)
        throw new Error(
          `${p.hostname}: could not put it back on its plan: ${back.phases.slice(-1)[0]}`,
        );
    }
    return 0;
  } finally {
    if (broughtUp) await lab.down();
  }
}

runBench("bench:apply", main);
