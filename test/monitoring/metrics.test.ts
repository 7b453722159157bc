/**
 * scripts/host/maglev-metrics, the textfile collector, run for real (`/usr/bin/python3`) with the
 * data file the plan renders, against a temp --root holding fake /proc/net/ip_vs*, the apply
 * program's state and the announce process's state file, and fake `ipvsadm`, `vtysh` and `ip`
 * first on PATH answering as the real ones print (formats of ipvsadm 1.31, FRR 8.4, iproute2 6.1).
 * The output must pass `promtool check metrics` (Debian's prometheus package).
 */
import { spawn, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { deriveTopology, Topology } from "../../src/topology";
import { loadStack } from "../../src/config/load";
import { ipvsServices, ANNOUNCE_REASONS } from "../../src/tiers/maglev";
import { metricsData, TEXTFILE_DIR, gatewayNeighbors } from "../../src/monitoring/metrics";
import { haproxyConfig } from "../../src/tiers/haproxy";
import { ROOT } from "../helpers";

const PROGRAM = path.join(ROOT, "scripts/host/maglev-metrics");
const topo: Topology = deriveTopology(loadStack("lab", ROOT));
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** /proc/net/ip_vs's spelling of an address (see test/lab/proc-ipvs.test.ts). */
function procAddr(a: string): string {
  if (!a.includes(":"))
    return a
      .split(".")
      .map((x) => Number(x).toString(16).toUpperCase().padStart(2, "0"))
      .join("");
  const [head, tail = ""] = a.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return `[${groups.map((g) => g.padStart(4, "0")).join(":")}]`;
}

interface World {
  weight?: (host: string) => number;
  bgpDown?: string[];
  bfdDown?: string[];
  hops?: number;
  drained?: boolean;
  announce?: Record<string, { announced: boolean; reason: string }>;
  edited?: string;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function setUp(hostName: string, w: World = {}) {
  const h = topo.byName.get(hostName)!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "metrics-"));
  dirs.push(dir);
  const root = path.join(dir, "root");
  const bin = path.join(dir, "bin");
  const put = (rel: string, text: string) => {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
  };
  fs.mkdirSync(bin, { recursive: true });
  fs.mkdirSync(path.join(root, TEXTFILE_DIR), { recursive: true });
  put("etc/maglev-infra/metrics.json", metricsData(topo, h));
  const weight = w.weight ?? (() => 1);

  // The apply program's state: generation 7 with two files, one record each.
  const files = [
    { path: "/etc/hosts", content: "127.0.0.1 localhost\n" },
    { path: "/etc/frr/frr.conf", content: "! frr\n" },
  ];
  put(
    "var/lib/maglev-infra/generations/7/bundle.json",
    JSON.stringify({ files: files.map((f) => ({ path: f.path, sha256: sha(f.content) })) }),
  );
  fs.symlinkSync("generations/7", path.join(root, "var/lib/maglev-infra/current"));
  for (const f of files) {
    put(f.path, w.edited === f.path ? f.content + "# by hand\n" : f.content);
    put(
      `var/lib/maglev-infra/applied/${f.path.slice(1).replace(/[^A-Za-z0-9._-]+/g, "-")}`,
      `${sha(f.content)} ${sha(f.content)}\n`,
    );
  }

  // Maglev: the kernel's and ipvsadm's views of the same services.
  const proc = [
    "IP Virtual Server version 1.2.1 (size=4096)",
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn",
  ];
  const stats = [
    "IP Virtual Server version 1.2.1 (size=4096)",
    "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
    "  -> RemoteAddress:Port",
  ];
  const rate = [
    "IP Virtual Server version 1.2.1 (size=4096)",
    "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS",
    "  -> RemoteAddress:Port",
  ];
  for (const s of ipvsServices(topo)) {
    const fw = s.fwmark.fwmark;
    proc.push(`FWM  ${fw.toString(16).toUpperCase().padStart(8, "0")} mh `);
    const name = `FWM  ${fw}${s.family === "ipv6" ? " IPv6" : ""}`.padEnd(33);
    stats.push(`${name}      120      900        0   123456789012        0`);
    rate.push(`${name}        4       30        0     2400        0`);
    s.realServers.forEach((r, i) => {
      proc.push(
        `  -> ${procAddr(r.address)}:0000      Route   ${weight(r.host.name)}      ${3 + i}          ${10 + i}         `,
      );
      const d = (s.family === "ipv6" ? `[${r.address}]:0` : `${r.address}:0`).padEnd(28);
      stats.push(`  -> ${d}       ${40 + i}      300        0    41152263004        0`);
      rate.push(`  -> ${d}        1       10        0      800        0`);
    });
  }
  put("proc/net/ip_vs", proc.join("\n") + "\n");
  put(
    "proc/net/ip_vs_stats",
    "   Total Incoming Outgoing         Incoming         Outgoing\n   Conns  Packets  Packets            Bytes            Bytes\n      1A       2B        0             3C4               0\n\n Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n       2        5        0              1F4                0\n",
  );
  fs.writeFileSync(path.join(dir, "stats.out"), stats.join("\n") + "\n");
  fs.writeFileSync(path.join(dir, "rate.out"), rate.join("\n") + "\n");
  if (w.drained) put("etc/maglev-infra/drain", "");
  if (w.announce) put("run/exabgp/vip-state.json", JSON.stringify({ vips: w.announce }));

  // Gateway: FRR's two JSON answers in one vtysh run, and the kernel's routes.
  const peers: Record<string, unknown> = {};
  for (const n of gatewayNeighbors(topo)) {
    const down = (w.bgpDown ?? []).includes(n.address);
    peers[n.address] = {
      hostname: n.name,
      remoteAs: 64512,
      version: 4,
      state: down ? "Active" : "Established",
      peerState: down ? "Policy" : "OK",
      ...(down ? {} : { pfxRcd: n.role === "maglev" ? 3 : 0, pfxSnt: 3 }),
    };
  }
  const summary = {
    ipv4Unicast: { routerId: h.mgmt.ipv4, as: 64512, peers, totalPeers: Object.keys(peers).length },
    ipv6Unicast: { routerId: h.mgmt.ipv4, as: 64512, peers },
  };
  const bfd = topo.maglevs.map((m) => ({
    multihop: false,
    peer: m.mgmt.ipv4,
    local: h.mgmt.ipv4,
    vrf: "default",
    id: 1,
    "remote-id": 2,
    "passive-mode": false,
    status: (w.bfdDown ?? []).includes(m.mgmt.ipv4) ? "down" : "up",
    uptime: 100,
    diagnostic: "ok",
  }));
  fs.writeFileSync(
    path.join(dir, "vtysh.out"),
    JSON.stringify(summary, null, 2) + "\n" + JSON.stringify(bfd, null, 2) + "\n",
  );
  const route = (family: "ipv4" | "ipv6") => {
    const hops = topo.maglevs
      .slice(0, w.hops ?? topo.maglevs.length)
      .map((m) => ({ gateway: m.ingress![family]!, dev: "ingress0", weight: 1, flags: [] }));
    return JSON.stringify(
      topo.vips[family].map((v) =>
        hops.length === 1
          ? {
              dst: v,
              gateway: hops[0].gateway,
              dev: "ingress0",
              protocol: "bgp",
              metric: 20,
              flags: [],
            }
          : { dst: v, protocol: "bgp", metric: 20, flags: [], nexthops: hops },
      ),
    );
  };
  fs.writeFileSync(path.join(dir, "route4.out"), route("ipv4") + "\n");
  fs.writeFileSync(path.join(dir, "route6.out"), route("ipv6") + "\n");
  const fake = (name: string, body: string) =>
    fs.writeFileSync(
      path.join(bin, name),
      `#!/bin/bash\necho "$*" >> "${dir}/${name}.log"\n${body}\n`,
      { mode: 0o755 },
    );
  fake(
    "ipvsadm",
    `case "$*" in *--stats*) cat "${dir}/stats.out";; *--rate*) cat "${dir}/rate.out";; *) exit 1;; esac`,
  );
  fake("vtysh", `cat "${dir}/vtysh.out"`);
  fake("ip", `case "$*" in *-6*) cat "${dir}/route6.out";; *) cat "${dir}/route4.out";; esac`);

  const run = () => {
    const r = spawnSync(
      "/usr/bin/python3",
      ["-I", "-S", PROGRAM, "--data", "/etc/maglev-infra/metrics.json", "--once", "--root", root],
      { encoding: "utf8", env: { PATH: `${bin}:/usr/bin:/bin` } },
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    return fs.readFileSync(path.join(root, TEXTFILE_DIR, "maglev-infra.prom"), "utf8");
  };
  return {
    dir,
    root,
    run,
    calls: (name: string) =>
      fs.existsSync(path.join(dir, `${name}.log`))
        ? fs
            .readFileSync(path.join(dir, `${name}.log`), "utf8")
            .trim()
            .split("\n")
        : [],
  };
}

/** The value of one series, by its exact label set as the file spells it. */
function value(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function promtoolCheck(text: string) {
  const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  expect({ status: r.status, out: r.stdout + r.stderr }).toEqual({ status: 0, out: "" });
}

describe("maglev-metrics on a maglev", () => {
  test("GIVEN healthy IPVS services WHEN one pass runs THEN weights, connections, counters and rates per real server are exported, and promtool accepts the file", () => {
    const w = setUp("maglev01", {
      announce: Object.fromEntries(
        [...topo.vips.ipv4.map((v) => `${v}/32`), ...topo.vips.ipv6.map((v) => `${v}/128`)].map(
          (p) => [p, { announced: true, reason: "healthy" }],
        ),
      ),
    });
    const text = w.run();
    promtoolCheck(text);
    const s = ipvsServices(topo)[0];
    const rs = s.realServers[0];
    const l = `family="${s.family}",fwmark="${s.fwmark.fwmark}",group="${s.group.name}",host="${rs.host.hostname}",server="${rs.address}"`;
    expect(value(text, `maglev_ipvs_real_server_weight{${l}}`)).toBe(1);
    expect(value(text, `maglev_ipvs_real_server_connections{${l},state="active"}`)).toBe(3);
    expect(value(text, `maglev_ipvs_real_server_connections{${l},state="inactive"}`)).toBe(10);
    expect(value(text, `maglev_ipvs_real_server_connections_total{${l}}`)).toBe(40);
    expect(value(text, `maglev_ipvs_real_server_bytes_total{direction="in",${l}}`)).toBe(
      41152263004,
    );
    expect(value(text, `maglev_ipvs_real_server_connections_per_second{${l}}`)).toBe(1);
    expect(value(text, `maglev_ipvs_real_server_bytes_per_second{direction="in",${l}}`)).toBe(800);
    const sl = `family="${s.family}",fwmark="${s.fwmark.fwmark}",group="${s.group.name}"`;
    expect(value(text, `maglev_ipvs_service_healthy_real_servers{${sl}}`)).toBe(
      s.realServers.length,
    );
    expect(value(text, `maglev_ipvs_service_bytes_total{direction="in",${sl}}`)).toBe(123456789012);
    // /proc/net/ip_vs_stats is hex.
    expect(value(text, "maglev_ipvs_connections_total")).toBe(0x1a);
    expect(value(text, 'maglev_ipvs_bytes_per_second{direction="in"}')).toBe(0x1f4);
    // Every IPv6 service is found too (the FWM line of /proc does not name the family).
    for (const x of ipvsServices(topo))
      expect(
        value(
          text,
          `maglev_ipvs_service_present{family="${x.family}",fwmark="${x.fwmark.fwmark}",group="${x.group.name}"}`,
        ),
      ).toBe(1);
    expect(value(text, `maglev_vip_announced{family="ipv4",vip="${topo.vips.ipv4[0]}"}`)).toBe(1);
    expect(
      value(text, `maglev_vip_state{family="ipv4",reason="healthy",vip="${topo.vips.ipv4[0]}"}`),
    ).toBe(1);
    expect(value(text, "maglev_drained")).toBe(0);
    expect(value(text, 'maglev_metrics_source_up{source="ipvsadm_rate"}')).toBe(1);
    // Two execs a pass, and the files of /proc.
    expect(w.calls("ipvsadm")).toEqual(["-Ln --stats --exact", "-Ln --rate --exact"]);
  });

  test("GIVEN a failing real server and a drained maglev WHEN one pass runs THEN its weight is 0, the healthy count drops and every VIP reads withdrawn as drained", () => {
    const bad = ipvsServices(topo)[0].realServers[0].host.name;
    const prefixes = [
      ...topo.vips.ipv4.map((v) => `${v}/32`),
      ...topo.vips.ipv6.map((v) => `${v}/128`),
    ];
    const w = setUp("maglev01", {
      weight: (n) => (n === bad ? 0 : 1),
      drained: true,
      announce: Object.fromEntries(
        prefixes.map((p) => [p, { announced: false, reason: "drained" }]),
      ),
    });
    const text = w.run();
    promtoolCheck(text);
    const s = ipvsServices(topo)[0];
    expect(
      value(
        text,
        `maglev_ipvs_service_healthy_real_servers{family="${s.family}",fwmark="${s.fwmark.fwmark}",group="${s.group.name}"}`,
      ),
    ).toBe(s.realServers.length - 1);
    expect(value(text, "maglev_drained")).toBe(1);
    for (const v of topo.vips.ipv4) {
      expect(value(text, `maglev_vip_announced{family="ipv4",vip="${v}"}`)).toBe(0);
      expect(value(text, `maglev_vip_state{family="ipv4",reason="drained",vip="${v}"}`)).toBe(1);
      expect(value(text, `maglev_vip_state{family="ipv4",reason="healthy",vip="${v}"}`)).toBe(0);
    }
  });

  test("GIVEN no announce process (ExaBGP stopped: no state file) WHEN one pass runs THEN every VIP reads withdrawn for an unknown reason", () => {
    const text = setUp("maglev02").run();
    for (const v of topo.vips.ipv6)
      expect(value(text, `maglev_vip_state{family="ipv6",reason="unknown",vip="${v}"}`)).toBe(1);
    expect(value(text, 'maglev_metrics_source_up{source="announce_state"}')).toBe(0);
  });

  test("GIVEN the announce process THEN the reasons it writes are the ones the metrics know", () => {
    const src = fs.readFileSync(path.join(ROOT, "scripts/host/exabgp-announce"), "utf8");
    const m = /^REASONS = \(([^)]*)\)/m.exec(src);
    expect(m && [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1])).toEqual([...ANNOUNCE_REASONS]);
  });
});

