/**
 * scripts/packages.txt is the one list of Debian packages: scripts/setup.sh installs it and the
 * lab's prerequisite check asks for it. A package the lab needed but the set-up did not install
 * once made the README's lab command fail on a fresh machine while CI, on a machine that had it
 * by hand, stayed green. So: every binary the code runs or checks for, on this machine or in a
 * lab guest (guests share this machine's root), must come from a package on the list or from
 * one Debian installs everywhere (Priority required / Essential).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadStack } from "../../src/config/load";
import { buildPlans } from "../../src/plan";
import { deriveTopology } from "../../src/topology";
import { packageNames, systemPackages } from "../../lab/packages";
import { shellCommands } from "./shell-words";

const ROOT = path.resolve(__dirname, "../..");
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), "utf8");
const ls = (dir: string, re: RegExp) =>
  fs
    .readdirSync(path.join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => re.test(f))
    .map((f) => path.join(dir, f));

const BUILTINS = new Set(
  (
    ": . [ alias bg bind break builtin caller cd command compgen complete compopt continue declare dirs disown echo enable eval exec exit " +
    "export false fc fg getopts hash help history jobs kill let local logout mapfile popd printf pushd pwd read readarray readonly return " +
    "set shift shopt source suspend test times trap true type typeset ulimit umask unalias unset wait"
  ).split(" "),
);

/**
 * Not Debian packages, on purpose (each with why):
 *   node, npm, npx: the base (Node 20; Debian 12's own nodejs is 18), see README set-up.
 *   tsx: an npm dependency (node_modules/.bin), e.g. the offline k0s checker.
 *   pulumi: Pulumi's own CLI (installer), used by `npm run ops` against a real stack only.
 *   k0s: a pinned download on k0s hosts; here only checked to be absent (test/tiers/k0s.test.ts).
 */
const NOT_DEBIAN: Record<string, string> = {
  node: "the base: Node 20",
  npm: "the base: Node 20",
  npx: "the base: Node 20",
  tsx: "npm dependency",
  pulumi: "Pulumi's CLI",
  k0s: "pinned download on k0s hosts",
  lab_agent: "a function of lab/machine/agent.sh, which lab/init.sh sources",
};

/**
 * Shell scripts the lab builds in variables from pieces (arrays joined, maps over targets),
 * which this test cannot extract reliably: their binaries, kept by hand, each with the file
 * that runs it. A binary no longer named in its file fails the test (drop it here).
 */
const BUILT_SCRIPTS: [string, string][] = [
  ["ip", "lab/scenarios/probes.ts"], // ip monitor route nexthop; ip -j route show
  ["curl", "lab/scenarios/probes.ts"],
  ["tr", "lab/scenarios/probes.ts"],
  ["seq", "lab/scenarios/http-dsr.ts"],
  ["sha256sum", "lab/scenarios/bad-file-refused.ts"],
  ["cut", "lab/scenarios/bad-file-refused.ts"],
  ["pgrep", "lab/scenarios/bad-file-refused.ts"],
  ["ls", "lab/scenarios/bad-file-refused.ts"],
  ["readlink", "lab/scenarios/health-gate-rollback.ts"],
  ["cat", "lab/scenarios/probes.ts"],
  ["paste", "lab/scenarios/haproxy-power-cut.ts"],
  ["touch", "lab/timeline-capture.ts"],
  ["ip", "lab/readiness.ts"],
  ["vtysh", "lab/readiness.ts"],
  ["tr", "lab/readiness.ts"],
  ["ip", "src/daemons/frr/probes.ts"], // ip -j route show (ops' route probes)
  ["vtysh", "src/ops/drain-site.ts"],
  ["ipvsadm", "src/daemons/keepalived/probes.ts"], // ops' IPVS probes
  ["ss", "src/ops/check-rows.ts"],
  ["vtysh", "src/ops/check-rows.ts"],
];

type Uses = Map<string, Set<string>>;
function use(u: Uses, bin: string, where: string): void {
  if (!u.has(bin)) u.set(bin, new Set());
  u.get(bin)!.add(where);
}

/** String literals (quotes or backticks without nesting) in TS source; `${…}` become a placeholder word. */
const LITERAL = /"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'|`((?:[^`\\]|\\.)*)`/;
function unquote(m: RegExpExecArray, at: number): string {
  const s = m[at] ?? m[at + 1] ?? m[at + 2] ?? "";
  return s
    .replace(/\$\{[^}]*\}/g, "X")
    .replace(/\\n/g, "\n")
    .replace(/\\(.)/g, "$1");
}

