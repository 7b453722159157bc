/**
 * The lab's transport for a host's apply: the SAME command the Pulumi program registers for
 * the host, `applyCommand(user)` with the same stdin, `applyStdin(bundle, secrets)` (the
 * host's bundle archive, with its secret values when it has any — see components/host.ts and
 * the program test that pins both), run over SSH as Pulumi's remote.Command runs it, from the
 * lab's operator seat to the host's systemd guest. The on-host apply program
 * (scripts/maglev-apply) does everything else, as on a VM.
 *
 * Two lab fidelity gaps, reported rather than hidden: packages cannot be installed (guests
 * share this machine's read-only root and have no network: a package not installed here is
 * not in any guest), and pinned downloads cannot be fetched (no lab stack has one).
 */
import { spawnSync } from "child_process";
import { HostPlan } from "../src/plan/types";
import { applyCommand, applyStdin, compileBundle } from "../src/bundle";
import { Lab } from "./guest";
import { sshExec } from "../src/ops/runner";

export interface ApplyResult {
  /** Exit status of the apply program (0 applied or unchanged, 1 refused, 2 rolled back, 3 rollback failed). */
  code: number;
  ms: number;
  stdout: string;
  stderr: string;
  /** The program's phase lines (`maglev-apply: <phase>: …`). */
  phases: string[];
  /** True when the program found nothing to change. */
  unchanged: boolean;
  /** What the lab could not do as written (packages it would install). */
  gaps: string[];
}

export interface ApplyOptions {
  /** The stack's login user (`proxmox.user`): the command is the one Pulumi runs as that user. */
  user: string;
  /** The stack name the bundle is compiled for (the rendered files' header). */
  stack: string;
  /** Values of the secret keys (the lab's throwaway values). */
  secrets: Record<string, string>;
  /** Bound of the whole apply, default 900 s. */
  timeoutMs?: number;
}

/** Deliver a host's bundle and secrets and run its apply program, exactly as `pulumi up` does: one command. */
export async function applyBundleInLab(
  lab: Lab,
  node: string,
  plan: HostPlan,
  opts: ApplyOptions,
): Promise<ApplyResult> {
  const t0 = Date.now();
  const compiled = compileBundle(opts.stack, plan);
  const stdin = applyStdin(compiled, opts.secrets);
  // systemd guests do what a VM does (journald, daemon-reloads, Type=notify waits) on a
  // twelfth of 2 cores each while nine apply at once: up to 7.5 min measured for a maglev.
  const timeoutMs = opts.timeoutMs ?? 900_000;
  // Reached as a VM is: ssh as the stack's user from the operator's seat, the command run as
  // Pulumi's remote.Command runs it.
  const ssh = lab.sshOptions(opts.user);
  if (!ssh) throw new Error(`${node}: the lab has no operator seat to reach it over SSH`);
  const r = await sshExec(ssh, node, applyCommand(opts.user), timeoutMs, stdin);
  const phases = r.stdout.split("\n").filter((l) => l.startsWith("maglev-apply"));
  const missing = notInstalledHere(plan.packages);
  const gaps = missing.length
    ? [
        `packages not installed in the lab (not on this machine, whose root the guests share): ${missing.join(" ")}`,
      ]
    : [];
  return {
    code: r.code,
    ms: Date.now() - t0,
    stdout: r.stdout,
    stderr: r.stderr,
    phases,
    unchanged: phases.some((l) => /^maglev-apply: unchanged/.test(l)),
    gaps,
  };
}

const installedHere = new Map<string, boolean>();
/** The guests see this machine's root: a package not installed here is not in any guest. */
function notInstalledHere(pkgs: string[]): string[] {
  const unknown = pkgs.filter((p) => !installedHere.has(p));
  if (unknown.length) {
    const r = spawnSync("dpkg-query", ["-W", "-f=${db:Status-Status} ${Package}\n", ...unknown], {
      encoding: "utf8",
    });
    for (const p of unknown)
      installedHere.set(
        p,
        new RegExp(`^installed ${p.replace(/[.+]/g, "\\$&")}$`, "m").test(r.stdout),
      );
  }
  return pkgs.filter((p) => !installedHere.get(p));
}
