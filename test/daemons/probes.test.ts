/**
 * The live-state parsers the operations and the lab share (src/daemons/keepalived/probes.ts,
 * src/daemons/frr/probes.ts), on output copied from ipvsadm and iproute2.
 */
import { ipvsServiceKey, parseIpvs, parseIpvsStats } from "../../src/daemons/keepalived/probes";
import {
  nextHops,
  parseVipRoutes,
  vipRouteCommand,
  vipRoutesScript,
} from "../../src/daemons/frr/probes";

describe("IPVS probes", () => {
  const list = [
    "IP Virtual Server version 1.2.1 (size=4096)",
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
    "FWM  100080 mh (mh-fallback,mh-port)",
    "  -> 198.18.10.33:0                Route   1      3          10",
    "  -> 198.18.10.34:0                Route   0      2          1",
    "FWM  100080 IPv6 mh (mh-fallback,mh-port)",
    "  -> [fd00:a::21]:0                Route   1      1          0",
  ].join("\n");

  test("GIVEN ipvsadm -Ln WHEN parsed THEN each fwmark service per family lists its real servers' weight and active connections", () => {
    const ipvs = parseIpvs(list);
    expect(ipvs.get(ipvsServiceKey("ipv4", 100080))?.get("198.18.10.34")).toEqual({
      weight: 0,
      active: 2,
    });
    expect(ipvs.get(ipvsServiceKey("ipv6", 100080))?.get("fd00:a::21")).toEqual({
      weight: 1,
      active: 1,
    });
  });

  test("GIVEN ipvsadm --stats WHEN parsed THEN the service lines give connections and packets, an IPv6 fwmark one included", () => {
    const stats = [
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
      "  -> RemoteAddress:Port",
      "FWM  100080                            120     4000        0   300000        0",
      "  -> 198.18.10.33:0                     60     2000        0   150000        0",
      "FWM  100080 IPv6                        10       77        0     5000        0",
    ].join("\n");
    expect(parseIpvsStats(stats)).toEqual([
      { key: "4:100080", conns: 120, inPkts: 4000 },
      { key: "6:100080", conns: 10, inPkts: 77 },
    ]);
  });
});

describe("next-hop probes", () => {
  const ecmp = JSON.stringify([
    {
      dst: "198.18.7.15",
      protocol: "bgp",
      nexthops: [{ gateway: "198.18.10.17" }, { gateway: "198.18.10.18" }],
    },
  ]);

  test("GIVEN ip -j route output WHEN read THEN a multipath route gives every next hop, a single one its gateway, junk none", () => {
    expect(nextHops(ecmp)).toEqual(["198.18.10.17", "198.18.10.18"]);
    expect(nextHops('[{"dst":"198.18.7.15","gateway":"198.18.10.18"}]')).toEqual(["198.18.10.18"]);
    expect(nextHops("")).toEqual([]);
    expect(nextHops("not json")).toEqual([]);
  });

  test("GIVEN several VIPs WHEN batched THEN each VIP's line is read back, other lines skipped", () => {
    expect(vipRouteCommand("fd00:7::10")).toBe("ip -6 -j route show fd00:7::10/128");
    expect(vipRoutesScript(["198.18.7.15"])).toBe(
      'echo "R 198.18.7.15 $(ip -j route show 198.18.7.15/32)"',
    );
    const routes = parseVipRoutes(`R 198.18.7.15 ${ecmp}\nR fd00:7::10 \nB []`);
    expect([...routes]).toEqual([
      ["198.18.7.15", ["198.18.10.17", "198.18.10.18"]],
      ["fd00:7::10", []],
    ]);
  });
});
