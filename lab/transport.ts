/**
 * The lab's transport for the apply steps: the SAME `applySteps(plan, labServices)` list the
 * Pulumi components run over SSH, run here through `Lab.exec`. Only two things differ, both
 * reported rather than hidden:
 *   - `packages`: guests share the host's (read-only) root and have no network, so nothing can
 *     be installed; the step only lists what is missing (a fidelity gap, not a failure);
 *   - `downloads`: same reason; skipped and reported.
 */
import { HostPlan } from "../src/plan/types";
import { applySteps, Step } from "../src/apply/steps";
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
  const results: StepResult[] = [];
  const timeoutMs = opts.timeoutMs ?? 120_000;
  for (const s of steps) {
    let script = s.script;
    let gap: string | undefined;
    if (s.kind === "packages") {
      const pkgs = plan.packages.join(" ");
      // List, do not install: report what the lab lacks.
      script = pkgs
        ? `for p in ${pkgs}; do dpkg-query -W -f='\${Status}\\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done`
        : "true";
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
