/**
 * keepalived on a maglev (IPVS only, no VRRP): one IPVS fwmark service per fwmark and address
 * family, Maglev hashing, direct routing, and the real servers' health checks. In keepalived's
 * own syntax; values through keepalivedWord / commentText.
 */
import { Topology, HostFacts, GroupFacts, FwmarkEntry } from "../../topology";
import { header } from "../../plan/header";
import { commentText, keepalivedWord, systemdExecWord } from "../../escape";
import { frontendName, HAPROXY_HEALTH_PORT_DEFAULT } from "../haproxy/render";
import { INGRESS_HEALTH_PATH, INGRESS_HTTP_PORT } from "../k0s/render";

export const KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf";

/**
 * Default real-server check port per group kind: HAProxy's health API; the k0s ingress's HTTP
 * port, through the ingress to an application endpoint (INGRESS_HEALTH_PATH); DNS.
 */
export const HEALTH_PORT_DEFAULT: Record<GroupFacts["kind"], number> = {
  haproxy: HAPROXY_HEALTH_PORT_DEFAULT,
  "k0s-ingress": INGRESS_HTTP_PORT,
  dnsdist: 53,
};
/** Default HTTP path per kind; `{frontend}` is the HAProxy frontend of the fwmark (`fe_<fwmark>`). */
export const HEALTH_PATH_DEFAULT: Partial<Record<GroupFacts["kind"], string>> = {
  haproxy: "/health?frontend={frontend}",
  "k0s-ingress": INGRESS_HEALTH_PATH,
};

type Family = "ipv4" | "ipv6";
const FAMILIES: Family[] = ["ipv4", "ipv6"];

/** One IPVS service: a fwmark in one address family, with the members that can serve it. */
export interface IpvsService {
  fwmark: FwmarkEntry;
  group: GroupFacts;
  family: Family;
  /** Real servers: the members' ingress addresses of this family (members without one are left out). */
  realServers: { host: HostFacts; address: string }[];
}

/** Every IPVS service the maglevs run, by fwmark then family. Services without any real server are left out. */
export function ipvsServices(topo: Topology): IpvsService[] {
  const out: IpvsService[] = [];
  for (const f of topo.fwmarks) {
    const group = topo.groups.get(f.group);
    if (!group) continue;
    for (const family of FAMILIES) {
      if (f.vips[family].length === 0) continue;
      const realServers = group.members.flatMap((m) => {
        const address = m.ingress?.[family];
        return address ? [{ host: m, address }] : [];
      });
      if (realServers.length) out.push({ fwmark: f, group, family, realServers });
    }
  }
  return out;
}

function healthCheckLines(topo: Topology, svc: IpvsService, indent: string): string[] {
  const g = svc.group;
  const hc = g.healthCheck;
  const port = hc.port ?? HEALTH_PORT_DEFAULT[g.kind];
  // alpha: a checker starts in the failed state, so after a keepalived start or reload a real
  // server gets weight only once its first check passed (without it every member starts at
  // weight 1 and a dead one takes its Maglev share until the first failed check).
  const common = [
    `connect_port ${port}`,
    `connect_timeout ${hc.timeoutSeconds}`,
    "retry 1",
    `delay_before_retry ${hc.intervalSeconds}`,
    "alpha",
  ];
  const I = (l: string[]) => l.map((x) => indent + x);
  if (g.kind === "dnsdist") {
    // A real query over UDP, answered NOERROR: dnsdist is up and has a backend for the zone.
    const zone = topo.env.dns.servedZones?.[0] ?? topo.env.dns.zone;
    return I([
      "DNS_CHECK {",
      ...common.map((l) => `    ${l}`),
      "    type SOA",
      `    name ${keepalivedWord(zone, "dns.servedZones[0]")}`,
      "}",
    ]);
  }
  const path = keepalivedWord(
    (hc.path ?? HEALTH_PATH_DEFAULT[g.kind] ?? "/")
      .split("{frontend}")
      .join(frontendName(svc.fwmark.fwmark)),
    `backendGroups.${g.name}.healthCheck.path`,
  );
  return I([
    "HTTP_GET {",
    "    url {",
    `        path ${path}`,
    "        status_code 200",
    "    }",
    ...common.map((l) => `    ${l}`),
    "}",
  ]);
}

