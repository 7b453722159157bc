/**
 * The lab's transport for the apply steps: the SAME `applySteps(plan, labServices)` list the
 * Pulumi components run over SSH, run here through `Lab.exec`. Only two things differ, both
 * reported rather than hidden:
 *   - `packages`: guests share the host's (read-only) root and have no network, so nothing can
 *     be installed; the step only lists what is missing (a fidelity gap, not a failure);
 *   - `downloads`: same reason; skipped and reported.
 */
import * as fs from "fs";
import * as path from "path";
import { randomBytes } from "crypto";
import { HostPlan } from "../src/plan/types";
import { applySteps, missingPackagesScript, Step, q } from "../src/apply/steps";
import { Lab } from "./guest";
import { labServices } from "./services";

export interface StepResult {
  id: string;
  kind: Step["kind"];
  code: number;
  ms: number;
  stdout: string;
  stderr: string;
  /** Set when the lab could not run the step as written (why, for the report). */
  gap?: string;
}

export interface ApplyOptions {
  /** Values for `{{secret:<key>}}` placeholders (substituted on the host side, like the real transport). */
  secrets?: Record<string, string>;
  /** Per-step timeout, default 120 s. */
  timeoutMs?: number;
  /** Called after each step (progress output). */
  onStep?: (r: StepResult) => void;
  /**
   * One `Lab.exec` per step (slow: every exec costs 0.2–2 s in a busy lab). Default: the same
   * steps, in the same order, each in its own `bash`, with its own stdout/stderr/exit status,
   * stopping at the first failure — but driven by one script in the guest (one round trip).
   */
  perStepExec?: boolean;
}

/**
 * Batched: every step's script is a file in the node's xfer dir (staged contents too, written
 * host-side); one driver runs them in order, each as `bash STEP` with its own output files,
 * and stops at the first non-zero exit — exactly the sequence the per-step path runs.
 */
