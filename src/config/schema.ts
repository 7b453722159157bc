/**
 * The environment schema: one structured object under `maglev-infra:environment` in
 * `stacks/Pulumi.<env>.yaml`. Strict everywhere: an unknown key is an error, so a typo
 * never silently falls back to a default.
 *
 * Field-level rules live here (zod); rules that relate several fields (duplicates,
 * address in network, VIP → group, …) live in `rules.ts` and report every problem at once.
 *
 * Every free-text field has a grammar, stated in its description (the README's config
 * reference is generated from these descriptions). The stack file is untrusted input: a
 * grammar is the first of two defences (the second is the escaper of each target file), so
 * each grammar admits only the characters the field needs — never a quote, a space where a
 * value is one token, a brace, `#`, `;`, `$`, a backslash or a line break.
 *
 * One file (over 400 lines) on purpose: the stack's whole schema is one strict zod object whose parts
 * refer to each other, and the README's config reference is generated from this file's text.
 */
import { z } from "zod";
import * as ipaddr from "ipaddr.js";

const isV4 = (s: string) => ipaddr.IPv4.isValidFourPartDecimal(s);
const isV6 = (s: string) => !s.includes("%") && ipaddr.IPv6.isValid(s) && !ipaddr.IPv4.isValid(s);

/**
 * What an address means, for the places that need a unicast address of a real interface:
 * a message when it is not one, else undefined. `linkLocal` admits fe80::/10 (an IPv6 router's
 * usual address); `loopback` admits 127/8 and ::1 (a service on the host itself).
 */
export function addressClassProblem(
  addr: string,
  allow: { linkLocal?: boolean; loopback?: boolean } = {},
): string | undefined {
  let a: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    a = ipaddr.parse(addr);
  } catch {
    return undefined; // the syntax check reports it
  }
  if (a.kind() === "ipv6" && (a as ipaddr.IPv6).isIPv4MappedAddress())
    return `is an IPv4-mapped IPv6 address (write the IPv4 address ${(a as ipaddr.IPv6).toIPv4Address().toString()} itself)`;
  const r = a.range();
  if (r === "unspecified")
    return a.kind() === "ipv4" && addr !== "0.0.0.0"
      ? `is in 0.0.0.0/8 ("this network"), not a host address`
      : `is the unspecified address (it means "any", not a host)`;
  if (r === "multicast") return "is a multicast address, not a unicast host address";
  if (r === "broadcast") return "is the limited broadcast address, not a host address";
  if (r === "linkLocal" && !allow.linkLocal)
    return "is a link-local address (valid on one link only; not usable here)";
  if (r === "loopback" && !allow.loopback)
    return "is a loopback address (it never leaves the host)";
  if (a.kind() === "ipv4" && a.match(ipaddr.IPv4.parse("240.0.0.0"), 4))
    return "is in 240.0.0.0/4 (reserved, not routable)";
  return undefined;
}

function unicast<T extends z.ZodString | z.ZodType<string>>(
  s: T,
  allow: { linkLocal?: boolean; loopback?: boolean } = {},
) {
  return (s as z.ZodType<string>).superRefine((v, ctx) => {
    const p = addressClassProblem(v, allow);
    if (p) ctx.addIssue({ code: "custom", message: p });
  });
}

export const ipv4 = z.string().refine(isV4, { message: "is not an IPv4 address" });
export const ipv6 = z.string().refine(isV6, { message: "is not an IPv6 address" });
export const ipAny = z
  .string()
  .refine((s) => isV4(s) || isV6(s), { message: "is not an IP address" });
/** A unicast address of a host interface or a VIP: not unspecified, multicast, broadcast, link-local, loopback, 240/4 nor IPv4-mapped. */
export const hostIpv4 = unicast(ipv4);
export const hostIpv6 = unicast(ipv6);
export const hostIpAny = unicast(ipAny);