function collect(): Uses {
  const u: Uses = new Map();

  // (a) Every stack's plans. Checkers run on this machine (`npm run validate`; the offline
  // checker where there is one). Activation, health and drain commands run on the host the
  // plan targets; for the lab stack that is a guest, i.e. this machine's root filesystem.
  for (const f of fs
    .readdirSync(path.join(ROOT, "stacks"))
    .filter((x) => /^Pulumi\..+\.yaml$/.test(x))) {
    const stack = f.replace(/^Pulumi\.|\.yaml$/g, "");
    for (const p of buildPlans(deriveTopology(loadStack(stack, ROOT)))) {
      const own = new Set([...p.files.map((x) => x.path), ...p.downloads.map((d) => d.path)]);
      const add = (cmd: string, what: string) => {
        for (const b of shellCommands(cmd))
          if (!own.has(b)) use(u, b, `stacks/${f} ${p.name} ${what}`);
      };
      for (const file of p.files) {
        if (file.validate)
          add((file.validate.offline ?? file.validate).command, `checker of ${file.path}`);
        if (stack !== "lab") continue;
        // The plan's own shell programs (hactl, pdns-primary-init, …) run in the guests too.
        if (/^#!\/bin\/(ba)?sh\b/.test(file.content) && /[1357]$/.test(file.mode))
          add(file.content, `program ${file.path}`);
        const a = file.activate;
        if (a.kind === "command") add(a.command, `activation of ${file.path}`);
        if ((a.kind === "reload" || a.kind === "restart") && a.then)
          add(a.then, `activation of ${file.path}`);
      }
      if (stack === "lab") {
        if (p.health) add(p.health.command, "health probe");
        if (p.drain) add(`${p.drain.drain}\n${p.drain.undrain}`, "drain");
      }
    }
  }

  // (b) The lab's and the hosts' shell scripts (run here or in guests: lab/lab-frr.sh starts the
  // lab routers' FRR), and the set-up itself.
  for (const f of [
    ...ls("lab", /\.sh$/),
    ...ls("lab/machine", /\.sh$/),
    ...ls("scripts/host", /\.sh$/),
    "scripts/setup.sh",
  ]) {
    for (const b of shellCommands(read(f))) use(u, b, f);
  }
  // Python programs (the apply program and the host scripts run in guests too): run(["x", …]).
  for (const f of [
    "scripts/maglev-apply",
    "scripts/host/exabgp-announce",
    "scripts/host/gateway-health",
    "lab/portscan.py",
  ]) {
    for (const m of read(f).matchAll(
      /\b(?:run|Popen|check_output|check_call|call)\(\s*\[\s*"([^"]+)"/g,
    ))
      use(u, m[1], f);
  }

  // (c) TypeScript: spawn/spawnSync/execFile/execFileSync with a literal program; `sh -c`/
  // `bash -c` literals; the tests' checks for a program (installed("x"), maybe("x")); and the
  // literal scripts given to a lab guest or a host (lab.exec(node, "…"), runner.run(host, "…")).
  const tsFiles = [
    ...ls("lab", /\.ts$/),
    ...ls("src", /\.ts$/),
    ...ls("test", /\.ts$/),
    ...ls("bench", /\.ts$/),
  ].filter((f) => f !== "test/lab/setup-packages.test.ts");
  for (const f of tsFiles) {
    const src = read(f);
    for (const m of src.matchAll(
      new RegExp(`\\b(?:spawn|spawnSync|execFile|execFileSync)\\(\\s*(?:${LITERAL.source})`, "g"),
    )) {
      const prog = unquote(m as RegExpExecArray, 1);
      use(u, prog, f);
      const after = src.slice(m.index! + m[0].length, m.index! + m[0].length + 4000);
      if (/^(\/usr)?(\/bin\/)?(ba|da)?sh$/.test(prog)) {
        const c = new RegExp(`^\\s*,\\s*\\[\\s*"-c"\\s*,\\s*(?:${LITERAL.source})`).exec(after);
        if (c) for (const b of shellCommands(unquote(c, 1))) use(u, b, f);
      }
    }
    // src/ops/check-rows.ts: the probes a host runs, add(key, "command").
    if (f === "src/ops/check-rows.ts")
      for (const m of src.matchAll(
        new RegExp(`\\badd\\(\\s*(?:${LITERAL.source})\\s*,\\s*(?:${LITERAL.source})`, "g"),
      )) {
        for (const b of shellCommands(unquote(m as RegExpExecArray, 4))) use(u, b, f);
      }
    for (const m of src.matchAll(/\b(?:installed|maybe)\(\s*"([^"]+)"\s*\)/g))
      use(u, m[1], `${f} (checks for it)`);
    for (const m of src.matchAll(
      new RegExp(`\\.(?:exec|run)\\(\\s*[\\w.]+\\s*,\\s*(?:${LITERAL.source})`, "g"),
    )) {
      for (const b of shellCommands(unquote(m as RegExpExecArray, 1))) use(u, b, f);
    }
  }

  for (const [b, f] of BUILT_SCRIPTS)
    use(u, b, `${f} (a script built in a variable; listed by hand in this test)`);

  for (const b of [...u.keys()]) {
    if (BUILTINS.has(b) || NOT_DEBIAN[b] !== undefined || b === "X" || b.includes("{file}"))
      u.delete(b);
    // The repo's own scripts (lab/kernel.sh, lab/lab-frr.sh, …) are read above.
    else if (!b.startsWith("/") && (b.includes("/") || /\.(sh|ts|py)$/.test(b))) u.delete(b);
  }
  return u;
}

/** A fresh Debian 12's PATH; /usr/local holds nothing a package installs. */
const SEARCH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
const twin = (p: string) => (p.startsWith("/usr/") ? p.slice(4) : `/usr${p}`); // merged /usr: dpkg knows one of the two

function resolve(bin: string): string | undefined {
  const cands = bin.startsWith("/") ? [bin] : SEARCH.map((d) => path.join(d, bin));
  return cands.find((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  });
}

/** path → owning package (dpkg -S), trying the merged-/usr twin and the symlink's target (alternatives). */
function owners(paths: string[]): Map<string, string> {
  const tries = new Map(
    paths.map((p) => [p, [...new Set([p, twin(p), fs.realpathSync(p), twin(fs.realpathSync(p))])]]),
  );
  const r = spawnSync("dpkg", ["-S", ...new Set([...tries.values()].flat())], { encoding: "utf8" });
  const byPath = new Map<string, string>();
  for (const line of r.stdout.split("\n")) {
    const m = /^([^:\s][^:]*?)(?::[a-z0-9]+)?: (\/.*)$/.exec(line);
    if (m && !line.startsWith("diversion by"))
      byPath.set(m[2], m[1].split(",")[0].trim().replace(/:.*$/, ""));
  }
  const out = new Map<string, string>();
  for (const [p, t] of tries) {
    const o = t.map((x) => byPath.get(x)).find(Boolean);
    if (o) out.set(p, o);
  }
  return out;
}

function baseline(pkgs: string[]): Set<string> {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Package} ${Priority} ${Essential}\\n", ...pkgs], {
    encoding: "utf8",
  });
  return new Set(
    r.stdout
      .split("\n")
      .map((l) => l.split(" "))
      .filter(([, prio, ess]) => prio === "required" || ess === "yes")
      .map(([p]) => p),
  );
}

