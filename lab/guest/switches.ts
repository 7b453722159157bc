/**
 * The lab's networks: one vde_switch per network (its socket under <state>/sw/), and the
 * operator's seat — a network namespace of this machine with a tap (vde_plug2tap) plugged into
 * one switch. The Lab records every PID these return (lab.json) so that down() ends them.
 */
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { findByArgv, sleep } from "./proc";

/** The socket of a network's switch (the name checked: it becomes a path). */
export function switchSocket(stateDir: string, network: string): string {
  if (!/^[a-z0-9-]+$/.test(network)) throw new Error(`bad network name ${network}`);
  return path.join(stateDir, "sw", network);
}

/** Start the vde_switch of `network` on socket `sock`; returns its PID. */
export async function startSwitch(sock: string, network: string): Promise<number> {
  const pidFile = sock + ".pid";
  fs.rmSync(pidFile, { force: true });
  fs.rmSync(sock, { recursive: true, force: true });
  // -d daemonizes; the daemon writes its own PID file, which is the PID we kill later.
  const r = spawnSync("vde_switch", ["-s", sock, "-d", "-p", pidFile, "-n", "64"], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`vde_switch ${network}: ${r.stderr}`);
  // Under load the daemon can take seconds to write its PID file: wait (bounded), then fall
  // back to finding the process by its exact argv (our own socket path), so a switch we
  // started is never left unrecorded and thus never left behind by down().
  let pid = await pidFromFile(pidFile, 500);
  if (!pid) pid = findByArgv(["vde_switch", "-s", sock]) ?? 0;
  if (!pid) throw new Error(`vde_switch ${network}: no pid after 10 s`);
  return pid;
}

/** The PID a daemon wrote to `pidFile`, read up to `tries` times 20 ms apart while the file is missing; 0 if none. */
async function pidFromFile(pidFile: string, tries: number): Promise<number> {
  let pid = 0;
  for (let i = 0; i < tries && !pid; i++) {
    try {
      pid = Number(fs.readFileSync(pidFile, "utf8").trim()) || 0;
    } catch {
      await sleep(20);
    }
  }
  return pid;
}

/** The operator's namespace of the lab in `stateDir` (one name per lab). */
export function operatorNetns(stateDir: string): string {
  return `maglev-lab-${createHash("sha256").update(stateDir).digest("hex").slice(0, 8)}`;
}

/** Run `args` inside `netns`; throws with its stderr. */
function inNetns(netns: string, args: string[]): void {
  const r = spawnSync("ip", ["netns", "exec", netns, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")} in ${netns}: ${r.stderr.trim()}`);
}

/** `ip netns add`, unless it is there. */
export function addNetns(netns: string): void {
  if (!fs.existsSync(`/run/netns/${netns}`)) {
    const r = spawnSync("ip", ["netns", "add", netns], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`ip netns add ${netns}: ${r.stderr.trim()}`);
  }
}

/** Plug tap `op0` inside `netns` into the switch at `sock` (vde_plug2tap -d); returns its PID. */
export async function startOperatorTap(
  stateDir: string,
  netns: string,
  network: string,
  sock: string,
): Promise<number> {
  const pidFile = path.join(stateDir, "sw", `${network}.operator.pid`);
  fs.rmSync(pidFile, { force: true });
  inNetns(netns, ["vde_plug2tap", "-d", "-P", pidFile, "-s", sock, "op0"]);
  const pid = await pidFromFile(pidFile, 250);
  if (!pid) throw new Error(`vde_plug2tap in ${netns}: no pid after 5 s`);
  return pid;
}

/** Bring the namespace's lo and op0 up, with the operator's addresses on op0. */
export function addressOperatorTap(netns: string, ipv4: string, ipv6?: string): void {
  inNetns(netns, ["ip", "link", "set", "lo", "up"]);
  inNetns(netns, ["ip", "link", "set", "op0", "up"]);
  inNetns(netns, ["ip", "addr", "add", ipv4, "dev", "op0"]);
  if (ipv6) inNetns(netns, ["ip", "-6", "addr", "add", ipv6, "dev", "op0", "nodad"]);
}
