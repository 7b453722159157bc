/**
 * DNS tier: DnsdistNode (dnsdist01-02), PowerDnsNode (dns01-03), ShadowPrimary (dns00).
 *
 *   client → DNS VIP:53 (maglev, IPVS direct routing) → dnsdist (rate limit, packet cache)
 *          → PROXY protocol v2 over ingress0 → PowerDNS secondary (LMDB)
 *   dns00 (hidden primary, SQLite, mgmt only) → NOTIFY / AXFR over mgmt → secondaries
 *
 * Debian 12 ships dnsdist 1.7 and PowerDNS 4.7. LightningStream (LMDB replication through S3)
 * needs PowerDNS ≥ 4.8 (`lmdb-lightning-stream`): it is off by default and, when enabled, the
 * PowerDNS 4.7 checker rejects pdns.conf on purpose — enable it only on hosts with PowerDNS 4.8+
 * (PowerDNS's own repository). Zone transfers from dns00 replicate the zones either way.
 */
import { Topology, HostFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { header } from "../plan/header";
import { hostScript } from "../plan/scripts";
import { Validate } from "../plan/types";
import { dsrMember, groupOfKind, BASH_SYNTAX, systemdVerify } from "./l7-common";
import { addressesOf, FirewallSpec, memberServices, mgmtNetworks, planFirewall } from "./firewall";
import {
  commentText,
  luaString,
  pdnsValue,
  phpString,
  plainWord,
  shellWord,
  yamlDocument,
} from "../escape";

export const DNSDIST_CONF = "/etc/dnsdist/dnsdist.conf";
export const PDNS_CONF = "/etc/powerdns/pdns.conf";
export const PDNS_LMDB = "/var/lib/powerdns/pdns.lmdb";
export const PDNS_SQLITE = "/var/lib/powerdns/pdns.sqlite3";
export const PDNS_API_PORT = 8081;
export const DNSDIST_WEB_PORT = 8083;
export const DNSDIST_CONSOLE = "127.0.0.1:5199";
export const SECONDARY_ZONES_SCRIPT = "/usr/local/sbin/pdns-secondary-zones";
export const PRIMARY_INIT_SCRIPT = "/usr/local/sbin/pdns-primary-init";
export const POWERADMIN_INSTALL = "/usr/local/sbin/poweradmin-install";
/** The installer's parameters (scripts/host/poweradmin-install). */
export const POWERADMIN_ENV = "/etc/maglev-infra/poweradmin.env";
export const LIGHTNINGSTREAM_BIN = "/usr/local/bin/lightningstream";
export const LIGHTNINGSTREAM_CONF = "/etc/lightningstream/lightningstream.yaml";
export const POWERADMIN_DIR = "/var/www/poweradmin";
export const POWERADMIN_TARBALL = "/usr/local/src/poweradmin.tar.gz";

/** Secrets (pulumi config keys under maglev-infra:). */
export const SECRETS = {
  dnsdistConsoleKey: "dnsdistConsoleKey",
  dnsdistWebserverPassword: "dnsdistWebserverPassword",
  pdnsApiKey: "pdnsApiKey",
  s3AccessKeyId: "s3AccessKeyId",
  s3SecretAccessKey: "s3SecretAccessKey",
  poweradminSessionKey: "poweradminSessionKey",
} as const;
const secret = (k: keyof typeof SECRETS) => `{{secret:${SECRETS[k]}}}`;

/** PowerDNS 4.7 has a real check mode: unknown settings, unloadable backends and syntax errors fail it. */
export const PDNS_VALIDATE: Validate = {
  checker: "pdns_server",
  // --socket-dir: the check's own pdns_server stays out of the running server's runtime dir
  // (its control socket is what the health gate's `pdns_control rping` talks to).
  command:
    'd=$(mktemp -d) && cp {file} "$d/pdns.conf" && pdns_server --config-dir="$d" --socket-dir="$d" --config=check; rc=$?; rm -rf "$d"; exit $rc',
};

export const DNSDIST_VALIDATE: Validate = {
  checker: "dnsdist",
  command: "dnsdist --check-config -C {file}",
};

function servedZones(topo: Topology): string[] {
  return [...(topo.env.dns.servedZones ?? [topo.env.dns.zone])]
    .map((z) => z.replace(/\.$/, ""))
    .sort();
}
/** The served zones as the words of a bash array (each one shell-quoted, read back exactly). */
function zoneWords(topo: Topology): string {
  return servedZones(topo)
    .map((z, i) => shellWord(z, `dns.servedZones[${i}]`))
    .join(" ");
}
const byName = (a: HostFacts, b: HostFacts) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
function secondaries(topo: Topology): HostFacts[] {
  return topo.hosts.filter((x) => x.role === "powerdns").sort(byName);
}
function dnsdists(topo: Topology): HostFacts[] {
  return topo.hosts.filter((x) => x.role === "dnsdist").sort(byName);
}
function primaries(topo: Topology): HostFacts[] {
  return topo.hosts.filter((x) => x.role === "shadow-primary").sort(byName);
}
const v6addr = (a: string, port: number) => `[${a}]:${port}`;

// ---------------------------------------------------------------- dnsdist

export function dnsdistConfig(topo: Topology, h: HostFacts): string {
  const env = topo.env;
  const n = env.networks;
  const g = groupOfKind(topo, h, "dnsdist");
  const listen: string[] = [];
  // The VIPs (on the vip dummy) take the clients' queries; the ingress addresses take the
  // maglevs' keepalived checks (TCP/DNS on port 53 of each real server).
  for (const v of h.vips.ipv4) listen.push(`${v}:53`);
  for (const v of h.vips.ipv6) listen.push(v6addr(v, 53));
  if (h.ingress) {
    listen.push(`${h.ingress.ipv4}:53`);
    if (h.ingress.ipv6) listen.push(v6addr(h.ingress.ipv6, 53));
  }
  const zone = servedZones(topo)[0];
  const qps = env.dns.rateLimitQps;
  const L: string[] = [
    header(
      env.name,
      "--",
      `dnsdist of ${h.hostname}${g ? ` (backend group ${g.name})` : ""}`,
    ).trimEnd(),
    "",
  ];
  L.push(
    "-- No outbound security polling from a production resolver path.",
    'setSecurityPollSuffix("")',
    "",
    "-- Listeners: the group's DNS VIPs (clients) and this node's ingress addresses (keepalived checks).",
  );
  listen.forEach((a, i) =>
    L.push(`${i === 0 ? "setLocal" : "addLocal"}(${luaString(a)}, { reusePort = true })`),
  );
  L.push(
    "-- An authoritative service: anyone may ask; the per-client rate limit below protects the backends.",
    'setACL({ "0.0.0.0/0", "::/0" })',
    "",
    "-- Console on localhost only; the key is a secret (base64, `makeKey()`).",
    `controlSocket(${luaString(DNSDIST_CONSOLE)})`,
    `setKey(${luaString(secret("dnsdistConsoleKey"))})`,
    'setConsoleACL({ "127.0.0.1/32", "::1/128" })',
    "",
    "-- Web UI, API and Prometheus /metrics on the mgmt address, mgmt networks only.",
    "-- The password secret may be plain or a hashPassword() hash.",
    `webserver(${luaString(`${h.mgmt.ipv4}:${DNSDIST_WEB_PORT}`)})`,
    `setWebserverConfig({ password = ${luaString(secret("dnsdistWebserverPassword"))}, acl = ${luaString(`${n.mgmt.ipv4}, ${n.mgmt.ipv6}, 127.0.0.1/32, ::1/128`)}, statsRequireAuthentication = false })`,
    "",
    "-- PowerDNS secondaries at their ingress addresses. The PROXY protocol carries the client's",
    "-- address to PowerDNS (proxy-protocol-from lists this node); health checks ask for the SOA",
    `-- of ${commentText(zone, "dns.servedZones[0]")} and need an answer (a secondary without the zone is down).`,
  );
  const src = h.ingress?.ipv4;
  for (const s of secondaries(topo)) {
    if (!s.ingress) continue;
    const opts = [
      `address = ${luaString(`${s.ingress.ipv4}:53`)}`,
      `name = ${luaString(s.name, `hosts[].name (${s.name})`)}`,
      `pool = "pdns"`,
      "useProxyProtocol = true",
      ...(src ? [`source = ${luaString(src)}`] : []),
      `checkName = ${luaString(zone + ".", "dns.servedZones[0]")}`,
      `checkType = "SOA"`,
      "mustResolve = true",
      "checkInterval = 1",
      "checkTimeout = 1000",
      "maxCheckFailures = 3",
      "rise = 2",
    ];
    L.push(`newServer({ ${opts.join(", ")} })`);
  }
  L.push(
    "setServerPolicy(leastOutstanding)",
    "",
    "-- Packet cache in front of the pool.",
    "pc = newPacketCache(100000, { maxTTL = 86400, minTTL = 0, temporaryFailureTTL = 60, staleTTL = 60, dontAge = false })",
    'getPool("pdns"):setCache(pc)',
    "",
    `-- Rate limit per client: ${qps} queries/s per IPv4 address and per IPv6 /64; excess is dropped.`,
    `addAction(MaxQPSIPRule(${qps}, 32, 64), DropAction())`,
    'addAction(AllRule(), PoolAction("pdns"))',
    "",
  );
  return L.join("\n");
}

export function planDnsdist(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  dsrMember(topo, h, b, "vip");
  b.package("dnsdist");
  b.service("dnsdist");
  b.file({
    path: DNSDIST_CONF,
    mode: "0640",
    owner: "root:_dnsdist",
    content: dnsdistConfig(topo, h),
    validate: DNSDIST_VALIDATE,
    // dnsdist cannot re-read its configuration; a restart takes about a second and the
    // maglevs' checks take the node out meanwhile.
    activate: { kind: "restart", service: "dnsdist" },
    secretKeys: [SECRETS.dnsdistConsoleKey, SECRETS.dnsdistWebserverPassword],
    secretSyntax: "lua-dq",
  });
  planFirewall(topo, h, b, dnsdistFirewall(topo, h), ["dnsdist.service"]);
  b.health = {
    command: `dnsdist -C ${DNSDIST_CONF} -c -e 'showVersion()'`,
    timeoutSeconds: 60,
    description: `dnsdist on ${h.hostname} answers on its console`,
  };
}

// ---------------------------------------------------------------- PowerDNS (both roles)

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

function lightningStreamEnabled(topo: Topology): boolean {
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

/**
 * pdns.conf (with the API key filled on the host; pdns has no reload), the script that sets up
 * its zones (scripts/host/<script>) and that script's parameters (pdns-zones.env).
 */
function pdnsServer(
  topo: Topology,
  b: PlanBuilder,
  backendPackages: string[],
  conf: string,
  script: "pdns-secondary-zones" | "pdns-primary-init",
  zonesEnv: string,
  /** The script restarts pdns itself (it must exist before pdns can start): pdns.conf runs it. */
  scriptRestarts = false,
): void {
  const scriptPath = `/usr/local/sbin/${script}`;
  b.package("pdns-server", ...backendPackages);
  b.service("pdns");
  b.file({
    path: PDNS_CONF,
    mode: "0640",
    owner: "root:pdns",
    content: conf,
    validate: PDNS_VALIDATE,
    activate: scriptRestarts
      ? { kind: "command", command: scriptPath }
      : { kind: "restart", service: "pdns" },
    secretKeys: [SECRETS.pdnsApiKey],
    secretSyntax: "line",
  });
  b.file({
    path: scriptPath,
    mode: "0755",
    content: hostScript(script, topo.env.name),
    validate: BASH_SYNTAX,
    activate: { kind: "command", command: scriptPath },
  });
  // A new zone or primary: the script runs again (the apply runs one command once).
  b.file({
    path: PDNS_ZONES_ENV,
    content: zonesEnv,
    validate: BASH_SYNTAX,
    activate: { kind: "command", command: scriptPath },
  });
}

export function planPowerDns(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  const env = topo.env;
  pdnsServer(
    topo,
    b,
    ["pdns-backend-lmdb"],
    secondaryConfig(topo, h),
    "pdns-secondary-zones",
    secondaryZonesEnv(topo),
  );
  if (lightningStreamEnabled(topo)) lightningStream(topo, h, b);
  planFirewall(topo, h, b, secondaryFirewall(topo), ["pdns.service"]);
  b.health = {
    command: `pdns_control rping | grep -q PONG`,
    timeoutSeconds: 60,
    description: `PowerDNS on ${h.hostname} answers its control socket`,
  };
  void env;
}

function lightningStream(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  const ls = topo.env.dns.lightningStream;
  if (!ls.url || !ls.sha256 || !ls.s3Endpoint || !ls.bucket)
    throw new Error(
      `${h.hostname}: dns.lightningStream.enabled needs url, sha256, s3Endpoint and bucket`,
    );
  b.download({
    name: "lightningstream",
    url: ls.url,
    sha256: ls.sha256,
    path: LIGHTNINGSTREAM_BIN,
    mode: "0755",
  });
  const lmdb = (path: string) => ({
    path,
    schema_tracks_changes: true,
    options: { no_subdir: true, create: true, map_size: "1GB" },
  });
  const doc = {
    instance: h.hostname,
    storage_poll_interval: "1s",
    lmdbs: { main: lmdb(PDNS_LMDB), shard: lmdb(`${PDNS_LMDB}-0`) },
    storage: {
      type: "s3",
      options: {
        access_key: secret("s3AccessKeyId"),
        secret_key: secret("s3SecretAccessKey"),
        bucket: ls.bucket,
        endpoint_url: ls.s3Endpoint,
        create_bucket: false,
      },
      cleanup: {
        enabled: true,
        interval: "15m",
        must_keep_interval: "24h",
        remove_old_instances_interval: "168h",
      },
    },
    http: { address: `${h.mgmt.ipv4}:8500` },
  };
  const text =
    header(topo.env.name, "#", `LightningStream of ${h.hostname} (needs PowerDNS >= 4.8)`) +
    yamlDocument(doc, "lightningstream.yaml");
  b.file({
    path: LIGHTNINGSTREAM_CONF,
    mode: "0640",
    owner: "root:pdns",
    content: text,
    activate: { kind: "restart", service: "lightningstream" },
    secretKeys: [SECRETS.s3AccessKeyId, SECRETS.s3SecretAccessKey],
    // YAML.stringify double-quotes a scalar starting with `{`: the placeholders sit in "…".
    secretSyntax: "yaml-dq",
  });
  b.file({
    path: "/etc/systemd/system/lightningstream.service",
    content:
      header(topo.env.name, "#", "LightningStream (not packaged: pinned release)") +
      [
        "[Unit]",
        "Description=LightningStream LMDB sync for PowerDNS",
        "After=network-online.target pdns.service",
        "Wants=network-online.target",
        "",
        "[Service]",
        "User=pdns",
        "Group=pdns",
        `ExecStart=${LIGHTNINGSTREAM_BIN} --config ${LIGHTNINGSTREAM_CONF} sync`,
        "Restart=always",
        "RestartSec=5",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
      ].join("\n"),
    validate: systemdVerify("lightningstream.service", [LIGHTNINGSTREAM_BIN]),
    activate: {
      kind: "command",
      command: "systemctl daemon-reload && systemctl try-restart lightningstream.service",
    },
  });
  b.service("lightningstream");
}

// ---------------------------------------------------------------- shadow primary

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

export function planShadowPrimary(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  const env = topo.env;
  pdnsServer(
    topo,
    b,
    ["pdns-backend-sqlite3", "sqlite3"],
    primaryConfig(topo, h),
    "pdns-primary-init",
    primaryZonesEnv(topo),
    true,
  );
  if (env.dns.powerAdmin) powerAdmin(topo, h, b, env.dns.powerAdmin);
  planFirewall(topo, h, b, primaryFirewall(topo), ["pdns.service"]);
  b.health = {
    command: `pdns_control rping | grep -q PONG`,
    timeoutSeconds: 60,
    description: `PowerDNS on ${h.hostname} answers its control socket`,
  };
}

/**
 * PowerAdmin (not packaged): the pinned release tarball, unpacked under /var/www/poweradmin,
 * served by Apache + mod_php on the mgmt addresses only. Written for the PowerAdmin 3.x layout
 * (`inc/config.inc.php`). First use: run its web installer once (it creates its user tables in
 * the same SQLite database), then remove `install/` — PowerAdmin's documented procedure.
 */
function powerAdmin(
  topo: Topology,
  h: HostFacts,
  b: PlanBuilder,
  pa: { url: string; sha256: string },
): void {
  const env = topo.env;
  b.package("apache2", "libapache2-mod-php", "php-sqlite3", "php-intl", "php-mbstring", "php-xml");
  b.service("apache2");
  b.download({
    name: "poweradmin",
    url: pa.url,
    sha256: pa.sha256,
    path: POWERADMIN_TARBALL,
    mode: "0644",
  });
  b.file({
    path: POWERADMIN_INSTALL,
    mode: "0755",
    content: hostScript("poweradmin-install", env.name),
    validate: BASH_SYNTAX,
    activate: { kind: "command", command: POWERADMIN_INSTALL },
  });
  // A new pinned release: its sha256 changes this file, and the installer runs again.
  b.file({
    path: POWERADMIN_ENV,
    content:
      header(env.name, "#", "the pinned PowerAdmin release") +
      [
        `POWERADMIN_SHA256=${shellWord(pa.sha256, "dns.powerAdmin.sha256")}`,
        `POWERADMIN_TARBALL=${shellWord(POWERADMIN_TARBALL)}`,
        `POWERADMIN_DIR=${shellWord(POWERADMIN_DIR)}`,
        `PDNS_DB=${shellWord(PDNS_SQLITE)}`,
        "",
      ].join("\n"),
    validate: BASH_SYNTAX,
    activate: { kind: "command", command: POWERADMIN_INSTALL },
  });
  const zone = servedZones(topo)[0];
  const php = [
    "<?php",
    header(env.name, "//", "PowerAdmin configuration").trimEnd(),
    "$db_type = 'sqlite';",
    `$db_file = ${phpString(PDNS_SQLITE)};`,
    `$session_key = '${secret("poweradminSessionKey")}';`,
    "$iface_lang = 'en_EN';",
    `$dns_hostmaster = ${phpString(`hostmaster.${zone}`, "dns.servedZones[0]")};`,
    "$dns_ttl = 3600;",
    `$pdns_api_url = ${phpString(`http://${h.mgmt.ipv4}:${PDNS_API_PORT}`, `mgmt IPv4 of ${h.name}`)};`,
    `$pdns_api_key = '${secret("pdnsApiKey")}';`,
    "",
  ].join("\n");
  b.file({
    path: `${POWERADMIN_DIR}/inc/config.inc.php`,
    mode: "0640",
    owner: "root:www-data",
    content: php,
    validate: { checker: "php", command: "php -l {file}" },
    secretKeys: [SECRETS.poweradminSessionKey, SECRETS.pdnsApiKey],
    secretSyntax: "php-sq",
  });
  b.file({
    path: "/etc/apache2/ports.conf",
    content:
      header(env.name, "#", "Apache listens on mgmt only") +
      `Listen ${h.mgmt.ipv4}:80\nListen [${h.mgmt.ipv6}]:80\n`,
    activate: { kind: "reload", service: "apache2" },
  });
  b.file({
    path: "/etc/apache2/sites-available/poweradmin.conf",
    content:
      header(env.name, "#", "PowerAdmin site (mgmt only)") +
      [
        `<VirtualHost ${h.mgmt.ipv4}:80 [${h.mgmt.ipv6}]:80>`,
        `    ServerName ${plainWord(`${h.hostname}.${env.dns.zone}`, "dns.zone")}`,
        `    DocumentRoot ${POWERADMIN_DIR}`,
        `    <Directory ${POWERADMIN_DIR}>`,
        "        Options -Indexes +FollowSymLinks",
        "        AllowOverride All",
        `        Require ip ${env.networks.mgmt.ipv4} ${env.networks.mgmt.ipv6} 127.0.0.1 ::1`,
        "    </Directory>",
        `    <Directory ${POWERADMIN_DIR}/inc>`,
        "        Require all denied",
        "    </Directory>",
        "</VirtualHost>",
        "",
      ].join("\n"),
    activate: {
      kind: "command",
      command:
        "a2dissite -q 000-default >/dev/null 2>&1 || true; a2ensite -q poweradmin && systemctl reload apache2",
    },
  });
}

// ---------------------------------------------------------------- host firewalls

const DNS = ["udp", "tcp"] as const;

/**
 * A dnsdist node: its group's DNS VIP:port mappings from anyone (untracked), port 53 on its
 * ingress address for the maglevs' checks, the web UI on mgmt; the queries to the PowerDNS
 * secondaries (one per client query) are untracked.
 */
export function dnsdistFirewall(topo: Topology, h: HostFacts): FirewallSpec {
  return {
    what: "dnsdist",
    mgmt: [
      {
        why: "web UI / API / metrics, operators on mgmt",
        protocols: ["tcp"],
        ports: [DNSDIST_WEB_PORT],
        from: mgmtNetworks(topo),
      },
    ],
    ingress: [
      {
        why: "DNS on the ingress address: the maglevs' keepalived checks",
        protocols: [...DNS],
        ports: [53],
        from: addressesOf(topo.maglevs, "ingress"),
      },
    ],
    vips: { role: "member", services: memberServices(topo, h) },
    connectsTo: secondaries(topo).flatMap((s) =>
      s.ingress ? DNS.map((protocol) => ({ address: s.ingress!.ipv4, protocol, port: 53 })) : [],
    ),
  };
}

/**
 * A PowerDNS secondary answers queries from the dnsdist nodes only (with their PROXY header,
 * untracked), NOTIFYs from the shadow primaries only, the API to operators on mgmt. A query
 * from anywhere else — which would bypass dnsdist's rate limit — is dropped.
 */
export function secondaryFirewall(topo: Topology): FirewallSpec {
  const ls = lightningStreamEnabled(topo);
  return {
    what: "PowerDNS secondary",
    mgmt: [
      {
        why: "NOTIFY from the shadow primaries",
        protocols: [...DNS],
        ports: [53],
        from: addressesOf(primaries(topo), "mgmt"),
      },
      {
        why: `API and metrics${ls ? ", LightningStream status" : ""}, operators on mgmt`,
        protocols: ["tcp"],
        ports: [PDNS_API_PORT, ...(ls ? [8500] : [])],
        from: mgmtNetworks(topo),
      },
    ],
    ingress: [],
    servesTo: dnsdists(topo).flatMap((d) =>
      addressesOf([d], "ingress").flatMap((address) =>
        DNS.map((protocol) => ({ address, protocol, port: 53 })),
      ),
    ),
  };
}

/** The hidden primary: zone transfers and SOA checks from the secondaries only, the API and PowerAdmin to operators on mgmt. */
export function primaryFirewall(topo: Topology): FirewallSpec {
  return {
    what: "PowerDNS hidden primary",
    mgmt: [
      {
        why: "AXFR and SOA checks from the secondaries",
        protocols: [...DNS],
        ports: [53],
        from: addressesOf(secondaries(topo), "mgmt"),
      },
      {
        why: `API${topo.env.dns.powerAdmin ? " and PowerAdmin" : ""}, operators on mgmt`,
        protocols: ["tcp"],
        ports: [PDNS_API_PORT, ...(topo.env.dns.powerAdmin ? [80] : [])],
        from: mgmtNetworks(topo),
      },
    ],
    ingress: [],
  };
}