async function applyBatched(lab: Lab, node: string, plan: HostPlan, steps: Step[], opts: ApplyOptions): Promise<StepResult[]> {
  const id = `apply-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  const hostDir = path.join(lab.nodeDir(node), "xfer", id);
  const g = `/run/lab/xfer/${id}`;
  fs.mkdirSync(hostDir, { recursive: true });
  const gaps: (string | undefined)[] = [];
  try {
    steps.forEach((s, i) => {
      let script = s.script;
      let gap: string | undefined;
      if (s.kind === "packages") script = missingPackagesScript(plan.packages);
      else if (s.kind === "downloads") {
        script = "true";
        gap = `downloads skipped in the lab: ${plan.downloads.map((d) => d.name).join(", ")}`;
      } else if (s.kind === "stage" && s.planned && s.stagedPath) {
        fs.writeFileSync(path.join(hostDir, `${i}.content`), substituteSecrets(s.planned.content, s.planned.secretKeys, opts.secrets ?? {}), { mode: 0o600 });
        // Staged as root-only first (like Lab.writeFiles: temp name, then rename); the step's
        // own script then sets the planned owner and mode.
        const tmp = `${s.stagedPath}.lab-new`;
        script = `install -D -m 0600 -o root -g root ${g}/${i}.content ${q(tmp)} && mv -f ${q(tmp)} ${q(s.stagedPath)} || exit 1\n${s.script}`;
      }
      gaps.push(gap);
      fs.writeFileSync(path.join(hostDir, `${i}.sh`), script);
    });
    const driver =
      // Each step in a subshell of the driver (a fork, no exec of a new bash: exec is what
      // costs most in UML); `set -e` and `exit` in a step end that subshell only.
      `D=${g}; for ((i = 0; i < ${steps.length}; i++)); do t=$EPOCHREALTIME; ( . $D/$i.sh ) </dev/null >$D/$i.out 2>$D/$i.err; rc=$?; ` +
      `e=$EPOCHREALTIME; echo "$rc $(( (\${e/./} - \${t/./}) / 1000 ))" >$D/$i.rc; [ $rc = 0 ] || break; done; exit 0`;
    const r = await lab.exec(node, driver, { timeoutMs: (opts.timeoutMs ?? 120_000) * 3 });
    const results: StepResult[] = [];
    const read = (f: string) => {
      try {
        return fs.readFileSync(path.join(hostDir, f), "utf8");
      } catch {
        return undefined;
      }
    };
    for (let i = 0; i < steps.length; i++) {
      const rc = read(`${i}.rc`);
      if (rc === undefined) {
        if (r.code !== 0) {
          const res: StepResult = { id: steps[i].id, kind: steps[i].kind, code: r.code, ms: r.ms, stdout: read(`${i}.out`) ?? "", stderr: (read(`${i}.err`) ?? "") + r.stderr };
          results.push(res);
          opts.onStep?.(res);
        }
        break;
      }
      const [code, ms] = rc.trim().split(" ").map(Number);
      const s = steps[i];
      const stdout = read(`${i}.out`) ?? "";
      let gap = gaps[i];
      if (s.kind === "packages" && code === 0 && stdout.trim()) gap = `packages not installed in the lab: ${stdout.trim().split(/\s+/).join(" ")}`;
      const res: StepResult = { id: s.id, kind: s.kind, code, ms, stdout, stderr: read(`${i}.err`) ?? "", ...(gap ? { gap } : {}) };
      results.push(res);
      opts.onStep?.(res);
      if (code !== 0) break;
    }
    return results;
  } finally {
    fs.rmSync(hostDir, { recursive: true, force: true });
  }
}

function substituteSecrets(content: string, keys: string[] | undefined, secrets: Record<string, string>): string {
  if (!keys?.length) return content;
  return content.replace(/\{\{secret:([^}]+)\}\}/g, (m, k: string) => {
    if (!(k in secrets)) throw new Error(`secret ${k} not provided`);
    return secrets[k];
  });
}

/** Run a plan's steps on a lab node, in order, stopping at the first failure. */
export async function applyPlanInLab(lab: Lab, node: string, plan: HostPlan, opts: ApplyOptions = {}): Promise<StepResult[]> {
  const steps = applySteps(plan, labServices);
  if (!opts.perStepExec) return applyBatched(lab, node, plan, steps, opts);
  const results: StepResult[] = [];
  const timeoutMs = opts.timeoutMs ?? 120_000;
  for (const s of steps) {
    let script = s.script;
    let gap: string | undefined;
    if (s.kind === "packages") {
      // List, do not install: report what the lab lacks.
      script = missingPackagesScript(plan.packages);
    } else if (s.kind === "downloads") {
      script = "true";
      gap = `downloads skipped in the lab: ${plan.downloads.map((d) => d.name).join(", ")}`;
    } else if (s.kind === "stage" && s.planned && s.stagedPath) {
      const t0 = Date.now();
      // Staged as root-only first; the step's own script then sets the planned owner and mode.
      await lab.writeFiles(node, [{ path: s.stagedPath, content: substituteSecrets(s.planned.content, s.planned.secretKeys, opts.secrets ?? {}), mode: "0600" }], { timeoutMs });
      const r = await lab.exec(node, script, { timeoutMs });
      const res: StepResult = { id: s.id, kind: s.kind, code: r.code, ms: Date.now() - t0, stdout: r.stdout, stderr: r.stderr };
      results.push(res);
      opts.onStep?.(res);
      if (r.code !== 0) break;
      continue;
    }
    const r = await lab.exec(node, script, { timeoutMs });
    if (s.kind === "packages" && r.code === 0 && r.stdout.trim()) gap = `packages not installed in the lab: ${r.stdout.trim().split(/\s+/).join(" ")}`;
    const res: StepResult = { id: s.id, kind: s.kind, code: r.code, ms: r.ms, stdout: r.stdout, stderr: r.stderr, ...(gap ? { gap } : {}) };
    results.push(res);
    opts.onStep?.(res);
    if (r.code !== 0) break;
  }
  return results;
}
