/**
 * SSH into the systemd guests, as for a real environment: the lab's own key pair (what the
 * guests' cloud-init authorizes), a known_hosts of their host keys, the runner options of
 * src/ops/runner.ts. All under <state>/ssh/.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { SshRunnerOptions } from "../../src/ops/runner";
import { nodeDirOf } from "./paths";
import type { NodeSpec } from "./types";

/** The lab's SSH key pair (made once per lab). */
export function labSshKey(stateDir: string): { privateKeyFile: string; publicKey: string } {
  const dir = path.join(stateDir, "ssh");
  const key = path.join(dir, "id_ed25519");
  if (!fs.existsSync(key)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const r = spawnSync(
      "ssh-keygen",
      ["-q", "-t", "ed25519", "-N", "", "-C", "maglev-lab", "-f", key],
      { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  }
  return { privateKeyFile: key, publicKey: fs.readFileSync(key + ".pub", "utf8").trim() };
}

/** Write <state>/ssh/known_hosts: every systemd guest's host key at its first address. Returns its path. */
export function writeKnownHosts(stateDir: string, nodes: NodeSpec[]): string {
  const dir = path.join(stateDir, "ssh");
  const knownHosts = path.join(dir, "known_hosts");
  const lines: string[] = [];
  for (const spec of nodes) {
    if (spec.machine !== "systemd") continue;
    const pub = path.join(nodeDirOf(stateDir, spec.name), "cloud-init", "ssh_host_ed25519_key.pub");
    if (!fs.existsSync(pub)) continue;
    const key = fs.readFileSync(pub, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    for (const a of [spec.interfaces[0]?.ipv4, spec.interfaces[0]?.ipv6])
      if (a) lines.push(`${a.split("/")[0]} ${key}`);
  }
  fs.writeFileSync(knownHosts, lines.sort().join("\n") + "\n", { mode: 0o600 });
  return knownHosts;
}

/** The runner options reaching the systemd guests among `nodes` as `user` from namespace `netns`. */
export function sshOptionsFor(
  stateDir: string,
  nodes: NodeSpec[],
  netns: string,
  user: string,
): SshRunnerOptions {
  const addresses = new Map<string, string>();
  for (const spec of nodes) {
    const a = spec.interfaces[0]?.ipv4;
    if (spec.machine === "systemd" && a) addresses.set(spec.hostname ?? spec.name, a.split("/")[0]);
  }
  const dir = path.join(stateDir, "ssh");
  return {
    addresses,
    user,
    identityFile: path.join(dir, "id_ed25519"),
    knownHostsFile: path.join(dir, "known_hosts"),
    prefix: ["ip", "netns", "exec", netns],
  };
}
