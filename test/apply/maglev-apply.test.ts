/**
 * scripts/maglev-apply, the on-host apply program, run for real (`/usr/bin/python3`) against a
 * temp directory as --root. The host's commands are fakes in a temp bin/ put first on PATH:
 * systemctl (logs each call, answers show/is-enabled/is-active from state files, `enable --now`
 * marks units enabled and active), dpkg-query (installed unless the test marks a package
 * missing), apt-get (logs) and modprobe (logs, creates the module's key under root/proc/sys).
 * Checkers, drain scripts, activations and probes are the bundle's own shell, which logs into
 * the test's state directory.
 */
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ROOT } from "../helpers";

const PROGRAM = path.join(ROOT, "scripts/maglev-apply");
const PHASES = [
  "wait",
  "packages",
  "downloads",
  "stage",
  "compare",
  "check",
  "drain",
  "sysctls",
  "activate",
  "services",
  "undrain",
  "health",
  "commit",
  "timings",
];

const FAKES: Record<string, string> = {
  systemctl: `#!/bin/bash
echo "$*" >> "$FAKE_STATE/systemctl.log"
cmd=$1; shift
case "$cmd" in
  is-enabled|is-active)
    dir=enabled yes=enabled no=disabled
    [ "$cmd" = is-active ] && dir=active yes=active no=inactive
    rc=0
    for u in "$@"; do if [ -e "$FAKE_STATE/$dir/$u" ]; then echo $yes; else echo $no; rc=1; fi; done
    exit $rc;;
  show)
    first=1
    for u in "$@"; do
      case "$u" in -p|UnitFileState|ActiveState) continue;; esac
      [ $first = 1 ] || echo; first=0
      if [ -e "$FAKE_STATE/enabled/$u" ]; then echo UnitFileState=enabled; else echo UnitFileState=disabled; fi
      if [ -e "$FAKE_STATE/active/$u" ]; then echo ActiveState=active; else echo ActiveState=inactive; fi
    done;;
  enable)
    [ "$1" = --now ] && shift
    for u in "$@"; do touch "$FAKE_STATE/enabled/$u" "$FAKE_STATE/active/$u"; done;;
  disable|stop|try-restart|restart)
    # With the marker, as systemd: a unit whose unit file is gone is "not found".
    [ "$1" = --now ] && shift
    if [ -e "$FAKE_STATE/strict-units" ]; then
      for u in "$@"; do
        [ -e "$FAKE_ROOT/etc/systemd/system/\${u%.service}.service" ] || { echo "Failed to $cmd \${u%.service}.service: Unit \${u%.service}.service not found." >&2; exit 5; }
      done
    fi
    [ "$cmd" = disable ] || [ "$cmd" = stop ] && for u in "$@"; do rm -f "$FAKE_STATE/enabled/$u" "$FAKE_STATE/active/$u"; done;;
esac
exit 0
`,
  "dpkg-query": `#!/bin/bash
echo "$*" >> "$FAKE_STATE/dpkg-query.log"
for a in "$@"; do
  case "$a" in -*) ;; *) if [ -e "$FAKE_STATE/missing/$a" ]; then echo "not-installed $a"; else echo "installed $a"; fi;; esac
done
`,
  "apt-get": `#!/bin/bash
echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> "$FAKE_STATE/apt-get.log"
if [[ " $* " == *" install "* ]]; then for a in "$@"; do rm -f "$FAKE_STATE/missing/$a"; done; fi
`,
  modprobe: `#!/bin/bash
echo "$*" >> "$FAKE_STATE/modprobe.log"
case "$1" in
  ip_vs) mkdir -p "$FAKE_ROOT/proc/sys/net/ipv4/vs"; [ -e "$FAKE_ROOT/proc/sys/net/ipv4/vs/conntrack" ] || echo 0 > "$FAKE_ROOT/proc/sys/net/ipv4/vs/conntrack";;
esac
`,
};

const sha = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

interface Host {
  dir: string;
  root: string;
  state: string;
  bin: string;
  runs: number;
}

const hosts: Host[] = [];

function makeHost(): Host {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-apply-"));
  const h: Host = {
    dir,
    root: path.join(dir, "root"),
    state: path.join(dir, "state"),
    bin: path.join(dir, "bin"),
    runs: 0,
  };
  for (const d of ["enabled", "active", "missing"])
    fs.mkdirSync(path.join(h.state, d), { recursive: true });
  fs.mkdirSync(h.bin);
  for (const [name, text] of Object.entries(FAKES))
    fs.writeFileSync(path.join(h.bin, name), text, { mode: 0o755 });
  // The kernel always has ip_forward; the ip_vs keys appear only when the module is loaded.
  fs.mkdirSync(path.join(h.root, "proc/sys/net/ipv4"), { recursive: true });
  fs.writeFileSync(path.join(h.root, "proc/sys/net/ipv4/ip_forward"), "0\n");
  hosts.push(h);
  return h;
}

afterAll(() => {
  for (const h of hosts) fs.rmSync(h.dir, { recursive: true, force: true });
});

/** Path under the host's root. */
const at = (h: Host, p: string) => path.join(h.root, p);
const log = (h: Host, name: string) => path.join(h.state, `${name}.log`);
const readLog = (h: Host, name: string) =>
  fs.existsSync(log(h, name))
    ? fs.readFileSync(log(h, name), "utf8").split("\n").filter(Boolean)
    : [];
function clearLogs(h: Host) {
  for (const f of fs.readdirSync(h.state)) if (f.endsWith(".log")) fs.rmSync(path.join(h.state, f));
}

function file(p: string, content: string, extra: Record<string, unknown> = {}) {
  return {
    path: p,
    mode: "0644",
    owner: "root:root",
    sha256: sha(content),
    content,
    activate: { kind: "none" },
    ...extra,
  };
}

/** A gateway-like bundle: one app file reloaded on change, the sysctl and modules-load files, one unit. */
function bundle(h: Host, overrides: Record<string, unknown> = {}): any {
  return {
    format: 1,
    stack: "test",
    host: "test-vm-gw01",
    tier: "gateway",
    packages: ["frr", "haproxy"],
    downloads: [],
    modules: ["ip_vs"],
    sysctls: [
      { key: "net.ipv4.ip_forward", value: "1" },
      { key: "net.ipv4.vs.conntrack", value: "1" },
    ],
    services: ["app"],
    files: [
      file("/etc/app/app.conf", "v1\n", {
        mode: "0640",
        checker: { name: "app", command: `echo checked {file} >> ${h.state}/checker.log` },
        activate: { kind: "reload", service: "app" },
      }),
      file(
        "/etc/sysctl.d/60-maglev-infra.conf",
        "net.ipv4.ip_forward = 1\nnet.ipv4.vs.conntrack = 1\n",
      ),
      file("/etc/modules-load.d/maglev-infra.conf", "ip_vs\n"),
    ],
    drain: {
      drain: `echo drain >> ${h.state}/drain.log`,
      undrain: `echo undrain >> ${h.state}/undrain.log`,
    },
    health: { command: "true", timeoutSeconds: 5, description: "app answers" },
    ...overrides,
  };
}