describe("maglev-metrics on a gateway", () => {
  test("GIVEN every session up WHEN one pass runs THEN each neighbour, BFD peer and VIP is exported with its state, prefixes and next hops", () => {
    const w = setUp("mgw01");
    const text = w.run();
    promtoolCheck(text);
    for (const n of gatewayNeighbors(topo)) {
      const l = `name="${n.name}",neighbor="${n.address}",role="${n.role}"`;
      expect(value(text, `maglev_bgp_neighbor_up{${l}}`)).toBe(1);
      expect(value(text, `maglev_bgp_neighbor_state{${l},state="Established"}`)).toBe(1);
      expect(value(text, `maglev_bgp_neighbor_prefixes_received{afi="ipv4",${l}}`)).toBe(
        n.role === "maglev" ? 3 : 0,
      );
    }
    for (const m of topo.maglevs)
      expect(value(text, `maglev_bfd_peer_up{name="${m.hostname}",peer="${m.mgmt.ipv4}"}`)).toBe(1);
    for (const v of topo.vips.ipv4)
      expect(value(text, `maglev_vip_nexthops{family="ipv4",vip="${v}"}`)).toBe(
        topo.maglevs.length,
      );
    const m0 = topo.maglevs[0];
    expect(
      value(
        text,
        `maglev_vip_nexthop{family="ipv6",maglev="${m0.hostname}",nexthop="${m0.ingress!.ipv6}",vip="${topo.vips.ipv6[0]}"}`,
      ),
    ).toBe(1);
    // One vtysh for both answers, one ip per family.
    expect(w.calls("vtysh")).toEqual(["-c show bgp summary json -c show bfd peers json"]);
    expect(w.calls("ip")).toEqual(["-j -4 route show proto bgp", "-j -6 route show proto bgp"]);
  });

  test("GIVEN a maglev gone (BGP Active, BFD down, one next hop left) WHEN one pass runs THEN the metrics say so", () => {
    const gone = topo.maglevs[1];
    const text = setUp("mgw01", {
      bgpDown: [gone.mgmt.ipv4],
      bfdDown: [gone.mgmt.ipv4],
      hops: 1,
    }).run();
    promtoolCheck(text);
    const l = `name="${gone.hostname}",neighbor="${gone.mgmt.ipv4}",role="maglev"`;
    expect(value(text, `maglev_bgp_neighbor_up{${l}}`)).toBe(0);
    expect(value(text, `maglev_bgp_neighbor_state{${l},state="Active"}`)).toBe(1);
    expect(
      value(text, `maglev_bfd_peer_up{name="${gone.hostname}",peer="${gone.mgmt.ipv4}"}`),
    ).toBe(0);
    for (const v of topo.vips.ipv4)
      expect(value(text, `maglev_vip_nexthops{family="ipv4",vip="${v}"}`)).toBe(1);
  });
});

