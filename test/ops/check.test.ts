/**
 * `check` and `drain` against simulated hosts: a fake HostRunner answers like the real
 * commands would (sha256sum, vtysh JSON, ip -j route, ipvsadm, hactl), so the logic that
 * turns live state into ✓/✗ is tested without hosts.
 */
import * as path from "path";
import { deriveTopology, Topology } from "../../src/topology";
import { buildPlans } from "../../src/plan";
import { APPLIED_DIR, contentSha256, fileSlug } from "../../src/apply/steps";
import { spawnSync } from "child_process";
import { checkEnvironment, formatTable, parseProbes, probeScript } from "../../src/ops/check";
import { drainHost, undrainHost } from "../../src/ops/drain";
import { HostRunner, RunResult } from "../../src/ops/runner";
import { systemd } from "../../src/apply/steps";
import { readStackEnvironment } from "../../src/config/load";
import { mustValidate, ROOT } from "../helpers";
import { ipvsServices } from "../../src/tiers/maglev";

const topo: Topology = deriveTopology(
  mustValidate(readStackEnvironment(path.join(ROOT, "stacks/Pulumi.lab.yaml"))),
);
const plans = buildPlans(topo);

/** A lab-shaped world: which maglevs are drained, which file was edited by hand. */
function fakeWorld(
  opts: {
    drained?: string[];
    edited?: { host: string; path: string };
    /** This maglev's keepalived sees an undrained member only after this many IPVS polls. */
    lagging?: { maglev: string; polls: number };
    /** This maglev was just booted: keepalived (`alpha`) shows every member at weight 0 for this many IPVS polls. */
    cold?: { maglev: string; polls: number };
  } = {},
) {
  const drained = new Set(opts.drained ?? []);
  // Undrained members the lagging maglev still shows at weight 0: polls left.
  const behind = new Map<string, number>();
  let coldPolls = opts.cold?.polls ?? 0;
  const calls: string[] = [];
  // One command as the host would answer it.
  const answer = (hostname: string, script: string): RunResult => {
    const h = topo.hosts.find((x) => x.hostname === hostname)!;
    const plan = plans.find((p) => p.hostname === hostname)!;
    const ok = (stdout: string) => ({ stdout, stderr: "", code: 0 });
    if (script.startsWith("sha256sum")) {
      // As the host answers: `sha256sum` of every file, then `grep -H` of the apply records
      // (planned hash, live hash then).
      const written = (f: (typeof plan.files)[number]) =>
        f.secretKeys?.length ? f.content.replace(/\{\{secret:[^}]+\}\}/g, "s3cret") : f.content;
      const live = (f: (typeof plan.files)[number]) =>
        opts.edited?.host === h.name && opts.edited.path === f.path
          ? written(f) + "# hand edit\n"
          : written(f);
      return ok(
        [
          ...plan.files.map((f) => `${contentSha256(live(f))}  ${f.path}`),
          ...plan.files.map(
            (f) =>
              `${APPLIED_DIR}/${fileSlug(f.path)}:${contentSha256(f.content)} ${contentSha256(written(f))}`,
          ),
        ].join("\n"),
      );
    }
    if (script.startsWith("systemctl is-active")) return ok("");
    if (script.includes("test -e") && script.includes("drain"))
      return ok(drained.has(h.name) ? "drained\n" : "serving\n");
    if (script.includes("hactl status")) return ok(drained.has(h.name) ? "drained\n" : "serving\n");
    if (script.startsWith("ip -j -s link show"))
      return ok(JSON.stringify([{ mtu: 1500, stats64: { rx: { errors: 0 }, tx: { errors: 0 } } }]));
    if (script.includes("show bgp neighbors json")) {
      const n: Record<string, unknown> = {};
      for (const u of topo.env.bgp.upstream) {
        n[u.ipv4] = { bgpState: "Established" };
        if (u.ipv6) n[u.ipv6] = { bgpState: "Established" };
      }
      for (const m of topo.maglevs) n[m.mgmt.ipv4] = { bgpState: "Established" };
      return ok(JSON.stringify(n));
    }
    if (script.includes("show bfd peers json"))
      return ok(JSON.stringify(topo.maglevs.map((m) => ({ peer: m.mgmt.ipv4, status: "up" }))));
    const routeJson = (dst: string, six: boolean) => {
      const hops = topo.maglevs
        .filter((m) => !drained.has(m.name))
        .map((m) => ({ gateway: six ? m.ingress!.ipv6 : m.ingress!.ipv4 }));
      return JSON.stringify(hops.length ? [{ dst, nexthops: hops }] : []);
    };
    const rt = /^ip (-6 )?-j route show (\S+)\//.exec(script);
    if (rt) return ok(routeJson(rt[2], !!rt[1]));
    // Batched: echo "R <vip> $(ip [-6] -j route show <vip>/<len>)"; …
    const batched = [...script.matchAll(/echo "R (\S+) \$\(ip (-6 )?-j route show [^)]*\)"/g)];
    if (batched.length)
      return ok(batched.map((b) => `R ${b[1]} ${routeJson(b[1], !!b[2])}`).join("\n"));
    if (script.includes("vs.conntrack")) return ok("0\n");
    if (script.startsWith("ss -Htn"))
      return ok(topo.gateways.map((g) => `0 0 ${h.mgmt.ipv4}:40000 ${g.mgmt.ipv4}:179`).join("\n"));
    if (script.startsWith("cat /run/exabgp/announced"))
      return ok(
        [...topo.vips.ipv4.map((v) => `${v}/32`), ...topo.vips.ipv6.map((v) => `${v}/128`)].join(
          "\n",
        ),
      );
    if (script === "ipvsadm -Ln") {
      // One poll of the lagging maglev: members still behind show weight 0, one poll less.
      const stale = new Set<string>();
      if (opts.lagging?.maglev === h.name)
        for (const [member, left] of behind)
          if (left > 0) {
            stale.add(member);
            behind.set(member, left - 1);
          }
      const cold = opts.cold?.maglev === h.name && coldPolls-- > 0;
      const weight = (member: string) => (cold || drained.has(member) || stale.has(member) ? 0 : 1);
      const L: string[] = [];
      for (const s of ipvsServices(topo)) {
        L.push(
          s.family === "ipv6"
            ? `FWM  ${s.fwmark.fwmark} IPv6 mh (mh-port)`
            : `FWM  ${s.fwmark.fwmark} mh (mh-port)`,
        );
        for (const r of s.realServers)
          L.push(
            `  -> ${s.family === "ipv6" ? `[${r.address}]` : r.address}:0   Route   ${weight(r.host.name)}      0          0`,
          );
      }
      return ok(L.join("\n"));
    }
    if (script.includes("show stat"))
      return ok(
        "# pxname,svname\nbe_100080,app01,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1\nbe_100080,app02,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1\n",
      );
    if (script.includes("hactl undrain")) {
      drained.delete(h.name);
      if (opts.lagging) behind.set(h.name, opts.lagging.polls);
      return ok("");
    }
    if (script.startsWith("rm -f") && script.includes("drain")) {
      drained.delete(h.name);
      return ok("");
    }
    if (script.includes("drain")) {
      drained.add(h.name);
      return ok("");
    }
    return { stdout: "", stderr: `fake: no answer for ${script}`, code: 127 };
  };
  const runner: HostRunner = {
    kind: "fake",
    services: systemd,
    async run(hostname, script) {
      calls.push(`${hostname}: ${script}`);
      // check's framed probe script: answer each framed command as the shell would.
      const framed = [
        ...script.matchAll(
          /^echo '@@maglev-check@@ (.+)'\n\{ ([^\n]*)\n\} (2>\/dev\/null|2>&1)\necho "@@maglev-check@@ rc \$\?"$/gm,
        ),
      ];
      if (!framed.length) return answer(hostname, script);
      const out = framed.map(([, key, cmd, redirect]) => {
        const r = answer(hostname, cmd);
        const text = redirect === "2>&1" ? r.stdout + r.stderr : r.stdout;
        return `@@maglev-check@@ ${key}\n${text}${text.endsWith("\n") || !text ? "" : "\n"}@@maglev-check@@ rc ${r.code}`;
      });
      return { stdout: out.join("\n") + "\n", stderr: "", code: 0 };
    },
  };
  return { runner, calls, drained };
}

