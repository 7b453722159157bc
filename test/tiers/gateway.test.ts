/**
 * Gateway tier: golden files of mgmt02's mgw01 and properties over generated environments.
 * Regenerate the golden files with `UPDATE_GOLDEN=1 npx jest test/tiers`.
 */
import fc from "fast-check";
import { deriveTopology } from "../../src/topology";
import { planHost } from "../../src/plan";
import { generateEnvironment } from "../../src/testing/generate";
import { gatewayFrrConfig } from "../../src/tiers/gateway";
import { mgmt02Raw, mustValidate } from "../helpers";
import { check, compareGolden, failingFiles, file, plan } from "./golden-util";

describe("gateway mgw01 of mgmt02", () => {
  const topo = deriveTopology(mustValidate(mgmt02Raw()));
  const conf = gatewayFrrConfig(topo, topo.byName.get("mgw01")!);

  test("GIVEN mgmt02 WHEN mgw01 is rendered THEN its files match the golden files", () => {
    expect(compareGolden("mgmt02", plan("mgw01", topo))).toEqual([]);
  });

  test("GIVEN mgmt02 THEN the route reflector rewrites next hops to mgw01's ingress0 and runs ECMP over both maglevs", () => {
    expect(conf).toMatch(/^ bgp route-reflector allow-outbound-policy$/m);
    expect(conf).toMatch(
      /^route-map NH-INGRESS permit 10\n set ip next-hop 10\.1\.10\.4\n set ipv6 next-hop global 2a0a:7180:81:a::4\nexit$/m,
    );
    expect(conf.match(/^  maximum-paths ibgp 2$/gm)).toHaveLength(2);
  });

  test("GIVEN the upstream int-gw03m THEN nothing is accepted from it, and it gets IPv6 routes over the IPv4 session", () => {
    for (const af of ["ipv4", "ipv6"]) {
      const block = conf
        .split(` address-family ${af} unicast\n`)[1]
        .split(" exit-address-family")[0];
      expect(block).toContain(
        "  neighbor 10.1.7.2 activate\n  neighbor 10.1.7.2 route-map NO-IN in\n  neighbor 10.1.7.2 route-map NH-INGRESS out\n",
      );
    }
    expect(conf).toMatch(/^route-map NO-IN deny 10$/m);
    expect(conf).not.toMatch(/neighbor 10\.1\.7\.2 bfd/); // the stack says the upstream has no BFD
  });

  test("GIVEN two maglevs THEN both are route-reflector clients with BFD at the stack's timers and accept only VIP prefixes", () => {
    expect(conf).toMatch(/^ neighbor 10\.1\.7\.17 peer-group MAGLEVS$/m);
    expect(conf).toMatch(/^ neighbor 10\.1\.7\.18 peer-group MAGLEVS$/m);
    expect(conf).toMatch(/^  neighbor MAGLEVS route-reflector-client$/m);
    expect(conf).toMatch(/^ neighbor MAGLEVS bfd profile maglev$/m);
    expect(conf).toMatch(
      / profile maglev\n  transmit-interval 300\n  receive-interval 300\n  detect-multiplier 3\n/,
    );
    expect(conf).toMatch(/^  neighbor MAGLEVS prefix-list VIPS-V4 in$/m);
    expect(conf).toMatch(/^  neighbor MAGLEVS prefix-list VIPS-V6 in$/m);
    expect(conf.match(/^ip prefix-list VIPS-V4 .*$/gm)).toEqual([
      "ip prefix-list VIPS-V4 seq 5 permit 10.1.7.15/32",
      "ip prefix-list VIPS-V4 seq 10 permit 10.1.7.16/32",
      "ip prefix-list VIPS-V4 seq 15 permit 10.1.7.53/32",
    ]);
  });

  test("WHEN the upstream speaks BFD and has an IPv6 address THEN it gets bfd and an IPv6 session carrying the IPv6 routes", () => {
    const raw = mgmt02Raw();
    raw.bgp.upstream[0] = { ...raw.bgp.upstream[0], bfd: true, ipv6: "2a0a:7180:81:7::2" };
    const t = deriveTopology(mustValidate(raw));
    const c = gatewayFrrConfig(t, t.byName.get("mgw01")!);
    expect(c).toMatch(/^ neighbor 10\.1\.7\.2 bfd$/m);
    expect(c).toMatch(/^ neighbor 2a0a:7180:81:7::2 update-source 2a0a:7180:81:7::4$/m);
    const v6 = c.split(" address-family ipv6 unicast\n")[1];
    expect(v6).toContain("  neighbor 2a0a:7180:81:7::2 activate");
    expect(v6).not.toContain("  neighbor 10.1.7.2 activate");
  });

  test("sysctls: forwarding and L4 ECMP hashing for both families", () => {
    const plan = planHost(topo, topo.byName.get("mgw01")!);
    const s = Object.fromEntries(plan.sysctls.map((x) => [x.key, x.value]));
    expect(s).toMatchObject({
      "net.ipv4.conf.all.forwarding": "1",
      "net.ipv6.conf.all.forwarding": "1",
      "net.ipv4.fib_multipath_hash_policy": "1",
      "net.ipv6.fib_multipath_hash_policy": "1",
      "net.ipv4.fib_multipath_use_neigh": "1",
    });
    expect(plan.services).toContain("frr");
    expect(plan.files.find((f) => f.path === "/etc/frr/frr.conf")!.validate!.checker).toBe("vtysh");
  });
});

