/**
 * The environment schema: one structured object under `maglev-infra:environment` in
 * `stacks/Pulumi.<env>.yaml`. Strict everywhere: an unknown key is an error, so a typo
 * never silently falls back to a default.
 *
 * Field-level rules live here (zod); rules that relate several fields (duplicates,
 * address in network, VIP → group, …) live in `rules.ts` and report every problem at once.
 */
import { z } from "zod";
import * as ipaddr from "ipaddr.js";

const isV4 = (s: string) => ipaddr.IPv4.isValidFourPartDecimal(s);
const isV6 = (s: string) => !s.includes("%") && ipaddr.IPv6.isValid(s) && !ipaddr.IPv4.isValid(s);

export const ipv4 = z.string().refine(isV4, { message: "is not an IPv4 address" });
export const ipv6 = z.string().refine(isV6, { message: "is not an IPv6 address" });
export const ipAny = z.string().refine((s) => isV4(s) || isV6(s), { message: "is not an IP address" });

function cidrOf(family: "ipv4" | "ipv6") {
  return z.string().refine(
    (s) => {
      try {
        const [addr, len] = ipaddr.parseCIDR(s);
        if (addr.kind() !== family) return false;
        if (family === "ipv4" && !isV4(s.split("/")[0])) return false;
        // The network address itself, not a host address with a prefix length.
        const net = family === "ipv4" ? ipaddr.IPv4.networkAddressFromCIDR(s) : ipaddr.IPv6.networkAddressFromCIDR(s);
        return net.toNormalizedString() === addr.toNormalizedString() && len >= 0;
      } catch {
        return false;
      }
    },
    { message: `is not an ${family === "ipv4" ? "IPv4" : "IPv6"} network in CIDR form (network address/prefix length)` },
  );
}
export const cidr4 = cidrOf("ipv4");
export const cidr6 = cidrOf("ipv6");

const name = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a lowercase DNS label (a-z, 0-9, -)");
const port = z.number().int("must be an integer").min(1, "port must be 1..65535").max(65535, "port must be 1..65535");

/** An L2 network the hosts attach to (mgmt = control plane, ingress = data plane). */
export const networkSchema = z.strictObject({
  /** IPv4 network, e.g. `10.1.7.0/24`. */
  ipv4: cidr4,
  /** IPv6 network, e.g. `2a0a:7180:81:7::/64`. */
  ipv6: cidr6,
  /** IPv4 default gateway; only the mgmt network carries the default route. @default none */
  gateway4: ipv4.optional(),
  /** IPv6 default gateway. @default none */
  gateway6: ipv6.optional(),
  /** Interface name inside the VM. @default `mgmt0` for mgmt, `ingress0` for ingress */
  interface: z.string().regex(/^[a-z][a-z0-9]{0,14}$/).optional(),
  /** Proxmox bridge the NIC is plugged into. @default `vmbr0` */
  bridge: z.string().default("vmbr0"),
  /** VLAN tag on the bridge. @default untagged */
  vlan: z.number().int().min(1).max(4094).optional(),
  /** MTU of the interface. @default 1500 */
  mtu: z.number().int().min(1280).max(9216).default(1500),
});

export const hostAddresses = z.strictObject({
  /** IPv4 address on this network. */
  ipv4: ipv4,
  /** IPv6 address on this network. */
  ipv6: ipv6,
});

export const ingressAddresses = z.strictObject({
  /** IPv4 address on the ingress network. */
  ipv4: ipv4,
  /** IPv6 address on the ingress network. @default none (then the host cannot serve an IPv6 VIP) */
  ipv6: ipv6.optional(),
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
  /** Proxmox VM id, unique in the cluster. */
  id: z.number().int().min(100, "Proxmox VM ids start at 100").max(999999999),
  /** Proxmox node the VM runs on. @default proxmox.defaults.node */
  node: z.string().optional(),
  /** VM id of the cloud-init template to clone. @default proxmox.defaults.template */
  template: z.number().int().min(100).optional(),
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
  /** Short name, unique; the hostname is `<hostnamePrefix><name>`. */
  name,
  /** What the host does. */
  role: z.enum(tiers),
  /** `proxmox`: a VM this stack creates; `existing`: a host adopted by its mgmt address (no VM). @default proxmox */
  provider: z.enum(["proxmox", "existing"]).default("proxmox"),
  /** Control-plane addresses (SSH, BGP, BFD). */
  mgmt: hostAddresses,
  /** Data-plane addresses (ingress0). Required for every tier that carries traffic. @default none */
  ingress: ingressAddresses.optional(),
  /** Proxmox VM; required when provider is proxmox. */
  vm: vmSchema.optional(),
  /** Site (data centre) the host is in; gateways take that site's upstream policy. @default none */
  site: name.optional(),
});