describe("check", () => {
  test("GIVEN a lab whose hosts match their plans WHEN checked THEN every row is ✓", async () => {
    const rows = await checkEnvironment(topo, plans, fakeWorld().runner);
    const bad = rows.filter((r) => !r.ok);
    expect(bad).toEqual([]);
    const gw = rows.filter((r) => r.host === "lab-vm-mgw01").map((r) => r.check);
    expect(gw).toEqual(
      expect.arrayContaining([
        "BGP 198.18.7.2 (router)",
        "BGP 198.18.7.17 (maglev01)",
        "BFD 198.18.7.18 (maglev02)",
        "ECMP 198.18.7.16",
      ]),
    );
  });

  test("GIVEN a hand-edited file on one host WHEN checked THEN that host's files row is ✗ naming the file", async () => {
    const rows = await checkEnvironment(
      topo,
      plans,
      fakeWorld({ edited: { host: "mlb01", path: "/etc/haproxy/haproxy.cfg" } }).runner,
    );
    const bad = rows.filter((r) => !r.ok);
    // haproxy.cfg is filled with the stats password on the host: caught through the apply record.
    expect(bad).toEqual([
      {
        host: "lab-vm-mlb01",
        check: "files match the plan",
        ok: false,
        detail: "drift: /etc/haproxy/haproxy.cfg (edited on the host)",
      },
    ]);
    expect(formatTable(rows)).toMatch(
      /✗  lab-vm-mlb01 +files match the plan +drift: \/etc\/haproxy\/haproxy\.cfg/,
    );
    const rows2 = await checkEnvironment(
      topo,
      plans,
      fakeWorld({ edited: { host: "mgw02", path: "/etc/frr/frr.conf" } }).runner,
    );
    expect(rows2.filter((r) => !r.ok).map((r) => `${r.host} ${r.detail}`)).toEqual([
      "lab-vm-mgw02 drift: /etc/frr/frr.conf",
    ]);
  });

  test("GIVEN a drained maglev WHEN checked THEN the gateways' ECMP width expected is one, and the drained state is shown", async () => {
    const rows = await checkEnvironment(topo, plans, fakeWorld({ drained: ["maglev02"] }).runner);
    expect(rows.filter((r) => !r.ok)).toEqual([]);
    expect(
      rows.find((r) => r.host === "lab-vm-mgw01" && r.check === "ECMP 198.18.7.15")!.detail,
    ).toBe("1 next-hops (want 1; maglev02 drained)");
    expect(
      rows.find((r) => r.host === "lab-vm-maglev02" && r.check === "announcements")!.detail,
    ).toMatch(/^drained/);
  });
});