function apply(h: Host, b: unknown, args: string[] = []) {
  const bundlePath = path.join(h.dir, `bundle-${++h.runs}.json`);
  fs.writeFileSync(bundlePath, JSON.stringify(b, null, 2));
  const r = spawnSync(
    "/usr/bin/python3",
    [PROGRAM, "--bundle", bundlePath, "--root", h.root, ...args],
    {
      encoding: "utf8",
      timeout: 30000,
      env: {
        ...process.env,
        PATH: `${h.bin}:${process.env.PATH}`,
        FAKE_STATE: h.state,
        FAKE_ROOT: h.root,
      },
    },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: r.stdout + r.stderr };
}

const generations = (h: Host) => fs.readdirSync(at(h, "var/lib/maglev-infra/generations")).sort();
const current = (h: Host) => fs.readlinkSync(at(h, "var/lib/maglev-infra/current"));
const modeOf = (p: string) => (fs.statSync(p).mode & 0o7777).toString(8);

/** A host that took bundle(h) once. */
function appliedHost(): Host {
  const h = makeHost();
  const r = apply(h, bundle(h));
  if (r.code !== 0) throw new Error(`first apply failed: ${r.all}`);
  clearLogs(h);
  return h;
}

function withApp(h: Host, content: string, extra: Record<string, unknown> = {}) {
  const b = bundle(h, extra);
  b.files[0] = { ...b.files[0], content, sha256: sha(content) };
  return b;
}

