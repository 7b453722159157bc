/** Host processes: liveness and killing by PID, only ever of PIDs the lab started. */
import * as fs from "fs";

export { sleep } from "../../src/ops/runner";

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0): count it as gone.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** PID of a live process whose argv starts with `prefix` exactly (one we started). */
export function findByArgv(prefix: string[]): number | undefined {
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0");
      if (prefix.every((a, i) => argv[i] === a) && alive(Number(e))) return Number(e);
    } catch {
      /* exited meanwhile */
    }
  }
  return undefined;
}

/** SIGKILL a process group (a guest: its kernel process and every helper it forked), then the PID. */
export function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
}

/** SIGTERM every ssh client whose command line carries `key` (the lab's own key file). */
export function endSshClients(key: string): void {
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0");
      if (argv[0] === "ssh" && argv.includes(key)) process.kill(Number(e), "SIGTERM");
    } catch {
      /* exited meanwhile */
    }
  }
}

/** Live processes but this one whose command line contains `text`, as `pid N: <cmdline>`. Read-only. */
export function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmd.includes(text) && alive(Number(e))) found.push(`pid ${e}: ${cmd.slice(0, 120)}`);
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}