function cidrOf(family: "ipv4" | "ipv6") {
  return z.string().refine(
    (s) => {
      try {
        const [addr, len] = ipaddr.parseCIDR(s);
        if (addr.kind() !== family) return false;
        if (family === "ipv4" && !isV4(s.split("/")[0])) return false;
        // The network address itself, not a host address with a prefix length.
        const net =
          family === "ipv4"
            ? ipaddr.IPv4.networkAddressFromCIDR(s)
            : ipaddr.IPv6.networkAddressFromCIDR(s);
        return net.toNormalizedString() === addr.toNormalizedString() && len >= 0;
      } catch {
        return false;
      }
    },
    {
      message: `is not an ${family === "ipv4" ? "IPv4" : "IPv6"} network in CIDR form (network address/prefix length)`,
    },
  );
}
export const cidr4 = cidrOf("ipv4");
export const cidr6 = cidrOf("ipv6");

/** Short names (hosts, groups, servers, sites, the environment): one lowercase DNS label. */
const name = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    "must be a lowercase DNS label: a-z, 0-9 and inner -, 1..63 characters",
  );
const port = z
  .number()
  .int("must be an integer")
  .min(1, "port must be 1..65535")
  .max(65535, "port must be 1..65535");

/** RFC 1035 (with RFC 1123's leading digit): labels of a-z, 0-9 and inner `-`, 1..63 each, at least two, ≤ 253 in all, no trailing dot. */
export function zoneProblem(s: string): string | undefined {
  if (s.endsWith(".")) return "must be a DNS zone name without the trailing dot";
  if (s.length > 253) return "must be at most 253 characters";
  const labels = s.split(".");
  if (labels.length < 2) return "must have at least two labels (e.g. infra.example.net)";
  for (const l of labels)
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(l))
      return `label ${JSON.stringify(l)} is not an RFC 1035 label (a-z, 0-9, inner -, 1..63 characters, lowercase)`;
  if (
    !/^[a-z]{2,63}$/.test(labels[labels.length - 1]) &&
    !/^xn--[a-z0-9-]+$/.test(labels[labels.length - 1])
  )
    return "the last label must be a top-level domain (letters)";
  return undefined;
}
const zoneName = z.string().superRefine((s, ctx) => {
  const p = zoneProblem(s);
  if (p) ctx.addIssue({ code: "custom", message: p });
});

/** The OpenSSH public key types accepted on the VMs. */
export const SSH_KEY_TYPES = [
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
] as const;

/** Parse one OpenSSH public key line `<type> <base64> [comment]`: a message when it is not one. */
export function sshPublicKeyProblem(s: string): string | undefined {
  if (/[\r\n]/.test(s)) return "must be one key on one line (a line break would add another key)";
  const m = /^(\S+) (\S+)(?: [A-Za-z0-9@._+:=,/-]{1,100})?$/.exec(s);
  if (!m)
    return "must be an OpenSSH public key: `<type> <base64> [comment]`, single spaces, the comment one word of A-Za-z0-9@._+:=,/- (at most 100)";
  const [, type, b64] = m;
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type))
    return `key type ${JSON.stringify(type)} is not one of ${SSH_KEY_TYPES.join(", ")}`;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0)
    return "the key data is not base64";
  const blob = Buffer.from(b64, "base64");
  if (blob.toString("base64") !== b64) return "the key data is not canonical base64";
  if (blob.length < 4 + type.length) return "the key data is too short to be a key";
  const n = blob.readUInt32BE(0);
  if (n !== type.length || blob.subarray(4, 4 + n).toString("latin1") !== type)
    return `the key data does not start with its type ${JSON.stringify(type)} (a truncated or pasted-over key?)`;
  if (type === "ssh-ed25519" && (blob.length !== 51 || blob.readUInt32BE(15) !== 32))
    return "an ssh-ed25519 key's data is 51 bytes (type and a 32-byte key)";
  return undefined;
}
const sshPublicKey = z.string().superRefine((s, ctx) => {
  const p = sshPublicKeyProblem(s);
  if (p) ctx.addIssue({ code: "custom", message: p });
});

