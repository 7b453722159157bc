/**
 * What every scenario gets and the loop that runs them: the Ctx a scenario works with, the
 * helpers scenarios share on it (apply a plan as `pulumi up` does, boot a halted node again,
 * a changed copy of the stack), and runScenarioList — a ready lab before each scenario, the
 * restores in between, one more attempt after a failure (retryOnce or a BFD drop), the BGP
 * sessions the gateways dropped by BFD counted into every result, lab-results.json.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import { Lab } from "../guest";
import { ensureKernel, requirePrerequisites } from "../prereqs";
import { applyHost, daemonLog, notReadyEvidence, readCluster, up, waitReady } from "../cluster";
import { applyBundleInLab } from "../transport";
import { buildLabModel, LabModel } from "../topology";
import { labRunner } from "../runner";
import { LoadGeneratorDead } from "./load-mix";
import { HostRunner } from "../../src/ops/runner";
import { HostPlan } from "../../src/plan/types";
import { readStackEnvironment } from "../../src/config/load";

export interface Ctx {
  lab: Lab;
  m: LabModel;
  secrets: Record<string, string>;
  runner: HostRunner;
  log: (s: string) => void;
  /**
   * A bare `lab test` (the quick set): a scenario with a long form runs its short one (`reboot`
   * reboots one maglev and one HAProxy node instead of every guest). False for `--all` and for
   * scenarios named on the command line.
   */
  quick: boolean;
  /**
   * Put back what a scenario broke (a halted node, a changed stack): run before the next
   * scenario, or at the end when the lab stays up — skipped when the lab goes down anyway.
   */
  restoreLater(what: string, fn: () => Promise<void>): void;
}

export interface ScenarioResult {
  id: string;
  title: string;
  ok: boolean;
  detail: string;
  figures: Record<string, number | string | boolean>;
  ms: number;
}

export type Outcome = Omit<ScenarioResult, "id" | "title" | "ms">;

export interface Scenario {
  id: string;
  title: string;
  /**
   * A timing bound measured on a time-shared 2-core machine: a failure is run once more (after
   * the restore) and both attempts are reported — the line says so, lab-results.json keeps both.
   */
  retryOnce?: boolean;
  run(c: Ctx): Promise<Outcome>;
}

// ---------------------------------------------------------------------------------------------
// Helpers on the Ctx

/** Apply a (possibly changed) plan to one host the way `pulumi up` does. */
export function applyOne(c: Ctx, plan: HostPlan, timeoutMs?: number) {
  return applyBundleInLab(c.lab, plan.hostname, plan, {
    user: c.m.topo.env.proxmox.user,
    stack: c.m.topo.env.name,
    secrets: c.secrets,
    timeoutMs,
  });
}

/** `plan` with the content of its file `path` changed by `edit`. */
export function withFileContent(
  plan: HostPlan,
  path: string,
  edit: (content: string) => string,
): HostPlan {
  return {
    ...plan,
    files: plan.files.map((f) => (f.path === path ? { ...f, content: edit(f.content) } : f)),
  };
}

/**
 * Boot a halted node again and re-apply its plan (a re-provisioned VM); a running node is left
 * alone unless `always` (then it is re-applied too).
 */
export async function reviveNode(c: Ctx, node: string, always = false): Promise<void> {
  const alive = c.lab.status().nodes.find((n) => n.name === node)?.alive;
  if (!alive) await c.lab.start(node);
  if (!alive || always) await applyHost(c.lab, c.m, node, c.secrets, () => undefined);
}

/** Boot a halted node again and re-apply its plan (a re-provisioned VM), then wait for ECMP. */
export function restoreNodeLater(c: Ctx, node: string): void {
  c.restoreLater(`start ${node} and re-apply its plan`, () => reviveNode(c, node));
}

/**
 * A stack file's environment as plain data, typed as far as the scenarios change it (the rest
 * passes through as it is); a variant is validated when it is loaded (buildLabModel, loadStack).
 */
export interface StackEnvDoc {
  backendGroups: Record<string, { kind: string; id: number; members: string[] }>;
  vips: { vip: string; ports: number[]; group: string; protocols?: string[] }[];
  hosts: { name: string }[];
  bgp: { upstream: { name: string; ipv4?: string; ipv6?: string; asn: number }[] };
  sites?: Record<string, { prepend?: number; localPreference?: number; med?: number }>;
}

