/**
 * The hostile corpus (issue 15): stacks derived from mgmt02 by one mutation each —
 * injection into every free-text field, every address class, every cross-field rule. Each
 * case asserts the path of the error, that the offending value is named (in the error and in
 * the text the CLIs print), and a few go through the render CLI to show nothing is written.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import {
  formatErrors,
  loadStack,
  StackFileError,
  validateEnvironment,
  ValidateOptions,
} from "../../src/config/load";
import { ConfigError } from "../../src/config/rules";
import { mgmt02Raw, mustValidate, ROOT } from "../helpers";

const BASE = mgmt02Raw();
const fresh = (): any => structuredClone(BASE);

function errorsOf(raw: unknown, opts?: ValidateOptions): ConfigError[] {
  const r = validateEnvironment(raw, opts);
  return r.ok ? [] : r.errors;
}

/** THEN the error at `path` names `value` (in the error object and the printed text) and says `message`. */
function expectRejected(
  raw: unknown,
  p: string,
  value: unknown,
  message?: RegExp,
  opts?: ValidateOptions,
) {
  const errors = errorsOf(raw, opts);
  const hit = errors.find((e) => e.path === p);
  if (!hit)
    throw new Error(
      `expected an error at ${p}, got:\n${errors.map((e) => `${e.path}: ${e.message}`).join("\n") || "(none: accepted)"}`,
    );
  expect(hit.value).toEqual(value);
  if (message) expect(hit.message).toMatch(message);
  const printed = formatErrors("stack.yaml", errors);
  expect(printed).toContain(
    `maglev-infra:environment.${p.replace(/[\u0000-\u001f]/g, (c) => JSON.stringify(c).slice(1, -1))}:`,
  );
  expect(printed).toContain(
    JSON.stringify(value).replace(/[\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1)),
  );
  // Nothing hostile reaches the terminal raw: one line per problem plus the header.
  expect(printed.split("\n")).toHaveLength(errors.length + 1);
}

/** Characters that end a token or a line in one of the files a value lands in. */
const PAYLOADS: [string, string][] = [
  ["a newline", "\nrouter bgp 666"],
  ["a double quote", '"; touch /x; echo "'],
  ["a single quote", "';system('id');$x='"],
  ["a semicolon", "; rm -rf /"],
  ["a command substitution", "$(touch /x)"],
  ["braces", "} virtual_server 1.2.3.4 80 {"],
  ["a hash", "#comment"],
  ["a space", " x"],
];

