/**
 * The lab as a HostRunner: day-2 commands (ops, check, hactl) reach lab guests through the
 * lab's exec instead of SSH. Guests are named by their hostnames (lab-vm-mgw01, …).
 */
import { HostRunner } from "../src/ops/runner";
import { DEFAULT_STATE_DIR, Lab } from "./guest";
import { labServices } from "./services";

export function labRunner(stateDir: string = DEFAULT_STATE_DIR): HostRunner {
  const lab = Lab.attach(stateDir);
  return {
    kind: "lab",
    services: labServices,
    async run(hostname, script, timeoutMs = 30000) {
      const r = await lab.exec(hostname, script, { timeoutMs });
      return { stdout: r.stdout, stderr: r.stderr, code: r.code };
    },
  };
}