describe("maglev-apply: a first apply", () => {
  it("GIVEN an empty root WHEN the bundle is applied THEN files, sysctls, services, generation 1, applied records; phases in order", () => {
    // GIVEN a fresh host on which haproxy is not installed yet
    const h = makeHost();
    fs.writeFileSync(path.join(h.state, "missing/haproxy"), "");
    const b = bundle(h);
    // WHEN
    const r = apply(h, b);
    // THEN
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.map((l) => /^maglev-apply: (\w+):/.exec(l)?.[1])).toEqual([...PHASES, undefined]);
    expect(lines[lines.length - 1]).toBe(
      "maglev-apply: applied generation 1 (3 files changed, 0 removed)",
    );
    // Where the time went: every phase once, in order, and a total that is their sum.
    const t = /^maglev-apply: timings: (.*); total (\d+\.\d)s$/.exec(lines[lines.length - 2])!;
    const each = t[1].split(", ").map((x) => /^(\w+) (\d+\.\d)s$/.exec(x)!);
    expect(each.map((x) => x[1])).toEqual(PHASES.filter((x) => x !== "timings"));
    const sum = each.reduce((a, x) => a + Number(x[2]), 0);
    expect(Math.abs(sum - Number(t[2]))).toBeLessThanOrEqual(0.1 * each.length);
    // Only the missing package, with the lock timeout, non-interactive.
    expect(readLog(h, "apt-get")).toEqual([
      "DEBIAN_FRONTEND=noninteractive -o DPkg::Lock::Timeout=600 update -qq",
      "DEBIAN_FRONTEND=noninteractive -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends haproxy",
    ]);
    const app = at(h, "etc/app/app.conf");
    expect(fs.readFileSync(app, "utf8")).toBe("v1\n");
    expect(modeOf(app)).toBe("640");
    expect([fs.statSync(app).uid, fs.statSync(app).gid]).toEqual([0, 0]);
    expect(fs.readFileSync(at(h, "etc/modules-load.d/maglev-infra.conf"), "utf8")).toBe("ip_vs\n");
    expect(fs.existsSync(at(h, "etc/app/app.conf.maglev-infra-new"))).toBe(false);
    // sysctls: ip_vs loaded for its key, both values written
    expect(readLog(h, "modprobe")).toEqual(["ip_vs"]);
    expect(fs.readFileSync(at(h, "proc/sys/net/ipv4/ip_forward"), "utf8").trim()).toBe("1");
    expect(fs.readFileSync(at(h, "proc/sys/net/ipv4/vs/conntrack"), "utf8").trim()).toBe("1");
    // services
    expect(readLog(h, "systemctl")).toEqual([
      "show -p UnitFileState -p ActiveState app",
      "reload-or-restart app",
      "enable --now app",
    ]);
    expect(fs.existsSync(path.join(h.state, "enabled/app"))).toBe(true);
    // the generation, committed
    expect(current(h)).toBe("generations/1");
    const gen = at(h, "var/lib/maglev-infra/generations/1");
    expect(fs.readFileSync(path.join(gen, "bundle.json"), "utf8")).toBe(JSON.stringify(b, null, 2));
    expect(modeOf(path.join(gen, "maglev-apply"))).toBe("755");
    expect(fs.readFileSync(path.join(gen, "maglev-apply"))).toEqual(fs.readFileSync(PROGRAM));
    expect(fs.readFileSync(path.join(gen, "files/etc-app-app.conf"), "utf8")).toBe("v1\n");
    expect(modeOf(gen)).toBe("711");
    expect(modeOf(path.join(gen, "files"))).toBe("711");
    expect(JSON.parse(fs.readFileSync(path.join(gen, "previous.json"), "utf8"))[0]).toMatchObject({
      path: "/etc/app/app.conf",
      existed: false,
    });
    // applied records: planned sha256, live sha256
    const applied = at(h, "var/lib/maglev-infra/applied");
    expect(modeOf(applied)).toBe("700");
    expect(fs.readFileSync(path.join(applied, "etc-app-app.conf"), "utf8")).toBe(
      `${sha("v1\n")} ${sha("v1\n")}\n`,
    );
    expect(fs.readdirSync(applied).sort()).toEqual([
      "etc-app-app.conf",
      "etc-modules-load.d-maglev-infra.conf",
      "etc-sysctl.d-60-maglev-infra.conf",
    ]);
    expect(readLog(h, "drain")).toEqual(["drain"]);
    expect(readLog(h, "undrain")).toEqual(["undrain"]);
  });

  it("GIVEN cloud-init still running WHEN applied with --wait-timeout 1 THEN it fails with exit 1 before anything else", () => {
    const h = makeHost();
    fs.mkdirSync(at(h, "usr/bin"), { recursive: true });
    fs.writeFileSync(at(h, "usr/bin/cloud-init"), "");
    const r = apply(h, bundle(h), ["--wait-timeout", "1"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("maglev-apply: FAILED in wait: cloud-init did not finish within 1s");
    expect(readLog(h, "dpkg-query")).toEqual([]);
    expect(fs.existsSync(at(h, "etc/app/app.conf"))).toBe(false);
  });
});

describe("maglev-apply: an unchanged host", () => {
  it("GIVEN a host that took the bundle WHEN the same bundle is applied again THEN unchanged, no checker, no drain, no reload", () => {
    // GIVEN
    const h = appliedHost();
    const gens = at(h, "var/lib/maglev-infra/generations");
    const before = fs.statSync(gens).mtimeMs;
    // WHEN
    const r = apply(h, bundle(h));
    // THEN
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n").pop()).toBe("maglev-apply: unchanged");
    // Nothing written, not even a generation made and dropped again (a file and an fsync each).
    expect(fs.statSync(gens).mtimeMs).toBe(before);
    expect(readLog(h, "checker")).toEqual([]);
    expect(readLog(h, "drain")).toEqual([]);
    expect(readLog(h, "undrain")).toEqual([]);
    expect(readLog(h, "systemctl")).toEqual(["show -p UnitFileState -p ActiveState app"]);
    expect(readLog(h, "apt-get")).toEqual([]);
    expect(readLog(h, "modprobe")).toEqual([]);
    expect(generations(h)).toEqual(["1"]);
    expect(current(h)).toBe("generations/1");
  });

  it("GIVEN the unit was stopped WHEN applied again THEN only `enable --now` of that unit (no file activation)", () => {
    const h = appliedHost();
    fs.rmSync(path.join(h.state, "active/app"));
    const r = apply(h, bundle(h));
    expect(r.code).toBe(0);
    expect(readLog(h, "systemctl")).toEqual([
      "show -p UnitFileState -p ActiveState app",
      "enable --now app",
    ]);
    expect(r.stdout).toContain("maglev-apply: applied generation 2 (0 files changed, 0 removed)");
  });
});

describe("maglev-apply: activations of a change", () => {
  /** Files for services a and b: a reloads a, b1 reloads b, b2 restarts b (then), b3 reloads b (then), c1/c2 run one command. */
  function multi(h: Host, v: Record<string, string>) {
    const then = (s: string) => `echo ${s} >> ${h.state}/then.log`;
    return bundle(h, {
      services: [],
      files: [
        file("/etc/a.conf", v.a ?? "a\n", { activate: { kind: "reload", service: "a" } }),
        file("/etc/b1.conf", v.b1 ?? "b1\n", { activate: { kind: "reload", service: "b" } }),
        file("/etc/b2.conf", v.b2 ?? "b2\n", {
          activate: { kind: "restart", service: "b", then: then("then-b2") },
        }),
        file("/etc/b3.conf", v.b3 ?? "b3\n", {
          activate: { kind: "reload", service: "b", then: then("then-b3") },
        }),
        file("/etc/c1.conf", v.c1 ?? "c1\n", {
          activate: { kind: "command", command: `echo cmd >> ${h.state}/cmd.log` },
        }),
        file("/etc/c2.conf", v.c2 ?? "c2\n", {
          activate: { kind: "command", command: `echo cmd >> ${h.state}/cmd.log` },
        }),
      ],
    });
  }

  it("GIVEN one file changed WHEN applied THEN only that file's activation runs (a reload of its service)", () => {
    const h = makeHost();
    expect(apply(h, multi(h, {})).code).toBe(0);
    clearLogs(h);
    const r = apply(h, multi(h, { a: "a changed\n" }));
    expect(r.code).toBe(0);
    expect(readLog(h, "systemctl")).toEqual(["reload-or-restart a"]);
    expect(readLog(h, "then")).toEqual([]);
    expect(readLog(h, "cmd")).toEqual([]);
    expect(r.stdout).toContain("(1 files changed, 0 removed)");
  });

  it("GIVEN a reload and a restart of one service (and one command twice) in a change WHEN applied THEN one restart, each `then` once in order, the command once", () => {
    const h = makeHost();
    expect(apply(h, multi(h, {})).code).toBe(0);
    clearLogs(h);
    const r = apply(h, multi(h, { b1: "x\n", b2: "x\n", b3: "x\n", c1: "x\n", c2: "x\n" }));
    expect(r.code).toBe(0);
    expect(readLog(h, "systemctl")).toEqual(["restart b"]);
    expect(readLog(h, "then")).toEqual(["then-b2", "then-b3"]);
    expect(readLog(h, "cmd")).toEqual(["cmd"]);
  });

  it("GIVEN only the mode of a file changed WHEN applied THEN it counts as a change and the mode is set", () => {
    const h = appliedHost();
    fs.chmodSync(at(h, "etc/app/app.conf"), 0o666);
    const r = apply(h, bundle(h));
    expect(r.code).toBe(0);
    expect(modeOf(at(h, "etc/app/app.conf"))).toBe("640");
    expect(readLog(h, "systemctl")).toContain("reload-or-restart app");
  });
});

describe("maglev-apply: checker failure", () => {
  it("GIVEN a staged file its checker rejects WHEN applied THEN exit 1 with the checker's words, live files untouched, not drained", () => {
    // GIVEN
    const h = appliedHost();
    const b = withApp(h, "v2 broken\n");
    b.files[0].checker = {
      name: "app",
      command: `echo "line 1: unknown directive in $(basename {file})"; exit 1`,
    };
    // WHEN
    const r = apply(h, b);
    // THEN
    expect(r.code).toBe(1);
    expect(r.all).toContain("line 1: unknown directive in etc-app-app.conf");
    expect(r.stdout).toContain(
      "maglev-apply: FAILED in check: checker app rejected /etc/app/app.conf",
    );
    expect(fs.readFileSync(at(h, "etc/app/app.conf"), "utf8")).toBe("v1\n");
    expect(readLog(h, "drain")).toEqual([]);
    expect(readLog(h, "systemctl")).toEqual(["show -p UnitFileState -p ActiveState app"]);
    expect(generations(h)).toEqual(["1"]);
    expect(current(h)).toBe("generations/1");
  });
});

describe("maglev-apply: rollback", () => {
  it("GIVEN a change that fails the health gate WHEN applied THEN the file, activation and sysctl are rolled back, undrained, exit 2", () => {
    // GIVEN a probe that passes only with v1 live, and a change to v2 that also turns ip_forward off
    const h = makeHost();
    const health = {
      command: `echo "app said: $(cat ${h.root}/etc/app/app.conf)"; grep -q v1 ${h.root}/etc/app/app.conf`,
      timeoutSeconds: 1,
      description: "app answers v1",
    };
    expect(apply(h, bundle(h, { health })).code).toBe(0);
    clearLogs(h);
    const b = withApp(h, "v2\n", { health });
    b.sysctls[0].value = "0";
    // WHEN
    const r = apply(h, b);
    // THEN
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("health gate failed after");
    expect(r.stderr).toContain("app answers v1");
    expect(r.stderr).toContain("app said: v2");
    expect(r.stdout.trim().split("\n").pop()).toMatch(
      /^maglev-apply: FAILED in health: health gate failed after \d+s: app answers v1 .*; rolled back \(health after rollback: ok\)$/,
    );
    expect(fs.readFileSync(at(h, "etc/app/app.conf"), "utf8")).toBe("v1\n");
    expect(modeOf(at(h, "etc/app/app.conf"))).toBe("640");
    expect(fs.readFileSync(at(h, "proc/sys/net/ipv4/ip_forward"), "utf8").trim()).toBe("1");
    // the reload for v2, and again for the restored v1
    expect(readLog(h, "systemctl").filter((l) => l === "reload-or-restart app")).toHaveLength(2);
    expect(readLog(h, "drain")).toEqual(["drain"]);
    // once in the undrain phase before the gate, once more by the rollback
    expect(readLog(h, "undrain")).toEqual(["undrain", "undrain"]);
    expect(current(h)).toBe("generations/1");
    expect(generations(h)).toEqual(["1"]);
  });

  it("GIVEN a change whose activation fails (and a new file) WHEN applied THEN both files are put back, the activation re-run, undrained, exit 2", () => {
    // GIVEN an app that refuses to start unless its config says v1
    const h = makeHost();
    const conf = `${h.root}/etc/app/app.conf`;
    const activate = {
      kind: "command",
      command: `grep -q v1 ${conf} || { echo "app: cannot start with $(cat ${conf})"; exit 3; }`,
    };
    const b1 = bundle(h);
    b1.files[0].activate = activate;
    expect(apply(h, b1).code).toBe(0);
    clearLogs(h);
    const b2 = withApp(h, "v2\n");
    b2.files[0].activate = activate;
    b2.files.push(file("/etc/extra/new.conf", "new\n"));
    // WHEN
    const r = apply(h, b2);
    // THEN
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("app: cannot start with v2");
    expect(r.stdout).toMatch(
      /FAILED in activate: activation `grep .*` failed \(exit 3: \| app: cannot start with v2\); rolled back \(health after rollback: ok\)$/m,
    );
    expect(fs.readFileSync(conf, "utf8")).toBe("v1\n");
    expect(fs.existsSync(at(h, "etc/extra/new.conf"))).toBe(false);
    expect(readLog(h, "drain")).toEqual(["drain"]);
    expect(readLog(h, "undrain")).toEqual(["undrain"]);
    expect(current(h)).toBe("generations/1");
    expect(generations(h)).toEqual(["1"]);
  });

  it("GIVEN an activation that fails even for the restored file WHEN applied THEN exit 3, said so, the generation with its backups kept", () => {
    const h = appliedHost();
    const b = withApp(h, "v2\n");
    b.files[0].activate = { kind: "command", command: "echo always broken; exit 1" };
    const r = apply(h, b);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(
      /FAILED in activate: .*; ROLLBACK FAILED: .*always broken.*; backups kept in .*generations\/2/,
    );
    expect(fs.readFileSync(at(h, "etc/app/app.conf"), "utf8")).toBe("v1\n");
    expect(
      fs.readFileSync(
        at(h, "var/lib/maglev-infra/generations/2/previous/etc-app-app.conf"),
        "utf8",
      ),
    ).toBe("v1\n");
    expect(readLog(h, "undrain")).toEqual(["undrain"]);
    expect(current(h)).toBe("generations/1");
  });
});

describe("maglev-apply: rollback of a file that did not exist before", () => {
  it("GIVEN a new file whose activation loads it by path WHEN the health gate fails THEN the file is deleted, its loader not run on the missing file, exit 2", () => {
    // GIVEN a host on bundle(h), then a change adding a firewall-like file (`load F` reads F)
    const h = appliedHost();
    const fw = `${h.root}/etc/maglev-infra/firewall.nft`;
    const b = bundle(h, {
      health: {
        command: `! [ -e ${fw} ] || { echo "unhealthy with the new file"; exit 1; }`,
        timeoutSeconds: 1,
        description: "healthy without it",
      },
    });
    b.files.push(
      file("/etc/maglev-infra/firewall.nft", "table inet t {}\n", {
        activate: { kind: "command", command: `cat ${fw} >> ${h.state}/loaded.log` },
      }),
    );
    // WHEN
    const r = apply(h, b);
    // THEN rolled back cleanly (not "ROLLBACK FAILED" because the loader could not find its file)
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/FAILED in health: .*; rolled back \(health after rollback: ok\)$/m);
    expect(fs.existsSync(fw)).toBe(false);
    // loaded once, by the apply; not again by the rollback
    expect(readLog(h, "loaded")).toEqual(["table inet t {}"]);
    expect(current(h)).toBe("generations/1");
  });
});

