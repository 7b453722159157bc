/**
 * PowerAdmin (not packaged: the pinned release tarball) on the hidden primary, served by Apache +
 * mod_php on the mgmt addresses only: the installer's parameters, PowerAdmin's config.inc.php
 * (PowerAdmin 3.x layout) and Apache's ports and site. Values through shellWord, phpString and
 * plainWord.
 */
import { Topology, HostFacts } from "../../topology";
import { header } from "../../plan/header";
import { phpString, plainWord, shellWord } from "../../escape";
import { secret, servedZones } from "../dns-common";
import { PDNS_API_PORT, PDNS_SQLITE } from "../powerdns/render";

export const POWERADMIN_INSTALL = "/usr/local/sbin/poweradmin-install";
/** The installer's parameters (scripts/host/poweradmin-install). */
export const POWERADMIN_ENV = "/etc/maglev-infra/poweradmin.env";
export const POWERADMIN_DIR = "/var/www/poweradmin";
export const POWERADMIN_TARBALL = "/usr/local/src/poweradmin.tar.gz";
export const POWERADMIN_CONFIG = `${POWERADMIN_DIR}/inc/config.inc.php`;
export const APACHE_PORTS = "/etc/apache2/ports.conf";
export const POWERADMIN_SITE = "/etc/apache2/sites-available/poweradmin.conf";

/** The installer's parameters: a new pinned release changes its sha256 here. */
export function poweradminEnv(topo: Topology, pa: { sha256: string }): string {
  return (
    header(topo.env.name, "#", "the pinned PowerAdmin release") +
    [
      `POWERADMIN_SHA256=${shellWord(pa.sha256, "dns.powerAdmin.sha256")}`,
      `POWERADMIN_TARBALL=${shellWord(POWERADMIN_TARBALL)}`,
      `POWERADMIN_DIR=${shellWord(POWERADMIN_DIR)}`,
      `PDNS_DB=${shellWord(PDNS_SQLITE)}`,
      "",
    ].join("\n")
  );
}

export function poweradminConfig(topo: Topology, h: HostFacts): string {
  const env = topo.env;
  const zone = servedZones(topo)[0];
  return [
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
}

export function apachePorts(topo: Topology, h: HostFacts): string {
  return (
    header(topo.env.name, "#", "Apache listens on mgmt only") +
    `Listen ${h.mgmt.ipv4}:80\nListen [${h.mgmt.ipv6}]:80\n`
  );
}

export function poweradminSite(topo: Topology, h: HostFacts): string {
  const env = topo.env;
  return (
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
    ].join("\n")
  );
}