/** A download or service URL: the scheme(s) given, a host name or address, no user info, and only URL characters that need no quoting anywhere. */
export function urlProblem(s: string, schemes: readonly string[]): string | undefined {
  if (!/^[A-Za-z0-9._~:/?=&%+@,[\]-]+$/.test(s))
    return "may contain only A-Za-z0-9 and ._~:/?=&%+@,[]- (no quotes, spaces, #, $, ;, braces, backslashes or line breaks)";
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return "is not a URL";
  }
  const scheme = u.protocol.replace(/:$/, "");
  if (!schemes.includes(scheme)) return `must be an ${schemes.join(" or ")} URL (not ${scheme}:)`;
  if (!s.toLowerCase().startsWith(`${scheme}://`)) return `must start with ${scheme}://`;
  const authority = s.slice(scheme.length + 3).split(/[/?]/)[0];
  if (u.username || u.password || authority.includes("@"))
    return "must not carry a user name or password (credentials belong in the stack's secrets)";
  if (
    !u.hostname ||
    !/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:\d{1,5})?$/.test(authority)
  )
    return "must name a host (a DNS name or an address, optionally :port) right after the scheme";
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) return "has a % that is not a %XX escape";
  return undefined;
}
function url(schemes: readonly string[]) {
  return z.string().superRefine((s, ctx) => {
    const p = urlProblem(s, schemes);
    if (p) ctx.addIssue({ code: "custom", message: p });
  });
}

/**
 * keepalived HTTP_GET path: `/` then RFC 3986 path characters minus every one that keepalived
 * or a shell could read as syntax (quotes, space, braces, `#`, `!`, `$`, `;`, `\`, parentheses,
 * line breaks); `%` only as a `%XX` escape; the one placeholder `{frontend}`.
 */
const HEALTH_PATH = /^\/(?:[A-Za-z0-9._~&+,=:@/?-]|%[0-9A-Fa-f]{2}|\{frontend\})*$/;

/** Linux interface names (IFNAMSIZ 15): a lowercase letter, then a-z 0-9. */
const IFNAME = /^[a-z][a-z0-9]{0,14}$/;
/** Proxmox bridge (a Linux bridge or SDN vnet): a letter, then letters, digits, `_`; ≤ 15 (IFNAMSIZ). */
const BRIDGE = /^[A-Za-z][A-Za-z0-9_]{0,14}$/;
/** Proxmox node name (a host name label). */
const PVE_NODE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** Proxmox storage id (pve-storage-id). */
const PVE_STORAGE = /^[a-z][a-z0-9._-]{0,62}[a-z0-9]$/;
/** Cloud-init / Linux user name (useradd's NAME_REGEX, no trailing `$`). */
const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/**
 * ASNs that must not be a BGP speaker's AS: 0 (RFC 7607), 23456 (AS_TRANS, RFC 6793), 65535
 * and 4294967295 (RFC 7300), 65552–131071 (IANA reserved). The documentation ranges
 * (64496–64511, 65536–65551, RFC 5398) stay accepted: they are meant for labs like ours (the
 * lab's transit router is AS 64500).
 */
export function reservedAsn(n: number): string | undefined {
  if (n === 0) return "AS 0 is reserved (RFC 7607)";
  if (n === 23456) return "AS 23456 is AS_TRANS (RFC 6793), not an AS";
  if (n === 65535 || n === 4294967295) return `AS ${n} is reserved (RFC 7300)`;
  if (n >= 65552 && n <= 131071) return `AS ${n} is in 65552..131071, reserved by IANA`;
  return undefined;
}
const asn = z
  .number()
  .int("ASN must be an integer")
  .min(1, "ASN must be 1..4294967295")
  .max(4294967295, "ASN must be 1..4294967295")
  .superRefine((n, ctx) => {
    const p = n >= 1 && n <= 4294967295 ? reservedAsn(n) : undefined;
    if (p) ctx.addIssue({ code: "custom", message: p });
  });

/** VM ids: Proxmox's range, bounded to 24 bits because each NIC's MAC carries the id's low 3 bytes (`macFor` in the topology). */
export const VM_ID_MAX = 0xffffff;

