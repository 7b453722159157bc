/**
 * The maglev's ExaBGP announce process (scripts/host/exabgp-announce), run for real with the
 * data file the plan renders, against fake `ip`, `ipvsadm` and `nft` on PATH: what it announces,
 * when it withdraws (drain file, watchdog threshold, mark table, SIGTERM), and what it withdraws
 * when it starts. As root, once more with the real `nft` in a network namespace of its own, run
 * as an unprivileged user with only CAP_NET_ADMIN, as Debian's exabgp.service runs it.
 */
import { spawn, spawnSync, ChildProcessWithoutNullStreams } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { deriveTopology, Topology } from "../../src/topology";
import { announceData, ipvsServices, nftablesConfig } from "../../src/tiers/maglev";
import { mgmt02Raw, mustValidate } from "../helpers";

const PROGRAM = path.join(__dirname, "../../scripts/host/exabgp-announce");
const PYTHON = "/usr/bin/python3";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `ipvsadm -Ln` as keepalived leaves it: every service with two real servers of the given weights. */
function ipvsOutput(
  topo: Topology,
  weights: (family: string, fwmark: number) => [number, number],
): string {
  const L = [
    "IP Virtual Server version 1.2.1 (size=4096)",
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
  ];
  for (const s of ipvsServices(topo)) {
    L.push(
      s.family === "ipv6"
        ? `FWM  ${s.fwmark.fwmark} IPv6 mh (mh-port)`
        : `FWM  ${s.fwmark.fwmark} mh (mh-port)`,
    );
    const [a, b] = weights(s.family, s.fwmark.fwmark);
    L.push(
      `  -> 10.1.10.61:0                 Route   ${a}      0          0`,
      `  -> 10.1.10.62:0                 Route   ${b}      0          0`,
    );
  }
  return L.join("\n") + "\n";
}

/**
 * `nft -j list table inet maglev_infra` as nft 1.0.6 prints the rendered table (the shape copied
 * from a real listing), minus the map entries `drop` names ("10.1.7.16 tcp 443") and the mark
 * rules of the families in `unmarked`.
 */
function nftOutput(
  topo: Topology,
  opts: { drop?: string[]; unmarked?: ("ipv4" | "ipv6")[] } = {},
): string {
  const t = { family: "inet", table: "maglev_infra" };
  const items: unknown[] = [
    { metainfo: { version: "1.0.6", release_name: "Lester Gooch #5", json_schema_version: 1 } },
    { table: { family: "inet", name: "maglev_infra", handle: 2 } },
  ];
  for (const fam of ["ipv4", "ipv6"] as const) {
    const elem = topo.vipPorts
      .filter(
        (r) => r.family === fam && !(opts.drop ?? []).includes(`${r.vip} ${r.protocol} ${r.port}`),
      )
      .map((r) => [{ concat: [r.vip, r.protocol, r.port] }, r.fwmark]);
    const sfx = fam === "ipv4" ? "v4" : "v6";
    items.push({
      map: {
        ...t,
        name: `fwmark_${sfx}`,
        type: [`${fam}_addr`, "inet_proto", "inet_service"],
        handle: 3,
        map: "mark",
        ...(elem.length ? { elem } : {}),
      },
    });
    items.push({
      set: { ...t, name: `vips_${sfx}`, type: `${fam}_addr`, handle: 4, elem: topo.vips[fam] },
    });
  }
  items.push({
    chain: {
      ...t,
      name: "prerouting",
      handle: 1,
      type: "filter",
      hook: "prerouting",
      prio: -300,
      policy: "accept",
    },
  });
  for (const [proto, sfx] of [
    ["ip", "v4"],
    ["ip6", "v6"],
  ] as const) {
    if ((opts.unmarked ?? []).includes(sfx === "v4" ? "ipv4" : "ipv6")) continue;
    const key = {
      concat: [
        { payload: { protocol: proto, field: "daddr" } },
        { meta: { key: "l4proto" } },
        { payload: { protocol: "th", field: "dport" } },
      ],
    };
    items.push({
      rule: {
        ...t,
        chain: "prerouting",
        handle: 9,
        expr: [
          {
            mangle: {
              key: { meta: { key: "mark" } },
              value: { map: { key, data: `@fwmark_${sfx}` } },
            },
          },
        ],
      },
    });
  }
  return JSON.stringify({ nftables: items }) + "\n";
}

