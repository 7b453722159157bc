/**
 * lab/scenarios/metrics.ts reads node_exporter's text exposition: the scenario's verdicts are
 * only as good as this reading of it.
 */
import { parseExposition, valueOf } from "../../lab/scenarios/metrics";

const TEXT = `# HELP maglev_vip_announced 1 while the announce process announces the VIP.
# TYPE maglev_vip_announced gauge
maglev_vip_announced{family="ipv4",vip="198.18.7.15"} 1
maglev_vip_announced{family="ipv6",vip="fd00:7::10"} 0
maglev_vip_state{family="ipv4",reason="drained",vip="198.18.7.15"} 0
maglev_host_info{stack="lab \\"x\\"",note="a\\\\b"} 1
maglev_drained 0
node_load1 0.25
`;

describe("GIVEN node_exporter's text exposition", () => {
  const samples = parseExposition(TEXT);

  test("WHEN parsed THEN one sample per series line, comments skipped, labels unescaped", () => {
    expect(samples.map((s) => s.name)).toEqual([
      "maglev_vip_announced",
      "maglev_vip_announced",
      "maglev_vip_state",
      "maglev_host_info",
      "maglev_drained",
      "node_load1",
    ]);
    expect(samples[3].labels).toEqual({ stack: 'lab "x"', note: "a\\b" });
    expect(samples[5].value).toBe(0.25);
  });

  test("WHEN a value is asked by labels THEN the series with all of them answers", () => {
    expect(valueOf(samples, "maglev_vip_announced", { vip: "fd00:7::10" })).toBe(0);
    expect(valueOf(samples, "maglev_vip_announced", { vip: "198.18.7.15" })).toBe(1);
    expect(valueOf(samples, "maglev_vip_state", { vip: "198.18.7.15", reason: "drained" })).toBe(0);
    expect(valueOf(samples, "maglev_vip_state", { reason: "healthy" })).toBeUndefined();
    expect(valueOf(samples, "maglev_drained")).toBe(0);
  });
});
