/**
 * HAProxy 2.6 on an HAProxy node: haproxy.cfg (frontends bound to the group's VIPs, the health
 * API keepalived checks, the drain flag, stats and the Prometheus exporter), hactl's parameters,
 * the reload drop-in that saves the server state and the soft-stop drop-in. In HAProxy's syntax;
 * values through haproxyWord (and shellWord for hactl.env).
 *
 * haproxy.cfg is byte-identical on every node of a group (the seed's rule): nothing in it is
 * per host. What must listen per host listens on the wildcard, restricted by source.
 */
import { Topology, GroupFacts } from "../../topology";
import { header } from "../../plan/header";
import { haproxyWord, shellWord } from "../../escape";

export const HAPROXY_CFG = "/etc/haproxy/haproxy.cfg";
export const HAPROXY_ADMIN_SOCKET = "/run/haproxy/admin.sock";
/** Backend whose only server is the drain flag: flag READY = node drained, MAINT (as configured) = serving. */
export const HAPROXY_DRAIN_BACKEND = "be_drain";
export const HAPROXY_SERVER_STATE = "/var/lib/haproxy/server-state";
export const HACTL_PATH = "/usr/local/sbin/hactl";
/** Stats page and Prometheus exporter (`/stats`, `/metrics`), mgmt sources only. */
export const HAPROXY_STATS_PORT = 8404;
export const HAPROXY_HEALTH_PORT_DEFAULT = 9300;
/** Secret (pulumi config key) holding the stats page password. */
export const HAPROXY_STATS_SECRET = "haproxyStatsPassword";

/**
 * Soft stop (issue 21). One HAProxy knob, `hard-stop-after`, bounds every soft-stopping process:
 * the old worker of each reload as much as a stopping HAProxy. The two want different bounds, so
 * the stop has its own, systemd's:
 *
 * - `hard-stop-after` 15 min: a reload (every apply that changes haproxy.cfg) must not cut a
 *   TCP connection that still works — the VIP frontends are mode tcp, where HAProxy cannot ask a
 *   client to close. 15 min keeps old workers from piling up behind connections that never end;
 *   anything idle is gone after `timeout client` anyway.
 * - `TimeoutStopSec` 40 s: `ops maintain`/`ops drain` stop an HAProxy node only after its drain —
 *   weight 0 on every maglev, then its IPVS active connections at 0 or the drain timeout (60 s,
 *   src/ops/maintain-plan.ts DEFAULTS.drainTimeoutS) — so what is left at the stop are
 *   stragglers; they get 40 s more, then systemd SIGKILLs what is left (the unit's result is then
 *   "timeout"; for a reboot that is the point). A reboot waits at most 40 s for HAProxy
 *   (maintain's reboot bound is 600 s, the lab's reboot scenario's 180 s).
 */
export const HAPROXY_HARD_STOP_AFTER_S = 15 * 60;
export const HAPROXY_STOP_TIMEOUT_S = 40;

/** Every VIP frontend's name starts with it: `hactl sessions` sums theirs (hactl.env). */
export const VIP_FRONTEND_PREFIX = "fe_";
export const frontendName = (fwmark: number) => `${VIP_FRONTEND_PREFIX}${fwmark}`;
export const backendName = (fwmark: number) => `be_${fwmark}`;

function bindAddr(addr: string, port: number): string {
  // HAProxy takes the last colon as the port separator, so v6 needs no brackets.
  return `${addr}:${port}`;
}

/**
 * The full haproxy.cfg for the haproxy groups a host is a member of (normally one): the same
 * bytes for every member of the group. A spare HAProxy host in no group gets the health API
 * and stats only.
 */
