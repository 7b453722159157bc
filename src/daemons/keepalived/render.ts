/**
 * keepalived on a maglev (IPVS only, no VRRP): one IPVS fwmark service per fwmark and address
 * family, Maglev hashing, direct routing, and the real servers' health checks. In keepalived's
 * own syntax; values through keepalivedWord / commentText.
 */
import { Topology, HostFacts, GroupFacts, FwmarkEntry } from "../../topology";
import { header } from "../../plan/header";
import { commentText, keepalivedWord } from "../../escape";
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