/**
 * A fake HAProxy admin socket at `socketPath` answering `show stat` as HAProxy 2.6 does (CSV,
 * field 18 the status) with the drain flag in `status`; resolves once it listens.
 */
async function fakeAdminSocket(socketPath: string, status: string) {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true });
  const row = (px: string, sv: string, st: string) =>
    [px, sv, ...Array(15).fill(""), st, ...Array(10).fill("")].join(",");
  const csv = [
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight",
    row("be_100", "app01", "UP"),
    row("be_drain", "flag", status),
    "",
  ].join("\n");
  const py = [
    "import os, socket, sys",
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
    "s.bind(sys.argv[1])",
    "s.listen(4)",
    "print('ready', flush=True)",
    "while True:",
    "    c, _ = s.accept()",
    "    cmd = c.recv(4096)",
    "    c.sendall(sys.argv[2].encode() if cmd.strip() == b'show stat -1 4 -1' else b'Unknown command.\\n')",
    "    c.close()",
  ].join("\n");
  const child = spawn("/usr/bin/python3", ["-I", "-c", py, socketPath, csv], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
  return child;
}

describe("maglev-metrics on an HAProxy node", () => {
  const sock = (root: string) => path.join(root, "run/haproxy/admin.sock");

  test("GIVEN the plan's haproxy.cfg THEN the drain flag the collector reads is the one hactl flips", () => {
    const h = topo.byName.get("mlb01")!;
    const data = JSON.parse(metricsData(topo, h)).haproxy;
    const cfg = haproxyConfig(
      topo,
      h.groups.map((g) => topo.groups.get(g)!),
    );
    expect(cfg).toContain(`backend ${data.drainBackend}\n`);
    expect(cfg).toMatch(new RegExp(`\\n    server ${data.drainServer} \\S+ disabled\\n`));
    expect(cfg).toContain(`stats socket ${data.adminSocket} `);
  });

  test.each([
    ["drained (hactl drain: the flag is out of maintenance)", 1, "no check"],
    ["serving (the flag in maintenance, as configured)", 0, "MAINT"],
  ])(
    "GIVEN a node %s WHEN one pass runs THEN maglev_haproxy_drained is %s",
    async (_what, want, status) => {
      // GIVEN
      const w = setUp("mlb01");
      const server = await fakeAdminSocket(sock(w.root), status);
      try {
        // WHEN
        const text = w.run();
        // THEN
        promtoolCheck(text);
        expect(value(text, "maglev_haproxy_drained")).toBe(want);
        expect(value(text, 'maglev_metrics_source_up{source="haproxy_admin_socket"}')).toBe(1);
      } finally {
        server.kill();
      }
    },
  );

  test("GIVEN HAProxy not running (no admin socket) WHEN one pass runs THEN the drained state is left out, not reported as serving", () => {
    const text = setUp("mlb01").run();
    expect(value(text, "maglev_haproxy_drained")).toBeUndefined();
    expect(value(text, 'maglev_metrics_source_up{source="haproxy_admin_socket"}')).toBe(0);
  });
});

