/**
 * How day-2 commands (ops, check, hactl) reach a host: SSH to a real environment (mgmt address
 * and user from the stack, key as a secret), or to the lab's guests from its operator seat
 * (lab/runner.ts). The commands are written once against `HostRunner`.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ServiceManager, systemd } from "../apply/steps";
import { shellWord } from "../escape";

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface HostRunner {
  /** How hosts are reached (`ssh`), for messages. */
  readonly kind: string;
  /** How services are checked/started on these hosts. */
  readonly services: ServiceManager;
  /** Run a shell script as root on the host (by its full hostname); `stdin`, when given, is its standard input (secrets travel there, never in the script). */
  run(hostname: string, script: string, timeoutMs?: number, stdin?: string): Promise<RunResult>;
}

export interface SshRunnerOptions {
  /** hostname → mgmt IPv4. */
  addresses: Map<string, string>;
  /** Remote user (the stack's proxmox.user); scripts run through sudo unless it is root. */
  user: string;
  /** Private key file; when absent, ssh-agent / ~/.ssh/config decide. */
  identityFile?: string;
  /** A known_hosts file checked strictly (the lab records its guests' host keys); default ssh's own. */
  knownHostsFile?: string;
  /** argv run before `ssh` (the lab: `ip netns exec <operator namespace>`). @default [] */
  prefix?: string[];
}

/**
 * Run one remote command over SSH as `opts.user`, `stdin` piped to it: the command exactly as
 * given (the Pulumi program's apply command carries its own `sudo -n`), bounded by `timeoutMs`.
 */
export function sshExec(
  opts: SshRunnerOptions,
  hostname: string,
  remote: string,
  timeoutMs: number,
  stdin?: string,
): Promise<RunResult> {
  const addr = opts.addresses.get(hostname);
  if (!addr) return Promise.resolve({ stdout: "", stderr: `unknown host ${hostname}`, code: 255 });
  const args = [
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=5",
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=2",
    ...(opts.identityFile ? ["-i", opts.identityFile, "-o", "IdentitiesOnly=yes"] : []),
    ...(opts.knownHostsFile
      ? ["-o", `UserKnownHostsFile=${opts.knownHostsFile}`, "-o", "StrictHostKeyChecking=yes"]
      : []),
    `${opts.user}@${addr}`,
    remote,
  ];
  const [cmd, ...argv] = [...(opts.prefix ?? []), "ssh", ...args];
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, {
      stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    if (stdin !== undefined) {
      child.stdin!.on("error", () => undefined); // ssh gone: its exit status tells
      child.stdin!.end(stdin);
    }
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(t);
      resolve({ stdout, stderr, code: code ?? 124 });
    });
    child.on("error", (e) => resolve({ stdout, stderr: String(e), code: 255 }));
  });
}

export function sshRunner(opts: SshRunnerOptions): HostRunner {
  return {
    kind: "ssh",
    services: systemd,
    run(hostname, script, timeoutMs = 30000, stdin) {
      const remote =
        opts.user === "root" ? `sh -c ${shellWord(script)}` : `sudo -n sh -c ${shellWord(script)}`;
      return sshExec(opts, hostname, remote, timeoutMs, stdin);
    },
  };
}

/**
 * The SSH key for day-2 commands: a file named by MAGLEV_SSH_KEY_FILE, or the stack's secret
 * `maglev-infra:sshPrivateKey` read with the Pulumi CLI into a 0600 temp file removed at exit.
 * Never printed.
 */
export async function sshKeyFile(stack: string): Promise<string | undefined> {
  if (process.env.MAGLEV_SSH_KEY_FILE) return process.env.MAGLEV_SSH_KEY_FILE;
  const key = await new Promise<string | undefined>((resolve) => {
    const child = spawn(
      "pulumi",
      ["config", "get", "maglev-infra:sshPrivateKey", "--stack", stack],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", () => resolve(undefined));
    child.on("close", (code) => resolve(code === 0 && out.trim() ? out : undefined));
  });
  if (!key) return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-ssh-"));
  const file = path.join(dir, "id");
  fs.writeFileSync(file, key.endsWith("\n") ? key : key + "\n", { mode: 0o600 });
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return file;
}

/** A pause of `ms`: the one sleep of src/ and lab/ (lab/readiness.ts and lab/guest/proc.ts re-export it). */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `probe` every `everyMs` until it is done or `timeoutMs` has passed; the last answer either way. */
export async function waitFor(
  timeoutMs: number,
  probe: () => Promise<{ done: boolean; detail: string }>,
  everyMs = 250,
): Promise<{ done: boolean; detail: string }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const last = await probe();
    if (last.done || Date.now() >= end) return last;
    await sleep(everyMs);
  }
}