const IP_OUTPUT = [
  "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
  "3: ingress0    inet 10.1.10.17/24 brd 10.1.10.255 scope global ingress0\\       valid_lft forever preferred_lft forever",
  "3: ingress0    inet6 2a0a:7180:81:a::11/64 scope global \\       valid_lft forever preferred_lft forever",
  "5: vip    inet 10.1.7.15/32 scope global vip\\       valid_lft forever preferred_lft forever",
  "5: vip    inet 10.1.7.16/32 scope global vip\\       valid_lft forever preferred_lft forever",
  "5: vip    inet6 2a0a:7180:81:7::10/128 scope global \\       valid_lft forever preferred_lft forever",
].join("\n");

/** Every prefix of the stack: what the process withdraws at start unless it announces it. */
const STACK = [
  "10.1.7.15/32",
  "10.1.7.16/32",
  "10.1.7.53/32",
  "2a0a:7180:81:7::10/128",
  "2a0a:7180:81:7::35/128",
];

class Harness {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "announce-"));
  out: string[] = [];
  child!: ChildProcessWithoutNullStreams;
  drain = path.join(this.dir, "drain");
  announcedFile = path.join(this.dir, "run", "announced");
  stateFile = path.join(this.dir, "run", "vip-state.json");
  data = path.join(this.dir, "exabgp-announce.json");
  constructor(
    readonly topo: Topology,
    fakes: string[] = ["ip", "ipvsadm", "nft"],
  ) {
    fs.mkdirSync(path.join(this.dir, "bin"));
    fs.mkdirSync(path.join(this.dir, "run"));
    fs.writeFileSync(path.join(this.dir, "ip.out"), IP_OUTPUT + "\n");
    // A missing answer file is a failing command (nft: "No such file or directory", the table is gone).
    for (const f of fakes)
      fs.writeFileSync(
        path.join(this.dir, "bin", f),
        `#!/bin/sh\nexec cat ${this.dir}/${f}.out 2>/dev/null\n`,
        { mode: 0o755 },
      );
    const d = JSON.parse(announceData(topo));
    fs.writeFileSync(
      this.data,
      JSON.stringify({
        ...d,
        drainFile: this.drain,
        announcedFile: this.announcedFile,
        stateFile: this.stateFile,
      }),
    );
  }
  ipvs(text: string) {
    fs.writeFileSync(path.join(this.dir, "ipvsadm.out"), text);
  }
  nft(text: string | undefined) {
    if (text === undefined) fs.rmSync(path.join(this.dir, "nft.out"), { force: true });
    else fs.writeFileSync(path.join(this.dir, "nft.out"), text);
  }
  start(argv: string[] = [PYTHON, PROGRAM, this.data]) {
    this.child = spawn(argv[0], argv.slice(1), {
      env: { ...process.env, PATH: `${this.dir}/bin:${process.env.PATH}` },
    });
    this.child.stdout.on("data", (d) => this.out.push(...String(d).split("\n").filter(Boolean)));
  }
  /** Routes announced and not withdrawn since (a withdraw needs no next hop). */
  announced(): string[] {
    const live = new Map<string, string>();
    for (const l of this.out) {
      const m = /^(announce|withdraw) route (\S+)(?: next-hop (\S+))?$/.exec(l);
      if (!m) throw new Error(`not an ExaBGP command: ${l}`);
      if (m[1] === "announce") live.set(m[2], m[3]);
      else live.delete(m[2]);
    }
    return [...live.entries()].map(([p, nh]) => `${p} via ${nh}`).sort();
  }
  /** Prefix -> "announced reason" from the state file the metrics read. */
  states(): Record<string, string> {
    const v = JSON.parse(fs.readFileSync(this.stateFile, "utf8")).vips as Record<
      string,
      { announced: boolean; reason: string }
    >;
    return Object.fromEntries(
      Object.entries(v).map(([p, s]) => [
        p,
        `${s.announced ? "announced" : "withdrawn"} ${s.reason}`,
      ]),
    );
  }
  announcedFileLines(): string[] {
    return fs.readFileSync(this.announcedFile, "utf8").split("\n").filter(Boolean).sort();
  }
  async stop() {
    const exited = new Promise((r) => this.child.on("exit", r));
    this.child.kill("SIGTERM");
    await exited;
  }
  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const ALL = [
  "10.1.7.15/32 via 10.1.10.17",
  "10.1.7.16/32 via 10.1.10.17",
  "2a0a:7180:81:7::10/128 via 2a0a:7180:81:a::11",
].sort();
const mgmt02 = () => deriveTopology(mustValidate(mgmt02Raw()));