/** A real server check as keepalived runs it against every member of a backend group. */
export const healthCheckSchema = z.strictObject({
  /** Port the check connects to on the member's ingress address. @default 9300 (haproxy), 10253 (k0s ingress), 53 (dnsdist) */
  port: port.optional(),
  /** HTTP path for HTTP checks; `{frontend}` stands for the HAProxy frontend of the fwmark. @default per kind */
  path: z.string().startsWith("/").optional(),
  /** Seconds between checks (keepalived `delay_loop`). @default 2 */
  intervalSeconds: z.number().int().min(1).max(60).default(2),
  /** Seconds before a check attempt times out. @default 2 */
  timeoutSeconds: z.number().int().min(1).max(60).default(2),
});

/** An application server behind an HAProxy backend group. */
export const appServerSchema = z.strictObject({
  /** Server name in haproxy.cfg. */
  name,
  /** Address (v4 or v6). */
  address: ipAny,
  /** Port. */
  port,
});

export const backendGroupSchema = z.strictObject({
  /** `haproxy`: HAProxy nodes; `k0s-ingress`: k0s edge workers with the HAProxy ingress DaemonSet; `dnsdist`: dnsdist nodes. */
  kind: z.enum(["haproxy", "k0s-ingress", "dnsdist"]),
  /** Group number; every fwmark of the group is `id × 100000 + port`, so marks never depend on the order of anything. */
  id: z.number().int().min(1, "group id must be 1..42949").max(42949, "group id must be 1..42949"),
  /** Host names of the members (their ingress addresses become the IPVS real servers). */
  members: z.array(name),
  /** keepalived's real-server check. @default per kind */
  healthCheck: healthCheckSchema.default({ intervalSeconds: 2, timeoutSeconds: 2 }),
  /** Application servers (haproxy groups only). @default [] */
  servers: z.array(appServerSchema).default([]),
});

/** One VIP and the ports it serves for one backend group. */
export const vipMappingSchema = z.strictObject({
  /** The VIP (IPv4 → /32, IPv6 → /128). */
  vip: ipAny,
  /** Destination ports. */
  ports: z.array(port).min(1, "a VIP mapping needs at least one port"),
  /** Transport protocols. @default [tcp] */
  protocols: z.array(z.enum(["tcp", "udp"])).min(1).default(["tcp"]),
  /** Backend group name. */
  group: name,
});

export const bfdSchema = z.strictObject({
  /** Desired minimum transmit interval, ms. @default 300 */
  transmitIntervalMs: z.number().int().min(10, "BFD intervals must be 10..60000 ms").max(60000, "BFD intervals must be 10..60000 ms").default(300),
  /** Required minimum receive interval, ms. @default 300 */
  receiveIntervalMs: z.number().int().min(10, "BFD intervals must be 10..60000 ms").max(60000, "BFD intervals must be 10..60000 ms").default(300),
  /** Missed packets before the peer is down. @default 3 */
  detectMultiplier: z.number().int().min(2, "BFD detect multiplier must be 2..255").max(255, "BFD detect multiplier must be 2..255").default(3),
});

export const upstreamSchema = z.strictObject({
  /** Router name (for comments and diagrams). */
  name: z.string().min(1),
  /** Its IPv4 address on mgmt; the gateways peer with it directly (one hop). */
  ipv4: ipv4,
  /** Its IPv6 address, if it peers over IPv6 too. @default none (IPv6 routes go over the IPv4 session) */
  ipv6: ipv6.optional(),
  /** Whether the upstream speaks BFD to the gateways. @default false */
  bfd: z.boolean().default(false),
  /**
   * The router's AS. Another AS than `bgp.asn` makes the session eBGP, where a site's AS-path
   * prepend is what the router compares. @default `bgp.asn` (iBGP)
   */
  asn: z.number().int().min(1, "ASN must be 1..4294967295").max(4294967295, "ASN must be 1..4294967295").optional(),
});

export const bgpSchema = z.strictObject({
  /** The cluster's AS (iBGP inside the cluster; towards an upstream too unless it names its own `asn`). */
  asn: z.number().int().min(1, "ASN must be 1..4294967295").max(4294967295, "ASN must be 1..4294967295"),
  /** Upstream routers the gateways peer with. */
  upstream: z.array(upstreamSchema).min(1, "at least one upstream router"),
  /** BFD timers between gateways and maglevs. @default 300 ms × 3 */
  bfd: bfdSchema.default({ transmitIntervalMs: 300, receiveIntervalMs: 300, detectMultiplier: 3 }),
  /** BGP hold time, seconds (keepalive = hold / 3). @default 9 */
  holdTimeSeconds: z.number().int().min(3).max(65535).default(9),
});

