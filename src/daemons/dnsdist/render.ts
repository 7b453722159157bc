/**
 * dnsdist 1.7 on a dnsdist node: listeners on the group's DNS VIPs and the node's ingress
 * addresses, the console and web server, the PowerDNS secondaries as backends (PROXY protocol
 * v2), packet cache and per-client rate limit. In dnsdist's Lua; values through luaString.
 */
import { Topology, HostFacts, groupOfKind } from "../../topology";
import { header } from "../../plan/header";
import { commentText, luaString } from "../../escape";
import { secondaries, secret, servedZones } from "../dns-common";

export const DNSDIST_CONF = "/etc/dnsdist/dnsdist.conf";
export const DNSDIST_WEB_PORT = 8083;
export const DNSDIST_CONSOLE = "127.0.0.1:5199";

const v6addr = (a: string, port: number) => `[${a}]:${port}`;

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