describe("maglev-apply: records of the files it created (for a teardown)", () => {
  it("GIVEN a host with a package's file WHEN a plan creates one file and takes over the other THEN only the new one is recorded as created; a plan without it drops the record", () => {
    // GIVEN
    const h = makeHost();
    fs.mkdirSync(at(h, "etc/app"), { recursive: true });
    fs.writeFileSync(at(h, "etc/app/app.conf"), "the package's own\n");
    const b1 = bundle(h);
    b1.files.push(file("/etc/app/extra.conf", "ours\n"));
    // WHEN
    expect(apply(h, b1).code).toBe(0);
    // THEN
    const created = at(h, "var/lib/maglev-infra/created");
    expect(fs.readdirSync(created).sort()).toEqual([
      "etc-app-extra.conf",
      "etc-modules-load.d-maglev-infra.conf",
      "etc-sysctl.d-60-maglev-infra.conf",
    ]);
    expect(fs.readFileSync(path.join(created, "etc-app-extra.conf"), "utf8")).toBe(
      "/etc/app/extra.conf\n",
    );
    // WHEN a later plan drops extra.conf THEN its record goes with it; a failed apply records nothing
    expect(apply(h, bundle(h)).code).toBe(0);
    expect(fs.readdirSync(created)).not.toContain("etc-app-extra.conf");
    const bad = bundle(h, {
      health: { command: "exit 1", timeoutSeconds: 1, description: "never" },
    });
    bad.files.push(file("/etc/app/extra.conf", "ours\n"));
    expect(apply(h, bad).code).toBe(2);
    expect(fs.readdirSync(created)).not.toContain("etc-app-extra.conf");
  });
});

