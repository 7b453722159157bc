/**
 * Lab guests: one User-Mode Linux process per node, one vde_switch per network, an exec agent
 * inside each guest reached through a hostfs-shared directory (lab/init.sh and lab/machine/
 * are the guest side; ../shared/LAB-NOTES.md holds the measured facts behind the choices).
 *
 * Everything needed to reach a running lab lives in its state dir (default /run/maglev-lab,
 * never inside the repo): `lab.json` records every PID we started, so `Lab.attach(dir).down()`
 * from another process can still tear it all down. We only ever signal PIDs we started.
 *
 * What lives where (this index re-exports the public names):
 *   lab.ts       the Lab class: lab.json, the PIDs it owns, start/stop/reboot, down(), status
 *   boot.ts      kernel path and modules, the node dir every guest reads, the kernel command line
 *   machine.ts   the systemd guest: its disk, cloud-init data, runtime units, masks
 *   exec.ts      the exec agent's host side (Lab.exec) and file transfer (Lab.writeFiles)
 *   switches.ts  vde_switch per network, the operator's namespace and tap
 *   ssh.ts       the lab's SSH key, known_hosts, runner options for src/ops/runner.ts
 *   proc.ts      PID liveness and killing; paths.ts where lab/ and the state dir are
 *   types.ts     NodeSpec and the other data types
 */
export { Lab } from "./lab";
export { labKernelPath } from "./boot";
export { DEFAULT_STATE_DIR } from "./paths";
export type {
  BootInfo,
  CloudInit,
  ExecOptions,
  ExecResult,
  FileToWrite,
  LabOptions,
  LabSsh,
  LabStatus,
  NodeInterface,
  NodeSpec,
  NodeState,
  OperatorSeat,
} from "./types";