describe("GIVEN scripts/packages.txt, the one list of Debian packages", () => {
  test("WHEN it is read THEN every entry is one package name, none twice, each in a group", () => {
    const pk = systemPackages();
    expect(pk.length).toBeGreaterThan(20);
    expect(
      pk.filter((p, i) => pk.findIndex((q) => q.name === p.name) !== i).map((p) => p.name),
    ).toEqual([]);
    expect(pk.filter((p) => !p.group).map((p) => `line ${p.line}: ${p.name}`)).toEqual([]);
  });

  test("WHEN the code's binaries are collected THEN each comes from a package on the list or from Debian's required/Essential set", () => {
    const uses = collect();
    // A guard against the extraction silently finding nothing.
    for (const b of [
      "haproxy",
      "keepalived",
      "nft",
      "vtysh",
      "vde_switch",
      "uml_mconsole",
      "wrk",
      "curl",
      "dig",
      "socat",
      "ipvsadm",
      "pdns_server",
      "shellcheck",
    ])
      expect([b, uses.has(b)]).toEqual([b, true]);
    // The lab routers' FRR script is read too (every managed guest runs systemd, no shims).
    expect([...(uses.get("/usr/lib/frr/frr-reload.py") ?? [])]).toContain("lab/lab-frr.sh");
    const list = new Set(packageNames());
    const where = (b: string) => [...uses.get(b)!].sort().join("; ");
    const problems: string[] = [];
    const found = new Map<string, string>();
    for (const b of [...uses.keys()].sort()) {
      const p = resolve(b);
      if (p) found.set(b, p);
      else
        problems.push(
          `${b}: not installed on this machine (no package provides it here); used by ${where(b)}`,
        );
    }
    const own = owners([...new Set(found.values())]);
    const base = baseline([...new Set(own.values())]);
    for (const [b, p] of found) {
      const pkg = own.get(p);
      if (!pkg) problems.push(`${b} (${p}): no Debian package owns it; used by ${where(b)}`);
      else if (!list.has(pkg) && !base.has(pkg))
        problems.push(
          `${b} (${p}) from package ${pkg}: not in scripts/packages.txt; used by ${where(b)}`,
        );
    }
    expect(problems).toEqual([]);
  });

  test("WHEN the lab stack's plans are built THEN every package they install is on the list", () => {
    // The lab's managed guests run systemd from this machine's root: the daemons are their
    // packages' own units, and a package not installed here is in no guest (no apt there).
    const list = new Set(packageNames());
    const plans = buildPlans(deriveTopology(loadStack("lab", ROOT)));
    const missing = plans.flatMap((p) =>
      p.packages.filter((k) => !list.has(k.split(":")[0])).map((k) => `${p.name}: ${k}`),
    );
    expect(plans.flatMap((p) => p.packages)).toContain("keepalived");
    expect(missing).toEqual([]);
  });

  test("WHEN a binary is listed by hand for a built script THEN its file still names it", () => {
    expect(
      BUILT_SCRIPTS.filter(
        ([b, f]) =>
          !new RegExp(`(^|[^\\w-])${b.replace(/[.]/g, "\\.")}([^\\w-]|$)`, "m").test(read(f)),
      ).map(([b, f]) => `${b} in ${f}`),
    ).toEqual([]);
  });

  test("WHEN lab/kernel.sh --deps installs its build dependencies THEN they are the list's kernel-build group", () => {
    const deps = /^DEPS="([^"]*)"/m.exec(read("lab/kernel.sh"))![1].split(/\s+/).filter(Boolean);
    const group = systemPackages()
      .filter((p) => p.group === "kernel-build")
      .map((p) => p.name);
    expect(deps.filter((d) => !group.includes(d))).toEqual([]);
  });
});