/** An L2 network the hosts attach to (mgmt = control plane, ingress = data plane). */
export const networkSchema = z.strictObject({
  /** IPv4 network, e.g. `10.1.7.0/24`. */
  ipv4: cidr4,
  /** IPv6 network, e.g. `2a0a:7180:81:7::/64`. */
  ipv6: cidr6,
  /** IPv4 default gateway; only the mgmt network carries the default route. A unicast host address inside the network (not its network or broadcast address). @default none */
  gateway4: hostIpv4.optional(),
  /** IPv6 default gateway: a unicast address inside the network, or a link-local `fe80::/10` address (the usual IPv6 router address). @default none */
  gateway6: unicast(ipv6, { linkLocal: true }).optional(),
  /** Interface name inside the VM: a lowercase letter then a-z, 0-9, ≤ 15 characters (`^[a-z][a-z0-9]{0,14}$`); the two networks' names differ and are not `lo` or `vip` (the VIP dummy). @default `mgmt0` for mgmt, `ingress0` for ingress */
  interface: z
    .string()
    .regex(
      IFNAME,
      "must be an interface name: a lowercase letter then a-z, 0-9, at most 15 characters",
    )
    .optional(),
  /** Proxmox bridge the NIC is plugged into: a letter, then letters, digits or `_`, ≤ 15 characters (`^[A-Za-z][A-Za-z0-9_]{0,14}$`). @default `vmbr0` */
  bridge: z
    .string()
    .regex(
      BRIDGE,
      "must be a Proxmox bridge name: a letter, then letters, digits or _, at most 15 characters",
    )
    .default("vmbr0"),
  /** VLAN tag on the bridge. @default untagged */
  vlan: z.number().int().min(1).max(4094).optional(),
  /** MTU of the interface. @default 1500 */
  mtu: z.number().int().min(1280).max(9216).default(1500),
});

export const hostAddresses = z.strictObject({
  /** IPv4 address on this network: unicast, not the network's network or broadcast address. */
  ipv4: hostIpv4,
  /** IPv6 address on this network: unicast, not the subnet-router anycast address (all-zero host part), not IPv4-mapped. */
  ipv6: hostIpv6,
});

export const ingressAddresses = z.strictObject({
  /** IPv4 address on the ingress network: unicast, not the network's network or broadcast address. */
  ipv4: hostIpv4,
  /** IPv6 address on the ingress network: unicast, not the subnet-router anycast address. @default none (then the host cannot serve an IPv6 VIP) */
  ipv6: hostIpv6.optional(),
});

export const tiers = [
  "gateway",
  "maglev",
  "haproxy",
  "k0s-controller",
  "k0s-worker",
  "dnsdist",
  "powerdns",
  "shadow-primary",
] as const;

/** Proxmox VM placement; fields left out take `proxmox.defaults`. */
export const vmSchema = z.strictObject({
  /** Proxmox VM id, unique in the cluster, 100..16777215 (each NIC's MAC is `02:4d:<nic>:<the id's 3 bytes>`, so a larger id could repeat another VM's MAC); not the id of the template it is cloned from. */
  id: z
    .number()
    .int("must be an integer")
    .min(100, "Proxmox VM ids start at 100")
    .max(
      VM_ID_MAX,
      `VM ids must be 100..${VM_ID_MAX}: a NIC's MAC carries the id's low 3 bytes, a larger id would repeat another VM's MAC`,
    ),
  /** Proxmox node the VM runs on: a host name label (`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`). @default proxmox.defaults.node */
  node: z
    .string()
    .regex(PVE_NODE, "must be a Proxmox node name: letters, digits and inner -, 1..63 characters")
    .optional(),
  /** VM id of the cloud-init template to clone, 100..999999999. @default proxmox.defaults.template */
  template: z.number().int().min(100).max(999999999).optional(),
  /** vCPUs. @default proxmox.defaults.cores */
  cores: z.number().int().min(1).max(128).optional(),
  /** Memory in MiB. @default proxmox.defaults.memoryMb */
  memoryMb: z.number().int().min(256).optional(),
  /** Root disk size in GiB. @default proxmox.defaults.diskGb */
  diskGb: z.number().int().min(4).optional(),
  /** Refuse to delete this VM (Pulumi `protect`). @default proxmox.defaults.protect */
  protect: z.boolean().optional(),
});

