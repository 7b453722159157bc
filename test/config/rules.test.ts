import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConfigValidationError, loadStack } from "../../src/config/load";
import { errorsOf, mgmt02Raw, hostIndex, mustValidate, ROOT } from "../helpers";

/** GIVEN mgmt02 changed by `mutate`, THEN exactly the expected path is reported with its value. */
function expectError(mutate: (raw: any) => void, path: string, message: RegExp, value?: unknown) {
  const raw = mgmt02Raw();
  mutate(raw);
  const errors = errorsOf(raw);
  const hit = errors.find((e) => e.path === path);
  if (!hit)
    throw new Error(
      `expected an error at ${path}, got:\n${errors.map((e) => `${e.path}: ${e.message}`).join("\n") || "(none)"}`,
    );
  expect(hit.message).toMatch(message);
  if (value !== undefined) expect(hit.value).toEqual(value);
}

describe("environment schema and cross-field rules", () => {
  test("GIVEN the mgmt02 stack WHEN validated THEN it passes with 20 hosts and defaults applied", () => {
    const env = mustValidate(mgmt02Raw());
    expect(env.hosts).toHaveLength(20);
    expect(env.bgp.bfd).toEqual({
      transmitIntervalMs: 300,
      receiveIntervalMs: 300,
      detectMultiplier: 3,
    });
    expect(env.hosts.every((h) => h.provider === "proxmox")).toBe(true);
    expect(env.vips.find((v) => v.vip === "10.1.7.15")!.protocols).toEqual(["tcp"]);
  });

  test("an unknown key is an error, never ignored", () => {
    expectError((r) => (r.bgp.asnn = 1), "bgp.asnn", /unknown key/, 1);
    expectError(
      (r) => (r.hosts[0].mgmt.ipv44 = "10.1.7.99"),
      "hosts[0].mgmt.ipv44",
      /unknown key/,
      "10.1.7.99",
    );
  });

  test("duplicate host name", () => {
    expectError(
      (r) => (r.hosts[hostIndex(r, "mgw02")].name = "mgw01"),
      "hosts[1].name",
      /duplicate host name/,
      "mgw01",
    );
  });

  test.each([
    [
      "mgmt v4",
      (r: any) => (r.hosts[3].mgmt.ipv4 = r.hosts[2].mgmt.ipv4),
      "hosts[3].mgmt.ipv4",
      "10.1.7.17",
    ],
    [
      "mgmt v6, other spelling",
      (r: any) => (r.hosts[3].mgmt.ipv6 = "2a0a:7180:81:7:0:0:0:11"),
      "hosts[3].mgmt.ipv6",
      "2a0a:7180:81:7:0:0:0:11",
    ],
    [
      "ingress v4",
      (r: any) => (r.hosts[5].ingress.ipv4 = "10.1.10.33"),
      "hosts[5].ingress.ipv4",
      "10.1.10.33",
    ],
    [
      "ingress v6",
      (r: any) => (r.hosts[5].ingress.ipv6 = "2a0a:7180:81:a::21"),
      "hosts[5].ingress.ipv6",
      "2a0a:7180:81:a::21",
    ],
    ["a VIP", (r: any) => (r.hosts[4].mgmt.ipv4 = "10.1.7.15"), "vips[0].vip", "10.1.7.15"],
  ])("duplicate address: %s", (_what, mutate, path, value) => {
    expectError(mutate, path, /duplicate address/, value);
  });

  test("address outside its network", () => {
    expectError(
      (r) => (r.hosts[0].mgmt.ipv4 = "10.1.8.4"),
      "hosts[0].mgmt.ipv4",
      /outside the mgmt network 10\.1\.7\.0\/24/,
      "10.1.8.4",
    );
    expectError(
      (r) => (r.hosts[0].ingress.ipv6 = "2a0a:7180:81:b::4"),
      "hosts[0].ingress.ipv6",
      /outside the ingress network/,
      "2a0a:7180:81:b::4",
    );
  });

  test("malformed address", () => {
    expectError(
      (r) => (r.hosts[0].mgmt.ipv4 = "10.1.7.400"),
      "hosts[0].mgmt.ipv4",
      /not an IPv4 address/,
      "10.1.7.400",
    );
    expectError(
      (r) => (r.hosts[0].mgmt.ipv6 = "2a0a:7180:81:7::4::1"),
      "hosts[0].mgmt.ipv6",
      /not an IPv6 address/,
      "2a0a:7180:81:7::4::1",
    );
    expectError((r) => (r.vips[0].vip = "10.1.7"), "vips[0].vip", /not an IP address/, "10.1.7");
  });

  test("VIP mapped to an undefined backend group", () => {
    expectError(
      (r) => (r.vips[0].group = "mbl"),
      "vips[0].group",
      /undefined backend group/,
      "mbl",
    );
  });

  test("a group with no members", () => {
    expectError(
      (r) => (r.backendGroups.mlb.members = []),
      "backendGroups.mlb.members",
      /has no members/,
      [],
    );
  });

  test("an IPv6 VIP whose group has a member without an IPv6 ingress address", () => {
    expectError(
      (r) => delete r.hosts[hostIndex(r, "k0s02")].ingress.ipv6,
      "vips[2].vip",
      /member "k0s02" has no IPv6 ingress/,
      "2a0a:7180:81:7::10",
    );
  });

  test("port out of range", () => {
    expectError((r) => (r.vips[1].ports = [80, 70000]), "vips[1].ports[1]", /1\.\.65535/, 70000);
    expectError((r) => (r.vips[1].ports = [0]), "vips[1].ports[0]", /1\.\.65535/, 0);
  });

  test("two mappings for the same VIP:port", () => {
    expectError(
      (r) => r.vips.push({ vip: "10.1.7.16", ports: [443], group: "mlb" }),
      "vips[5].ports[0]",
      /already mapped/,
      443,
    );
  });

  test("duplicate Proxmox VM id", () => {
    expectError(
      (r) => (r.hosts[1].vm.id = r.hosts[0].vm.id),
      "hosts[1].vm.id",
      /duplicate Proxmox VM id/,
      2004,
    );
  });

  test("ASN and BFD timers out of range", () => {
    expectError((r) => (r.bgp.asn = 0), "bgp.asn", /1\.\.4294967295/, 0);
    expectError((r) => (r.bgp.asn = 4294967296), "bgp.asn", /1\.\.4294967295/, 4294967296);
    expectError(
      (r) => (r.bgp.bfd.transmitIntervalMs = 5),
      "bgp.bfd.transmitIntervalMs",
      /10\.\.60000/,
      5,
    );
    expectError((r) => (r.bgp.bfd.detectMultiplier = 1), "bgp.bfd.detectMultiplier", /2\.\.255/, 1);
  });

  test("GIVEN several problems of different kinds WHEN validated THEN all are reported at once", () => {
    const raw = mgmt02Raw();
    raw.hosts[3].mgmt.ipv4 = "10.1.7.17"; // duplicate
    raw.hosts[4].ingress.ipv4 = "10.1.11.33"; // outside
    raw.hosts[11].mgmt.ipv4 = "10.1.7.640"; // malformed
    raw.bgp.asn = -1; // out of range
    const paths = errorsOf(raw).map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "hosts[3].mgmt.ipv4",
        "hosts[4].ingress.ipv4",
        "hosts[11].mgmt.ipv4",
        "bgp.asn",
      ]),
    );
  });

  test("a group member must be a host of the matching tier", () => {
    expectError(
      (r) => (r.backendGroups.mlb.members = ["mlb01", "k0s01"]),
      "backendGroups.mlb.members[1]",
      /takes haproxy hosts/,
      "k0s01",
    );
    expectError(
      (r) => (r.backendGroups.mlb.members = ["mlb01", "mlb09"]),
      "backendGroups.mlb.members[1]",
      /no host named/,
      "mlb09",
    );
  });
});