/** Every free-text field: its path, how to set it on mgmt02, and a valid value to append to. */
const FIELDS: { path: string; base: string; set: (r: any, v: string) => void }[] = [
  { path: "name", base: "mgmt02", set: (r, v) => (r.name = v) },
  { path: "hostnamePrefix", base: "mgmt02-vm-", set: (r, v) => (r.hostnamePrefix = v) },
  { path: "hosts[0].name", base: "mgw01", set: (r, v) => (r.hosts[0].name = v) },
  {
    path: "hosts[0].site",
    base: "dc1",
    set: (r, v) => ((r.sites = { dc1: {} }), (r.hosts[1].site = "dc1"), (r.hosts[0].site = v)),
  },
  { path: "hosts[0].vm.node", base: "pve01", set: (r, v) => (r.hosts[0].vm.node = v) },
  {
    path: "backendGroups.mlb.members[0]",
    base: "mlb01",
    set: (r, v) => (r.backendGroups.mlb.members[0] = v),
  },
  {
    path: "backendGroups.mlb.servers[0].name",
    base: "app01",
    set: (r, v) => (r.backendGroups.mlb.servers[0].name = v),
  },
  {
    path: "backendGroups.mlb.healthCheck.path",
    base: "/haproxy-health",
    set: (r, v) => (r.backendGroups.mlb.healthCheck.path = v),
  },
  { path: "vips[0].group", base: "mlb", set: (r, v) => (r.vips[0].group = v) },
  { path: "bgp.upstream[0].name", base: "int-gw03m", set: (r, v) => (r.bgp.upstream[0].name = v) },
  {
    path: "networks.mgmt.interface",
    base: "mgmt0",
    set: (r, v) => (r.networks.mgmt.interface = v),
  },
  {
    path: "networks.ingress.bridge",
    base: "vmbr0",
    set: (r, v) => (r.networks.ingress.bridge = v),
  },
  { path: "proxmox.defaults.node", base: "pve01", set: (r, v) => (r.proxmox.defaults.node = v) },
  {
    path: "proxmox.defaults.datastore",
    base: "local-lvm",
    set: (r, v) => (r.proxmox.defaults.datastore = v),
  },
  { path: "proxmox.user", base: "debian", set: (r, v) => (r.proxmox.user = v) },
  {
    path: "proxmox.sshPublicKey",
    base: BASE.proxmox.sshPublicKey,
    set: (r, v) => (r.proxmox.sshPublicKey = v),
  },
  { path: "dns.zone", base: "infra.example.net", set: (r, v) => (r.dns.zone = v) },
  {
    path: "dns.servedZones[0]",
    base: "infra.example.net",
    set: (r, v) => (r.dns.servedZones = [v]),
  },
  {
    path: "dns.powerAdmin.url",
    base: "https://github.com/poweradmin/poweradmin/archive/refs/tags/v3.9.2.tar.gz",
    set: (r, v) => (r.dns.powerAdmin = { url: v, sha256: "a".repeat(64) }),
  },
  {
    path: "dns.lightningStream.url",
    base: "https://example.net/ls",
    set: (r, v) => (r.dns.lightningStream.url = v),
  },
  {
    path: "dns.lightningStream.s3Endpoint",
    base: "https://s3.example.net",
    set: (r, v) => (r.dns.lightningStream.s3Endpoint = v),
  },
  {
    path: "dns.lightningStream.bucket",
    base: "zones",
    set: (r, v) => (r.dns.lightningStream.bucket = v),
  },
  {
    path: "dns.lightningStream.sha256",
    base: "b".repeat(64),
    set: (r, v) => (r.dns.lightningStream.sha256 = v),
  },
  { path: "k0s.version", base: "v1.31.2+k0s.0", set: (r, v) => (r.k0s.version = v) },
  { path: "k0s.sha256", base: "c".repeat(64), set: (r, v) => (r.k0s.sha256 = v) },
  {
    path: "k0s.ingressChartVersion",
    base: "0.14.7",
    set: (r, v) => (r.k0s.ingressChartVersion = v),
  },
];

/** Record keys (group and site names) are free text too; their error names the key. */
const KEYS: { path: (k: string) => string; set: (r: any, k: string) => void }[] = [
  { path: (k) => `backendGroups.${k}`, set: (r, k) => (r.backendGroups[k] = r.backendGroups.dns) },
  { path: (k) => `sites.${k}`, set: (r, k) => (r.sites = { [k]: {} }) },
];

