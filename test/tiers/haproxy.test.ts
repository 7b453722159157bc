import fc from "fast-check";
import { generateEnvironment } from "../../src/testing/generate";
import { HostRunner } from "../../src/ops/runner";
import { systemd } from "../../src/apply/steps";
import { hactl, mergeLists, parseList, ServerState } from "../../src/cli/hactl";
import {
  HAPROXY_CFG,
  HACTL_PATH,
  HAPROXY_RELOAD_DROPIN,
  HAPROXY_SOFT_STOP_DROPIN,
} from "../../src/tiers/haproxy";
import { DEFAULTS } from "../../src/ops/maintain-plan";
import { installed } from "./golden-util";
import { mustValidate } from "../helpers";
import { deriveTopology } from "../../src/topology";
import { planHost } from "../../src/plan";
import { compareGolden } from "./golden-util";
import { check, failingFiles, file, plan, topologyOf } from "./golden-util";

describe("HaproxyNode (mgmt02 mlb01)", () => {
  const topo = topologyOf();
  const p = plan("mlb01", topo);
  const cfg = file(p, HAPROXY_CFG);

  test("GIVEN the mlb group on 10.1.7.15:80 WHEN mlb01 is planned THEN fe_100080 binds the VIP and sends to the app servers", () => {
    expect(cfg.content).toMatch(
      /frontend fe_100080\n    bind 10\.1\.7\.15:80\n    default_backend be_100080/,
    );
    expect(cfg.content).toMatch(
      /backend be_100080\n(.*\n)*    server app01 10\.1\.7\.12:8888 check/,
    );
  });

  test("THEN it serves /haproxy-health and the 9300 health API, 503 when the frontend has no usable server or the node is drained", () => {
    expect(cfg.content).toContain("bind 0.0.0.0:9300");
    expect(cfg.content).toContain("monitor-uri /haproxy-health");
    expect(cfg.content).toContain("monitor fail if drained");
    expect(cfg.content).toContain(
      "{ url_param(frontend) -m str fe_100080 } { nbsrv(be_100080) lt 1 }",
    );
    expect(cfg.content).toMatch(/acl drained nbsrv\(be_drain\) gt 0/);
  });

  test("THEN the admin socket, the Prometheus exporter and the stats password placeholder are there, the password is not", () => {
    expect(cfg.content).toContain("stats socket /run/haproxy/admin.sock mode 660 level admin");
    expect(cfg.content).toContain(
      "http-request use-service prometheus-exporter if { path /metrics }",
    );
    expect(cfg.content).toContain("{{secret:haproxyStatsPassword}}");
    expect(cfg.secretKeys).toEqual(["haproxyStatsPassword"]);
    expect(cfg.validate).toEqual({ checker: "haproxy", command: "haproxy -c -f {file}" });
  });

  test("THEN haproxy.cfg is byte-identical on every node of the group", () => {
    for (const n of ["mlb02", "mlb03"])
      expect(file(plan(n, topo), HAPROXY_CFG).content).toBe(cfg.content);
  });

  test("THEN the VIP is on the vip dummy with the direct-server-return sysctls", () => {
    expect(file(p, "/etc/systemd/network/60-vip.network").content).toContain(
      "Address=10.1.7.15/32",
    );
    const s = Object.fromEntries(p.sysctls.map((x) => [x.key, x.value]));
    expect(s).toMatchObject({
      "net.ipv4.conf.all.arp_ignore": "1",
      "net.ipv4.conf.all.arp_announce": "2",
      "net.ipv4.conf.ingress0.arp_ignore": "1",
      "net.ipv4.conf.ingress0.arp_announce": "2",
      "net.ipv4.conf.all.rp_filter": "0",
      "net.ipv4.conf.ingress0.rp_filter": "0",
      "net.ipv4.ip_nonlocal_bind": "1",
      "net.ipv6.ip_nonlocal_bind": "1",
    });
  });

  test("THEN every file passes its real checker, and a broken haproxy.cfg or hactl fails it", async () => {
    expect(await failingFiles(p)).toEqual([]);
    const broken = await check(
      p.hostname,
      cfg,
      cfg.content.replace("default_backend be_100080", "default_backend be_nowhere"),
    );
    expect(broken.ok).toBe(false);
    expect(broken.message).toMatch(/be_nowhere/);
    const script = file(p, HACTL_PATH);
    expect((await check(p.hostname, script, script.content.replace("esac", ""))).ok).toBe(false);
  });

  test("THEN its files match the golden files", () => {
    expect(compareGolden("mgmt02", p)).toEqual([]);
  });
});