export function haproxyConfig(topo: Topology, groups: GroupFacts[]): string {
  const env = topo.env;
  const n = env.networks;
  const healthPort = healthPortOf(groups);
  const fwmarks = groups
    .flatMap((g) => g.fwmarks.map((f) => ({ f, g })))
    .sort((a, b) => a.f.fwmark - b.f.fwmark);
  const L: string[] = [];
  const add = (...lines: string[]) => L.push(...lines);
  add(
    "global",
    "    log /dev/log local0",
    "    log /dev/log local1 notice",
    "    chroot /var/lib/haproxy",
    "    user haproxy",
    "    group haproxy",
    "    daemon",
    "    maxconn 100000",
    // admin level: hactl and the drain use `set server` / `add map`; expose-fd lets a reload
    // take the listening sockets over without dropping a connection.
    `    stats socket ${HAPROXY_ADMIN_SOCKET} mode 660 level admin expose-fd listeners`,
    "    stats timeout 30s",
    // Servers put in maintenance with hactl stay so across reloads (hactl saves the state).
    `    server-state-file ${HAPROXY_SERVER_STATE}`,
    // The old worker of a reload serves what it holds for this long at most (a stop: see the
    // soft-stop drop-in, systemd bounds it).
    `    hard-stop-after ${HAPROXY_HARD_STOP_AFTER_S / 60}m`,
    "",
    "defaults",
    "    log global",
    // TCP mode, as the seed: HAProxy forwards L4 to the application servers; TLS, if any, is the application's.
    "    mode tcp",
    "    option tcplog",
    "    option dontlognull",
    "    option redispatch",
    "    retries 3",
    "    timeout connect 5s",
    "    timeout client 60s",
    "    timeout server 60s",
    "    timeout check 2s",
    "    load-server-state-from-file global",
    "    default-server inter 2s fall 3 rise 2",
    "",
  );

  for (const { f, g } of fwmarks) {
    const fe = frontendName(f.fwmark);
    const be = backendName(f.fwmark);
    const vips = [...f.vips.ipv4, ...f.vips.ipv6];
    add(
      `# fwmark ${f.fwmark}: ${vips.join(", ")} port ${f.port} (${f.protocols.join("+")})`,
      `frontend ${fe}`,
    );
    // Bound to the VIPs themselves (on the vip dummy), never to ingress0: the packet IPVS
    // forwards still has the VIP as destination, and the reply leaves from the VIP.
    for (const v of vips) add(`    bind ${bindAddr(v, f.port)}`);
    add(`    default_backend ${be}`, "", `backend ${be}`, "    balance leastconn");
    if (g.servers.length === 0)
      add(
        "    # no application servers in the stack: the health API answers 503 for this frontend",
      );
    for (const s of g.servers)
      add(
        `    server ${haproxyWord(s.name, `backendGroups.${g.name}.servers[].name`)} ${haproxyWord(bindAddr(s.address, s.port), `backendGroups.${g.name}.servers[].address`)} check`,
      );
    add("");
  }

  add(
    `# Health API for the maglevs' keepalived (HTTP_GET on each member's ingress address, port ${healthPort}):`,
    "#   /health?frontend=fe_<fwmark>  200 when that frontend's backend has a usable server, else 503",
    "#   /haproxy-health               200 while HAProxy runs",
    "# Both answer 503 while the node is drained (see hactl drain).",
    "frontend health",
    "    mode http",
    // Soft stop: an idle keep-alive connection is not closed under the client's feet; it stays
    // until its next request, whose response carries "Connection: close" (HTTP frontends only).
    "    option idle-close-on-response",
    "    option dontlog-normal",
    `    bind 0.0.0.0:${healthPort}`,
    `    bind :::${healthPort} v6only`,
    "    timeout client 5s",
    // Keepalived connects from the maglevs' ingress addresses; operators from mgmt.
    `    tcp-request connection reject unless { src ${n.ingress.ipv4} ${n.ingress.ipv6} ${n.mgmt.ipv4} ${n.mgmt.ipv6} 127.0.0.1 ::1 }`,
    `    acl drained nbsrv(${HAPROXY_DRAIN_BACKEND}) gt 0`,
    "    monitor-uri /haproxy-health",
    "    monitor fail if drained",
    '    http-request return status 503 content-type text/plain string "drained\\n" if drained',
  );
  for (const { f } of fwmarks) {
    const fe = frontendName(f.fwmark);
    const be = backendName(f.fwmark);
    add(
      `    http-request return status 503 content-type text/plain string "${fe} no usable server\\n" if { path /health } { url_param(frontend) -m str ${fe} } { nbsrv(${be}) lt 1 }`,
      `    http-request return status 200 content-type text/plain string "${fe} ok\\n" if { path /health } { url_param(frontend) -m str ${fe} }`,
    );
  }
  add(
    '    http-request return status 404 content-type text/plain string "unknown frontend\\n"',
    "",
  );
  add(
    "# The drain switch (hactl drain / undrain): never receives traffic, no check.",
    `backend ${HAPROXY_DRAIN_BACKEND}`,
    "    mode http",
    "    server flag 127.0.0.1:9 disabled",
    "",
  );

  add(
    `# Stats page and Prometheus exporter, mgmt network only (node_exporter is on :9100).`,
    "frontend stats",
    "    mode http",
    // Soft stop: an idle keep-alive connection (Prometheus keeps its scrape connection) is not closed under the client's feet; it stays
    // until its next request, whose response carries "Connection: close" (HTTP frontends only).
    "    option idle-close-on-response",
    `    bind 0.0.0.0:${HAPROXY_STATS_PORT}`,
    `    bind :::${HAPROXY_STATS_PORT} v6only`,
    "    timeout client 30s",
    `    tcp-request connection reject unless { src ${n.mgmt.ipv4} ${n.mgmt.ipv6} 127.0.0.1 ::1 }`,
    "    http-request use-service prometheus-exporter if { path /metrics }",
    "    stats enable",
    "    stats uri /stats",
    "    stats refresh 10s",
    "    stats show-legends",
    "    stats show-node",
    // Read-only page; changes go through the admin socket (hactl), which is audited by SSH.
    `    stats auth "admin:{{secret:${HAPROXY_STATS_SECRET}}}"`,
    "",
  );
  const what = groups.length
    ? groups
        .map(
          (g) =>
            `HAProxy of backend group ${g.name} (identical on ${g.members.map((m) => m.name).join(", ")})`,
        )
        .join("; ")
    : "HAProxy of a spare node (member of no backend group)";
  return header(env.name, "#", what) + L.join("\n");
}

