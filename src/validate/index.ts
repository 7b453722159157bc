/**
 * Run every file's own checker (from Debian's packages) against its rendered copy, and
 * check every sysctl key exists. A checker that is not installed is a failure, never a skip.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HostPlan, PlannedFile, Sysctl } from "../plan/types";
import { shellWord } from "../escape";

export interface CheckResult {
  host: string;
  /** File path on the host, or `sysctl <key>`. */
  what: string;
  checker: string;
  ok: boolean;
  /** The checker's own message on failure (trimmed). */
  message: string;
}

/**
 * sysctl keys that exist only once their module is loaded. The host running `validate` may
 * not have the module (no IPVS here), so these are checked against the kernel's documented
 * key list instead. Note: IPVS keys live under net.ipv4.vs only; they apply to both families
 * (there is no net.ipv6.vs.*).
 */
export const MODULE_SYSCTLS: Record<string, string[]> = {
  ip_vs: [
    "am_droprate",
    "amemthresh",
    "backup_only",
    "cache_bypass",
    "conn_reuse_mode",
    "conntrack",
    "drop_entry",
    "drop_packet",
    "expire_nodest_conn",
    "expire_quiescent_template",
    "ignore_tunneled",
    "nat_icmp_send",
    "pmtu_disc",
    "run_estimation",
    "schedule_icmp",
    "secure_tcp",
    "sloppy_sctp",
    "sloppy_tcp",
    "snat_reroute",
    "sync_persist_mode",
    "sync_ports",
    "sync_qlen_max",
    "sync_refresh_period",
    "sync_retries",
    "sync_sock_size",
    "sync_threshold",
    "sync_version",
  ].map((k) => `net.ipv4.vs.${k}`),
};

/** Per-interface keys (net.ipv4.conf.<if>.x) are checked against the `all` variant: the interface may not exist here. */
export function sysctlExists(s: Sysctl, procRoot = "/proc/sys"): boolean {
  if (s.module && MODULE_SYSCTLS[s.module]?.includes(s.key)) return true;
  const generic = s.key.replace(/^net\.(ipv4|ipv6)\.(conf|neigh)\.[^.]+\./, "net.$1.$2.all.");
  const variants = [s.key, generic];
  if (/^net\.ipv6\.neigh\./.test(s.key))
    variants.push(s.key.replace(/^net\.ipv6\.neigh\.[^.]+\./, "net.ipv6.neigh.default."));
  if (/^net\.ipv4\.neigh\./.test(s.key))
    variants.push(s.key.replace(/^net\.ipv4\.neigh\.[^.]+\./, "net.ipv4.neigh.default."));
  return variants.some((k) => fs.existsSync(path.join(procRoot, ...k.split("."))));
}

// Offline checkers written in this repo (k0s.yaml's typed schema) run through node_modules/.bin.
process.env.PATH = `${path.resolve(__dirname, "../../node_modules/.bin")}:${process.env.PATH ?? ""}`;

function which(cmd: string): boolean {
  return (process.env.PATH ?? "").split(":").some((d) => {
    try {
      fs.accessSync(path.join(d, cmd), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function run(cmd: string, timeoutMs: number): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      out += `\n(checker timed out after ${timeoutMs} ms)`;
    }, timeoutMs);
    child.on("close", (code, sig) => {
      clearTimeout(t);
      resolve({ code: code ?? (sig ? 128 : 1), out });
    });
  });
}

/** Check one file whose rendered copy is at `onDisk`. The copy is staged to a scratch path first (checkers may rewrite nothing, but some care about the name). */
export async function checkFile(
  host: string,
  f: PlannedFile,
  onDisk: string,
): Promise<CheckResult> {
  if (!f.validate)
    return {
      host,
      what: f.path,
      checker: "-",
      ok: true,
      message: "no checker for this kind of file",
    };
  const v = f.validate.offline ?? f.validate;
  const checker = v.checker;
  const program = f.validate.offline ? v.command.trim().split(/\s+/)[0] : checker;
  if (!which(program))
    return {
      host,
      what: f.path,
      checker,
      ok: false,
      message: `checker "${checker}" is not installed (see README set-up)`,
    };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-validate-"));
  try {
    const staged = path.join(dir, path.basename(f.path));
    fs.copyFileSync(onDisk, staged);
    const cmd = v.command.split("{file}").join(`'${staged.replace(/'/g, `'\\''`)}'`);
    const r = await run(cmd, 60000);
    const msg = r.out.trim().split("\n").filter(Boolean).slice(-6).join(" | ");
    return {
      host,
      what: f.path,
      checker,
      ok: r.code === 0,
      message: r.code === 0 ? "" : msg || `exit ${r.code}`,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The environment's Prometheus alert rules (not a host's file): `promtool check rules` from
 * Debian's prometheus package. Missing promtool is a failure, as for every checker.
 */
export async function checkAlertRules(file: string): Promise<CheckResult> {
  const what = path.basename(file);
  if (!which("promtool"))
    return {
      host: "prometheus",
      what,
      checker: "promtool",
      ok: false,
      message: 'checker "promtool" is not installed (see README set-up)',
    };
  const r = await run(`promtool check rules ${shellWord(file, "alert rules file")}`, 60000);
  const msg = r.out.trim().split("\n").filter(Boolean).slice(-6).join(" | ");
  return {
    host: "prometheus",
    what,
    checker: "promtool",
    ok: r.code === 0,
    message: r.code === 0 ? "" : msg || `exit ${r.code}`,
  };
}

/** Validate rendered hosts. `fileOnDisk(hostname, path)` locates the rendered copy. */
export async function validatePlans(
  plans: Pick<HostPlan, "hostname" | "files" | "sysctls">[],
  fileOnDisk: (hostname: string, p: string) => string,
  concurrency = Math.max(2, os.cpus().length * 2),
): Promise<CheckResult[]> {
  const jobs: (() => Promise<CheckResult>)[] = [];
  for (const p of plans) {
    for (const f of p.files)
      jobs.push(() => checkFile(p.hostname, f, fileOnDisk(p.hostname, f.path)));
    for (const s of p.sysctls)
      jobs.push(async () => {
        const ok = sysctlExists(s);
        return {
          host: p.hostname,
          what: `sysctl ${s.key}`,
          checker: "sysctl",
          ok,
          message: ok
            ? ""
            : `no such key under /proc/sys${s.module ? ` nor a known key of module ${s.module}` : ""}`,
        };
      });
  }
  const results: CheckResult[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, jobs.length) }, async () => {
      while (next < jobs.length) {
        const i = next++;
        results[i] = await jobs[i]();
      }
    }),
  );
  return results;
}