describe("maglev-apply: removed files", () => {
  it("GIVEN a file of generation 1 no longer in the bundle WHEN applied THEN it is deleted (backed up); a file the program never created stays", () => {
    // GIVEN
    const h = makeHost();
    const b1 = bundle(h);
    b1.files.push(
      file("/etc/app/old.conf", "old\n", { activate: { kind: "reload", service: "old" } }),
    );
    expect(apply(h, b1).code).toBe(0);
    fs.writeFileSync(at(h, "etc/app/mine.conf"), "hand-made\n");
    clearLogs(h);
    // WHEN
    const r = apply(h, bundle(h));
    // THEN
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("maglev-apply: applied generation 2 (0 files changed, 1 removed)");
    expect(fs.existsSync(at(h, "etc/app/old.conf"))).toBe(false);
    expect(fs.readFileSync(at(h, "etc/app/mine.conf"), "utf8")).toBe("hand-made\n");
    expect(readLog(h, "systemctl")).toContain("reload-or-restart old");
    expect(fs.existsSync(at(h, "var/lib/maglev-infra/applied/etc-app-old.conf"))).toBe(false);
    const gen = at(h, "var/lib/maglev-infra/generations/2");
    expect(JSON.parse(fs.readFileSync(path.join(gen, "previous.json"), "utf8"))).toEqual([
      {
        path: "/etc/app/old.conf",
        existed: true,
        mode: "0644",
        owner: "root:root",
        uid: 0,
        gid: 0,
      },
    ]);
    expect(fs.readFileSync(path.join(gen, "previous/etc-app-old.conf"), "utf8")).toBe("old\n");
    // WHEN applied once more THEN unchanged: the removed file is not looked for again, mine.conf stays
    expect(apply(h, bundle(h)).stdout).toContain("maglev-apply: unchanged");
    expect(fs.existsSync(at(h, "etc/app/mine.conf"))).toBe(true);
  });
});

describe("maglev-apply: secrets", () => {
  const VALUES = {
    haproxyStatsPassword: 'Hp"ss\\w$rd-0x1',
    luaKey: 'Lu"a\\k\ney\r\x01z-0x2',
    phpPass: "Ph'p\\pass-0x3",
    yamlPass: 'Ya"ml\\\x07-0x4',
    pdnsKey: "PdnsApiKey-0x5",
  };
  function secretFiles(h: Host, values: Record<string, string> = VALUES, checker?: string) {
    fs.mkdirSync(at(h, "etc/maglev-infra"), { recursive: true });
    fs.writeFileSync(at(h, "etc/maglev-infra/secrets.json"), JSON.stringify(values), {
      mode: 0o600,
    });
    const s = (key: string, syntax: string) => ({ secrets: { keys: [key], syntax } });
    return bundle(h, {
      services: [],
      files: [
        file("/etc/haproxy/haproxy.cfg", 'stats auth admin:"{{secret:haproxyStatsPassword}}"\n', {
          ...s("haproxyStatsPassword", "haproxy-dq"),
          mode: "0640",
          ...(checker ? { checker: { name: "haproxy", command: checker } } : {}),
        }),
        file("/etc/dnsdist/key.lua", 'local k = "{{secret:luaKey}}"\n', s("luaKey", "lua-dq")),
        file("/var/www/config.php", "$p = '{{secret:phpPass}}';\n", s("phpPass", "php-sq")),
        file("/etc/app/secret.yaml", 'password: "{{secret:yamlPass}}"\n', s("yamlPass", "yaml-dq")),
        file("/etc/powerdns/pdns.conf", "api-key={{secret:pdnsKey}}\n", {
          ...s("pdnsKey", "line"),
          mode: "0600",
        }),
      ],
    });
  }
  // Every value ends in a tag ("-0x1") that survives any escaping: finding it is a leak of some form.
  const leaks = (text: string, values: Record<string, string>) =>
    Object.values(values).filter((v) => text.includes(v) || text.includes(v.slice(-4)));

  it("GIVEN a value for each syntax WHEN applied THEN each is escaped for its file, and printed nowhere", () => {
    const h = makeHost();
    const r = apply(h, secretFiles(h));
    expect(r.code).toBe(0);
    expect(fs.readFileSync(at(h, "etc/haproxy/haproxy.cfg"), "utf8")).toBe(
      'stats auth admin:"Hp\\"ss\\\\w\\$rd-0x1"\n',
    );
    expect(fs.readFileSync(at(h, "etc/dnsdist/key.lua"), "utf8")).toBe(
      'local k = "Lu\\"a\\\\k\\ney\\r\\001z-0x2"\n',
    );
    expect(fs.readFileSync(at(h, "var/www/config.php"), "utf8")).toBe(
      "$p = 'Ph\\'p\\\\pass-0x3';\n",
    );
    expect(fs.readFileSync(at(h, "etc/app/secret.yaml"), "utf8")).toBe(
      'password: "Ya\\"ml\\\\\\x07-0x4"\n',
    );
    expect(fs.readFileSync(at(h, "etc/powerdns/pdns.conf"), "utf8")).toBe(
      "api-key=PdnsApiKey-0x5\n",
    );
    expect(modeOf(at(h, "etc/powerdns/pdns.conf"))).toBe("600");
    // The staged copy and the applied record hold the filled file; the bundle copy only placeholders.
    const gen = at(h, "var/lib/maglev-infra/generations/1");
    expect(fs.readFileSync(path.join(gen, "bundle.json"), "utf8")).not.toContain("PdnsApiKey");
    expect(
      fs.readFileSync(at(h, "var/lib/maglev-infra/applied/etc-powerdns-pdns.conf"), "utf8"),
    ).toBe(`${sha("api-key={{secret:pdnsKey}}\n")} ${sha("api-key=PdnsApiKey-0x5\n")}\n`);
    expect(leaks(r.all, VALUES)).toEqual([]);
    // unchanged on the next run: the comparison is with the filled content
    expect(apply(h, secretFiles(h)).stdout).toContain("maglev-apply: unchanged");
  });

  it("GIVEN a checker that echoes the filled file WHEN it fails THEN its output shows the placeholder, never the value", () => {
    const h = makeHost();
    const r = apply(h, secretFiles(h, VALUES, "cat {file}; exit 1"));
    expect(r.code).toBe(1);
    expect(r.all).toContain('stats auth admin:"{{secret:haproxyStatsPassword}}"');
    expect(leaks(r.all, VALUES)).toEqual([]);
  });

  it.each([
    ["line", "pdnsKey", "/etc/powerdns/pdns.conf", "  PdnsSpaced-0x9", "whitespace"],
    ["line", "pdnsKey", "/etc/powerdns/pdns.conf", "PdnsTwo\nLines-0x9", "LF"],
    [
      "haproxy-dq",
      "haproxyStatsPassword",
      "/etc/haproxy/haproxy.cfg",
      "HpNew\nLine-0x9",
      "control characters",
    ],
  ])(
    "GIVEN a %s value it cannot hold WHEN applied THEN exit 1 naming file, placeholder and rule, not the value",
    (_syntax, key, file, value, rule) => {
      const h = makeHost();
      const values = { ...VALUES, [key]: value };
      const r = apply(h, secretFiles(h, values));
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(
        `FAILED in stage: ${file}: placeholder {{secret:${key}}}: value rejected`,
      );
      expect(r.stdout).toContain(rule);
      for (const part of value.trim().split("\n")) expect(r.all).not.toContain(part);
      expect(fs.existsSync(at(h, file.slice(1)))).toBe(false);
      expect(fs.existsSync(at(h, "var/lib/maglev-infra/generations/1"))).toBe(false);
    },
  );

  it("GIVEN the sha256 the bootstrap delivered WHEN the secrets file is another one THEN exit 1, nothing written; the right one applies", () => {
    const h = makeHost();
    const b = secretFiles(h);
    const shaFile = path.join(h.dir, "secrets.sha256");
    fs.writeFileSync(shaFile, `${sha("something else")}\n`);
    const r = apply(h, b, ["--secrets-sha256-file", shaFile]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("is not the one delivered with this apply (sha256 differs)");
    expect(fs.existsSync(at(h, "etc/powerdns/pdns.conf"))).toBe(false);
    expect(leaks(r.all, VALUES)).toEqual([]);
    fs.writeFileSync(shaFile, `${sha(fs.readFileSync(at(h, "etc/maglev-infra/secrets.json")))}\n`);
    expect(apply(h, b, ["--secrets-sha256-file", shaFile]).code).toBe(0);
  });

  it("GIVEN a placeholder of an undeclared key, or no secrets file WHEN applied THEN exit 1 naming them", () => {
    const h = makeHost();
    const b = secretFiles(h);
    b.files[4] = file("/etc/powerdns/pdns.conf", "api-key={{secret:otherKey}}\n", {
      secrets: { keys: ["pdnsKey"], syntax: "line" },
    });
    const r = apply(h, b);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      "/etc/powerdns/pdns.conf: placeholder {{secret:otherKey}} uses a key not declared",
    );
    fs.rmSync(at(h, "etc/maglev-infra/secrets.json"));
    const r2 = apply(h, bundle(h, { files: b.files.slice(0, 1) }));
    expect(r2.code).toBe(1);
    expect(r2.stdout).toContain(
      `secrets file ${at(h, "etc/maglev-infra/secrets.json")} does not exist`,
    );
  });
});

