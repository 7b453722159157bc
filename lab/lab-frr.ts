/**
 * FRR on the lab-only routers (router, transit; lab/smoke.ts's r1 and r2): the commands that
 * run lab/lab-frr.sh, which lab/guest/boot.ts copies into a bash guest's node dir (its bin/,
 * /run/lab/bin in the guest). Managed hosts run systemd and never use it.
 */
export const LAB_FRR = "/run/lab/bin/lab-frr";

export const labFrr = {
  /** zebra, staticd and the daemons enabled in /etc/frr/daemons, then `vtysh -b`. */
  start: `${LAB_FRR} start`,
  /** Newly enabled daemons started, then `frr-reload.py --reload`. */
  reload: `${LAB_FRR} reload`,
  /** Exit 0 when every enabled daemon runs. */
  isActive: `${LAB_FRR} is-active`,
};