export const proxmoxDefaults = z.strictObject({
  /** Proxmox node. */
  node: z.string().min(1),
  /** VM id of the cloud-init template (Debian 12) to clone. */
  template: z.number().int().min(100),
  /** vCPUs. @default 2 */
  cores: z.number().int().min(1).max(128).default(2),
  /** Memory in MiB. @default 2048 */
  memoryMb: z.number().int().min(256).default(2048),
  /** Root disk in GiB. @default 20 */
  diskGb: z.number().int().min(4).default(20),
  /** Datastore for disks and cloud-init. @default `local-lvm` */
  datastore: z.string().default("local-lvm"),
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
  /** Cloud-init user created on every VM; SSH logs in as this user. @default `debian` */
  user: z.string().default("debian"),
  /** SSH public key put on every VM (public, not a secret). */
  sshPublicKey: z.string().regex(/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+) /, "must be an OpenSSH public key"),
  /** Seconds the provider waits for the qemu guest agent. @default 300 */
  agentTimeoutSeconds: z.number().int().min(10).max(3600).default(300),
});

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be a sha256 hex digest");

export const k0sSchema = z.strictObject({
  /** Pinned k0s release, e.g. `v1.31.2+k0s.0`. */
  version: z.string().regex(/^v\d+\.\d+\.\d+\+k0s\.\d+$/, "must look like v1.31.2+k0s.0"),
  /** sha256 of the k0s binary for linux-amd64. */
  sha256: sha256Hex,
  /** Pod network, IPv4. @default 10.244.0.0/16 */
  podCidr4: cidr4.default("10.244.0.0/16"),
  /** Pod network, IPv6. @default fd00:10:244::/56 */
  podCidr6: cidr6.default("fd00:10:244::/56"),
  /** Service network, IPv4. @default 10.96.0.0/12 */
  serviceCidr4: cidr4.default("10.96.0.0/12"),
  /** Service network, IPv6. @default fd00:10:96::/112 */
  serviceCidr6: cidr6.default("fd00:10:96::/112"),
  /** HAProxy ingress controller Helm chart version. @default 0.14.7 */
  ingressChartVersion: z.string().default("0.14.7"),
});

export const lightningStreamSchema = z.strictObject({
  /** Run LightningStream next to PowerDNS (needs PowerDNS ≥ 4.8, which Debian 12 lacks). @default false */
  enabled: z.boolean().default(false),
  /** Release download URL of the lightningstream binary. */
  url: z.string().url().optional(),
  /** Its sha256. */
  sha256: sha256Hex.optional(),
  /** S3 endpoint URL. */
  s3Endpoint: z.string().url().optional(),
  /** S3 bucket. */
  bucket: z.string().optional(),
});

export const dnsSchema = z.strictObject({
  /** Zone the host records live in; names in dns-records.json are relative to it. */
  zone: z.string().regex(/^([a-z0-9-]+\.)+[a-z]{2,}$/, "must be a DNS zone name without trailing dot"),
  /** Resolvers the hosts use. @default [] */
  resolvers: z.array(ipAny).default([]),
  /** Zones the PowerDNS secondaries transfer from the shadow primary. @default [zone] */
  servedZones: z.array(z.string()).optional(),
  /** dnsdist per-client-IP rate limit, queries per second. @default 100 */
  rateLimitQps: z.number().int().min(1).default(100),
  /** PowerAdmin release tarball (zone management on the shadow primary). @default none */
  powerAdmin: z
    .strictObject({
      /** Release tarball URL. */
      url: z.string().url(),
      /** Its sha256. */
      sha256: sha256Hex,
    })
    .optional(),
  /** LightningStream zone replication. @default disabled */
  lightningStream: lightningStreamSchema.default({ enabled: false }),
});

export const environmentSchema = z.strictObject({
  /** Environment name, e.g. `mgmt02`. */
  name,
  /** Prefix of every hostname. @default `<name>-vm-` */
  hostnamePrefix: z.string().regex(/^[a-z0-9-]*$/).optional(),
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
  /** Sites by name, when the environment spans several. @default {} */
  sites: z.record(name, siteSchema).default({}),
  /** Maglev announcement policy (watchdog). @default { minHealthyRealServers: 1 } */
  maglev: maglevPolicySchema.default({ minHealthyRealServers: 1 }),
  /** Every host of the environment. */
  hosts: z.array(hostSchema).min(1),
  /** Backend groups by name. */
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