describe("maglev-apply: generations", () => {
  it("GIVEN --keep 2 WHEN four changes are applied THEN the two newest generations stay, non-numeric entries are left alone", () => {
    const h = makeHost();
    const gens = at(h, "var/lib/maglev-infra/generations");
    fs.mkdirSync(path.join(gens, "operator-notes"), { recursive: true });
    fs.writeFileSync(path.join(gens, "README"), "mine\n");
    for (const v of ["v1\n", "v2\n", "v3\n", "v4\n"])
      expect(apply(h, withApp(h, v), ["--keep", "2"]).code).toBe(0);
    expect(generations(h)).toEqual(["3", "4", "README", "operator-notes"]);
    expect(current(h)).toBe("generations/4");
    expect(fs.readFileSync(at(h, "etc/app/app.conf"), "utf8")).toBe("v4\n");
  });
});

describe("maglev-apply: downloads", () => {
  it("GIVEN a pinned binary WHEN applied THEN fetched, verified, mode set; a wrong sha256 fails with name, expected and got", () => {
    const h = makeHost();
    const src = path.join(h.dir, "tool.bin");
    fs.writeFileSync(src, "binary\n");
    const dl = {
      name: "tool",
      url: `file://${src}`,
      sha256: sha("binary\n"),
      path: "/usr/local/bin/tool",
      mode: "0755",
    };
    const r = apply(h, bundle(h, { downloads: [dl] }));
    expect(r.code).toBe(0);
    expect(fs.readFileSync(at(h, "usr/local/bin/tool"), "utf8")).toBe("binary\n");
    expect(modeOf(at(h, "usr/local/bin/tool"))).toBe("755");
    const bad = { ...dl, path: "/usr/local/bin/tool2", sha256: "0".repeat(64) };
    const r2 = apply(h, bundle(h, { downloads: [bad] }));
    expect(r2.code).toBe(1);
    expect(r2.stdout).toContain(
      `download tool: sha256 mismatch: expected ${"0".repeat(64)}, got ${sha("binary\n")}`,
    );
    expect(fs.readdirSync(at(h, "usr/local/bin"))).toEqual(["tool"]);
  });
});

