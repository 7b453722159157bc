import fc from "fast-check";
import { deriveTopology, fwmarkFor } from "../../src/topology";
import { fwmarkTable } from "../../src/topology/fwmarks";
import { mgmt02Raw, mustValidate } from "../helpers";

describe("topology of mgmt02", () => {
  const topo = deriveTopology(mustValidate(mgmt02Raw()));

  test("GIVEN two maglevs THEN each gateway has ECMP width 2 and both maglevs as route-reflector clients", () => {
    expect(topo.peerings.map((p) => p.gateway.name)).toEqual(["mgw01", "mgw02"]);
    for (const p of topo.peerings) {
      expect(p.ecmpWidth).toBe(2);
      expect(p.routeReflectorClients.map((m) => m.mgmt.ipv4)).toEqual(["10.1.7.17", "10.1.7.18"]);
      expect(p.upstream.map((u) => u.ipv4)).toEqual(["10.1.7.2"]);
    }
  });

  test("the fwmark table: one mark per (group, port), readable as group × 100000 + port", () => {
    expect(topo.fwmarks.map((f) => [f.fwmark, f.group, f.vips.ipv4, f.vips.ipv6])).toEqual([
      [100080, "mlb", ["10.1.7.15"], []],
      [200080, "k0s", ["10.1.7.16"], ["2a0a:7180:81:7::10"]],
      [200443, "k0s", ["10.1.7.16"], ["2a0a:7180:81:7::10"]],
      [300053, "dns", ["10.1.7.53"], ["2a0a:7180:81:7::35"]],
    ]);
    expect(topo.fwmarks.find((f) => f.fwmark === 300053)!.protocols).toEqual(["tcp", "udp"]);
  });

  test("backend group members are their ingress addresses; edge workers carry the k0s VIPs, k0s04 none", () => {
    expect(topo.groups.get("k0s")!.members.map((m) => m.ingress!.ipv4)).toEqual([
      "10.1.10.61",
      "10.1.10.62",
      "10.1.10.63",
    ]);
    expect(topo.groups.get("mlb")!.members.map((m) => m.ingress!.ipv4)).toEqual([
      "10.1.10.33",
      "10.1.10.34",
      "10.1.10.35",
    ]);
    expect(topo.byName.get("k0s01")!.vips).toEqual({
      ipv4: ["10.1.7.16"],
      ipv6: ["2a0a:7180:81:7::10"],
    });
    expect(topo.byName.get("k0s04")!.vips).toEqual({ ipv4: [], ipv6: [] });
  });
});

describe("fwmark stability (property)", () => {
  const groupsArb = fc.uniqueArray(fc.integer({ min: 1, max: 42949 }), {
    minLength: 1,
    maxLength: 6,
  });
  const mappingArb = (nGroups: number) =>
    fc.record({
      vip: fc.oneof(fc.ipV4(), fc.ipV6()),
      ports: fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 4 }),
      protocols: fc.constantFrom(
        ["tcp"] as ("tcp" | "udp")[],
        ["udp"] as ("tcp" | "udp")[],
        ["tcp", "udp"] as ("tcp" | "udp")[],
      ),
      group: fc.integer({ min: 0, max: nGroups - 1 }).map((i) => `g${i}`),
    });

  test("GIVEN any table WHEN a VIP or a port is added THEN no existing mark changes, and marks are unique per (group, port)", () => {
    fc.assert(
      fc.property(
        groupsArb.chain((ids) =>
          fc.tuple(
            fc.constant(ids),
            fc.array(mappingArb(ids.length), { maxLength: 8 }),
            mappingArb(ids.length),
            fc.integer({ min: 0, max: 7 }),
            fc.integer({ min: 1, max: 65535 }),
          ),
        ),
        ([ids, mappings, added, at, extraPort]) => {
          const groups = Object.fromEntries(ids.map((id, i) => [`g${i}`, { id } as any]));
          const before = fwmarkTable(mappings, groups);
          const withVip = [...mappings.slice(0, at), added, ...mappings.slice(at)];
          const withPort = mappings.map((m, i) =>
            i === at % Math.max(1, mappings.length) ? { ...m, ports: [...m.ports, extraPort] } : m,
          );
          for (const after of [fwmarkTable(withVip, groups), fwmarkTable(withPort, groups)]) {
            for (const row of before) {
              const same = after.filter(
                (r) =>
                  r.vip === row.vip &&
                  r.port === row.port &&
                  r.protocol === row.protocol &&
                  r.group === row.group,
              );
              expect(same.length).toBeGreaterThan(0);
              for (const s of same) expect(s.fwmark).toBe(row.fwmark);
            }
          }
          // Unique: one mark ⇔ one (group, port).
          const byMark = new Map<number, string>();
          for (const r of before) {
            const k = `${r.group}|${r.port}`;
            expect(byMark.get(r.fwmark) ?? k).toBe(k);
            byMark.set(r.fwmark, k);
            expect(r.fwmark).toBe(fwmarkFor(groups[r.group].id, r.port));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