describe("check's probes", () => {
  test("GIVEN framed probes WHEN a real shell runs them THEN each one's output and exit status come back apart", () => {
    const script = probeScript([
      { key: "two lines", command: "echo one; echo two; false" },
      { key: "stderr merged", command: "sh -c 'echo oops >&2; exit 3'" },
      { key: "no final newline", command: "printf 'drained'" },
      { key: "stderr dropped", command: "echo '[]'; echo noise >&2", quietStderr: true },
      { key: "empty", command: "true" },
    ]);
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
    const got = parseProbes(r.stdout);
    expect(Object.fromEntries(got)).toEqual({
      "two lines": { out: "one\ntwo", code: 1 },
      "stderr merged": { out: "oops", code: 3 },
      "stderr dropped": { out: "[]", code: 0 },
      "no final newline": { out: "drained", code: 0 },
      empty: { out: "", code: 0 },
    });
  });

  test("GIVEN a lab WHEN checked THEN every host is asked once (one SSH connection per host)", async () => {
    const w = fakeWorld();
    await checkEnvironment(topo, plans, w.runner);
    const perHost = new Map<string, number>();
    for (const c of w.calls) perHost.set(c.split(":")[0], (perHost.get(c.split(":")[0]) ?? 0) + 1);
    expect([...perHost.keys()].sort()).toEqual(topo.hosts.map((h) => h.hostname).sort());
    expect([...perHost.values()].every((n) => n === 1)).toBe(true);
  });

  test("GIVEN one host that cannot be reached WHEN checked THEN its rows are ✗ with the transport's message, the others ✓", async () => {
    const w = fakeWorld();
    const runner: HostRunner = {
      ...w.runner,
      run: (hostname, script) =>
        hostname === "lab-vm-mlb02"
          ? Promise.resolve({
              stdout: "",
              stderr: "ssh: connect to host 198.18.7.34 port 22: Connection timed out\n",
              code: 255,
            })
          : w.runner.run(hostname, script),
    };
    const rows = await checkEnvironment(topo, plans, runner);
    const bad = rows.filter((r) => !r.ok);
    expect(new Set(bad.map((r) => r.host))).toEqual(new Set(["lab-vm-mlb02"]));
    expect(bad.find((r) => r.check === "files match the plan")!.detail).toBe(
      "no answer: ssh: connect to host 198.18.7.34 port 22: Connection timed out",
    );
    expect(bad.find((r) => r.check === "service haproxy")!.detail).toMatch(
      /^no answer: ssh: connect/,
    );
  });
});