/** The stack file's environment as plain data, to change and write back as a variant. */
export function stackEnv(m: LabModel): StackEnvDoc {
  return readStackEnvironment(path.join(m.root, "stacks", `Pulumi.${m.stack}.yaml`)) as StackEnvDoc;
}

/** Write a changed copy of the stack to a temporary project root (removed by the caller). */
export function writeStackVariant(
  m: LabModel,
  env: unknown,
  prefix = "maglev-lab-rollout-",
): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.mkdirSync(path.join(root, "stacks"));
  fs.writeFileSync(
    path.join(root, "stacks", `Pulumi.${m.stack}.yaml`),
    YAML.stringify({ config: { "maglev-infra:environment": env } }),
  );
  return root;
}

/**
 * BGP sessions the gateways dropped because BFD went down (their bgpd log), summed. In a
 * healthy lab this stays put during a scenario; when it moves, a guest missed 3 BFD intervals
 * (100 ms) — on this 2-core machine, CPU starvation during an apply — and every flow of that
 * maglev moved at once, which a failed request may come from.
 */
async function gatewayBfdDrops(lab: Lab, m: LabModel): Promise<number> {
  const n = await Promise.all(
    m.topo.gateways.map((g) =>
      lab.exec(g.hostname, daemonLog("frr") + " | grep -c 'BFD Down'", {
        timeoutMs: 15_000,
      }),
    ),
  );
  return n.reduce((a, x) => a + (Number(x.stdout.trim()) || 0), 0);
}

// ---------------------------------------------------------------------------------------------
// The loop

/**
 * Run `chosen` in order, one result line each, all results in ./lab-results.json; 0 when every
 * one passed. Brings the lab up when none runs at `stateDir` (and down afterwards unless `keep`).
 */