/** The values hactl (scripts/host/hactl) reads: those this file's haproxy.cfg uses. */
export const HACTL_ENV = "/etc/maglev-infra/hactl.env";

/** hactl's parameters as shell assignments, sourced by hactl. */
export function hactlEnv(topo: Topology): string {
  return (
    header(topo.env.name, "#", "hactl: HAProxy of this node") +
    [
      `HAPROXY_ADMIN_SOCKET=${shellWord(HAPROXY_ADMIN_SOCKET)}`,
      `HAPROXY_DRAIN_BACKEND=${shellWord(HAPROXY_DRAIN_BACKEND)}`,
      `HAPROXY_SERVER_STATE=${shellWord(HAPROXY_SERVER_STATE)}`,
      `HAPROXY_VIP_FRONTEND_PREFIX=${shellWord(VIP_FRONTEND_PREFIX)}`,
      "",
    ].join("\n")
  );
}

/** Saves the server state before every reload of haproxy.service, whoever asks for it. */
export const HAPROXY_RELOAD_DROPIN = "/etc/systemd/system/haproxy.service.d/save-state.conf";

export function haproxyReloadDropIn(topo: Topology): string {
  return (
    header(topo.env.name, "#", "haproxy.service: save the server state before every reload") +
    [
      "# load-server-state-from-file global: a reloaded HAProxy starts its servers from the state",
      `# file. Written only by hactl, it would hold whatever the last hactl call saw — a server an`,
      "# operator (or a failed check) took down since would come back up. So every reload (the",
      "# apply's, an operator's `systemctl reload haproxy`) saves the state first. A failed save",
      "# (`-`: HAProxy not running) does not stop the reload.",
      "[Service]",
      "ExecReload=",
      `ExecReload=-${HACTL_PATH} save-state`,
      // Debian 12's own two ExecReload lines, unchanged: check the new file, then USR2 the master.
      "ExecReload=/usr/sbin/haproxy -Ws -f $CONFIG -c -q $EXTRAOPTS",
      "ExecReload=/bin/kill -USR2 $MAINPID",
      "",
    ].join("\n")
  );
}

/** `systemctl stop haproxy` (and a reboot's stop) as a soft stop, bounded. */
export const HAPROXY_SOFT_STOP_DROPIN = "/etc/systemd/system/haproxy.service.d/soft-stop.conf";

export function haproxySoftStopDropIn(topo: Topology): string {
  return (
    header(topo.env.name, "#", "haproxy.service: stop = soft stop (SIGUSR1), bounded") +
    [
      "# Debian 12's haproxy.service (haproxy 2.6.12-1+deb12u4, systemd 252) runs `haproxy -Ws`",
      "# (master-worker) with KillMode=mixed and no ExecStop=: a stop is KillSignal= to the master",
      "# alone, SIGTERM by default, a hard stop that cuts every established connection. On SIGUSR1",
      "# the master passes a soft stop to its workers: they unbind their listeners at once (the",
      "# health API fails, as after a drain), keep serving the connections they hold until those",
      "# end, and the master leaves (exit 0) after its last worker (HAProxy management guide,",
      `# "Stopping and restarting HAProxy"). TimeoutStopSec= bounds that: after ${HAPROXY_STOP_TIMEOUT_S} s systemd`,
      `# SIGKILLs what is left (haproxy.cfg's hard-stop-after, ${HAPROXY_HARD_STOP_AFTER_S / 60} min, is for the old workers of reloads).`,
      "# Only KillSignal= does this: systemd.service(5) takes a service as stopped once ExecStop=",
      "# returns and then sends KillSignal=, so `ExecStop=kill -USR1 $MAINPID` would be followed",
      "# at once by SIGTERM. systemd.kill(5), KillMode=mixed: that signal goes to the main process",
      "# only, SIGKILL to what is left of the cgroup once it exited or after TimeoutStopSec= (the",
      "# master outlives its workers, so nothing is left). RestartKillSignal= defaults to",
      "# KillSignal=: `systemctl restart` soft-stops too, then starts.",
      "[Service]",
      "KillSignal=SIGUSR1",
      `TimeoutStopSec=${HAPROXY_STOP_TIMEOUT_S}s`,
      "",
    ].join("\n")
  );
}

/** keepalived checks every member on the group's health-check port; one port for the node. */
export function healthPortOf(groups: GroupFacts[]): number {
  const ports = [...new Set(groups.map((g) => g.healthCheck.port ?? HAPROXY_HEALTH_PORT_DEFAULT))];
  if (ports.length > 1)
    throw new Error(
      `haproxy groups ${groups.map((g) => g.name).join(", ")} share members but differ in healthCheck.port (${ports.join(", ")})`,
    );
  return ports[0] ?? HAPROXY_HEALTH_PORT_DEFAULT;
}