describe("hostile corpus: injection into every free-text field", () => {
  test("GIVEN each field set to its valid base value WHEN validated THEN mgmt02 still passes (the grammars admit real values)", () => {
    for (const f of FIELDS) {
      const r = fresh();
      f.set(r, f.base);
      expect({ field: f.path, errors: errorsOf(r).map((e) => `${e.path}: ${e.message}`) }).toEqual({
        field: f.path,
        errors: [],
      });
    }
  });

  const cases = FIELDS.flatMap((f) =>
    PAYLOADS.map(([what, payload]) => [f.path, what, f, f.base + payload] as const),
  );
  test.each(cases)(
    "GIVEN %s with %s appended WHEN validated THEN it is rejected at its path, naming the value",
    (_p, _what, f, value) => {
      const r = fresh();
      f.set(r, value);
      expectRejected(r, f.path, value);
    },
  );

  test.each(
    KEYS.flatMap((k) =>
      PAYLOADS.map(([what, payload]) => [k.path("<name>"), what, k, `dc1${payload}`] as const),
    ),
  )(
    "GIVEN a key of %s with %s WHEN validated THEN the key is rejected and named",
    (_p, _what, k, key) => {
      const r = fresh();
      k.set(r, key);
      expectRejected(r, k.path(key), key, /invalid name/);
    },
  );

  test.each([
    [
      "a second key on a new line",
      `${BASE.proxmox.sshPublicKey}\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExhYk9ubHlOb3RBUmVhbEtleUZvckxhYkd1ZXN0czAw evil`,
      /one key on one line/,
    ],
    ["a trailing newline", `${BASE.proxmox.sshPublicKey}\n`, /one key on one line/],
    ["an unknown type", "ssh-dss AAAAB3NzaC1kc3MAAACBAP deploy", /key type "ssh-dss"/],
    ["data that is not base64", "ssh-ed25519 not*base64 deploy", /not base64/],
    [
      "data of another type",
      "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIHVq0ZJHq9bO7Yl2yTzqE5mZx4r8G2Gm7Qe3q3Y8m0vN x",
      /does not start with its type "ssh-rsa"/,
    ],
    [
      "a truncated ed25519 key",
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVq0ZJHq9bO7Yl2yTzq x",
      /51 bytes/,
    ],
    [
      "an options prefix",
      `command="/bin/sh" ${BASE.proxmox.sshPublicKey}`,
      /OpenSSH public key|key type/,
    ],
  ])(
    "GIVEN proxmox.sshPublicKey with %s WHEN validated THEN it is rejected",
    (_what, value, message) => {
      const r = fresh();
      r.proxmox.sshPublicKey = value;
      expectRejected(r, "proxmox.sshPublicKey", value, message);
    },
  );

  test.each([
    ["file://", "dns.powerAdmin.url", "file:///etc/shadow", /https URL/],
    [
      "http:// where https is required",
      "dns.powerAdmin.url",
      "http://example.net/pa.tgz",
      /https URL/,
    ],
    [
      "credentials in the URL",
      "dns.powerAdmin.url",
      "https://user:pw@example.net/pa.tgz",
      /user name or password/,
    ],
    ["no host", "dns.powerAdmin.url", "https:///pa.tgz", /name a host|not a URL/],
    ["a stray %", "dns.powerAdmin.url", "https://example.net/a%zz", /%XX/],
    [
      "ftp:// for the S3 endpoint",
      "dns.lightningStream.s3Endpoint",
      "ftp://s3.example.net",
      /https or http URL/,
    ],
  ])("GIVEN a URL with %s WHEN validated THEN %s is rejected", (_what, p, value, message) => {
    const r = fresh();
    if (p === "dns.powerAdmin.url") r.dns.powerAdmin = { url: value, sha256: "a".repeat(64) };
    else r.dns.lightningStream.s3Endpoint = value;
    expectRejected(r, p, value, message);
  });

  test.each([
    ["a trailing dot", "infra.example.net.", /trailing dot/],
    ["upper case", "Infra.Example.NET", /RFC 1035/],
    ["one label", "localhost", /two labels/],
    ["a label of 64", `${"a".repeat(64)}.example.net`, /RFC 1035/],
    ["254 characters", `${Array(50).fill("abcd").join(".")}.${"a".repeat(3)}.example.net`, /253/],
    ["an empty label", "infra..example.net", /RFC 1035/],
    ["a label ending in -", "infra-.example.net", /RFC 1035/],
  ])("GIVEN dns.zone with %s WHEN validated THEN it is rejected", (_what, value, message) => {
    const r = fresh();
    r.dns.zone = value;
    expectRejected(r, "dns.zone", value, message);
  });

  test.each([
    ["a space", "/health check"],
    ["a quote", '/health"'],
    ["a brace other than {frontend}", "/{x}"],
    ["a ! (keepalived comment)", "/a!b"],
    ["a $ (keepalived variable)", "/$HOME"],
    ["not starting with /", "health"],
    ["256 characters", `/${"a".repeat(255)}`],
  ])("GIVEN a health-check path with %s WHEN validated THEN it is rejected", (_what, value) => {
    const r = fresh();
    r.backendGroups.k0s.healthCheck = { path: value };
    expectRejected(r, "backendGroups.k0s.healthCheck.path", value);
  });

  test("GIVEN a health-check path with {frontend}, %XX and a query WHEN validated THEN it is accepted", () => {
    const r = fresh();
    r.backendGroups.mlb.healthCheck.path = "/health/{frontend}?full=1&x=%2F";
    expect(errorsOf(r)).toEqual([]);
  });
});