describe("gateway files against their real checkers", () => {
  const p = plan("mgw01");

  test("GIVEN mgw01 WHEN every file is run through its own checker THEN all pass", async () => {
    expect(await failingFiles(p)).toEqual([]);
  });

  test.each([
    [
      "an unknown command",
      (s: string) => s.replace("route-reflector-client", "route-reflector-clint"),
    ],
    [
      "a peer group used but never defined (vtysh alone accepts it)",
      (s: string) => s.replace(/peer-group MAGLEVS$/gm, "peer-group MAGLEVZ"),
    ],
    [
      "a BFD interval out of range",
      (s: string) => s.replace("transmit-interval 300", "transmit-interval 5"),
    ],
  ])("GIVEN frr.conf with %s THEN its checker rejects it", async (_what, mutate) => {
    const f = file(p, "/etc/frr/frr.conf");
    expect((await check(p.hostname, f, mutate(f.content))).ok).toBe(false);
  });
});

describe("gateway (property, generated environments)", () => {
  const envArb = fc.record({
    hosts: fc.integer({ min: 20, max: 60 }),
    maglevs: fc.integer({ min: 1, max: 6 }),
    haproxyGroups: fc.integer({ min: 1, max: 5 }),
  });

  test("GIVEN any generated environment THEN every VIP is in a prefix list exactly once and the ECMP width is the number of maglevs", () => {
    fc.assert(
      fc.property(envArb, (o) => {
        const topo = deriveTopology(mustValidate(generateEnvironment(o)));
        for (const gw of topo.gateways) {
          const conf = gatewayFrrConfig(topo, gw);
          const v4 = [...conf.matchAll(/^ip prefix-list VIPS-V4 seq \d+ permit (\S+)\/32$/gm)].map(
            (m) => m[1],
          );
          const v6 = [
            ...conf.matchAll(/^ipv6 prefix-list VIPS-V6 seq \d+ permit (\S+)\/128$/gm),
          ].map((m) => m[1]);
          expect(v4).toEqual(topo.vips.ipv4);
          expect(v6).toEqual(topo.vips.ipv6);
          expect(conf.match(/^  maximum-paths ibgp (\d+)$/gm)).toEqual([
            `  maximum-paths ibgp ${o.maglevs}`,
            `  maximum-paths ibgp ${o.maglevs}`,
          ]);
          for (const m of topo.maglevs)
            expect(conf).toContain(` neighbor ${m.mgmt.ipv4} peer-group MAGLEVS\n`);
        }
      }),
      { numRuns: 25 },
    );
  });
});
