/**
 * The lab's stand-in for a reboot, for `npm run ops -- maintain … --reboot --lab`.
 *
 * On systemd guests (the default, lab/machine/) it is a reboot: reboot.target,
 * the guest's disk kept, no apply. On the lab's bash guests, which keep no disk across a
 * restart, it is NOT a reboot but what scenario c's restore does after its power cut: halt the guest
 * (uml_mconsole halt, no shutdown path runs), boot it again and re-apply its plan — a
 * re-provisioned VM. What a real disk would have kept is put back by hand, before the apply
 * so the apply sees it as it would after a reboot:
 *   - a maglev's drain file (/etc/maglev-infra/drain: the announce process starts withdrawn),
 *   - a gateway's site drain file (the apply installs the drained frr.conf variant),
 *   - an HAProxy node's drain (HAProxy's server-state file on a VM): `hactl drain` once the
 *     apply started HAProxy.
 * The phase's detail says "lab power cycle", never "rebooted".
 */
import { DEFAULT_STATE_DIR, Lab } from "./guest";
import { applyHost, readCluster } from "./cluster";
import { buildLabModel, LabModel } from "./topology";
import { DRAIN_FILE } from "../src/tiers/maglev";
import { SITE_DRAIN_FILE } from "../src/tiers/gateway";
import { HACTL_PATH, HAPROXY_DRAIN_COMMAND } from "../src/tiers/haproxy";
import { Rebooter, oneLine } from "../src/ops/maintain";

/** Operator state files a VM's disk keeps across a reboot and a lab guest does not. */
const KEPT_FILES = [DRAIN_FILE, SITE_DRAIN_FILE];

/** The running lab's power cycle (what `ops maintain --lab` uses). */
export function labPowerCycle(stateDir: string = DEFAULT_STATE_DIR): Rebooter {
  const cf = readCluster(stateDir);
  return labPowerCycleWith(
    Lab.attach(stateDir),
    buildLabModel(cf.stack, cf.root ?? process.cwd()),
    cf.secrets,
  );
}

/** The same, for a scenario that holds the lab, its model and secrets already. */
export function labPowerCycleWith(
  lab: Lab,
  m: LabModel,
  secrets: Record<string, string>,
): Rebooter {
  return {
    async reboot(h, _plan, boundMs) {
      const t0 = Date.now();
      const node = h.hostname;
      if (lab.machineOf(node) === "systemd") {
        // A real reboot (reboot.target, the guest's own disk): nothing to restore, no apply.
        await lab.reboot(node, { timeoutMs: boundMs });
        return {
          ok: true,
          detail: `rebooted (systemd guest, its disk kept, no apply) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        };
      }
      // What the disk would keep (both are small text files this project writes).
      const kept: { path: string; content: string }[] = [];
      for (const p of KEPT_FILES) {
        const r = await lab.exec(node, `test -f ${p} && cat ${p}`, { timeoutMs: 15_000 });
        if (r.code === 0) kept.push({ path: p, content: r.stdout });
      }
      const haproxyDrained =
        h.tier === "haproxy" &&
        (await lab.exec(node, `${HACTL_PATH} status`, { timeoutMs: 15_000 })).stdout.trim() ===
          "drained";
      await lab.stop(node);
      const down = Date.now() - t0;
      await lab.start(node, { timeoutMs: Math.max(10_000, boundMs - (Date.now() - t0)) });
      if (kept.length)
        await lab.writeFiles(
          node,
          kept.map((k) => ({ ...k, mode: "0644" })),
        );
      try {
        await applyHost(lab, m, node, secrets, () => undefined);
      } catch (e) {
        return {
          ok: false,
          detail: `lab power cycle: booted, re-apply failed: ${oneLine((e as Error).message)}`,
        };
      }
      if (haproxyDrained) {
        const r = await lab.exec(node, HAPROXY_DRAIN_COMMAND, { timeoutMs: 30_000 });
        if (r.code !== 0)
          return {
            ok: false,
            detail: `lab power cycle: re-applied, but its drain did not come back: ${oneLine(r.stderr || r.stdout)}`,
          };
      }
      const ms = Date.now() - t0;
      if (ms > boundMs)
        return {
          ok: false,
          detail: `lab power cycle took ${(ms / 1000).toFixed(1)} s (bound ${(boundMs / 1000).toFixed(0)} s)`,
        };
      const restored = [...kept.map((k) => k.path), ...(haproxyDrained ? ["hactl drain"] : [])];
      return {
        ok: true,
        detail: `lab power cycle (halt ${(down / 1000).toFixed(1)} s, boot + re-apply; a reboot once guests run systemd, issue 13)${restored.length ? `; kept: ${restored.join(", ")}` : ""}; ${(ms / 1000).toFixed(1)} s`,
      };
    },
  };
}
