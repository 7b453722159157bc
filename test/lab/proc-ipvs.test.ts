/**
 * The lab's weight watch reads /proc/net/ip_vs with bash builtins; the real-server addresses it
 * looks for must be spelled as the kernel prints them (lines copied from a lab maglev).
 */
import { procIpvsAddress } from "../../lab/scenarios/probes";

describe("procIpvsAddress", () => {
  test("GIVEN the lab's HAProxy ingress addresses WHEN spelled for /proc/net/ip_vs THEN they match the kernel's lines", () => {
    const proc = [
      "  -> C6120A21:0000      Route   1      0          0",
      "  -> [fd00:000a:0000:0000:0000:0000:0000:0021]:0000      Route   1      0          0",
    ].map((l) =>
      l
        .trim()
        .split(/\s+/)[1]
        .replace(/:[0-9A-F]{4}$/, ""),
    );
    expect([procIpvsAddress("198.18.10.33"), procIpvsAddress("fd00:a::21")]).toEqual(proc);
  });

  test("GIVEN addresses with leading zeros and high bytes WHEN spelled THEN every byte and group is padded", () => {
    expect(procIpvsAddress("10.1.10.5")).toBe("0A010A05");
    expect(procIpvsAddress("2a0a:7180:81:a::11")).toBe("[2a0a:7180:0081:000a:0000:0000:0000:0011]");
  });
});