describe("maglev-metrics on every host", () => {
  test("GIVEN generation 7 with a file edited by hand WHEN one pass runs THEN the generation and that file's drift are exported", () => {
    const text = setUp("mlb01", { edited: "/etc/frr/frr.conf" }).run();
    promtoolCheck(text);
    expect(value(text, "maglev_apply_generation")).toBe(7);
    expect(value(text, 'maglev_apply_file_matches{path="/etc/hosts"}')).toBe(1);
    expect(value(text, 'maglev_apply_file_matches{path="/etc/frr/frr.conf"}')).toBe(0);
    expect(value(text, "maglev_apply_files_drifted")).toBe(1);
    expect(
      value(
        text,
        `maglev_host_info{host="${topo.byName.get("mlb01")!.hostname}",role="haproxy",stack="lab"}`,
      ),
    ).toBe(1);
  });

  test("GIVEN label values with quotes, backslashes and line feeds THEN the file escapes them as the exposition format wants", () => {
    const r = spawnSync(
      "/usr/bin/python3",
      [
        "-I",
        "-S",
        "-c",
        `import importlib.machinery as m; mod = m.SourceFileLoader("mm", ${JSON.stringify(PROGRAM)}).load_module(); x = mod.Metrics(); x.declare("maglev_t", "gauge", "t"); x.add("maglev_t", {"a": 'q"b\\\\s\\nl'}, 1); print(x.text(), end="")`,
      ],
      { encoding: "utf8" },
    );
    expect(r.stdout).toBe(
      '# HELP maglev_t t\n# TYPE maglev_t gauge\nmaglev_t{a="q\\"b\\\\s\\nl"} 1\n',
    );
    promtoolCheck(r.stdout);
  });

  test("GIVEN the program THEN pyflakes finds nothing", () => {
    const r = spawnSync("/usr/bin/python3", ["-m", "pyflakes", PROGRAM], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
  });
});