describe("hostile corpus: address meaning", () => {
  test.each([
    [
      "the unspecified address",
      "vips[0].vip",
      (r: any, v: string) => (r.vips[0].vip = v),
      "0.0.0.0",
      /unspecified/,
    ],
    [
      "0.0.0.0/8",
      "vips[0].vip",
      (r: any, v: string) => (r.vips[0].vip = v),
      "0.1.2.3",
      /this network/,
    ],
    [
      "multicast",
      "vips[0].vip",
      (r: any, v: string) => (r.vips[0].vip = v),
      "224.0.0.5",
      /multicast/,
    ],
    [
      "limited broadcast",
      "vips[0].vip",
      (r: any, v: string) => (r.vips[0].vip = v),
      "255.255.255.255",
      /broadcast/,
    ],
    [
      "link-local",
      "vips[0].vip",
      (r: any, v: string) => (r.vips[0].vip = v),
      "169.254.7.15",
      /link-local/,
    ],
    [
      "loopback",
      "vips[0].vip",
      (r: any, v: string) => (r.vips[0].vip = v),
      "127.0.0.1",
      /loopback/,
    ],
    [
      "240/4",
      "vips[0].vip",
      (r: any, v: string) => (r.vips[0].vip = v),
      "240.0.0.1",
      /240\.0\.0\.0\/4/,
    ],
    [
      "IPv4-mapped IPv6",
      "vips[5].vip",
      (r: any, v: string) => r.vips.push({ vip: v, ports: [8080], group: "mlb" }),
      "::ffff:10.1.7.15",
      /IPv4-mapped/,
    ],
    [
      "IPv6 unspecified",
      "vips[2].vip",
      (r: any, v: string) => (r.vips[2].vip = v),
      "::",
      /unspecified/,
    ],
    [
      "IPv6 multicast",
      "vips[2].vip",
      (r: any, v: string) => (r.vips[2].vip = v),
      "ff02::1",
      /multicast/,
    ],
    [
      "IPv6 link-local",
      "vips[2].vip",
      (r: any, v: string) => (r.vips[2].vip = v),
      "fe80::10",
      /link-local/,
    ],
    ["IPv6 loopback", "vips[2].vip", (r: any, v: string) => (r.vips[2].vip = v), "::1", /loopback/],
    [
      "the mgmt network address",
      "vips[0].vip",
      (r: any, v: string) => (r.vips[0].vip = v),
      "10.1.7.0",
      /network address of 10\.1\.7\.0\/24/,
    ],
    [
      "the mgmt broadcast address",
      "vips[0].vip",
      (r: any, v: string) => (r.vips[0].vip = v),
      "10.1.7.255",
      /broadcast address of 10\.1\.7\.0\/24/,
    ],
    [
      "the subnet-router anycast address",
      "vips[2].vip",
      (r: any, v: string) => (r.vips[2].vip = v),
      "2a0a:7180:81:7::",
      /subnet-router anycast/,
    ],
  ])(
    "GIVEN a VIP that is %s WHEN validated THEN %s is rejected",
    (_what, p, set, value, message) => {
      const r = fresh();
      set(r, value);
      expectRejected(r, p, value, message);
    },
  );

  test.each([
    ["mgmt ipv4 unspecified", "hosts[4].mgmt.ipv4", "0.0.0.0", /unspecified/],
    ["mgmt ipv6 multicast", "hosts[4].mgmt.ipv6", "ff05::2", /multicast/],
    ["mgmt ipv6 link-local", "hosts[4].mgmt.ipv6", "fe80::21", /link-local/],
    ["mgmt ipv6 IPv4-mapped", "hosts[4].mgmt.ipv6", "::ffff:10.1.7.33", /IPv4-mapped/],
    [
      "ingress ipv4 network address",
      "hosts[4].ingress.ipv4",
      "10.1.10.0",
      /network address of 10\.1\.10\.0\/24/,
    ],
    ["ingress ipv4 broadcast address", "hosts[4].ingress.ipv4", "10.1.10.255", /broadcast address/],
    [
      "ingress ipv6 subnet-router anycast",
      "hosts[4].ingress.ipv6",
      "2a0a:7180:81:a::",
      /subnet-router anycast/,
    ],
    [
      "mgmt ipv6 subnet-router anycast, long form",
      "hosts[4].mgmt.ipv6",
      "2a0a:7180:81:7:0:0:0:0",
      /subnet-router anycast/,
    ],
  ])(
    "GIVEN a host address that is %s WHEN validated THEN %s is rejected",
    (_what, p, value, message) => {
      const r = fresh();
      const [, field, fam] = /^hosts\[4\]\.(mgmt|ingress)\.(ipv4|ipv6)$/.exec(p)!;
      r.hosts[4][field][fam] = value;
      expectRejected(r, p, value, message);
    },
  );

  test.each([
    [
      "gateway4 on the broadcast address",
      "networks.mgmt.gateway4",
      (r: any) => (r.networks.mgmt.gateway4 = "10.1.7.255"),
      "10.1.7.255",
      /broadcast/,
    ],
    [
      "gateway4 unspecified",
      "networks.mgmt.gateway4",
      (r: any) => (r.networks.mgmt.gateway4 = "0.0.0.0"),
      "0.0.0.0",
      /unspecified/,
    ],
    [
      "gateway6 multicast",
      "networks.mgmt.gateway6",
      (r: any) => (r.networks.mgmt.gateway6 = "ff02::2"),
      "ff02::2",
      /multicast/,
    ],
    [
      "an upstream on the network address",
      "bgp.upstream[0].ipv4",
      (r: any) => (r.bgp.upstream[0].ipv4 = "10.1.7.0"),
      "10.1.7.0",
      /network address/,
    ],
    [
      "an application server 0.0.0.0",
      "backendGroups.mlb.servers[0].address",
      (r: any) => (r.backendGroups.mlb.servers[0].address = "0.0.0.0"),
      "0.0.0.0",
      /unspecified/,
    ],
    [
      "a resolver that is multicast",
      "dns.resolvers[0]",
      (r: any) => (r.dns.resolvers = ["224.0.0.251"]),
      "224.0.0.251",
      /multicast/,
    ],
  ])("GIVEN %s WHEN validated THEN %s is rejected", (_what, p, set, value, message) => {
    const r = fresh();
    set(r);
    expectRejected(r, p, value, message);
  });

  test.each([
    [
      "a host's mgmt IPv6 in its long form",
      "hosts[5].mgmt.ipv6",
      (r: any) => (r.hosts[5].mgmt.ipv6 = "2a0a:7180:81:7:0:0:0:21"),
      "2a0a:7180:81:7:0:0:0:21",
    ],
    [
      "a host's mgmt IPv6 in upper case",
      "hosts[5].mgmt.ipv6",
      (r: any) => (r.hosts[5].mgmt.ipv6 = "2A0A:7180:81:7::21"),
      "2A0A:7180:81:7::21",
    ],
    [
      "a VIP with leading zeros",
      "vips[5].vip",
      (r: any) => r.vips.push({ vip: "2a0a:7180:0081:0007::0004", ports: [8080], group: "mlb" }),
      "2a0a:7180:0081:0007::0004",
    ],
  ])(
    "GIVEN %s WHEN validated THEN the duplicate is found canonically at %s",
    (_what, p, set, value) => {
      const r = fresh();
      set(r);
      expectRejected(r, p, value, /duplicate address/);
    },
  );

  test.each([
    [
      "ingress containing mgmt",
      "networks.ingress.ipv4",
      (r: any) => (r.networks.ingress.ipv4 = "10.1.0.0/16"),
      "10.1.0.0/16",
    ],
    [
      "ingress v6 containing mgmt v6",
      "networks.ingress.ipv6",
      (r: any) => (r.networks.ingress.ipv6 = "2a0a:7180:81::/48"),
      "2a0a:7180:81::/48",
    ],
    [
      "the pod network over the host networks",
      "k0s.podCidr4",
      (r: any) => (r.k0s.podCidr4 = "10.1.0.0/16"),
      "10.1.0.0/16",
    ],
    [
      "the service network over mgmt v6",
      "k0s.serviceCidr6",
      (r: any) => (r.k0s.serviceCidr6 = "2a0a:7180:81:7::/112"),
      "2a0a:7180:81:7::/112",
    ],
    [
      "the service network inside the pod network",
      "k0s.serviceCidr4",
      (r: any) => (r.k0s.serviceCidr4 = "10.244.128.0/20"),
      "10.244.128.0/20",
    ],
  ])("GIVEN %s WHEN validated THEN the overlap is reported at %s", (_what, p, set, value) => {
    const r = fresh();
    set(r);
    expectRejected(r, p, value, /overlaps/);
  });

  test("GIVEN a VIP inside the k0s service network WHEN validated THEN it is rejected", () => {
    const r = fresh();
    r.vips.push({ vip: "10.96.0.10", ports: [8080], group: "mlb" });
    expectRejected(r, "vips[5].vip", "10.96.0.10", /k0s\.serviceCidr4/);
  });

  test("GIVEN networks.mgmt.gateway6: fe80::1 (and the same on ingress) WHEN validated THEN it is accepted: a link-local router address is normal", () => {
    const r = fresh();
    r.networks.mgmt.gateway6 = "fe80::1";
    r.networks.ingress.gateway6 = "fe80::1";
    expect(errorsOf(r)).toEqual([]);
  });

  test("GIVEN an application server on loopback WHEN validated THEN it is accepted (a server on the HAProxy node)", () => {
    const r = fresh();
    r.backendGroups.mlb.servers[0].address = "127.0.0.1";
    expect(errorsOf(r)).toEqual([]);
  });
});