describe("HAProxy server state over reloads (mlb01)", () => {
  const p = plan("mlb01");
  const f = file(p, HAPROXY_RELOAD_DROPIN);

  test("GIVEN any reload of haproxy.service THEN hactl saves the server state first, then Debian's own check and USR2 run unchanged", () => {
    const reload = f.content.split("\n").filter((l) => l.startsWith("ExecReload="));
    expect(reload).toEqual([
      "ExecReload=",
      `ExecReload=-${HACTL_PATH} save-state`,
      "ExecReload=/usr/sbin/haproxy -Ws -f $CONFIG -c -q $EXTRAOPTS",
      "ExecReload=/bin/kill -USR2 $MAINPID",
    ]);
    expect(file(p, HACTL_PATH).content).toMatch(
      /^  save-state\)\n(.*\n)*?    save_state\n    ;;$/m,
    );
  });

  (installed("systemd-analyze") && require("fs").existsSync("/lib/systemd/system/haproxy.service")
    ? test
    : test.skip)(
    "GIVEN Debian's haproxy.service WHEN the drop-in is checked with it THEN systemd-analyze finds nothing, and a misspelt key fails the check",
    async () => {
      expect((await check(p.hostname, f)).ok).toBe(true);
      expect((await check(p.hostname, f, f.content + "ExecReladd=/bin/true\n")).ok).toBe(false);
    },
  );
});