describe("drain", () => {
  test("GIVEN one maglev already drained WHEN the other is drained THEN it refuses without --force, and touches nothing", async () => {
    const w = fakeWorld({ drained: ["maglev01"] });
    await expect(drainHost(topo, plans, w.runner, "maglev02")).rejects.toThrow(
      /last announcing maglev/,
    );
    expect(w.calls.some((c) => c.startsWith("lab-vm-maglev02") && c.includes("touch"))).toBe(false);
  });

  test("GIVEN a serving HAProxy pair WHEN one is drained THEN it completes once every maglev shows weight 0", async () => {
    const w = fakeWorld();
    const r = await drainHost(topo, plans, w.runner, "mlb01", { timeoutMs: 2000 });
    expect(r.complete).toBe(true);
    expect(r.detail).toMatch(/weight 0 on every maglev/);
    await expect(drainHost(topo, plans, w.runner, "mlb02")).rejects.toThrow(
      /last serving member of group mlb/,
    );
  });

  test("GIVEN one maglev whose check sees an undrained HAProxy node late WHEN it is undrained THEN the undrain completes only once every maglev gives it weight", async () => {
    // The first maglev's weight alone is not enough: until the second one agrees, the two
    // maglevs' Maglev tables differ and a flow moved between them gets a reset.
    const w = fakeWorld({ drained: ["mlb01"], lagging: { maglev: "maglev02", polls: 3 } });
    const r = await undrainHost(topo, plans, w.runner, "mlb01", { timeoutMs: 5000 });
    expect(r.complete).toBe(true);
    expect(r.detail).toBe("weight > 0 on every maglev (maglev01, maglev02)");
    const polls = w.calls.filter((c) => c === "lab-vm-maglev02: ipvsadm -Ln").length;
    expect(polls).toBeGreaterThan(3);
  });

  test("GIVEN a maglev that never gives the node weight WHEN it is undrained THEN it reports which maglev and service are missing it", async () => {
    const w = fakeWorld({ drained: ["mlb01"], lagging: { maglev: "maglev02", polls: 1e9 } });
    const r = await undrainHost(topo, plans, w.runner, "mlb01", { timeoutMs: 600 });
    expect(r.complete).toBe(false);
    expect(r.detail).toMatch(/^no weight yet on maglev02: fwmark \d+ ipv4 w0/);
    expect(r.detail).not.toMatch(/maglev01:/);
  });

  test("GIVEN a rebooted maglev whose checkers have not all passed yet WHEN it is undrained THEN its VIPs are announced only once its weights are the other maglev's", async () => {
    // Undrained earlier, the gateways would move flows onto a table that picks other members.
    const w = fakeWorld({ drained: ["maglev02"], cold: { maglev: "maglev02", polls: 3 } });
    const r = await undrainHost(topo, plans, w.runner, "maglev02", { timeoutMs: 5000 });
    expect(r.complete).toBe(true);
    const polls = w.calls
      .map((c, i) => (c === "lab-vm-maglev02: ipvsadm -Ln" ? i : -1))
      .filter((i) => i >= 0);
    const undrained = w.calls.findIndex((c) => c.startsWith("lab-vm-maglev02: rm -f"));
    expect(polls.length).toBe(4);
    expect(undrained).toBeGreaterThan(polls[3]);
  });

  test("GIVEN a maglev whose weights never match WHEN it is undrained THEN it stays drained and says which member differs", async () => {
    const w = fakeWorld({ drained: ["maglev02"], cold: { maglev: "maglev02", polls: 1e9 } });
    const r = await undrainHost(topo, plans, w.runner, "maglev02", { timeoutMs: 600 });
    expect(r.complete).toBe(false);
    expect(r.detail).toMatch(/^left drained: .*fwmark \d+ ipv4 \S+: maglev02 w0, maglev01 w1/);
    expect(w.calls.some((c) => c.startsWith("lab-vm-maglev02: rm -f"))).toBe(false);
  });

  test("a gateway cannot be drained, and nothing is run for it", async () => {
    const w = fakeWorld();
    await expect(drainHost(topo, plans, w.runner, "mgw01")).rejects.toThrow(/not supported/);
    expect(w.calls).toEqual([]);
  });
});
