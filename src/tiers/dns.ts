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
 *
 * The daemons' renderers and checkers are in src/daemons/{dnsdist,powerdns,lightningstream,
 * poweradmin}; this file composes them into the three tiers' plans and firewalls.
 */
import { Topology, HostFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { BASH_SYNTAX, hostScript } from "../plan/scripts";
import { dsrMember } from "./l7-common";
import { addressesOf, FirewallSpec, memberServices, mgmtNetworks, planFirewall } from "./firewall";
import { SECRETS, dnsdists, primaries, secondaries } from "../daemons/dns-common";
import { DNSDIST_CONF, DNSDIST_WEB_PORT, dnsdistConfig } from "../daemons/dnsdist/render";
import { DNSDIST_VALIDATE } from "../daemons/dnsdist/validate";
import {
  PDNS_CONF,
  PDNS_API_PORT,
  PDNS_ZONES_ENV,
  lightningStreamEnabled,
  primaryConfig,
  primaryZonesEnv,
  secondaryConfig,
  secondaryZonesEnv,
} from "../daemons/powerdns/render";
import { PDNS_VALIDATE } from "../daemons/powerdns/validate";
import {
  LIGHTNINGSTREAM_BIN,
  LIGHTNINGSTREAM_CONF,
  LIGHTNINGSTREAM_HTTP_PORT,
  LIGHTNINGSTREAM_UNIT,
  lightningStreamConfig,
  lightningStreamUnit,
} from "../daemons/lightningstream/render";
import { LIGHTNINGSTREAM_UNIT_VALIDATE } from "../daemons/lightningstream/validate";
import {
  APACHE_PORTS,
  POWERADMIN_CONFIG,
  POWERADMIN_ENV,
  POWERADMIN_INSTALL,
  POWERADMIN_SITE,
  POWERADMIN_TARBALL,
  apachePorts,
  poweradminConfig,
  poweradminEnv,
  poweradminSite,
} from "../daemons/poweradmin/render";
import { PHP_SYNTAX } from "../daemons/poweradmin/validate";

// The DNS daemons' renderers and checkers live in src/daemons; their names stay importable here.
export { SECRETS } from "../daemons/dns-common";
export {
  DNSDIST_CONF,
  DNSDIST_WEB_PORT,
  DNSDIST_CONSOLE,
  dnsdistConfig,
} from "../daemons/dnsdist/render";
export { DNSDIST_VALIDATE } from "../daemons/dnsdist/validate";
export {
  PDNS_CONF,
  PDNS_LMDB,
  PDNS_SQLITE,
  PDNS_API_PORT,
  SECONDARY_ZONES_SCRIPT,
  PRIMARY_INIT_SCRIPT,
  PDNS_ZONES_ENV,
  secondaryConfig,
  secondaryZonesEnv,
  primaryConfig,
  primaryZonesEnv,
} from "../daemons/powerdns/render";
export { PDNS_VALIDATE } from "../daemons/powerdns/validate";
export { LIGHTNINGSTREAM_BIN, LIGHTNINGSTREAM_CONF } from "../daemons/lightningstream/render";
export {
  POWERADMIN_INSTALL,
  POWERADMIN_ENV,
  POWERADMIN_DIR,
  POWERADMIN_TARBALL,
} from "../daemons/poweradmin/render";

// ---------------------------------------------------------------- dnsdist

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
  b.file({
    path: LIGHTNINGSTREAM_CONF,
    mode: "0640",
    owner: "root:pdns",
    content: lightningStreamConfig(topo, h),
    activate: { kind: "restart", service: "lightningstream" },
    secretKeys: [SECRETS.s3AccessKeyId, SECRETS.s3SecretAccessKey],
    // YAML.stringify double-quotes a scalar starting with `{`: the placeholders sit in "…".
    secretSyntax: "yaml-dq",
  });
  b.file({
    path: LIGHTNINGSTREAM_UNIT,
    content: lightningStreamUnit(topo),
    validate: LIGHTNINGSTREAM_UNIT_VALIDATE,
    activate: {
      kind: "command",
      command: "systemctl daemon-reload && systemctl try-restart lightningstream.service",
    },
  });
  b.service("lightningstream");
}

// ---------------------------------------------------------------- shadow primary

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
    content: poweradminEnv(topo, pa),
    validate: BASH_SYNTAX,
    activate: { kind: "command", command: POWERADMIN_INSTALL },
  });
  b.file({
    path: POWERADMIN_CONFIG,
    mode: "0640",
    owner: "root:www-data",
    content: poweradminConfig(topo, h),
    validate: PHP_SYNTAX,
    secretKeys: [SECRETS.poweradminSessionKey, SECRETS.pdnsApiKey],
    secretSyntax: "php-sq",
  });
  b.file({
    path: APACHE_PORTS,
    content: apachePorts(topo, h),
    activate: { kind: "reload", service: "apache2" },
  });
  b.file({
    path: POWERADMIN_SITE,
    content: poweradminSite(topo, h),
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
        ports: [PDNS_API_PORT, ...(ls ? [LIGHTNINGSTREAM_HTTP_PORT] : [])],
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