describe("HAProxy soft stop (mlb01, issue 21)", () => {
  const p = plan("mlb01");
  const cfg = file(p, HAPROXY_CFG).content;
  const f = file(p, HAPROXY_SOFT_STOP_DROPIN);
  const seconds = (re: RegExp, text: string) => Number(re.exec(text)?.[1] ?? NaN);
  const hardStopAfter = 60 * seconds(/^global\n(?:    .*\n)*?    hard-stop-after (\d+)m$/m, cfg);
  const timeoutStop = seconds(/^TimeoutStopSec=(\d+)s$/m, f.content);
  const debianUnit = "/lib/systemd/system/haproxy.service";

  test("GIVEN an HAProxy node THEN a drop-in makes every stop of haproxy.service SIGUSR1 (soft stop), bounded, live after daemon-reload", () => {
    const keys = f.content.split("\n").filter((l) => /^[A-Z[]/.test(l));
    expect(keys).toEqual(["[Service]", "KillSignal=SIGUSR1", `TimeoutStopSec=${timeoutStop}s`]);
    expect(f.activate).toEqual({ kind: "command", command: "systemctl daemon-reload" });
    expect(f.validate?.checker).toBe("systemd-analyze");
  });

  test("THEN a stop is bounded by TimeoutStopSec within maintain's reboot, and a reload's old worker serves a working TCP connection far longer (hard-stop-after)", () => {
    // The drained node's stop happens inside maintain's reboot phase: it must fit easily.
    expect(timeoutStop).toBeGreaterThan(0);
    expect(timeoutStop * 5).toBeLessThanOrEqual(DEFAULTS.rebootTimeoutS);
    // A reload must not cut what still works: TCP frontends cannot ask a client to close, so the
    // old worker keeps its connections for many times the client timeout.
    const clientTimeout = seconds(/^defaults\n(?:    .*\n)*?    timeout client (\d+)s$/m, cfg);
    expect(hardStopAfter).toBeGreaterThanOrEqual(10 * clientTimeout);
    expect(hardStopAfter).toBeGreaterThan(timeoutStop);
  });

  test("THEN every HTTP frontend keeps idle keep-alive connections to their next response (idle-close-on-response), and no TCP frontend has the option (HAProxy would ignore it with a warning)", () => {
    const frontends = cfg.split(/\n(?=frontend )/).filter((b) => b.startsWith("frontend "));
    const http = frontends.filter((b) => /^    mode http$/m.test(b));
    expect(http.map((b) => b.split("\n")[0])).toEqual(["frontend health", "frontend stats"]);
    for (const b of frontends)
      expect([b.split("\n")[0], /^    option idle-close-on-response$/m.test(b)]).toEqual([
        b.split("\n")[0],
        http.includes(b),
      ]);
    expect(cfg).not.toMatch(/^defaults\n(?:    .*\n)*    option idle-close-on-response$/m);
  });

  (installed("systemd-analyze") && require("fs").existsSync(debianUnit) ? test : test.skip)(
    "GIVEN Debian's haproxy.service WHEN the drop-in is checked with it THEN it passes; a misspelt key fails, and so does a unit that gained ExecStop= (the soft stop relies on its absence)",
    async () => {
      const fs = require("fs") as typeof import("fs");
      const os = require("os") as typeof import("os");
      const path = require("path") as typeof import("path");
      expect((await check(p.hostname, f)).ok).toBe(true);
      expect((await check(p.hostname, f, f.content + "KillSignl=SIGUSR1\n")).ok).toBe(false);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "soft-stop-unit-"));
      try {
        const unit = path.join(dir, "haproxy.service");
        const withStop = fs
          .readFileSync(debianUnit, "utf8")
          .replace(/^ExecReload=/m, "ExecStop=/bin/kill -TERM $MAINPID\nExecReload=");
        fs.writeFileSync(unit, withStop);
        const r = await check(p.hostname, {
          ...f,
          validate: { ...f.validate!, command: f.validate!.command.split(debianUnit).join(unit) },
        });
        expect(r.ok).toBe(false);
        expect(r.message).toMatch(/ExecStop/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe("hactl across a group", () => {
  const topo = topologyOf();
  const members = topo.groups.get("mlb")!.members;
  const fake = (answers: Record<string, string>, calls: string[] = []): HostRunner => ({
    kind: "fake",
    services: systemd,
    run: async (host, script) => {
      calls.push(`${host}: ${script}`);
      return { stdout: answers[host] ?? "", stderr: "", code: 0 };
    },
  });

  test("GIVEN a server in maintenance on one node only WHEN listing THEN it is flagged inconsistent and the command fails", async () => {
    const up = "be_100080,app01,UP,1,L4OK\n";
    const r = await hactl(
      fake({
        "mgmt02-vm-mlb01": up,
        "mgmt02-vm-mlb02": up,
        "mgmt02-vm-mlb03": "be_100080,app01,MAINT,1,\n",
      }),
      members,
      { op: "list" },
    );
    expect(r.ok).toBe(false);
    expect(r.text).toMatch(/be_100080\/app01 .*INCONSISTENT/);
    expect(r.text).toContain("http://10.1.7.33:8404/stats");
  });

  test("GIVEN maint WHEN run THEN every node runs the node script with the quoted target", async () => {
    const calls: string[] = [];
    const r = await hactl(fake({}, calls), members, { op: "maint", target: "be_100080/app01" });
    expect(r.ok).toBe(true);
    expect(calls.sort()).toEqual(
      members.map((m) => `${m.hostname}: ${HACTL_PATH} maint 'be_100080/app01'`).sort(),
    );
  });

  test("GIVEN a malformed target THEN nothing runs", async () => {
    const calls: string[] = [];
    expect(
      (await hactl(fake({}, calls), members, { op: "enable", target: "x; rm -rf /" })).ok,
    ).toBe(false);
    expect(calls).toEqual([]);
  });

  test("parseList / mergeLists", () => {
    const a: ServerState[] = parseList("be_1,s1,UP,1,L4OK\nbe_1,s2,MAINT,1,\n");
    expect(a).toHaveLength(2);
    const rows = mergeLists(
      new Map([
        ["n1", a],
        ["n2", parseList("be_1,s1,DOWN,1,L4CON\nbe_1,s2,MAINT,1,\n")],
      ]),
    );
    // UP vs DOWN is health, not administration: consistent. Missing on a node is not.
    expect(rows.map((r) => [r.key, r.inconsistent])).toEqual([
      ["be_1/s1", false],
      ["be_1/s2", false],
    ]);
    expect(
      mergeLists(
        new Map([
          ["n1", a],
          ["n2", a.slice(0, 1)],
        ]),
      ).find((r) => r.key === "be_1/s2")!.inconsistent,
    ).toBe(true);
  });
});

describe("VIPs of L7 members (property)", () => {
  /** The VIP addresses a plan puts on its VIP interface (vip dummy or lo). */
  function plannedVips(p: ReturnType<typeof planHost>): string[] {
    return p.files
      .filter(
        (f) =>
          f.path === "/etc/systemd/network/60-vip.network" ||
          f.path === "/etc/systemd/network/60-lo-vips.network",
      )
      .flatMap((f) => [...f.content.matchAll(/^Address=(.+)\/(32|128)$/gm)].map((m) => m[1]))
      .filter((a) => a !== "127.0.0.1" && a !== "::1")
      .sort();
  }

  test("GIVEN generated environments (with a k0s group) WHEN every host is planned THEN each member holds every VIP of its groups and no other", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 12, max: 40 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        (hosts, haproxyGroups, edges) => {
          const raw: any = generateEnvironment({ hosts, haproxyGroups });
          // Add a k0s cluster: one controller, `edges` edge workers in a k0s-ingress group, one ordinary worker.
          const base = 60000;
          const add = (name: string, tier: string, i: number) =>
            raw.hosts.push({
              name,
              tier,
              mgmt: { ipv4: `10.0.200.${i}`, ipv6: `fd00:0:0:7::c8:${i}` },
              ingress: { ipv4: `10.64.200.${i}`, ipv6: `fd00:0:0:a::c8:${i}` },
              vm: { id: base + i },
            });
          raw.k0s = { version: "v1.31.2+k0s.0", sha256: "a".repeat(64) };
          add("k0s00", "k0s-controller", 1);
          const edgeNames: string[] = [];
          for (let i = 0; i < edges; i++) {
            add(`kw${i}`, "k0s-worker", 10 + i);
            edgeNames.push(`kw${i}`);
          }
          add("kplain", "k0s-worker", 30);
          raw.backendGroups.kube = { kind: "k0s-ingress", id: 900, members: edgeNames };
          raw.vips.push(
            { vip: "198.51.98.16", ports: [80, 443], group: "kube" },
            { vip: "2001:db8:ffff::16", ports: [80, 443], group: "kube" },
          );
          const topo = deriveTopology(mustValidate(raw));
          for (const h of topo.hosts) {
            if (!["haproxy", "k0s-worker", "dnsdist"].includes(h.tier)) continue;
            const want = h.groups
              .flatMap((g) => [...topo.groups.get(g)!.vips.ipv4, ...topo.groups.get(g)!.vips.ipv6])
              .sort();
            expect(plannedVips(planHost(topo, h))).toEqual(want);
          }
        },
      ),
      { numRuns: 15 },
    );
  });
});
