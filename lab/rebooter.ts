/**
 * The lab's reboot, for `npm run ops -- maintain … --reboot --lab` and scenario
 * `maintain-all`: a real reboot of the managed guest (systemd, lab/machine/) — reboot.target,
 * UML re-executes its kernel with the same disk, no apply — waited for until the guest's boot
 * has finished (`Lab.reboot`).
 */
import { DEFAULT_STATE_DIR, Lab } from "./guest";
import { Rebooter } from "../src/ops/maintain";

/** The running lab's reboot (what `ops maintain --lab` uses). */
export function labRebooter(stateDir: string = DEFAULT_STATE_DIR): Rebooter {
  return labRebooterFor(Lab.attach(stateDir));
}

/** The same, for a scenario that holds the lab already. */
export function labRebooterFor(lab: Lab): Rebooter {
  return {
    async reboot(h, _plan, boundMs) {
      const t0 = Date.now();
      await lab.reboot(h.hostname, { timeoutMs: boundMs });
      return {
        ok: true,
        detail: `rebooted (systemd guest, its disk kept, no apply) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      };
    },
  };
}
