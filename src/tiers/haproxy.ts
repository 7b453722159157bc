/**
 * HaproxyNode (mlb01-03): HAProxy 2.6 with frontends bound directly to the group's VIPs
 * (direct server return), the health API keepalived checks on port 9300, the admin stats
 * socket, the Prometheus exporter, and `hactl` to put application servers in maintenance.
 *
 * The renderers and checkers are in src/daemons/haproxy; this file composes them.
 */
import { Topology, HostFacts, GroupFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { hostScript } from "../plan/scripts";
import { dsrMember, groupsOf, BASH_SYNTAX } from "./l7-common";
import { addressesOf, FirewallSpec, memberServices, mgmtNetworks, planFirewall } from "./firewall";
import {
  HAPROXY_CFG,
  HACTL_PATH,
  HACTL_ENV,
  HAPROXY_RELOAD_DROPIN,
  HAPROXY_SOFT_STOP_DROPIN,
  HAPROXY_STATS_PORT,
  HAPROXY_STATS_SECRET,
  haproxyConfig,
  hactlEnv,
  haproxyReloadDropIn,
  haproxySoftStopDropIn,
  healthPortOf,
} from "../daemons/haproxy/render";
import {
  HAPROXY_DROPIN_VALIDATE,
  HAPROXY_SOFT_STOP_VALIDATE,
  HAPROXY_VALIDATE,
} from "../daemons/haproxy/validate";

// HAProxy's renderers and checkers live in src/daemons/haproxy; their names stay importable here.
export {
  HAPROXY_CFG,
  HAPROXY_ADMIN_SOCKET,
  HAPROXY_DRAIN_BACKEND,
  HAPROXY_SERVER_STATE,
  HACTL_PATH,
  HAPROXY_STATS_PORT,
  HAPROXY_HEALTH_PORT_DEFAULT,
  HAPROXY_STATS_SECRET,
  frontendName,
  backendName,
  haproxyConfig,
  HACTL_ENV,
  hactlEnv,
  HAPROXY_RELOAD_DROPIN,
  haproxyReloadDropIn,
  HAPROXY_SOFT_STOP_DROPIN,
  haproxySoftStopDropIn,
  HAPROXY_HARD_STOP_AFTER_S,
  HAPROXY_STOP_TIMEOUT_S,
} from "../daemons/haproxy/render";
export {
  HAPROXY_VALIDATE,
  HAPROXY_DROPIN_VALIDATE,
  HAPROXY_SOFT_STOP_VALIDATE,
} from "../daemons/haproxy/validate";

/**
 * Drain: make this node's health API answer 503 for every frontend (and /haproxy-health), so
 * the maglevs' keepalived takes it out of every IPVS service within one check interval while
 * established connections finish. The switch is a server `flag` in backend `be_drain` that never
 * receives traffic: configured `disabled` (serving); the admin socket flips it.
 *   drain:   echo "set server be_drain/flag state ready" | socat stdio unix-connect:/run/haproxy/admin.sock
 *   undrain: echo "set server be_drain/flag state maint" | socat stdio unix-connect:/run/haproxy/admin.sock
 * `hactl drain` / `hactl undrain` run exactly these and save the server state file, so a drain
 * survives a reload or restart of HAProxy until it is undrained (`hactl status` shows it).
 * (HAProxy 2.6 has no virtual/optional maps — `virt@`/`opt@` fail to parse — and a map file
 * would have to exist before haproxy.cfg is validated, hence a server flag.)
 */
export const HAPROXY_DRAIN_COMMAND = `${HACTL_PATH} drain`;
export const HAPROXY_UNDRAIN_COMMAND = `${HACTL_PATH} undrain`;
/** Prints the client connections the node's VIP frontends hold (what a drain waits to reach 0). */
export const HAPROXY_SESSIONS_COMMAND = `${HACTL_PATH} sessions`;

export function planHaproxy(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  const groups = groupsOf(topo, h).filter((g) => g.kind === "haproxy");
  dsrMember(topo, h, b, "vip");
  b.package("haproxy", "socat", "curl");
  b.service("haproxy");
  b.file({
    path: HAPROXY_CFG,
    mode: "0640",
    owner: "root:haproxy",
    content: haproxyConfig(topo, groups),
    validate: HAPROXY_VALIDATE,
    // reload: the new process takes the listening sockets over (expose-fd), no connection dropped.
    activate: { kind: "reload", service: "haproxy" },
    secretKeys: [HAPROXY_STATS_SECRET],
    secretSyntax: "haproxy-dq",
  });
  b.file({
    path: HACTL_PATH,
    mode: "0755",
    content: hostScript("hactl", topo.env.name),
    validate: BASH_SYNTAX,
  });
  b.file({ path: HACTL_ENV, content: hactlEnv(topo), validate: BASH_SYNTAX });
  b.file({
    path: HAPROXY_RELOAD_DROPIN,
    content: haproxyReloadDropIn(topo),
    validate: HAPROXY_DROPIN_VALIDATE,
    activate: { kind: "command", command: "systemctl daemon-reload" },
  });
  // Stopping HAProxy (a reboot, `systemctl stop`) lets the connections it holds finish, bounded
  // by hard-stop-after: a drained node loses no request at its reboot (issue 21).
  b.file({
    path: HAPROXY_SOFT_STOP_DROPIN,
    content: haproxySoftStopDropIn(topo),
    validate: HAPROXY_SOFT_STOP_VALIDATE,
    activate: { kind: "command", command: "systemctl daemon-reload" },
  });
  const healthPort = healthPortOf(groups);
  planFirewall(topo, h, b, haproxyFirewall(topo, h, groups, healthPort), ["haproxy.service"]);
  b.health = {
    // 200, or 503 while an operator drained the node (the monitor fails on the drain flag):
    // either way the new HAProxy answers on the port the maglevs check. A drained node stays
    // drained through its apply, and its apply can still pass.
    command: `code=$(curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:${healthPort}/haproxy-health) && { [ "$code" = 200 ] || [ "$code" = 503 ]; }`,
    timeoutSeconds: 60,
    description: `HAProxy on ${h.hostname} answers /haproxy-health on port ${healthPort} (200, or 503 while drained)`,
  };
}

/**
 * An HAProxy node: its groups' VIP:port mappings from anyone (untracked, direct server return),
 * the health API from the maglevs (and operators on mgmt), stats on mgmt; the connections to
 * the application servers are untracked too (one per client connection).
 */
export function haproxyFirewall(
  topo: Topology,
  h: HostFacts,
  groups: GroupFacts[],
  healthPort: number,
): FirewallSpec {
  return {
    what: "HAProxy",
    mgmt: [
      {
        why: "stats / Prometheus exporter and the health API, operators on mgmt",
        protocols: ["tcp"],
        ports: [HAPROXY_STATS_PORT, healthPort],
        from: mgmtNetworks(topo),
      },
    ],
    ingress: [
      {
        why: "health API: the maglevs' keepalived checks",
        protocols: ["tcp"],
        ports: [healthPort],
        from: addressesOf(topo.maglevs, "ingress"),
      },
    ],
    vips: { role: "member", services: memberServices(topo, h) },
    connectsTo: groups.flatMap((g) =>
      g.servers.map((s) => ({ address: s.address, protocol: "tcp" as const, port: s.port })),
    ),
  };
}