export const hostSchema = z.strictObject({
  /** Short name, unique: a lowercase DNS label (`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`); the hostname `<hostnamePrefix><name>` must stay ≤ 63 characters. */
  name,
  /** The tier the host belongs to (what it does): `gateway`, `maglev`, `haproxy`, `k0s-controller`, `k0s-worker`, `dnsdist`, `powerdns` or `shadow-primary`. Formerly `role`: a stack still saying `role:` is refused, naming the rename. */
  tier: z.enum(tiers),
  /** `proxmox`: a VM this stack creates; `existing`: a host adopted by its mgmt address (no VM). @default proxmox */
  provider: z.enum(["proxmox", "existing"]).default("proxmox"),
  /** Control-plane addresses (SSH, BGP, BFD). */
  mgmt: hostAddresses,
  /** Data-plane addresses (ingress0). Required for every tier that carries traffic. @default none */
  ingress: ingressAddresses.optional(),
  /** Proxmox VM; required when provider is proxmox. */
  vm: vmSchema.optional(),
  /** Site (data centre) the host is in, a key of `sites`; gateways take that site's upstream policy. @default none */
  site: name.optional(),
});

/** A real server check as keepalived runs it against every member of a backend group. */
export const healthCheckSchema = z.strictObject({
  /** Port the check connects to on the member's ingress address. @default 9300 (haproxy), 80 (k0s ingress: `/maglev-infra/health` through the ingress to an application endpoint), 53 (dnsdist) */
  port: port.optional(),
  /**
   * HTTP path for HTTP checks; `{frontend}` stands for the HAProxy frontend of the fwmark.
   * `/` then A-Za-z0-9 and `._~&+,=:@/?-`, `%XX` escapes and the literal `{frontend}`; at most
   * 255 characters (no quotes, spaces, other braces, `#`, `!`, `$`, `;` or line breaks, which
   * keepalived would read as syntax). @default per kind
   */
  path: z
    .string()
    .max(255, "must be at most 255 characters")
    .regex(
      HEALTH_PATH,
      "must be / then A-Za-z0-9 and ._~&+,=:@/?- , %XX escapes and {frontend} only (no quotes, spaces, braces, #, !, $, ; or line breaks)",
    )
    .optional(),
  /** Seconds between checks (keepalived `delay_loop`). @default 2 */
  intervalSeconds: z.number().int().min(1).max(60).default(2),
  /** Seconds before a check attempt times out. @default 2 */
  timeoutSeconds: z.number().int().min(1).max(60).default(2),
});

/** An application server behind an HAProxy backend group. */
export const appServerSchema = z.strictObject({
  /** Server name in haproxy.cfg: a lowercase DNS label. */
  name,
  /** Address (v4 or v6): unicast (loopback allowed: a server on the HAProxy node itself). */
  address: unicast(ipAny, { loopback: true }),
  /** Port. */
  port,
});

export const backendGroupSchema = z.strictObject({
  /** `haproxy`: HAProxy nodes; `k0s-ingress`: k0s edge workers with the HAProxy ingress DaemonSet; `dnsdist`: dnsdist nodes. */
  kind: z.enum(["haproxy", "k0s-ingress", "dnsdist"]),
  /** Group number; every fwmark of the group is `id × 100000 + port`, so marks never depend on the order of anything. */
  id: z.number().int().min(1, "group id must be 1..42949").max(42949, "group id must be 1..42949"),
  /** Host names of the members (their ingress addresses become the IPVS real servers). A host in several haproxy groups needs the same `healthCheck.port` in each (one health API per node). */
  members: z.array(name),
  /** keepalived's real-server check. @default per kind */
  healthCheck: healthCheckSchema.default({ intervalSeconds: 2, timeoutSeconds: 2 }),
  /** Application servers (haproxy groups only). @default [] */
  servers: z.array(appServerSchema).default([]),
});

/** One VIP and the ports it serves for one backend group. */
export const vipMappingSchema = z.strictObject({
  /** The VIP (IPv4 → /32, IPv6 → /128): unicast, not unspecified, multicast, broadcast, link-local, loopback nor IPv4-mapped; inside a host network, not its network, broadcast or subnet-router anycast address. */
  vip: hostIpAny,
  /** Destination ports. */
  ports: z.array(port).min(1, "a VIP mapping needs at least one port"),
  /** Transport protocols. @default [tcp] */
  protocols: z
    .array(z.enum(["tcp", "udp"]))
    .min(1)
    .default(["tcp"]),
  /** Backend group name (a key of `backendGroups`). */
  group: name,
});