describe("maglev-apply: lint", () => {
  it("GIVEN the program WHEN pyflakes reads it THEN it finds nothing", () => {
    const r = spawnSync("/usr/bin/python3", ["-m", "pyflakes", PROGRAM], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("maglev-apply: variants chosen by an operator's marker", () => {
  const MARK = "/etc/maglev-infra/site-drain.vtysh";
  function withVariant(h: Host) {
    const b = bundle(h);
    b.files[0] = {
      ...b.files[0],
      variants: [
        {
          when: { path: MARK, contains: "drained by" },
          sha256: sha("v1 drained\n"),
          content: "v1 drained\n",
        },
      ],
    };
    return b;
  }
  it("GIVEN no marker THEN the base content; WHEN the marker appears THEN the variant is checked and activated; WHEN it goes THEN back", () => {
    const h = makeHost();
    expect(apply(h, withVariant(h)).code).toBe(0);
    expect(fs.readFileSync(at(h, "etc/app/app.conf"), "utf8")).toBe("v1\n");
    clearLogs(h);
    // An unrelated marker text does not select it.
    fs.mkdirSync(at(h, "etc/maglev-infra"), { recursive: true });
    fs.writeFileSync(at(h, MARK), "! something else\n");
    expect(apply(h, withVariant(h)).stdout).toContain("maglev-apply: unchanged");
    fs.writeFileSync(at(h, MARK), "! Site dc1 drained by `npm run ops -- drain-site`.\n");
    const r = apply(h, withVariant(h));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`/etc/app/app.conf as for ${MARK}`);
    expect(fs.readFileSync(at(h, "etc/app/app.conf"), "utf8")).toBe("v1 drained\n");
    expect(readLog(h, "checker").length).toBe(1);
    expect(readLog(h, "systemctl")).toContain("reload-or-restart app");
    // The record keeps the bundle's (base) sha256 and the live file's: `check` accepts either content.
    expect(fs.readFileSync(at(h, "var/lib/maglev-infra/applied/etc-app-app.conf"), "utf8")).toBe(
      `${sha("v1\n")} ${sha("v1 drained\n")}\n`,
    );
    expect(apply(h, withVariant(h)).stdout).toContain("maglev-apply: unchanged");
    fs.rmSync(at(h, MARK));
    expect(apply(h, withVariant(h)).code).toBe(0);
    expect(fs.readFileSync(at(h, "etc/app/app.conf"), "utf8")).toBe("v1\n");
  });
  it("GIVEN a variant whose sha256 does not match its content THEN the bundle is refused before anything", () => {
    const h = makeHost();
    const b = withVariant(h);
    b.files[0].variants[0].content = "tampered\n";
    const r = apply(h, b);
    expect(r.code).toBe(1);
    expect(r.all).toContain("a variant's sha256 does not match its content");
    expect(fs.existsSync(at(h, "etc/app/app.conf"))).toBe(false);
  });
});

describe("maglev-apply: a health gate that passes once", () => {
  it("GIVEN a probe that answers once (the old process, right after a reload) and then fails WHEN applied THEN the change is rolled back", () => {
    const h = appliedHost();
    const n = path.join(h.state, "probes");
    const health = {
      command: `c=$(cat ${n} 2>/dev/null || echo 0); echo $((c+1)) > ${n}; [ "$c" = 0 ]`,
      timeoutSeconds: 3,
      description: "app answers",
    };
    const r = apply(h, withApp(h, "v2\n", { health }));
    expect(r.code).toBe(2);
    expect(r.all).toContain("health gate failed");
    expect(fs.readFileSync(at(h, "etc/app/app.conf"), "utf8")).toBe("v1\n");
  });
});

describe("maglev-apply: the health gate's pre-change step (health.before)", () => {
  /** A changed bundle whose checker, pre-change step, drain and probe all log into one file, in the order they run. */
  const ordered = (h: Host, before: string) => {
    const order = path.join(h.state, "order.log");
    const b = withApp(h, "v2\n", {
      drain: { drain: `echo drain >> ${order}`, undrain: `echo undrain >> ${order}` },
      health: {
        command: `echo health >> ${order}`,
        timeoutSeconds: 5,
        description: "app answers",
        before,
      },
    });
    b.files[0].checker = { name: "app", command: `echo check >> ${order}` };
    return b;
  };
  const order = (h: Host) => readLog(h, "order");

  it("GIVEN a change WHEN applied THEN the step runs once, after every checker and before the drain (the record is of the host as it was), and its phase is listed there", () => {
    const h = appliedHost();
    const r = apply(h, ordered(h, `echo record >> ${h.state}/order.log`));
    expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: "" });
    expect(order(h).slice(0, 4)).toEqual(["check", "record", "drain", "undrain"]);
    expect(order(h).filter((l) => l === "record")).toHaveLength(1);
    expect(
      order(h)
        .slice(4)
        .every((l) => l === "health"),
    ).toBe(true);
    const phases = r.stdout
      .trim()
      .split("\n")
      .map((l) => /^maglev-apply: (\w+):/.exec(l)?.[1]);
    expect(phases.slice(phases.indexOf("check"), phases.indexOf("check") + 3)).toEqual([
      "check",
      "record",
      "drain",
    ]);
  });

  it("GIVEN the host took that bundle WHEN applied again THEN unchanged: the step does not run (nothing to compare after)", () => {
    const h = appliedHost();
    const b = ordered(h, `echo record >> ${h.state}/order.log`);
    expect(apply(h, b).code).toBe(0);
    clearLogs(h);
    const r = apply(h, b);
    expect(r.stdout.trim().split("\n").pop()).toBe("maglev-apply: unchanged");
    expect(order(h)).toEqual([]);
  });

  it("GIVEN a step that fails WHEN applied THEN exit 1 naming it, nothing live changed, not drained", () => {
    const h = appliedHost();
    const r = apply(h, ordered(h, `echo no record; exit 3`));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      "maglev-apply: FAILED in record: the health gate's pre-change step failed",
    );
    expect(r.all).toContain("no record");
    expect(order(h)).toEqual(["check"]);
    expect(fs.readFileSync(at(h, "etc/app/app.conf"), "utf8")).toBe("v1\n");
    expect(generations(h)).toEqual(["1"]);
  });
});

describe("maglev-apply: packages from dpkg's own database", () => {
  it("GIVEN /var/lib/dpkg/status WHEN applied THEN it is read without dpkg-query, and only what it lacks is installed", () => {
    const h = makeHost();
    const stanza = (p: string, st: string) =>
      `Package: ${p}\nStatus: ${st}\nArchitecture: amd64\nVersion: 1\n`;
    fs.mkdirSync(at(h, "var/lib/dpkg"), { recursive: true });
    // frr installed; haproxy known but only its config files left (removed): missing.
    fs.writeFileSync(
      at(h, "var/lib/dpkg/status"),
      [stanza("frr", "install ok installed"), stanza("haproxy", "deinstall ok config-files")].join(
        "\n",
      ),
    );
    const r = apply(h, bundle(h));
    expect(r.code).toBe(0);
    expect(readLog(h, "dpkg-query")).toEqual([]);
    expect(readLog(h, "apt-get").find((l) => l.includes(" install "))).toMatch(
      /--no-install-recommends haproxy$/,
    );
  });
});

describe("maglev-apply: keys of an interface the apply brings up", () => {
  const KEY = "net.ipv4.conf.ingress0.arp_ignore";
  function withIngress(h: Host, createsInterface: boolean) {
    const b = bundle(h);
    b.sysctls.push({ key: KEY, value: "1" });
    // The netplan activation of a fresh VM: it creates ingress0 (here: its /proc/sys dir).
    const mk = `mkdir -p ${h.root}/proc/sys/net/ipv4/conf/ingress0 && echo 0 > ${h.root}/proc/sys/net/ipv4/conf/ingress0/arp_ignore`;
    b.files.push(
      file("/etc/netplan/60-maglev-infra.yaml", "network: {version: 2}\n", {
        activate: { kind: "command", command: createsInterface ? mk : "true" },
      }),
    );
    return b;
  }
  it("GIVEN a fresh VM without ingress0 WHEN applied THEN the interface's keys are written after the activation that creates it", () => {
    const h = makeHost();
    const r = apply(h, withIngress(h, true));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/sysctls: .*1 of interfaces not up yet/);
    expect(
      fs.readFileSync(at(h, "proc/sys/net/ipv4/conf/ingress0/arp_ignore"), "utf8").trim(),
    ).toBe("1");
  });
  it("GIVEN an interface no activation creates WHEN applied THEN it fails naming the key and rolls back", () => {
    const h = makeHost();
    const r = apply(h, withIngress(h, false));
    expect(r.code).toBe(2);
    expect(r.all).toContain(
      `sysctl ${KEY} does not exist under /proc/sys (its interface was not created by the activations)`,
    );
  });
});