/** Runs `body` with a started harness (healthy IPVS and marks unless `setup` says otherwise), then stops and cleans up. */
async function withHarness(
  topo: Topology,
  body: (h: Harness) => Promise<void>,
  setup?: (h: Harness) => void,
) {
  const h = new Harness(topo);
  h.ipvs(ipvsOutput(topo, () => [1, 1]));
  h.nft(nftOutput(topo));
  setup?.(h);
  h.start();
  try {
    await body(h);
  } finally {
    if (h.child.exitCode === null) await h.stop();
    h.cleanup();
  }
}

describe("maglev announce process", () => {
  test("GIVEN healthy IPVS services and the mark table WHEN running THEN every VIP is announced with this maglev's ingress0 next hop and listed in the announced file; the drain file withdraws them; SIGTERM withdraws everything", async () => {
    await withHarness(mgmt02(), async (h) => {
      await sleep(1500);
      expect(h.announced()).toEqual(ALL);
      expect(h.announcedFileLines()).toEqual(ALL.map((r) => r.split(" ")[0]).sort());

      fs.writeFileSync(h.drain, "");
      await sleep(1500);
      expect(h.announced()).toEqual([]);
      expect(h.announcedFileLines()).toEqual([]);

      fs.rmSync(h.drain);
      await sleep(1500);
      expect(h.announced()).toEqual(ALL);

      await h.stop();
      expect(h.announced()).toEqual([]);
      expect(h.out.slice(-3).every((l) => /^withdraw route \S+ next-hop \S+$/.test(l))).toBe(true);
      expect(h.announcedFileLines()).toEqual([]);
    });
  });

  test("GIVEN minHealthyRealServers 2 WHEN one IPv4 service is down to one live real server THEN only the VIP it serves is withdrawn; other VIPs and the IPv6 ones stay", async () => {
    const raw = mgmt02Raw();
    raw.maglev = { minHealthyRealServers: 2 };
    const topo = deriveTopology(mustValidate(raw));
    await withHarness(topo, async (h) => {
      await sleep(1500);
      expect(h.announced()).toEqual(ALL);
      // 200443: the k0s group's port 443, served on 10.1.7.16 only (10.1.7.15 is the mlb group's).
      h.ipvs(
        ipvsOutput(topo, (fam, mark) => (fam === "ipv4" && mark === 200443 ? [1, 0] : [1, 1])),
      );
      await sleep(1500);
      expect(h.announced()).toEqual([
        "10.1.7.15/32 via 10.1.10.17",
        "2a0a:7180:81:7::10/128 via 2a0a:7180:81:a::11",
      ]);
      // The state file says why, for every VIP of the stack (10.1.7.53 and ::35 are not on the fake `vip`).
      expect(h.states()).toEqual({
        "10.1.7.15/32": "announced healthy",
        "10.1.7.16/32": "withdrawn below_min_healthy",
        "10.1.7.53/32": "withdrawn not_on_interface",
        "2a0a:7180:81:7::10/128": "announced healthy",
        "2a0a:7180:81:7::35/128": "withdrawn not_on_interface",
      });
      fs.writeFileSync(h.drain, "");
      await sleep(1500);
      expect(new Set(Object.values(h.states()))).toEqual(new Set(["withdrawn drained"]));
      await h.stop();
      // Stopped: no state file claims anything.
      expect(fs.existsSync(h.stateFile)).toBe(false);
    });
  });
});

describe("announce process: start after a respawn", () => {
  test("GIVEN a drained maglev WHEN the process starts THEN its first lines withdraw every VIP of the stack, both families, and it announces nothing", async () => {
    await withHarness(
      mgmt02(),
      async (h) => {
        await sleep(1200);
        expect(h.out).toEqual(STACK.map((p) => `withdraw route ${p}`));
        expect(h.announcedFileLines()).toEqual([]);
      },
      (h) => fs.writeFileSync(h.drain, ""),
    );
  });

  test("GIVEN a healthy maglev WHEN the process starts THEN it withdraws only the stack's VIPs it does not announce (no withdraw-then-announce flap), before its first announcement", async () => {
    await withHarness(mgmt02(), async (h) => {
      await sleep(1200);
      // 10.1.7.53 and ::35 are not on the fake `vip` interface: withdrawn, in case a dead predecessor announced them.
      expect(h.out).toEqual([
        "withdraw route 10.1.7.53/32",
        "withdraw route 2a0a:7180:81:7::35/128",
        "announce route 10.1.7.15/32 next-hop 10.1.10.17",
        "announce route 10.1.7.16/32 next-hop 10.1.10.17",
        "announce route 2a0a:7180:81:7::10/128 next-hop 2a0a:7180:81:a::11",
      ]);
    });
  });

  test("GIVEN ExaBGP closes the process's input THEN it exits by itself", async () => {
    await withHarness(mgmt02(), async (h) => {
      await sleep(800);
      const exited = new Promise<number | null>((r) => h.child.on("exit", (code) => r(code)));
      h.child.stdin.end();
      expect(await Promise.race([exited, sleep(3000).then(() => "still running")])).toBe(0);
    });
  });
});

