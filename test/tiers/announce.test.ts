/**
 * The maglev's ExaBGP announce process, run for real (bash) against fake `ip` and `ipvsadm`:
 * what it announces, when it withdraws (drain file, watchdog threshold, SIGTERM).
 */
import { spawn, ChildProcessWithoutNullStreams } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { deriveTopology, Topology } from "../../src/topology";
import { announceScript, ipvsServices, DRAIN_FILE, ANNOUNCED_FILE } from "../../src/tiers/maglev";
import { mgmt02Raw, mustValidate } from "../helpers";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `ipvsadm -Ln` as keepalived leaves it: every service with two real servers of the given weights. */
function ipvsOutput(topo: Topology, weights: (family: string, fwmark: number) => [number, number]): string {
  const L = ["IP Virtual Server version 1.2.1 (size=4096)", "Prot LocalAddress:Port Scheduler Flags", "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"];
  for (const s of ipvsServices(topo)) {
    L.push(s.family === "ipv6" ? `FWM  ${s.fwmark.fwmark} IPv6 mh (mh-port)` : `FWM  ${s.fwmark.fwmark} mh (mh-port)`);
    const [a, b] = weights(s.family, s.fwmark.fwmark);
    L.push(`  -> 10.1.10.61:0                 Route   ${a}      0          0`, `  -> 10.1.10.62:0                 Route   ${b}      0          0`);
  }
  return L.join("\n") + "\n";
}

const IP_OUTPUT = [
  "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
  "3: ingress0    inet 10.1.10.17/24 brd 10.1.10.255 scope global ingress0\\       valid_lft forever preferred_lft forever",
  "3: ingress0    inet6 2a0a:7180:81:a::11/64 scope global \\       valid_lft forever preferred_lft forever",
  "5: vip    inet 10.1.7.15/32 scope global vip\\       valid_lft forever preferred_lft forever",
  "5: vip    inet 10.1.7.16/32 scope global vip\\       valid_lft forever preferred_lft forever",
  "5: vip    inet6 2a0a:7180:81:7::10/128 scope global \\       valid_lft forever preferred_lft forever",
].join("\n");

class Harness {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "announce-"));
  out: string[] = [];
  child!: ChildProcessWithoutNullStreams;
  drain = path.join(this.dir, "drain");
  constructor(readonly topo: Topology) {
    fs.mkdirSync(path.join(this.dir, "bin"));
    fs.writeFileSync(path.join(this.dir, "ip.out"), IP_OUTPUT + "\n");
    fs.writeFileSync(path.join(this.dir, "bin/ip"), `#!/bin/sh\ncat ${this.dir}/ip.out\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(this.dir, "bin/ipvsadm"), `#!/bin/sh\ncat ${this.dir}/ipvs.out\n`, { mode: 0o755 });
  }
  ipvs(text: string) {
    fs.writeFileSync(path.join(this.dir, "ipvs.out"), text);
  }
  start() {
    const script = announceScript(this.topo).split(DRAIN_FILE).join(this.drain).split(ANNOUNCED_FILE).join(path.join(this.dir, "announced"));
    fs.writeFileSync(path.join(this.dir, "announce"), script, { mode: 0o755 });
    this.child = spawn("bash", [path.join(this.dir, "announce")], { env: { ...process.env, PATH: `${this.dir}/bin:${process.env.PATH}` } });
    this.child.stdout.on("data", (d) => this.out.push(...String(d).split("\n").filter(Boolean)));
  }
  /** Routes announced and not withdrawn since. */
  announced(): string[] {
    const live = new Map<string, string>();
    for (const l of this.out) {
      const m = /^(announce|withdraw) route (\S+) next-hop (\S+)$/.exec(l);
      if (!m) continue;
      if (m[1] === "announce") live.set(m[2], m[3]);
      else live.delete(m[2]);
    }
    return [...live.entries()].map(([p, nh]) => `${p} via ${nh}`).sort();
  }
  async stop() {
    const exited = new Promise((r) => this.child.on("exit", r));
    this.child.kill("SIGTERM");
    await exited;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const ALL = ["10.1.7.15/32 via 10.1.10.17", "10.1.7.16/32 via 10.1.10.17", "2a0a:7180:81:7::10/128 via 2a0a:7180:81:a::11"].sort();

describe("maglev announce process", () => {
  test("GIVEN healthy IPVS services WHEN running THEN every VIP is announced with this maglev's ingress0 next hop; the drain file withdraws them; SIGTERM withdraws everything", async () => {
    const topo = deriveTopology(mustValidate(mgmt02Raw()));
    const h = new Harness(topo);
    h.ipvs(ipvsOutput(topo, () => [1, 1]));
    h.start();
    await sleep(1500);
    expect(h.announced()).toEqual(ALL);

    fs.writeFileSync(h.drain, "");
    await sleep(1500);
    expect(h.announced()).toEqual([]);

    fs.rmSync(h.drain);
    await sleep(1500);
    expect(h.announced()).toEqual(ALL);

    await h.stop();
    expect(h.announced()).toEqual([]);
  });

  test("GIVEN minHealthyRealServers 2 WHEN one IPv4 service is down to one live real server THEN only the VIP it serves is withdrawn; other VIPs and the IPv6 ones stay", async () => {
    const raw = mgmt02Raw();
    raw.maglev = { minHealthyRealServers: 2 };
    const topo = deriveTopology(mustValidate(raw));
    const h = new Harness(topo);
    h.ipvs(ipvsOutput(topo, () => [1, 1]));
    h.start();
    await sleep(1500);
    expect(h.announced()).toEqual(ALL);

    // 200443: the k0s group's port 443, served on 10.1.7.16 only (10.1.7.15 is the mlb group's).
    h.ipvs(ipvsOutput(topo, (fam, mark) => (fam === "ipv4" && mark === 200443 ? [1, 0] : [1, 1])));
    try {
      await sleep(1500);
      expect(h.announced()).toEqual(["10.1.7.15/32 via 10.1.10.17", "2a0a:7180:81:7::10/128 via 2a0a:7180:81:a::11"]);
    } finally {
      await h.stop();
    }
  });
});