describe("maglev-apply: a file that was there before the first apply", () => {
  it("GIVEN a package's config the plan took over WHEN a later plan drops it THEN the package's original is put back, not deleted", () => {
    const h = makeHost();
    fs.mkdirSync(at(h, "etc/pkg"), { recursive: true });
    fs.writeFileSync(at(h, "etc/pkg/pkg.conf"), "# the package's default\n", { mode: 0o640 });
    const b = bundle(h);
    b.files.push(file("/etc/pkg/pkg.conf", "ours\n"));
    expect(apply(h, b).code).toBe(0);
    expect(fs.readFileSync(at(h, "etc/pkg/pkg.conf"), "utf8")).toBe("ours\n");
    // Three more generations: the original outlives the pruned ones.
    for (const v of ["v2\n", "v3\n", "v4\n"]) {
      const n = withApp(h, v);
      n.files.push(file("/etc/pkg/pkg.conf", "ours\n"));
      expect(apply(h, n).code).toBe(0);
    }
    const r = apply(h, withApp(h, "v5\n"));
    expect(r.code).toBe(0);
    expect(fs.readFileSync(at(h, "etc/pkg/pkg.conf"), "utf8")).toBe("# the package's default\n");
    expect(modeOf(at(h, "etc/pkg/pkg.conf"))).toBe("640");
    expect(fs.existsSync(at(h, "var/lib/maglev-infra/originals/etc-pkg-pkg.conf"))).toBe(false);
  });
});

describe("maglev-apply: units a failed apply started", () => {
  it("GIVEN a change that adds a unit file and its unit WHEN the health gate fails THEN the unit is stopped while its file is there, the file deleted, its try-restart not run on the missing unit: exit 2", () => {
    // GIVEN systemd's rule that a unit without its file is "not found"
    const h = appliedHost();
    fs.writeFileSync(path.join(h.state, "strict-units"), "");
    const b = withApp(h, "v2\n", {
      services: ["app", "extra"],
      health: { command: "false", timeoutSeconds: 1, description: "never healthy" },
    });
    b.files.push(
      file("/etc/systemd/system/extra.service", "[Service]\nType=simple\nExecStart=/bin/true\n", {
        activate: {
          kind: "command",
          command: "systemctl daemon-reload && systemctl try-restart extra.service",
        },
      }),
    );
    // WHEN
    const r = apply(h, b);
    // THEN rolled back (exit 2), not "ROLLBACK FAILED: … not found" (exit 3); this gate never passes
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(
      /FAILED in health: .*; rolled back \(health after rollback: failed\)$/m,
    );
    expect(fs.existsSync(at(h, "etc/systemd/system/extra.service"))).toBe(false);
    const calls = readLog(h, "systemctl");
    expect(calls).toContain("disable --now extra");
    expect(calls.filter((c) => c === "try-restart extra.service")).toHaveLength(1); // the apply's, not the rollback's
  });

  it("GIVEN two new unit files whose activations each start with a daemon-reload WHEN applied THEN systemd reloads once, then both units restart", () => {
    // GIVEN
    const h = appliedHost();
    const b = withApp(h, "v2\n", { services: ["app", "one", "two"] });
    for (const u of ["one", "two"])
      b.files.push(
        file(`/etc/systemd/system/${u}.service`, "[Service]\nType=simple\nExecStart=/bin/true\n", {
          activate: {
            kind: "command",
            command: `systemctl daemon-reload && systemctl try-restart ${u}.service`,
          },
        }),
      );
    // WHEN
    const r = apply(h, b);
    // THEN
    expect(r.code).toBe(0);
    const calls = readLog(h, "systemctl");
    const reloads = calls.filter((c) => c === "daemon-reload");
    expect(reloads).toHaveLength(1);
    const at = (c: string) => calls.indexOf(c);
    expect(at("daemon-reload")).toBeLessThan(at("try-restart one.service"));
    expect(at("try-restart one.service")).toBeLessThan(at("try-restart two.service"));
  });

  it("GIVEN a new unit file and a new config file whose activation restarts that unit WHEN the health gate fails THEN the rollback runs no try-restart of the gone unit, only a daemon-reload: exit 2", () => {
    // GIVEN (seen in the lab on a systemd guest: the metrics collector's unit and its
    // metrics.json share `daemon-reload && try-restart`; the rollback ran it for metrics.json)
    const h = appliedHost();
    fs.writeFileSync(path.join(h.state, "strict-units"), "");
    const b = withApp(h, "v2\n", {
      services: ["app", "extra"],
      health: { command: "false", timeoutSeconds: 1, description: "never healthy" },
    });
    const restart = {
      kind: "command" as const,
      command: "systemctl daemon-reload && systemctl try-restart extra.service",
    };
    b.files.push(
      file("/etc/systemd/system/extra.service", "[Service]\nType=simple\nExecStart=/bin/true\n", {
        activate: restart,
      }),
      file("/etc/extra.json", "{}\n", { activate: restart }),
    );
    // WHEN
    const r = apply(h, b);
    // THEN
    expect(r.code).toBe(2);
    expect(r.stdout).not.toMatch(/ROLLBACK FAILED/);
    expect(fs.existsSync(at(h, "etc/extra.json"))).toBe(false);
    const calls = readLog(h, "systemctl");
    expect(calls.filter((c) => c === "try-restart extra.service")).toHaveLength(1);
    expect(calls.filter((c) => c === "daemon-reload").length).toBeGreaterThanOrEqual(2);
  });

  it("GIVEN a change that adds a unit and fails its health gate WHEN rolled back THEN the new unit is disabled and stopped again", () => {
    const h = appliedHost();
    const health = { command: "false", timeoutSeconds: 1, description: "never healthy" };
    const r = apply(h, withApp(h, "v2\n", { services: ["app", "extra"], health }));
    expect(r.code).toBe(2);
    const calls = readLog(h, "systemctl");
    expect(calls).toContain("enable --now extra");
    expect(calls).toContain("disable --now extra");
    expect(calls.filter((c) => c.includes(" app") && /disable|stop/.test(c))).toEqual([]);
    expect(r.stdout).toMatch(/rollback: .*stopped extra/);
  });
});