describe("hostile corpus: cross-field rules", () => {
  test.each([
    [
      "BFD detection equal to the hold time",
      "bgp.bfd",
      (r: any) => (r.bgp.bfd.transmitIntervalMs = 3000),
      9000,
      /not below bgp\.holdTimeSeconds \(9 s\)/,
    ],
    [
      "a hold time shorter than BFD detection",
      "bgp.bfd",
      (r: any) => (
        (r.bgp.holdTimeSeconds = 3),
        (r.bgp.bfd = { transmitIntervalMs: 300, receiveIntervalMs: 1000, detectMultiplier: 4 })
      ),
      4000,
      /4000 ms/,
    ],
    [
      "a VM id equal to the template",
      "hosts[0].vm.id",
      (r: any) => (r.hosts[0].vm.id = 9000),
      9000,
      /id of a template \(proxmox\.defaults\.template\)/,
    ],
    [
      "a VM id that is another host's template",
      "hosts[1].vm.id",
      (r: any) => (r.hosts[0].vm.template = 2005),
      2005,
      /hosts\[0\]\.vm\.template/,
    ],
    [
      "a VM id over 24 bits (its MAC would repeat VM 2004's)",
      "hosts[0].vm.id",
      (r: any) => (r.hosts[0].vm.id = 2004 + 0x1000000),
      2004 + 0x1000000,
      /MAC/,
    ],
    [
      "a hostname of 64 characters",
      "hosts[0].name",
      (r: any) => (r.hosts[0].name = "g" + "a".repeat(53)),
      "g" + "a".repeat(53),
      /64 characters/,
    ],
    [
      "a hostnamePrefix starting with -",
      "hostnamePrefix",
      (r: any) => (r.hostnamePrefix = "-vm-"),
      "-vm-",
      /not starting with -/,
    ],
    [
      "a long hostnamePrefix that makes a hostname of 65",
      "hosts[0].name",
      (r: any) => (
        (r.hostnamePrefix = "a".repeat(40)),
        (r.hosts[0].name = "mgw01" + "x".repeat(20))
      ),
      "mgw01" + "x".repeat(20),
      /65 characters/,
    ],
    ["ASN 23456 (AS_TRANS)", "bgp.asn", (r: any) => (r.bgp.asn = 23456), 23456, /AS_TRANS/],
    ["ASN 65535", "bgp.asn", (r: any) => (r.bgp.asn = 65535), 65535, /reserved/],
    ["ASN 4294967295", "bgp.asn", (r: any) => (r.bgp.asn = 4294967295), 4294967295, /reserved/],
    [
      "ASN 70000 (IANA reserved)",
      "bgp.asn",
      (r: any) => (r.bgp.asn = 70000),
      70000,
      /65552\.\.131071/,
    ],
    [
      "an upstream in AS 23456",
      "bgp.upstream[0].asn",
      (r: any) => (r.bgp.upstream[0].asn = 23456),
      23456,
      /AS_TRANS/,
    ],
    [
      "ingress on mgmt0",
      "networks.ingress.interface",
      (r: any) => (r.networks.ingress.interface = "mgmt0"),
      "mgmt0",
      /distinct interfaces/,
    ],
    [
      "ingress on the VIP dummy",
      "networks.ingress.interface",
      (r: any) => (r.networks.ingress.interface = "vip"),
      "vip",
      /reserved/,
    ],
    [
      "ingress on lo",
      "networks.ingress.interface",
      (r: any) => (r.networks.ingress.interface = "lo"),
      "lo",
      /reserved/,
    ],
    [
      "mgmt on the default ingress name",
      "networks.mgmt.interface",
      (r: any) => ((r.networks.mgmt.interface = "ingress0"), delete r.networks.ingress.interface),
      "ingress0",
      /distinct interfaces/,
    ],
    [
      "servedZones: []",
      "dns.servedZones",
      (r: any) => (r.dns.servedZones = []),
      [],
      /at least one zone/,
    ],
    [
      "a served zone twice",
      "dns.servedZones[1]",
      (r: any) => (r.dns.servedZones = ["infra.example.net", "infra.example.net"]),
      "infra.example.net",
      /twice/,
    ],
    [
      "a host in two haproxy groups with different check ports",
      "backendGroups.mlb2.healthCheck.port",
      (r: any) =>
        (r.backendGroups.mlb2 = {
          kind: "haproxy",
          id: 4,
          members: ["mlb01"],
          healthCheck: { port: 9301 },
        }),
      9301,
      /"mlb01" is in haproxy groups "mlb" \(health-check port 9300\) and "mlb2" \(port 9301\)/,
    ],
  ])("GIVEN %s WHEN validated THEN %s is rejected", (_what, p, set, value, message) => {
    const r = fresh();
    set(r);
    expectRejected(r, p, value, message);
  });

  test("GIVEN a placeholder k0s sha256 WHEN validated for a deployment THEN it is rejected; for a review render it passes", () => {
    const zero = () => {
      const r = fresh();
      r.k0s.sha256 = "0".repeat(64);
      return r;
    };
    expectRejected(zero(), "k0s.sha256", "0".repeat(64), /placeholder digest/, {
      requirePinnedDigests: true,
    });
    expect(errorsOf(zero())).toEqual([]);
    const r = fresh();
    r.k0s.sha256 = "1".repeat(64);
    expect(errorsOf(r, { requirePinnedDigests: true })).toEqual([]);
  });

  test("GIVEN a placeholder digest of a download no host needs WHEN validated for a deployment THEN it passes", () => {
    const r = fresh();
    r.k0s.sha256 = "0".repeat(64);
    r.hosts = r.hosts.filter((h: any) => !h.tier.startsWith("k0s"));
    r.backendGroups = { mlb: r.backendGroups.mlb, dns: r.backendGroups.dns };
    r.vips = r.vips.filter((v: any) => v.group !== "k0s");
    expect(errorsOf(r, { requirePinnedDigests: true })).toEqual([]);
  });

  test("GIVEN mgmt02 with twelve problems of every class WHEN validated THEN all twelve are reported at once", () => {
    const r = fresh();
    r.dns.zone = 'x"; touch /x';
    r.proxmox.sshPublicKey += "\nssh-ed25519 AAAA evil";
    r.backendGroups.mlb.healthCheck.path = "/}\nMISC_CHECK {";
    r.bgp.upstream[0].name = "gw\n neighbor 6.6.6.6 remote-as 666";
    r.vips[0].vip = "0.0.0.0";
    r.hosts[4].ingress.ipv4 = "10.1.10.255";
    r.networks.ingress.interface = "mgmt0";
    r.bgp.asn = 23456;
    r.hosts[0].vm.id = 9000;
    r.bgp.bfd.transmitIntervalMs = 5000;
    r.dns.servedZones = [];
    r.backendGroups.mlb2 = {
      kind: "haproxy",
      id: 4,
      members: ["mlb01"],
      healthCheck: { port: 9301 },
    };
    const paths = errorsOf(r).map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "dns.zone",
        "proxmox.sshPublicKey",
        "backendGroups.mlb.healthCheck.path",
        "bgp.upstream[0].name",
        "vips[0].vip",
        "hosts[4].ingress.ipv4",
        "networks.ingress.interface",
        "bgp.asn",
        "hosts[0].vm.id",
        "bgp.bfd",
        "dns.servedZones",
        "backendGroups.mlb2.healthCheck.port",
      ]),
    );
  });

  test("GIVEN the stacks in stacks/ WHEN validated THEN every one passes", () => {
    for (const f of fs.readdirSync(path.join(ROOT, "stacks")).filter((x) => x.endsWith(".yaml"))) {
      expect({ f, env: loadStack(path.join(ROOT, "stacks", f), ROOT).name }).toEqual({
        f,
        env: expect.any(String),
      });
    }
    expect(mustValidate(fresh()).hosts).toHaveLength(20);
  });
});