export const bfdSchema = z.strictObject({
  /** Desired minimum transmit interval, ms. @default 300 */
  transmitIntervalMs: z
    .number()
    .int()
    .min(10, "BFD intervals must be 10..60000 ms")
    .max(60000, "BFD intervals must be 10..60000 ms")
    .default(300),
  /** Required minimum receive interval, ms. @default 300 */
  receiveIntervalMs: z
    .number()
    .int()
    .min(10, "BFD intervals must be 10..60000 ms")
    .max(60000, "BFD intervals must be 10..60000 ms")
    .default(300),
  /** Missed packets before the peer is down. The detection time max(transmit, receive) × multiplier must stay below `bgp.holdTimeSeconds`, or BFD would never be the faster detector. @default 3 */
  detectMultiplier: z
    .number()
    .int()
    .min(2, "BFD detect multiplier must be 2..255")
    .max(255, "BFD detect multiplier must be 2..255")
    .default(3),
});

export const upstreamSchema = z.strictObject({
  /** Router name (for comments and diagrams): a letter or digit, then letters, digits, `.`, `_`, `-`, ≤ 63 characters (`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`). */
  name: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
      "must be a router name: a letter or digit, then letters, digits, ., _ or -, at most 63 characters",
    ),
  /** Its IPv4 address on mgmt (unicast); the gateways peer with it directly (one hop). */
  ipv4: hostIpv4,
  /** Its IPv6 address (unicast, inside mgmt), if it peers over IPv6 too. @default none (IPv6 routes go over the IPv4 session) */
  ipv6: hostIpv6.optional(),
  /** Whether the upstream speaks BFD to the gateways. @default false */
  bfd: z.boolean().default(false),
  /**
   * The router's AS. Another AS than `bgp.asn` makes the session eBGP, where a site's AS-path
   * prepend is what the router compares. 1..4294967295 except the reserved 23456, 65535,
   * 65552–131071 and 4294967295. @default `bgp.asn` (iBGP)
   */
  asn: asn.optional(),
});

export const bgpSchema = z.strictObject({
  /** The cluster's AS (iBGP inside the cluster; towards an upstream too unless it names its own `asn`): 1..4294967295 except the reserved 23456, 65535, 65552–131071 and 4294967295. */
  asn,
  /** Upstream routers the gateways peer with. */
  upstream: z.array(upstreamSchema).min(1, "at least one upstream router"),
  /** BFD timers between gateways and maglevs. @default 300 ms × 3 */
  bfd: bfdSchema.default({ transmitIntervalMs: 300, receiveIntervalMs: 300, detectMultiplier: 3 }),
  /** BGP hold time, seconds (keepalive = hold / 3); longer than the BFD detection time. @default 9 */
  holdTimeSeconds: z.number().int().min(3).max(65535).default(9),
});

export const proxmoxDefaults = z.strictObject({
  /** Proxmox node: a host name label (`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`). */
  node: z
    .string()
    .regex(PVE_NODE, "must be a Proxmox node name: letters, digits and inner -, 1..63 characters"),
  /** VM id of the cloud-init template (Debian 12) to clone, 100..999999999; no VM of the stack has this id. */
  template: z.number().int().min(100).max(999999999),
  /** vCPUs. @default 2 */
  cores: z.number().int().min(1).max(128).default(2),
  /** Memory in MiB. @default 2048 */
  memoryMb: z.number().int().min(256).default(2048),
  /** Root disk in GiB. @default 20 */
  diskGb: z.number().int().min(4).default(20),
  /** Datastore for disks and cloud-init: a Proxmox storage id (`^[a-z][a-z0-9._-]{0,62}[a-z0-9]$`). @default `local-lvm` */
  datastore: z
    .string()
    .regex(
      PVE_STORAGE,
      "must be a Proxmox storage id: a lowercase letter, then a-z, 0-9, ., _ or -, ending in a letter or digit, at most 64 characters",
    )
    .default("local-lvm"),
  /** Protect VMs from deletion. @default false */
  protect: z.boolean().default(false),
});

/** Per-site policy of the gateways towards the upstream (an environment spanning several sites). */
export const siteSchema = z.strictObject({
  /**
   * Extra copies of the AS prepended to the VIPs announced to eBGP upstreams from this site.
   * Needs an eBGP upstream (`bgp.upstream[].asn`): an iBGP peer drops a path carrying its own AS
   * as a loop. @default 0
   */
  prepend: z.number().int().min(0).max(10).default(0),
  /** MED set on the VIPs announced upstream from this site. @default none */
  med: z.number().int().min(0).max(4294967295).optional(),
  /** LOCAL_PREF set on the VIPs announced to iBGP upstreams (they compare it first). @default none */
  localPreference: z.number().int().min(0).max(4294967295).optional(),
});