export async function runScenarioList(
  chosen: Scenario[],
  { keep, stateDir, quick = false }: { keep: boolean; stateDir: string; quick?: boolean },
): Promise<number> {
  const log = (s: string) => console.log(s);
  const started = Date.now();
  // Plain lines (no cursor movement): they read the same in a terminal and in a CI log.
  const elapsed = () => {
    const sec = Math.round((Date.now() - started) / 1000);
    return `${Math.floor(sec / 60)}m${String(sec % 60).padStart(2, "0")}s`;
  };
  // How long a scenario waits for a ready lab before it starts (sessions up, ECMP full, BFD up, held 3 s).
  const READY_BEFORE_MS = 90_000;
  let broughtUp = false;
  let upMs: number | undefined;
  if (!fs.existsSync(path.join(stateDir, "lab.json"))) {
    requirePrerequisites();
    ensureKernel(log);
    const r = await up({ stateDir, log });
    broughtUp = true;
    upMs = r.totalMs;
    log(`lab up in ${(r.totalMs / 1000).toFixed(1)} s`);
  }
  const lab = Lab.attach(stateDir);
  const cf = readCluster(stateDir);
  const m = buildLabModel(cf.stack, cf.root ?? process.cwd());
  const pending: { what: string; fn: () => Promise<void> }[] = [];
  const ctx: Ctx = {
    lab,
    m,
    secrets: cf.secrets,
    runner: labRunner(stateDir),
    log,
    quick,
    restoreLater: (what, fn) => pending.push({ what, fn }),
  };
  const restore = async () => {
    if (!pending.length) return;
    const t0 = Date.now();
    const what = pending.map((p) => p.what);
    for (const p of pending.splice(0)) {
      try {
        await p.fn();
      } catch (e) {
        // Once more: a guest that lost a daemon under memory or CPU pressure during the restore
        // (seen: a gateway's bgpd after e) is usually fine on a second apply; twice is a failure.
        log(`     restore "${p.what}" failed once (${(e as Error).message.split("\n")[0]}); again`);
        await p.fn();
      }
    }
    const st = await waitReady(lab, m, 60_000);
    log(
      `     restored (${what.join("; ")}) in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${st.ok ? "ready" : `NOT ready: ${st.detail}`}`,
    );
    if (!st.ok)
      throw new Error(`the lab did not recover: ${st.detail}\n${await notReadyEvidence(lab, m)}`);
  };
  const results: ScenarioResult[] = [];
  try {
    for (const [i, s] of chosen.entries()) {
      await restore();
      log(`==> [${i + 1}/${chosen.length}, +${elapsed()}] ${s.id}: ${s.title}`);
      const t0 = Date.now();
      let generatorDead: LoadGeneratorDead | undefined;
      const attempt = async (): Promise<Outcome> => {
        try {
          return await s.run(ctx);
        } catch (e) {
          if (e instanceof LoadGeneratorDead) generatorDead = e;
          return {
            ok: false,
            detail: `error: ${(e as Error).message.split("\n").slice(0, 4).join(" ")}`,
            figures: {},
          };
        }
      };
      // Every scenario starts from a ready lab (sessions up, ECMP full, BFD up, held 3 s): a
      // session dropped during the previous one must not be counted against this one.
      // 90 s: after a power cut's restore a starved guest can flap its sessions once more.
      const pre = await waitReady(lab, m, READY_BEFORE_MS);
      const drops0 = await gatewayBfdDrops(lab, m);
      let o: Outcome = pre.ok
        ? await attempt()
        : {
            ok: false,
            detail: `the lab was not ready before the scenario (${READY_BEFORE_MS / 1000} s): ${pre.detail}\n${await notReadyEvidence(lab, m)}`,
            figures: {},
          };
      // Run once more after a failure when the scenario measures a time bound on this shared
      // machine (retryOnce), or when the gateways dropped a BGP session by BFD during the failed
      // attempt: with one maglev drained, a starved guest's BFD drop on the other one is an
      // outage the lab made, not the design. A failure without a drop fails at once.
      const firstDrops = pre.ok && !o.ok ? (await gatewayBfdDrops(lab, m)) - drops0 : 0;
      if (!o.ok && pre.ok && !generatorDead && (s.retryOnce || firstDrops > 0)) {
        log(
          `     ${s.id}: failed once (${o.detail}${firstDrops ? `; ${firstDrops} BGP session(s) dropped by BFD meanwhile` : ""}); restoring and running it again`,
        );
        await restore();
        const first = o;
        o = await attempt();
        o = {
          ...o,
          detail: `${o.detail} [2nd attempt; 1st failed${firstDrops ? ` with ${firstDrops} BFD drop(s)` : ""}: ${first.detail}]`,
          figures: {
            ...o.figures,
            attempts: 2,
            firstAttemptFailed: first.detail,
            firstAttemptBfdDrops: firstDrops,
          },
        };
      }
      // Printed with every result: a session drop the scenario did not cause (a power cut
      // does) means a guest was starved of CPU, which explains more than one odd figure.
      const drops = (await gatewayBfdDrops(lab, m)) - drops0;
      if (drops > 0)
        o = { ...o, detail: `${o.detail} [gateways: ${drops} BGP session(s) dropped by BFD]` };
      o = { ...o, figures: { ...o.figures, gatewayBfdDrops: drops } };
      const r: ScenarioResult = { id: s.id, title: s.title, ms: Date.now() - t0, ...o };
      results.push(r);
      log(
        `${r.ok ? "PASS" : "FAIL"} ${r.id.padEnd(8)} ${r.title} (${(r.ms / 1000).toFixed(1)} s): ${r.detail}`,
      );
      // Without its load generator no later scenario measures anything: stop here, say why.
      if (generatorDead) {
        const left = chosen.slice(i + 1).map((x) => x.id);
        if (left.length) log(`     not run (no load generator): ${left.join(" ")}`);
        break;
      }
    }
  } finally {
    const out = {
      stack: m.stack,
      nftables: true,
      upMs: upMs ?? cf.upMs,
      passed: results.filter((r) => r.ok).length,
      failed: results.filter((r) => !r.ok).length,
      results,
    };
    fs.writeFileSync("lab-results.json", JSON.stringify(out, null, 2) + "\n");
    log(`${out.passed} passed, ${out.failed} failed in ${elapsed()} (lab-results.json)`);
    if (!(broughtUp && !keep)) await restore();
    else if (pending.length)
      log(`     not restored (the lab goes down): ${pending.map((p) => p.what).join("; ")}`);
    if (broughtUp && !keep) {
      const { leftovers } = await lab.down();
      log(`lab down${leftovers.length ? `; LEFTOVERS: ${leftovers.join("; ")}` : ""}`);
    }
  }
  return results.every((r) => r.ok) && results.length === chosen.length ? 0 : 1;
}
