/**
 * The lab's ServiceManager: the same interface the apply steps use with systemd, backed by
 * the small supervisor each guest carries (lab/guest-svc.sh, installed as /run/lab/bin/svc).
 * `applySteps(plan, labServices)` produces scripts that run unchanged through `Lab.exec`.
 *
 * Per service (details in guest-svc.sh):
 *   frr                      zebra + staticd + daemons enabled in /etc/frr/daemons (-d), `vtysh -b`;
 *                            reload = start newly enabled daemons + frr-reload.py --reload
 *   keepalived               `keepalived -n -l -D -f …` in its own session; reload = SIGHUP
 *   exabgp                   as user exabgp (setpriv), daemonize=false; reload = SIGUSR1
 *   haproxy                  master-worker `-W -D -p pid -S master.sock`; reload = check + SIGUSR2
 *   dnsdist, pdns            like their Debian units; no ExecReload there, so reload = restart
 *   nftables                 `nft -f /etc/nftables.conf` (oneshot; active once loaded)
 *   any Type=oneshot unit    the plan's own ExecStart/ExecReload/ExecStop lines (maglev-infra-fwmarks,
 *   of the plan              maglev-firewall): a unit the plans add needs nothing here
 *   systemd-networkd         applies /etc/systemd/network/*.netdev/*.network with `ip`
 *   prometheus-node-exporter a no-op in the lab (not installed in guests), reported active
 * The guest's PATH also has `systemctl`, `networkctl` and `netplan` shims mapping to the same
 * supervisor, so the plan's `command` activations (`networkctl reload`, `netplan apply`) run.
 */
import { ServiceManager } from "../src/apply/steps";

export const GUEST_SVC = "/run/lab/bin/svc";

export const labServices: ServiceManager = {
  enableStart: (s) => `${GUEST_SVC} start ${s}`,
  reload: (s) => `${GUEST_SVC} reload ${s}`,
  restart: (s) => `${GUEST_SVC} restart ${s}`,
  isActive: (s) => `${GUEST_SVC} is-active ${s}`,
};

/** Not part of ServiceManager, but the lab needs it (scenarios stop daemons by hand). */
export const labStop = (s: string): string => `${GUEST_SVC} stop ${s}`;
