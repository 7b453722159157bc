/**
 * The `ports` scenario's judgement (lab/scenarios/port-scan.ts) and its scanner (lab/portscan.py, run for
 * real on loopback): what counts as open, what the stack says must be open, what is a problem.
 */
import { spawn, spawnSync } from "child_process";
import * as path from "path";
import { buildLabModel } from "../../lab/topology";
import {
  BAIT_PORTS,
  expectedOpen,
  openSet,
  parseScan,
  scanPlan,
  scanProblems,
} from "../../lab/scenarios/port-scan";
import { ROOT } from "../helpers";

const m = buildLabModel("lab", ROOT);
const SCANNER = path.join(ROOT, "lab/portscan.py");

describe("ports scenario: what must answer", () => {
  test("GIVEN the lab stack WHEN the client's expectation is built THEN every TCP VIP mapping, DNS on the DNS VIP and SSH/node_exporter on mgmt — and no unmapped VIP port", () => {
    const want = expectedOpen(m, "client");
    for (const v of m.topo.vipPorts.filter((x) => x.protocol === "tcp"))
      expect(want.has(`tcp ${v.vip} ${v.port}`)).toBe(true);
    const dnsVip = m.topo.vipPorts.find((v) => v.port === 53 && v.protocol === "udp")!.vip;
    expect(want.has(`udp ${dnsVip} 53`)).toBe(true);
    const web = m.topo.vipPorts.find((v) => v.port === 80)!.vip;
    expect(want.has(`tcp ${web} 22`)).toBe(false);
    const maglev = m.topo.maglevs[0];
    for (const port of BAIT_PORTS) expect(want.has(`tcp ${maglev.mgmt.ipv4} ${port}`)).toBe(true);
    expect(want.has(`tcp ${maglev.ingress!.ipv4} 22`)).toBe(false);
  });

  test("GIVEN a gateway's expectation THEN only VIP mappings (its scan targets VIPs only)", () => {
    const want = [...expectedOpen(m, "gateway")];
    const vips = new Set(scanPlan(m).vips);
    expect(want.length).toBeGreaterThan(0);
    expect(want.every((k) => vips.has(k.split(" ")[1]))).toBe(true);
  });

  test("GIVEN the scan plan THEN every managed host's mgmt and ingress address of both families and every mapped port are probed", () => {
    const plan = scanPlan(m);
    const maglev = m.topo.maglevs[0];
    expect(plan.hosts).toEqual(
      expect.arrayContaining([maglev.mgmt.ipv4, maglev.mgmt.ipv6, maglev.ingress!.ipv4]),
    );
    for (const v of m.topo.vipPorts) expect(plan.tcpPorts).toContain(v.port);
  });

  test("GIVEN a scan with one unmapped open port and one mapped port silent WHEN judged THEN both are problems, named", () => {
    const want = new Set(["tcp 198.18.7.16 80", "tcp 198.18.7.16 443"]);
    const probes = parseScan(
      "tcp 198.18.7.16 22 open\ntcp 198.18.7.16 80 open\ntcp 198.18.7.16 443 filtered\n",
    );
    const probed = new Set(probes.map((p) => `${p.proto} ${p.addr} ${p.port}`));
    expect(scanProblems(want, openSet(probes), probed)).toEqual([
      "open but not in the stack: tcp 198.18.7.16 22",
      "mapped but not answering: tcp 198.18.7.16 443",
    ]);
  });
});

describe("portscan.py on loopback", () => {
  test("GIVEN a bait listener on one port WHEN scanned over IPv4 and IPv6 THEN that port is open on both, a free port closed, a DNS line per target", async () => {
    // GIVEN
    const free = 20000 + (process.pid % 20000);
    const bait = spawn(
      "/usr/bin/python3",
      [SCANNER, "bait", "--tcp", String(free), "--seconds", "20"],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      await new Promise<void>((resolve) => bait.stdout!.once("data", () => resolve()));
      // WHEN
      const r = spawnSync(
        "/usr/bin/python3",
        [
          SCANNER,
          "scan",
          "--targets",
          "127.0.0.1,::1",
          "--tcp",
          `${free},${free + 1}`,
          "--dns",
          "--timeout",
          "1",
        ],
        { encoding: "utf8", timeout: 20000 },
      );
      // THEN
      const states = Object.fromEntries(
        parseScan(r.stdout).map((p) => [`${p.proto} ${p.addr} ${p.port}`, p.state]),
      );
      expect(states[`tcp 127.0.0.1 ${free}`]).toBe("open");
      expect(states[`tcp ::1 ${free}`]).toBe("open");
      expect(states[`tcp 127.0.0.1 ${free + 1}`]).toBe("closed");
      expect(["closed", "silent", "answered"]).toContain(states["udp 127.0.0.1 53"]);
    } finally {
      bait.kill();
    }
  });
});
