/**
 * The bundle: what one host's apply delivers. Deterministic bytes, every sysctl persisted for
 * a reboot, the archive unpacked by the real `tar`, and the on-host scripts linted.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import { buildPlans, HostPlan } from "../../src/plan";
import { MODULES_FILE, SYSCTL_FILE } from "../../src/plan/base";
import { deriveTopology } from "../../src/topology";
import {
  applyCommand,
  applyStdin,
  bundleArchive,
  bundleSecretKeys,
  compileBundle,
  secretsFileContent,
  ustar,
} from "../../src/bundle";
import { GATEWAY_SESSIONS_BEFORE, gatewaySessionsRecord } from "../../src/tiers/gateway";
import { mgmt02Raw, mustValidate } from "../helpers";

const topo = deriveTopology(mustValidate(mgmt02Raw()));
const plans = buildPlans(topo);
const STACK = topo.env.name;

function unpack(archive: string): Record<string, { mode: number; text: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bundle-"));
  try {
    const r = spawnSync("sh", ["-c", `base64 -d | tar -xzf - -C '${dir}'`], {
      input: archive,
      encoding: "utf8",
    });
    expect(r.status).toBe(0);
    const out: Record<string, { mode: number; text: string }> = {};
    for (const f of fs.readdirSync(dir))
      out[f] = {
        mode: fs.statSync(path.join(dir, f)).mode & 0o777,
        text: fs.readFileSync(path.join(dir, f), "utf8"),
      };
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("GIVEN the mgmt02 plans WHEN compiled into bundles", () => {
  test("THEN the same plan gives the same bytes and sha256, and a one-byte change another sha256", () => {
    for (const p of plans) {
      const a = compileBundle(STACK, p);
      const b = compileBundle(STACK, JSON.parse(JSON.stringify(p)) as HostPlan);
      expect(b.json).toBe(a.json);
      expect(a.sha256).toBe(createHash("sha256").update(a.json).digest("hex"));
      expect(bundleArchive(b, "")).toBe(bundleArchive(a, ""));
    }
    const p = plans[0];
    const changed = {
      ...p,
      files: p.files.map((f, i) => (i === 0 ? { ...f, content: f.content + " " } : f)),
    };
    expect(compileBundle(STACK, changed).sha256).not.toBe(compileBundle(STACK, p).sha256);
  });

  test("THEN a rebooted host comes back configured: every sysctl of every plan is in /etc/sysctl.d, every module its keys need in /etc/modules-load.d", () => {
    let checked = 0;
    for (const p of plans) {
      if (!p.sysctls.length) continue;
      const f = p.files.find((x) => x.path === SYSCTL_FILE);
      expect({ host: p.name, file: !!f }).toEqual({ host: p.name, file: true });
      const lines = f!.content.split("\n").filter((l) => l && !l.startsWith("#"));
      expect(lines).toEqual(p.sysctls.map((s) => `${s.key} = ${s.value}`));
      const modules = [...new Set(p.sysctls.map((s) => s.module).filter(Boolean))];
      const m = p.files.find((x) => x.path === MODULES_FILE);
      if (modules.length)
        expect(m!.content.split("\n").filter((l) => l && !l.startsWith("#"))).toEqual(
          modules.sort(),
        );
      else expect(m).toBeUndefined();
      checked++;
    }
    // Every maglev needs ip_vs at boot (sloppy_tcp, conntrack).
    expect(
      plans
        .filter((p) => p.tier === "maglev")
        .every((p) => p.files.find((f) => f.path === MODULES_FILE)?.content.includes("ip_vs")),
    ).toBe(true);
    expect(checked).toBeGreaterThanOrEqual(topo.gateways.length + topo.maglevs.length);
  });

  test("THEN the archive holds the apply program, bundle.json, the secrets (0600) and their hash, unpacked by the real tar", () => {
    const c = compileBundle(
      STACK,
      plans.find((p) => p.tier === "haproxy")!,
    );
    const secrets = secretsFileContent(["haproxyStatsPassword"], {
      haproxyStatsPassword: "s3cret",
    });
    const files = unpack(bundleArchive(c, secrets));
    expect(Object.keys(files).sort()).toEqual([
      "bundle.json",
      "maglev-apply",
      "secrets.json",
      "secrets.sha256",
    ]);
    expect(files["bundle.json"].text).toBe(c.json);
    expect(files["maglev-apply"].mode).toBe(0o755);
    expect(files["maglev-apply"].text).toBe(
      fs.readFileSync(path.join(__dirname, "../../scripts/maglev-apply"), "utf8"),
    );
    expect(files["secrets.json"]).toEqual({ mode: 0o600, text: secrets });
    expect(files["secrets.sha256"].text).toBe(
      `${createHash("sha256").update(secrets).digest("hex")}\n`,
    );
    // No secrets: no secrets.json, an empty hash (the program checks nothing).
    const none = unpack(bundleArchive(c, ""));
    expect(Object.keys(none).sort()).toEqual(["bundle.json", "maglev-apply", "secrets.sha256"]);
    expect(none["secrets.sha256"].text).toBe("");
  });

  test("THEN a host's apply stdin with secrets is deterministic bytes, holds exactly its plan's keys, and changes with a value", () => {
    const p = plans.find((x) => x.tier === "dnsdist")!;
    const c = compileBundle(STACK, p);
    const keys = bundleSecretKeys(c.bundle);
    expect(keys.length).toBeGreaterThan(0);
    const values = Object.fromEntries([...keys, "unrelatedKey"].map((k) => [k, `value-of-${k}`]));
    const a = applyStdin(c, values);
    expect(applyStdin(compileBundle(STACK, JSON.parse(JSON.stringify(p))), { ...values })).toBe(a);
    expect(JSON.parse(unpack(a)["secrets.json"].text)).toEqual(
      Object.fromEntries(keys.map((k) => [k, `value-of-${k}`])),
    );
    expect(applyStdin(c, { ...values, [keys[0]]: "rotated" })).not.toBe(a);
    expect(() => applyStdin(c, {})).toThrow(/no value for secret/);
    // A host without secrets: the plain archive, whatever values are around.
    const plain = compileBundle(
      STACK,
      plans.find((x) => x.tier === "gateway")!,
    );
    expect(applyStdin(plain, values)).toBe(bundleArchive(plain, ""));
  });

  test("THEN the manifest names each file with mode, owner, sha256 and activation, and no bundle holds a secret value", () => {
    for (const p of plans) {
      const c = compileBundle(STACK, p);
      expect(c.manifest).toHaveLength(p.files.length);
      c.bundle.files.forEach((f, i) =>
        expect(c.manifest[i]).toMatch(
          new RegExp(`^${f.path.replace(/[.]/g, "\\.")} ${f.mode} ${f.owner} [0-9a-f]{64} `),
        ),
      );
      for (const f of c.bundle.files) if (f.secrets) expect(f.content).toContain("{{secret:");
    }
    const withSecrets = plans.filter(
      (p) => bundleSecretKeys(compileBundle(STACK, p).bundle).length,
    );
    expect(withSecrets.map((p) => p.tier)).toEqual(expect.arrayContaining(["haproxy", "dnsdist"]));
  });

  test("THEN a secret file without a syntax for its placeholders is refused", () => {
    const p = plans.find((x) => x.tier === "haproxy")!;
    const bad = {
      ...p,
      files: p.files.map((f) => (f.secretKeys ? { ...f, secretSyntax: undefined } : f)),
    };
    expect(() => compileBundle(STACK, bad)).toThrow(/has secret placeholders but no secretSyntax/);
  });

  test("THEN a gateway's bundle carries its health gate's pre-change step (the record its --before reads), and no other tier's bundle has one", () => {
    for (const p of plans) {
      const h = compileBundle(STACK, p).bundle.health;
      if (p.tier === "gateway") {
        expect(h?.before).toBe(gatewaySessionsRecord());
        expect(h?.command).toContain(` --before ${GATEWAY_SESSIONS_BEFORE}`);
        expect(h?.before).toContain(`> ${GATEWAY_SESSIONS_BEFORE}.new`);
      } else
        expect({ host: p.name, before: h && "before" in h }).toEqual({
          host: p.name,
          before: false,
        });
    }
  });

  test("THEN the secrets file holds exactly the keys asked for, and a missing value fails naming the key", () => {
    expect(secretsFileContent(["b", "a"], { a: "1", b: "2", c: "3" })).toBe('{"a":"1","b":"2"}\n');
    expect(() => secretsFileContent(["a"], {})).toThrow(/no value for secret a/);
  });

  test("THEN the commands run as root through sudo -n for a login user, as they are for root", () => {
    expect(applyCommand("debian")).toMatch(/^sudo -n '\/usr\/bin\/python3' '-I' '-S' '-c' '/);
    expect(applyCommand("root")).not.toMatch(/sudo/);
    expect(applyCommand("debian")).toContain("/etc/maglev-infra");
  });
});

describe("ustar", () => {
  test("GIVEN entries THEN GNU tar lists them with their sizes and modes", () => {
    const tar = ustar([
      { name: "a", mode: 0o644, data: Buffer.from("x".repeat(513)) },
      { name: "b", mode: 0o700, data: Buffer.alloc(0) },
    ]);
    const r = spawnSync("tar", ["-tvf", "-"], { input: tar, encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^-rw-r--r-- root\/root\s+513 .* a\n-rwx------ root\/root\s+0 .* b\n$/,
    );
  });
});

describe("on-host scripts", () => {
  const dir = path.join(__dirname, "../../scripts/host");
  test("GIVEN the shell scripts THEN shellcheck (POSIX sh) finds nothing", () => {
    const sh = fs.readdirSync(dir).filter((f) => f.endsWith(".sh"));
    expect(sh.length).toBeGreaterThanOrEqual(2);
    const r = spawnSync("shellcheck", ["-s", "sh", ...sh.map((f) => path.join(dir, f))], {
      encoding: "utf8",
    });
    expect({ code: r.status, out: r.stdout + r.stderr }).toEqual({ code: 0, out: "" });
  });

  test("GIVEN the Python programs THEN pyflakes finds nothing", () => {
    const r = spawnSync(
      "/usr/bin/python3",
      ["-m", "pyflakes", path.join(dir, "gateway-health"), path.join(dir, "exabgp-announce")],
      { encoding: "utf8" },
    );
    expect({ code: r.status, out: r.stdout + r.stderr }).toEqual({ code: 0, out: "" });
  });
});

describe("gateway-health", () => {
  const prog = path.join(__dirname, "../../scripts/host/gateway-health");
  const run = (doc: unknown, args: string[]) => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gwh-")), "n.json");
    fs.writeFileSync(f, JSON.stringify(doc));
    const r = spawnSync("/usr/bin/python3", [prog, "--json", f, ...args], { encoding: "utf8" });
    fs.rmSync(path.dirname(f), { recursive: true, force: true });
    return { code: r.status, out: r.stdout.trim() };
  };
  const n = (state: string, established = 1) => ({
    bgpState: state,
    connectionsEstablished: established,
  });

  test("GIVEN every session Established THEN healthy", () => {
    expect(
      run({ "10.0.0.1": n("Established"), "10.0.0.9": n("Established") }, [
        "--upstream",
        "10.0.0.1",
        "--maglev",
        "10.0.0.9",
      ]),
    ).toEqual({ code: 0, out: "" });
  });
  test("GIVEN an upstream session down THEN unhealthy, naming it", () => {
    expect(
      run({ "10.0.0.1": n("Active", 0), "10.0.0.9": n("Established") }, [
        "--upstream",
        "10.0.0.1",
        "--maglev",
        "10.0.0.9",
      ]),
    ).toEqual({ code: 1, out: "upstream 10.0.0.1: Active" });
  });
  test("GIVEN a maglev that was up and is not THEN unhealthy; a maglev never connected (first pulumi up) THEN healthy", () => {
    expect(
      run({ "10.0.0.1": n("Established"), "10.0.0.9": n("Connect", 2) }, [
        "--upstream",
        "10.0.0.1",
        "--maglev",
        "10.0.0.9",
      ]).code,
    ).toBe(1);
    expect(
      run({ "10.0.0.1": n("Established"), "10.0.0.9": n("Active", 0) }, [
        "--upstream",
        "10.0.0.1",
        "--maglev",
        "10.0.0.9",
      ]).code,
    ).toBe(0);
  });
  test("GIVEN a session the gateway does not have at all THEN unhealthy", () => {
    expect(
      run({ "10.0.0.1": n("Established") }, ["--upstream", "10.0.0.1", "--maglev", "10.0.0.9"]),
    ).toEqual({ code: 1, out: "maglev 10.0.0.9: not configured" });
  });
});

describe("apply-bootstrap.py", () => {
  // Run as the apply command runs it (applyCommand for root), through a shell.
  const run = (stdin: string, env: Record<string, string> = {}) =>
    spawnSync("sh", ["-c", applyCommand("root")], {
      input: stdin,
      encoding: "utf8",
      env: { ...process.env, ...env },
    });
  const archive = (prog: string, secrets?: string) =>
    require("zlib")
      .gzipSync(
        ustar([
          { name: "maglev-apply", mode: 0o755, data: Buffer.from(prog) },
          { name: "bundle.json", mode: 0o600, data: Buffer.from("{}") },
          {
            name: "secrets.sha256",
            mode: 0o600,
            data: Buffer.from(
              secrets ? `${createHash("sha256").update(secrets).digest("hex")}\n` : "",
            ),
          },
          ...(secrets ? [{ name: "secrets.json", mode: 0o600, data: Buffer.from(secrets) }] : []),
        ]),
      )
      .toString("base64");
  test("GIVEN stdin that is not a whole bundle THEN exit 4 saying nothing was changed", () => {
    const r = run("not base64 at all");
    expect(r.status).toBe(4);
    expect(r.stderr).toContain("the bundle did not arrive whole");
  });
  test("GIVEN an archive cut short, or without the program THEN exit 4 and nothing runs", () => {
    const whole = archive('print("ran")\n');
    const cut = run(whole.slice(0, Math.floor(whole.length / 2)));
    expect({ status: cut.status, out: cut.stdout }).toEqual({ status: 4, out: "" });
    const tgz = (entries: { name: string; data: string }[]) =>
      require("zlib")
        .gzipSync(ustar(entries.map((e) => ({ ...e, mode: 0o644, data: Buffer.from(e.data) }))))
        .toString("base64");
    const noProgram = run(tgz([{ name: "bundle.json", data: "{}" }]));
    expect(noProgram.status).toBe(4);
    expect(noProgram.stderr).toContain("the bundle did not arrive whole");
  });
  test("GIVEN an archive naming paths outside its four files THEN they are never written", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "boot-"));
    try {
      const evil = path.join(root, "evil");
      const tgz = require("zlib")
        .gzipSync(
          ustar([
            { name: "maglev-apply", mode: 0o755, data: Buffer.from("import sys\nsys.exit(0)\n") },
            { name: "bundle.json", mode: 0o600, data: Buffer.from("{}") },
            { name: "secrets.sha256", mode: 0o600, data: Buffer.from("") },
            { name: `../../../../../../..${evil}`, mode: 0o644, data: Buffer.from("x") },
          ]),
        )
        .toString("base64");
      expect(run(tgz).status).toBe(0);
      expect(fs.existsSync(evil)).toBe(false);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
  test("GIVEN a program that exits 2 or 3 THEN the command exits with the same status, its temp dir removed", () => {
    for (const code of [0, 2, 3]) {
      const prog = `#!/usr/bin/python3\nimport os, sys\nprint(os.path.dirname(os.path.abspath(__file__)))\nsys.exit(${code})\n`;
      const r = run(archive(prog));
      expect({ code, status: r.status }).toEqual({ code, status: code });
      expect(fs.existsSync(r.stdout.trim())).toBe(false);
    }
  });
  test("GIVEN an archive with secrets THEN it installs them root-only before the program runs, which is pointed at them and at their hash; nothing printed", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "boot-"));
    try {
      // The program reports what it was given and what it finds.
      const prog = `#!/usr/bin/python3\nimport sys, json, os\na = sys.argv[1:]\ns = a[a.index("--secrets") + 1]\nh = open(a[a.index("--secrets-sha256-file") + 1]).read()\nprint(json.dumps({"secrets": s, "content": open(s).read(), "mode": oct(os.stat(s).st_mode & 0o777), "sha": h.strip()}))\n`;
      const secrets = '{"pdnsApiKey":"very-secret"}\n';
      const r = run(archive(prog, secrets), { MAGLEV_ROOT: root });
      expect({ code: r.status, err: r.stderr }).toEqual({ code: 0, err: "" });
      const seen = JSON.parse(r.stdout);
      expect(seen).toEqual({
        secrets: `${root}/etc/maglev-infra/secrets.json`,
        content: secrets,
        mode: "0o600",
        sha: createHash("sha256").update(secrets).digest("hex"),
      });
      // Only when it differs: the same secrets leave the file as it is (same inode, same mtime).
      const file = path.join(root, "etc/maglev-infra/secrets.json");
      const before = fs.statSync(file);
      expect(run(archive("import sys\nsys.exit(0)\n", secrets), { MAGLEV_ROOT: root }).status).toBe(
        0,
      );
      expect(fs.statSync(file).ino).toBe(before.ino);
      // New values replace it whole (rename: a new inode), still 0600, no temp file left behind.
      const rotated = '{"pdnsApiKey":"rotated"}\n';
      expect(run(archive("import sys\nsys.exit(0)\n", rotated), { MAGLEV_ROOT: root }).status).toBe(
        0,
      );
      expect(fs.readFileSync(file, "utf8")).toBe(rotated);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.readdirSync(path.dirname(file))).toEqual(["secrets.json"]);
      // An archive without secrets (a host that has none) leaves the file alone.
      expect(run(archive("import sys\nsys.exit(0)\n"), { MAGLEV_ROOT: root }).status).toBe(0);
      expect(fs.readFileSync(file, "utf8")).toBe(rotated);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
  test("GIVEN secrets that cannot be installed THEN exit 4, the program never runs, no value printed", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "boot-"));
    try {
      fs.writeFileSync(path.join(root, "etc"), "a file where /etc should be a directory");
      const r = run(archive('print("ran")\n', '{"k":"very-secret"}\n'), { MAGLEV_ROOT: root });
      expect(r.status).toBe(4);
      expect(r.stdout).not.toContain("ran");
      expect(r.stderr).toContain("could not install");
      expect(r.stdout + r.stderr).not.toContain("very-secret");
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
