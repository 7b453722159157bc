/**
 * PowerDNS 4.7 in both roles: pdns.conf of a public secondary (LMDB, queries from dnsdist with
 * the PROXY protocol, NOTIFY/AXFR from the hidden primary) and of the hidden primary (SQLite,
 * mgmt only), and pdns-zones.env, the parameters of the zone scripts (scripts/host/
 * pdns-secondary-zones, pdns-primary-init). Values through pdnsValue and shellWord.
 */
import { Topology, HostFacts } from "../../topology";
import { header } from "../../plan/header";
import { pdnsValue, shellWord } from "../../escape";
import { dnsdists, primaries, secondaries, secret, servedZones } from "../dns-common";

export const PDNS_CONF = "/etc/powerdns/pdns.conf";
export const PDNS_LMDB = "/var/lib/powerdns/pdns.lmdb";
export const PDNS_SQLITE = "/var/lib/powerdns/pdns.sqlite3";
export const PDNS_API_PORT = 8081;
export const SECONDARY_ZONES_SCRIPT = "/usr/local/sbin/pdns-secondary-zones";
export const PRIMARY_INIT_SCRIPT = "/usr/local/sbin/pdns-primary-init";

/** The served zones as the words of a bash array (each one shell-quoted, read back exactly). */
function zoneWords(topo: Topology): string {
  return servedZones(topo)
    .map((z, i) => shellWord(z, `dns.servedZones[${i}]`))
    .join(" ");
}

function pdnsCommon(topo: Topology, h: HostFacts): string[] {
  const n = topo.env.networks;
  return [
    "# API (zone automation) and Prometheus /metrics on the mgmt address, mgmt networks only.",
    "api=yes",
    `api-key=${secret("pdnsApiKey")}`,
    "webserver=yes",
    `webserver-address=${pdnsValue(h.mgmt.ipv4, `mgmt IPv4 of ${h.name}`)}`,
    `webserver-port=${PDNS_API_PORT}`,
    `webserver-allow-from=${pdnsValue(`127.0.0.1,::1,${n.mgmt.ipv4},${n.mgmt.ipv6}`, "networks.mgmt")}`,
    "",
    "security-poll-suffix=",
    "version-string=anonymous",
    "",
    "# No zone cache: a running pdns learns of a zone created with pdnsutil (as this tool does)",
    "# only at the cache's next refresh (300 s) and answers REFUSED for it until then (measured",
    "# with pdns 4.7; neither `pdns_control rediscover` nor `reload` refreshes it).",
    "zone-cache-refresh-interval=0",
  ];
}

/** LightningStream replicates the secondaries' LMDB (PowerDNS >= 4.8). */
export function lightningStreamEnabled(topo: Topology): boolean {
  return topo.env.dns.lightningStream.enabled;
}

export function secondaryConfig(topo: Topology, h: HostFacts): string {
  const env = topo.env;
  const local = [
    ...(h.ingress ? [h.ingress.ipv4, ...(h.ingress.ipv6 ? [h.ingress.ipv6] : [])] : []),
    h.mgmt.ipv4,
    h.mgmt.ipv6,
    "127.0.0.1",
    "::1",
  ];
  const proxies = dnsdists(topo).flatMap((d) =>
    d.ingress ? [d.ingress.ipv4, ...(d.ingress.ipv6 ? [d.ingress.ipv6] : [])] : [],
  );
  const prim = primaries(topo);
  const L = [
    header(env.name, "#", `PowerDNS secondary ${h.hostname}`).trimEnd(),
    "launch=lmdb",
    `lmdb-filename=${PDNS_LMDB}`,
  ];
  if (lightningStreamEnabled(topo)) {
    L.push(
      "# LightningStream replicates the LMDB through S3: one shard, and the LightningStream",
      "# record headers (PowerDNS >= 4.8; the 4.7 checker rejects this setting).",
      "lmdb-shards=1",
      "lmdb-sync-mode=nometasync",
      "lmdb-lightning-stream=yes",
    );
  }
  L.push(
    "",
    "# Queries from dnsdist on ingress0; NOTIFYs from the primary and local tools on mgmt.",
    `local-address=${pdnsValue(local.join(","), `addresses of ${h.name}`)}`,
    "local-port=53",
    "# dnsdist sends every query with a PROXY protocol v2 header (the client's address).",
    `proxy-protocol-from=${pdnsValue(proxies.join(","), "ingress addresses of the dnsdist hosts")}`,
    "",
    "# Secondary of the hidden primary: NOTIFY and AXFR over mgmt.",
    "primary=no",
    "secondary=yes",
    `allow-notify-from=${pdnsValue(prim.flatMap((p) => [p.mgmt.ipv4, p.mgmt.ipv6]).join(","), "mgmt addresses of the shadow primaries")}`,
    "xfr-cycle-interval=60",
    "# Nobody transfers from a public secondary.",
    "disable-axfr=yes",
    "",
    ...pdnsCommon(topo, h),
    "",
  );
  return L.join("\n");
}

/** The zone scripts' parameters (scripts/host/pdns-secondary-zones, pdns-primary-init). */
export const PDNS_ZONES_ENV = "/etc/maglev-infra/pdns-zones.env";

/** pdns-zones.env of a secondary: the served zones and the hidden primaries to transfer from. */
export function secondaryZonesEnv(topo: Topology): string {
  const prim = primaries(topo).map((p) => shellWord(p.mgmt.ipv4, "mgmt IPv4 of a shadow primary"));
  return (
    header(topo.env.name, "#", "secondary zones of this PowerDNS server") +
    [`PDNS_ZONES=(${zoneWords(topo)})`, `PDNS_PRIMARIES=(${prim.join(" ")})`, ""].join("\n")
  );
}

export function primaryConfig(topo: Topology, h: HostFacts): string {
  const env = topo.env;
  const secs = secondaries(topo);
  return [
    header(env.name, "#", `PowerDNS hidden primary ${h.hostname}`).trimEnd(),
    "# Zones are edited here (PowerAdmin, API); the public secondaries transfer them. Never listed",
    "# in NS records, never on ingress0.",
    "launch=gsqlite3",
    `gsqlite3-database=${PDNS_SQLITE}`,
    "gsqlite3-dnssec=yes",
    "",
    `local-address=${pdnsValue([h.mgmt.ipv4, h.mgmt.ipv6, "127.0.0.1", "::1"].join(","), `mgmt addresses of ${h.name}`)}`,
    "local-port=53",
    "",
    "primary=yes",
    "secondary=no",
    "# NOTIFY the secondaries only (empty only-notify: not the public NS addresses).",
    `also-notify=${pdnsValue(secs.map((s) => s.mgmt.ipv4).join(","), "mgmt addresses of the secondaries")}`,
    "only-notify=",
    `allow-axfr-ips=${pdnsValue(`127.0.0.0/8,::1,${secs.flatMap((s) => [s.mgmt.ipv4, s.mgmt.ipv6]).join(",")}`, "mgmt addresses of the secondaries")}`,
    "",
    ...pdnsCommon(topo, h),
    "",
  ].join("\n");
}

/** pdns-zones.env of the hidden primary: the served zones and its SQLite database. */
export function primaryZonesEnv(topo: Topology): string {
  return (
    header(topo.env.name, "#", "hidden primary: database and served zones") +
    [`PDNS_ZONES=(${zoneWords(topo)})`, `PDNS_DB=${shellWord(PDNS_SQLITE)}`, ""].join("\n")
  );
}