describe("announce process: the mark table", () => {
  test("GIVEN announced VIPs WHEN the mark table is gone (nft flush ruleset, fwmarks unit stopped) THEN every VIP is withdrawn within 4 s (the table is listed every 3rd second); WHEN it is back THEN they are announced again", async () => {
    const topo = mgmt02();
    await withHarness(topo, async (h) => {
      await sleep(1500);
      expect(h.announced()).toEqual(ALL);
      h.nft(undefined);
      await sleep(4000);
      expect(h.announced()).toEqual([]);
      h.nft(nftOutput(topo));
      await sleep(4000);
      expect(h.announced()).toEqual(ALL);
    });
  });

  test("GIVEN the map misses one entry of 10.1.7.16 (tcp 443) THEN only 10.1.7.16 is withdrawn", async () => {
    const topo = mgmt02();
    await withHarness(topo, async (h) => {
      await sleep(1500);
      h.nft(nftOutput(topo, { drop: ["10.1.7.16 tcp 443"] }));
      await sleep(4000); // the table is listed every 3rd second
      expect(h.announced()).toEqual(ALL.filter((r) => !r.startsWith("10.1.7.16/")));
      expect(h.states()["10.1.7.16/32"]).toBe("withdrawn marks_missing");
    });
  });

  test("GIVEN the table and maps but no rule setting the mark from the IPv6 map THEN the IPv6 VIPs are withdrawn, the IPv4 ones stay", async () => {
    const topo = mgmt02();
    await withHarness(topo, async (h) => {
      await sleep(1500);
      h.nft(nftOutput(topo, { unmarked: ["ipv6"] }));
      await sleep(4000); // the table is listed every 3rd second
      expect(h.announced()).toEqual(ALL.filter((r) => !r.includes(":")));
    });
  });
});

/** Root with `unshare -n` and `setpriv` (as here and in CI containers that allow it). */
const canNetns =
  process.getuid?.() === 0 &&
  spawnSync("unshare", ["-n", "true"]).status === 0 &&
  spawnSync("setpriv", ["--version"]).status === 0;

(canNetns ? describe : describe.skip)(
  "announce process with the real nft (own network namespace)",
  () => {
    test("GIVEN the rendered fwmarks.nft loaded and the process run as nobody with only CAP_NET_ADMIN (as exabgp.service) WHEN `nft flush ruleset` THEN it withdraws every VIP within a few seconds", async () => {
      const topo = mgmt02();
      const h = new Harness(topo, ["ip", "ipvsadm"]);
      h.ipvs(ipvsOutput(topo, () => [1, 1]));
      // nobody must read the program and its data and write the announced file.
      fs.chmodSync(h.dir, 0o755);
      fs.chmodSync(path.join(h.dir, "run"), 0o777);
      fs.copyFileSync(PROGRAM, path.join(h.dir, "exabgp-announce"));
      fs.chmodSync(h.data, 0o644);
      const nftFile = path.join(h.dir, "fwmarks.nft");
      fs.writeFileSync(
        nftFile,
        nftablesConfig(
          topo,
          topo.hosts.find((x) => x.name === "maglev01")!,
        ),
      );
      const flush = path.join(h.dir, "flush");
      // Inside the namespace: load the table, start the process with ExaBGP's privileges (stdin kept:
      // its end means ExaBGP is gone), flush the ruleset when the test says so.
      const inside = [
        "set -e",
        `nft -f ${nftFile}`,
        "exec 3<&0",
        `setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin --bounding-set=-all,+net_admin ${PYTHON} ${h.dir}/exabgp-announce ${h.data} <&3 &`,
        "p=$!",
        "trap 'kill -TERM $p; wait $p' TERM",
        `while [ ! -e ${flush} ]; do sleep 0.2; done`,
        "nft flush ruleset",
        "wait $p",
      ].join("\n");
      h.start(["unshare", "-n", "bash", "-c", inside]);
      try {
        await sleep(2500);
        expect(h.announced()).toEqual(ALL);
        const t0 = Date.now();
        fs.writeFileSync(flush, "");
        while (h.announced().length && Date.now() - t0 < 5000) await sleep(100);
        expect(h.announced()).toEqual([]);
        expect(Date.now() - t0).toBeLessThan(5000);
      } finally {
        await h.stop();
        h.cleanup();
      }
    });
  },
);
