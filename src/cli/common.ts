/** Shared by the offline CLIs: load a stack or print every config problem and exit 1. */
import { ConfigValidationError, loadStack } from "../config/load";
import { Environment } from "../config/schema";

export function loadOrExit(stack: string): Environment {
  try {
    return loadStack(stack);
  } catch (e) {
    if (e instanceof ConfigValidationError) {
      process.stderr.write(e.message + "\n");
    } else {
      process.stderr.write(`${(e as Error).message}\n`);
    }
    process.exit(1);
  }
}

import { Topology } from "../topology";
import { HostRunner, sshRunner, sshKeyFile } from "../ops/runner";

/** SSH to the stack's hosts (key: MAGLEV_SSH_KEY_FILE or the stack's secret), or the running lab with `lab`. */
export async function runnerFor(
  env: Environment,
  topo: Topology,
  lab: boolean,
): Promise<HostRunner> {
  if (lab) {
    // Loaded only here: the lab is a dev tool, the SSH path must not need it.
    const { labRunner } = await import("../../lab/runner");
    return labRunner();
  }
  return sshRunner({
    addresses: new Map(topo.hosts.map((h) => [h.hostname, h.mgmt.ipv4])),
    user: env.proxmox.user,
    identityFile: await sshKeyFile(env.name),
  });
}
