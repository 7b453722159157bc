/**
 * Where the lab's files are. This folder is lab/guest/; the files the guests run (lab/init.sh,
 * lab/lab-frr.sh, lab/kernel.sh, lab/machine/) stay in lab/, one level up.
 */
import * as path from "path";

export const DEFAULT_STATE_DIR = process.env.MAGLEV_LAB_DIR ?? "/run/maglev-lab";
/** lab/ */
export const LAB_SRC = path.join(__dirname, "..");
/** lab/machine/ */
export const MACHINE_SRC = path.join(LAB_SRC, "machine");

/** A node's dir in the lab's state dir: what the guest sees as /run/lab. */
export function nodeDirOf(stateDir: string, node: string): string {
  return path.join(stateDir, "nodes", node);
}