describe("GIVEN scripts/setup.sh with apt-get, sudo, id and npm stubbed", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "setup-sh-"));
    fs.mkdirSync(path.join(dir, "bin"));
    const stub = (name: string, body: string) =>
      fs.writeFileSync(path.join(dir, "bin", name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    stub("apt-get", `echo "apt-get uid=$(id -u) $*" >> "$LOG"`);
    stub("sudo", `[ "$1" = -v ] && exit 0; echo "sudo $1" >> "$LOG"; FAKE_UID=0 exec "$@"`);
    stub("id", `echo "\${FAKE_UID:-0}"`);
    stub("npm", `echo "npm $*" >> "$LOG"`);
    stub("node", `case "$1" in -p) echo 20 ;; *) echo v20.0.0 ;; esac`);
    for (const real of ["bash", "grep", "dirname", "env"])
      fs.symlinkSync(resolve(real)!, path.join(dir, "bin", real));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (uid: number, withSudo: boolean) => {
    const log = path.join(dir, `log-${uid}-${withSudo}`);
    const bin = withSudo ? path.join(dir, "bin") : path.join(dir, "nosudo");
    if (!withSudo && !fs.existsSync(bin)) {
      fs.mkdirSync(bin);
      for (const f of fs.readdirSync(path.join(dir, "bin")).filter((f) => f !== "sudo"))
        fs.symlinkSync(path.join(dir, "bin", f), path.join(bin, f));
    }
    const r = spawnSync(path.join(bin, "bash"), [path.join(ROOT, "scripts/setup.sh")], {
      env: { PATH: bin, LOG: log, FAKE_UID: String(uid) },
      encoding: "utf8",
    });
    return { ...r, log: fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [] };
  };
  const listed = packageNames().join(" ");

  test("WHEN run as root THEN apt-get installs exactly the list, without sudo, then npm ci", () => {
    const r = run(0, true);
    expect(r.status).toBe(0);
    expect(r.log).toEqual([
      "apt-get uid=0 update -qq",
      `apt-get uid=0 install -y -qq --no-install-recommends ${listed}`,
      "npm ci --no-audit --no-fund",
    ]);
  });

  test("WHEN run as a user with sudo THEN apt-get runs through sudo, npm ci as the user", () => {
    const r = run(1000, true);
    expect(r.status).toBe(0);
    expect(r.log).toEqual([
      "sudo env",
      "apt-get uid=0 update -qq",
      "sudo env",
      `apt-get uid=0 install -y -qq --no-install-recommends ${listed}`,
      "npm ci --no-audit --no-fund",
    ]);
  });

  test("WHEN run as a user without sudo THEN it installs nothing and says it needs root or sudo", () => {
    const r = run(1000, false);
    expect(r.status).toBe(1);
    expect(r.log).toEqual([]);
    expect(r.stderr).toMatch(/needs root: run this as root .*or install sudo/);
  });
});