/** The maglevs' announcement policy. */
export const maglevPolicySchema = z.strictObject({
  /**
   * Watchdog: a VIP is announced only while every IPVS service of that VIP (its ports) has at
   * least this many real servers with weight > 0; below it the maglev withdraws it. @default 1
   */
  minHealthyRealServers: z.number().int().min(1).max(1000).default(1),
});

export const proxmoxSchema = z.strictObject({
  /** Placement defaults for every VM. */
  defaults: proxmoxDefaults,
  /** Cloud-init user created on every VM; SSH logs in as this user: a Linux user name (`^[a-z_][a-z0-9_-]{0,31}$`). @default `debian` */
  user: z
    .string()
    .regex(
      UNIX_USER,
      "must be a Linux user name: a-z or _, then a-z, 0-9, _ or -, at most 32 characters",
    )
    .default("debian"),
  /**
   * SSH public key put on every VM (public, not a secret): exactly one OpenSSH key on one line,
   * `<type> <base64> [comment]` — type one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521,
   * sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com; the base64 decodes and
   * starts with the type; the comment one word of A-Za-z0-9@._+:=,/- (e.g. `user@host`).
   */
  sshPublicKey,
  /** Seconds the provider waits for the qemu guest agent. @default 300 */
  agentTimeoutSeconds: z.number().int().min(10).max(3600).default(300),
});

const sha256Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/, "must be a sha256 digest: 64 lowercase hex digits");
/** The placeholder digests a stack may carry before the real release is pinned. */
export const PLACEHOLDER_SHA256 = new Set(["0".repeat(64), "f".repeat(64)]);

export const k0sSchema = z.strictObject({
  /** Pinned k0s release, `^v\d+\.\d+\.\d+\+k0s\.\d+$`, e.g. `v1.31.2+k0s.0`; `sha256` is the digest of exactly this release. */
  version: z
    .string()
    .regex(/^v\d{1,4}\.\d{1,4}\.\d{1,4}\+k0s\.\d{1,4}$/, "must look like v1.31.2+k0s.0"),
  /** sha256 of the k0s binary of `version` for linux-amd64: 64 lowercase hex digits. */
  sha256: sha256Hex,
  /** Pod network, IPv4; overlaps no host network nor the service network. @default 10.244.0.0/16 */
  podCidr4: cidr4.default("10.244.0.0/16"),
  /** Pod network, IPv6; overlaps no host network nor the service network. @default fd00:10:244::/56 */
  podCidr6: cidr6.default("fd00:10:244::/56"),
  /** Service network, IPv4; overlaps no host network nor the pod network. @default 10.96.0.0/12 */
  serviceCidr4: cidr4.default("10.96.0.0/12"),
  /** Service network, IPv6; overlaps no host network nor the pod network. @default fd00:10:96::/112 */
  serviceCidr6: cidr6.default("fd00:10:96::/112"),
  /** HAProxy ingress controller Helm chart version: semver `^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`. @default 0.14.7 */
  ingressChartVersion: z
    .string()
    .regex(
      /^\d{1,4}\.\d{1,4}\.\d{1,4}(-[0-9A-Za-z.-]{1,40})?$/,
      "must be a chart version like 0.14.7",
    )
    .default("0.14.7"),
});

export const lightningStreamSchema = z.strictObject({
  /** Run LightningStream next to PowerDNS (needs PowerDNS ≥ 4.8, which Debian 12 lacks). @default false */
  enabled: z.boolean().default(false),
  /** Release download URL of the lightningstream binary: `https://` only, no credentials, characters A-Za-z0-9 and `._~:/?=&%+@,[]-`. */
  url: url(["https"]).optional(),
  /** Its sha256: 64 lowercase hex digits, not a placeholder when enabled. */
  sha256: sha256Hex.optional(),
  /** S3 endpoint URL: `https://` or `http://` (a MinIO on the mgmt network), no credentials, characters as for `url`. */
  s3Endpoint: url(["https", "http"]).optional(),
  /** S3 bucket: `^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$` (S3's bucket naming rules). */
  bucket: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
      "must be an S3 bucket name: a-z, 0-9, . and -, 3..63 characters",
    )
    .optional(),
});