export function keepalivedConfig(topo: Topology, h: HostFacts): string {
  const services = ipvsServices(topo);
  const L: string[] = [
    ...header(topo.env.name, "#", `keepalived (IPVS only, no VRRP) of ${h.hostname}`)
      .trimEnd()
      .split("\n"),
    "#",
    "# One IPVS service per fwmark and address family. Maglev hashing on the whole 5-tuple",
    "# (mh + mh-port) gives every maglev the same flow → real server mapping, so a flow that",
    "# moves to the other maglev keeps its real server. Direct routing: the member answers the",
    "# client itself. A member failing its check gets weight 0 (inhibit_on_failure): no new",
    "# flows, established ones continue — it never vanishes from the service.",
    "# mh-fallback: Maglev keeps a weight-0 member's slots (so the other flows keep their",
    "# member); without it a new flow hashing to such a slot finds no destination and the",
    "# maglev's own stack answers it with a reset (measured in the lab: 171 of 447 new",
    "# connections reset while one HAProxy node was drained). With it, those flows take the",
    "# next member of the permutation — the same one on every maglev.",
    "",
    "global_defs {",
    `    router_id ${keepalivedWord(h.hostname, `hostname of ${h.name}`)}`,
    // keepalived owns IPVS on this host: drop services a killed keepalived left behind.
    "    lvs_flush",
    "}",
  ];
  for (const svc of services) {
    const f = svc.fwmark;
    const g = svc.group;
    const proto = `${f.port}/${f.protocols.join("+")}`;
    L.push(
      "",
      `# fwmark ${f.fwmark} (${svc.family === "ipv4" ? "IPv4" : "IPv6"}): group ${commentText(g.name, "backendGroups name")} (${g.kind}), port ${proto} — ${f.vips[svc.family].join(", ")}`,
      `virtual_server fwmark ${f.fwmark} {`,
    );
    if (svc.family === "ipv6") L.push("    ip_family inet6");
    L.push(
      `    delay_loop ${g.healthCheck.intervalSeconds}`,
      "    lvs_sched mh",
      "    mh-port",
      "    mh-fallback",
      "    lvs_method DR",
    );
    for (const rs of svc.realServers) {
      L.push(
        "",
        `    # ${commentText(rs.host.hostname, `hostname of ${rs.host.name}`)}`,
        `    real_server ${rs.address} {`,
        "        weight 1",
        "        inhibit_on_failure",
        ...healthCheckLines(topo, svc, "        "),
        "    }",
      );
    }
    const missing = g.members.filter((m) => !m.ingress?.[svc.family]);
    if (missing.length)
      L.push(
        `    # not here (no ${svc.family === "ipv4" ? "IPv4" : "IPv6"} ingress address): ${commentText(missing.map((m) => m.name).join(", "), "hosts[].name")}`,
      );
    L.push("}");
  }
  return L.join("\n") + "\n";
}

/**
 * IPVS connection sync between the maglevs: every maglev runs the kernel's master daemon (it
 * multicasts its connection entries) and its backup daemon (it learns the others'), so each
 * maglev holds the entries of every flow any maglev has seen. Why: Maglev hashing alone keeps a
 * moved flow on its real server only while every maglev has the same member set. A rollout that
 * changes the set (an HAProxy node added) drains each maglev in turn, and the flows of the
 * maglev drained second land on one whose table already has the new member: about half of
 * them hash elsewhere and are reset (lab, survival `haproxy-add`: 45 and 60 of 200 lost).
 * With the other maglev's entries there is no lookup for them.
 *
 * The kernel's defaults: multicast group 224.0.0.81, UDP port 8848, sync protocol 1 (IPv4 and
 * IPv6 entries), TTL 1, on the mgmt interface (the maglevs share its L2). A daemon ignores its
 * own messages; the backup takes only messages with its sync id, derived from the environment
 * name, so two environments on one segment stay apart.
 */
export const IPVS_SYNC_UNIT = "maglev-ipvs-sync.service";
export const IPVS_SYNC_PORT = 8848;

/** 1–255, stable per environment name (FNV-1a). */
export function ipvsSyncId(envName: string): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(envName, "utf8")) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return 1 + (h % 255);
}

export function ipvsSyncUnit(topo: Topology): string {
  const dev = systemdExecWord(topo.interfaces.mgmt, "networks.mgmt interface");
  const id = ipvsSyncId(topo.env.name);
  const ipvsadm = "/usr/sbin/ipvsadm";
  return (
    header(topo.env.name, "#", "IPVS connection sync between the maglevs") +
    [
      "[Unit]",
      "Description=IPVS connection sync with the other maglevs (master and backup daemons)",
      "After=network-online.target",
      "Wants=network-online.target",
      "Before=keepalived.service",
      "",
      "[Service]",
      "Type=oneshot",
      "RemainAfterExit=yes",
      // Stop first ("-": not running is fine): a start is then the same on a re-run.
      `ExecStart=-${ipvsadm} --stop-daemon master`,
      `ExecStart=-${ipvsadm} --stop-daemon backup`,
      `ExecStart=${ipvsadm} --start-daemon master --mcast-interface ${dev} --syncid ${id}`,
      `ExecStart=${ipvsadm} --start-daemon backup --mcast-interface ${dev} --syncid ${id}`,
      `ExecStop=-${ipvsadm} --stop-daemon master`,
      `ExecStop=-${ipvsadm} --stop-daemon backup`,
      "",
      "[Install]",
      "WantedBy=multi-user.target",
      "",
    ].join("\n")
  );
}