describe("GIVEN a stack that still says hosts[].role (renamed to tier, issue 18)", () => {
  /** mgmt02 with its hosts' `tier` written under the old key `role`. */
  const withRole = (r: any, i: number) => {
    r.hosts[i].role = r.hosts[i].tier;
    delete r.hosts[i].tier;
  };

  test("WHEN validated THEN the old key is refused naming the rename and its value, once per host", () => {
    const raw = mgmt02Raw();
    withRole(raw, 3);
    const errors = errorsOf(raw);
    expect(errors).toEqual([
      {
        path: "hosts[3].role",
        message: "renamed to `tier`: write `tier:` instead of `role:`",
        value: "maglev",
      },
    ]);
  });

  test("WHEN it has other problems too THEN all are reported at once, and the host's tier still counts for the cross-field rules", () => {
    const raw = mgmt02Raw();
    withRole(raw, hostIndex(raw, "mlb01"));
    withRole(raw, hostIndex(raw, "k0s01"));
    raw.bgp.asn = -1;
    raw.backendGroups.mlb.members = ["mlb01", "k0s01"];
    const errors = errorsOf(raw);
    expect(errors.map((e) => e.path)).toEqual(
      expect.arrayContaining([
        `hosts[${hostIndex(raw, "mlb01")}].role`,
        `hosts[${hostIndex(raw, "k0s01")}].role`,
        "bgp.asn",
        "backendGroups.mlb.members[1]",
      ]),
    );
    expect(errors.find((e) => e.path === "backendGroups.mlb.members[1]")!.message).toBe(
      'a haproxy group takes haproxy hosts, "k0s01" is a k0s-worker',
    );
    expect(errors.some((e) => /^hosts\[\d+\]\.tier$/.test(e.path))).toBe(false);
  });

  test("WHEN a host has both keys THEN the old one is refused; WHEN it has neither THEN the missing tier is reported", () => {
    expectError(
      (r) => (r.hosts[0].role = "gateway"),
      "hosts[0].role",
      /^renamed to `tier`/,
      "gateway",
    );
    expectError((r) => delete r.hosts[0].tier, "hosts[0].tier", /expected one of/);
  });

  test("WHEN the stack file is loaded THEN the error names the file, every host's path and value", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-role-"));
    try {
      fs.mkdirSync(path.join(dir, "stacks"));
      const text = fs.readFileSync(path.join(ROOT, "stacks", "Pulumi.mgmt02.yaml"), "utf8");
      fs.writeFileSync(
        path.join(dir, "stacks", "Pulumi.mgmt02.yaml"),
        text.replace(/^(\s+)tier: /gm, "$1role: "),
      );
      let err: unknown;
      try {
        loadStack("mgmt02", dir);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigValidationError);
      const msg = (err as Error).message;
      expect(msg.split("\n")[0]).toBe("stacks/Pulumi.mgmt02.yaml: 20 problems in the environment:");
      expect(msg).toContain(
        'maglev-infra:environment.hosts[3].role: renamed to `tier`: write `tier:` instead of `role:` (value: "maglev")',
      );
      expect(msg).toContain(
        'maglev-infra:environment.hosts[19].role: renamed to `tier`: write `tier:` instead of `role:` (value: "powerdns")',
      );
      expect(msg).not.toMatch(/\.tier:/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
