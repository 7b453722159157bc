/**
 * What the lab needs on this machine, checked without changing anything. Returns exactly
 * what is missing, each item actionable (a Debian package name, a device, memory, the kernel).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { labKernelPath } from "./guest";
import { packageNames } from "./packages";

/**
 * Debian packages: the list scripts/setup.sh installs (scripts/packages.txt), all of it;
 * the group `kernel-build` only while the lab kernel is not built yet.
 */
export const KERNEL_BUILD_GROUP = "kernel-build";

/** Host memory the default 3–6 node lab needs (~97 MB per 128M guest, LAB-NOTES), with slack. */
export const MIN_MEM_AVAILABLE_MB = 1536;

function installed(pkgs: string[]): Set<string> {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Package} ${Status}\\n", ...pkgs], {
    encoding: "utf8",
  });
  const ok = new Set<string>();
  for (const line of r.stdout.split("\n")) {
    const [name, ...status] = line.split(" ");
    if (status.join(" ") === "install ok installed") ok.add(name.replace(/:.*$/, ""));
  }
  return ok;
}

export interface PrereqOptions {
  /** Also require the kernel build dependencies (when the kernel is not built yet). */
  forBuild?: boolean;
}

/** Everything missing, one human-readable item each; empty when the lab can run. */
export function checkPrerequisites(opts: PrereqOptions = {}): string[] {
  const missing: string[] = [];
  const kernel = labKernelPath();
  const want = packageNames({ except: opts.forBuild || !kernel.built ? [] : [KERNEL_BUILD_GROUP] });
  const have = installed(want);
  const pk = want.filter((p) => !have.has(p));
  if (pk.length)
    missing.push(
      `debian packages: ${pk.join(" ")} (./scripts/setup.sh installs scripts/packages.txt; or apt-get install -y ${pk.join(" ")})`,
    );
  if (!fs.existsSync("/dev/net/tun")) missing.push("device /dev/net/tun");
  const mem = /MemAvailable:\s+(\d+)/.exec(fs.readFileSync("/proc/meminfo", "utf8"));
  const availMB = mem ? Math.floor(Number(mem[1]) / 1024) : 0;
  if (availMB < MIN_MEM_AVAILABLE_MB)
    missing.push(`memory: ${availMB} MB available, need ≥ ${MIN_MEM_AVAILABLE_MB} MB`);
  // A missing kernel is not a problem when it can be built (ensureKernel does, once).
  if (typeof process.getuid === "function" && process.getuid() !== 0)
    missing.push("root (hostfs guests run daemons as their users; the lab runs as root)");
  return missing;
}

/** Throws one error listing everything missing (the lab cannot run without them). */
export function requirePrerequisites(): void {
  const missing = checkPrerequisites();
  if (missing.length) throw new Error(`lab prerequisites missing:\n  - ${missing.join("\n  - ")}`);
}

/**
 * Build the lab kernel if it is not cached yet (lab/kernel.sh; about 10–20 minutes on 2 cores,
 * once per kernel config). Throws when the build fails.
 */
export function ensureKernel(log: (s: string) => void): string {
  const k = labKernelPath();
  if (k.built) return k.path;
  log(
    `building the lab's UML kernel once (nftables, IPVS, dummy, VRF built in; cached at ${path.dirname(k.path)}); this takes 10–20 minutes on 2 cores …`,
  );
  const t0 = Date.now();
  const r = spawnSync("bash", [path.join(__dirname, "kernel.sh")], {
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
  });
  if (r.status !== 0)
    throw new Error(
      `lab kernel build failed (exit ${r.status}); see the build log under ${path.dirname(path.dirname(k.path))}`,
    );
  log(`  kernel built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return labKernelPath().path;
}

if (require.main === module) {
  const m = checkPrerequisites();
  if (m.length === 0) console.log("lab prerequisites: all present");
  else {
    console.log("lab prerequisites missing:");
    for (const x of m) console.log(`  - ${x}`);
    process.exitCode = 1;
  }
}