export const dnsSchema = z.strictObject({
  /** Zone the host records live in; names in dns-records.json are relative to it. RFC 1035 labels (a-z, 0-9, inner `-`, 1..63 each), at least two, ≤ 253 characters, lowercase, no trailing dot. */
  zone: zoneName,
  /** Resolvers the hosts use: unicast addresses (loopback allowed). @default [] */
  resolvers: z.array(unicast(ipAny, { loopback: true })).default([]),
  /** Zones the PowerDNS secondaries transfer from the shadow primary: at least one, each a zone name as for `zone`, no duplicates. @default [zone] */
  servedZones: z
    .array(zoneName)
    .min(1, "at least one zone when given (leave it out to serve dns.zone)")
    .optional(),
  /** dnsdist per-client-IP rate limit, queries per second. @default 100 */
  rateLimitQps: z.number().int().min(1).default(100),
  /** PowerAdmin release tarball (zone management on the shadow primary). @default none */
  powerAdmin: z
    .strictObject({
      /** Release tarball URL: `https://` only, no credentials, characters A-Za-z0-9 and `._~:/?=&%+@,[]-`. */
      url: url(["https"]),
      /** Its sha256: 64 lowercase hex digits. */
      sha256: sha256Hex,
    })
    .optional(),
  /** LightningStream zone replication. @default disabled */
  lightningStream: lightningStreamSchema.default({ enabled: false }),
});

export const environmentSchema = z.strictObject({
  /** Environment name, e.g. `mgmt02`: a lowercase DNS label. */
  name,
  /** Prefix of every hostname: empty, or a-z, 0-9 and `-` not starting with `-`, ≤ 40 characters (`^([a-z0-9][a-z0-9-]{0,39})?$`); every `<prefix><host name>` ≤ 63. @default `<name>-vm-` */
  hostnamePrefix: z
    .string()
    .regex(
      /^([a-z0-9][a-z0-9-]{0,39})?$/,
      "must be empty or a-z, 0-9 and -, not starting with -, at most 40 characters",
    )
    .optional(),
  /** Control plane (mgmt) and data plane (ingress) networks. */
  networks: z.strictObject({
    /** Control plane: SSH, BGP, BFD, node_exporter. */
    mgmt: networkSchema,
    /** Data plane: VIP traffic between gateways, maglevs and L7 nodes. */
    ingress: networkSchema,
  }),
  /** BGP design. */
  bgp: bgpSchema,
  /** Proxmox placement and cloud-init. */
  proxmox: proxmoxSchema,
  /** DNS zone, resolvers, dnsdist/PowerDNS settings. */
  dns: dnsSchema,
  /** k0s cluster settings; required when there are k0s hosts. @default none */
  k0s: k0sSchema.optional(),
  /** Sites by name (lowercase DNS labels), when the environment spans several. @default {} */
  sites: z.record(name, siteSchema).default({}),
  /** Maglev announcement policy (watchdog). @default { minHealthyRealServers: 1 } */
  maglev: maglevPolicySchema.default({ minHealthyRealServers: 1 }),
  /** Every host of the environment. */
  hosts: z.array(hostSchema).min(1),
  /** Backend groups by name (lowercase DNS labels). */
  backendGroups: z.record(name, backendGroupSchema),
  /** VIP:port → backend group mappings. */
  vips: z.array(vipMappingSchema),
});

export type EnvironmentInput = z.input<typeof environmentSchema>;
export type Environment = z.output<typeof environmentSchema>;
export type Host = Environment["hosts"][number];
export type BackendGroup = Environment["backendGroups"][string];
export type VipMapping = Environment["vips"][number];
export type Network = Environment["networks"]["mgmt"];
export type Upstream = Environment["bgp"]["upstream"][number];

/** An upstream in another AS than the cluster's: the session is eBGP (it sees our AS path). */
export function isEbgpUpstream(bgp: Environment["bgp"], u: Upstream): boolean {
  return u.asn !== undefined && u.asn !== bgp.asn;
}