describe("hostile corpus: YAML problems name file, line and column", () => {
  const fixture = (f: string) => path.join(ROOT, "test/fixtures/hostile", f);
  test.each([
    ["duplicate-key.yaml", 5, 5, /Map keys must be unique \("name"\)/],
    ["syntax-error.yaml", 7, 5, /Flow sequence/],
    ["alias-bomb.yaml", 6, 12, /alias \*b: aliases expand beyond 100 nodes/],
    ["two-documents.yaml", 5, 1, /one YAML document/],
  ])(
    "GIVEN %s WHEN loaded THEN the error names test/fixtures/hostile/<file>:%i:%i",
    (f, line, col, message) => {
      let err: unknown;
      try {
        loadStack(fixture(f), ROOT);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StackFileError);
      const e = err as StackFileError;
      expect(e.problems[0]).toMatchObject({ line, col });
      expect(e.problems[0].message).toMatch(message);
      expect(e.message).toContain(`test/fixtures/hostile/${f}:${line}:${col}: `);
    },
  );
});

describe("hostile corpus through the render CLI: exit 1, every problem named, nothing written", () => {
  function runRender(args: string[]) {
    return spawnSync(
      path.join(ROOT, "node_modules/.bin/tsx"),
      [path.join(ROOT, "src/cli/render.ts"), ...args],
      { cwd: ROOT, encoding: "utf8" },
    );
  }
  const stackText = (raw: unknown) =>
    YAML.stringify({ config: { "maglev-infra:environment": raw } });

  test.each([
    [
      "a servedZones shell injection",
      (r: any) => (r.dns.servedZones = ['infra.example.net"; touch /x; echo "']),
      "dns.servedZones[0]",
      'infra.example.net\\"; touch /x; echo \\"',
    ],
    [
      "a health-check path that opens a MISC_CHECK",
      (r: any) =>
        (r.backendGroups.mlb.healthCheck.path = "/x\n}\nMISC_CHECK {\n misc_path /bin/sh\n}"),
      "backendGroups.mlb.healthCheck.path",
      "/x\\n}\\nMISC_CHECK {",
    ],
    [
      "an upstream name with a newline",
      (r: any) => (r.bgp.upstream[0].name = "int-gw03m\n neighbor 6.6.6.6 remote-as 666"),
      "bgp.upstream[0].name",
      "int-gw03m\\n neighbor",
    ],
    ["VIP 0.0.0.0", (r: any) => (r.vips[0].vip = "0.0.0.0"), "vips[0].vip", '"0.0.0.0"'],
  ])(
    "GIVEN %s WHEN rendered THEN exit 1, the path and value on stderr, the output folder not created",
    (_what, set, p, shown) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hostile-"));
      const r = fresh();
      set(r);
      const stack = path.join(dir, "Pulumi.hostile.yaml");
      fs.writeFileSync(stack, stackText(r));
      const out = path.join(dir, "out");
      const res = runRender([stack, "--out", out]);
      expect(res.status).toBe(1);
      expect(res.stderr).toContain(`maglev-infra:environment.${p}: `);
      expect(res.stderr).toContain(shown);
      expect(fs.existsSync(out)).toBe(false);
      expect(fs.readdirSync(dir)).toEqual(["Pulumi.hostile.yaml"]);
    },
  );

  test("GIVEN a stack file with a duplicate key WHEN rendered into an empty folder THEN exit 1 naming file:line:col, and the folder stays empty", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hostile-"));
    const out = path.join(dir, "out");
    fs.mkdirSync(out);
    const text = fs
      .readFileSync(path.join(ROOT, "stacks/Pulumi.mgmt02.yaml"), "utf8")
      .replace(
        "    hostnamePrefix: mgmt02-vm-\n",
        "    hostnamePrefix: mgmt02-vm-\n    name: evil\n",
      );
    const stack = path.join(dir, "Pulumi.dup.yaml");
    fs.writeFileSync(stack, text);
    const line = text.split("\n").indexOf("    name: evil") + 1;
    const res = runRender([stack, "--out", out]);
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(
      new RegExp(`Pulumi\\.dup\\.yaml:${line}:5: Map keys must be unique \\("name"\\)`),
    );
    expect(fs.readdirSync(out)).toEqual([]);
  });
});
