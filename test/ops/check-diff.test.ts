/**
 * `npm run check -- <stack> --diff`: a drifted file comes back as a unified diff against the
 * plan, with secret values masked on the host by the host's own apply program
 * (scripts/maglev-apply --mask, run for real here against a temp --root that plays the host's
 * filesystem), and --tier / --host limit the hosts. The runner is a fake HostRunner that
 * answers check's probes from that temp root.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { deriveTopology, Topology } from "../../src/topology";
import { buildPlans } from "../../src/plan";
import { loadStack } from "../../src/config/load";
import { APPLIED_DIR, contentSha256, fileSlug, systemd } from "../../src/apply/steps";
import { checkHosts, diffScript, DriftedFile, formatDiffs, HOST_MASKER } from "../../src/ops/check";
import { HOST_SCRIPTS_DIR } from "../../src/plan/scripts";
import { HostPlan } from "../../src/plan/types";
import { HostRunner, RunResult } from "../../src/ops/runner";
import { haproxyQuoted } from "../../src/escape";
import { ROOT } from "../helpers";

const topo: Topology = deriveTopology(loadStack("lab", ROOT));
const plans = buildPlans(topo);
const SECRET = 'Sw0rd"fish\\$x';
const APPLY = path.join(ROOT, "scripts/maglev-apply");

/** The words of a command line, as a shell parses them. */
function words(line: string): string[] {
  const r = spawnSync("bash", ["-c", `words() { printf '%s\\0' "$@"; }; words ${line}`], {
    encoding: "utf8",
  });
  return r.stdout.split("\0").slice(0, -1);
}

/**
 * The host's shell running a diff script: scripts/host/check-diff.sh for real, its masker the
 * apply under --root (or one that predates --mask), `cat` and `grep` fakes that read the root.
 */
function onHost(script: string, root: string, oldMasker: boolean): RunResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "check-diff-host-"));
  try {
    fs.writeFileSync(path.join(dir, "cat"), '#!/bin/sh\nexec /bin/cat -- "$FAKE_ROOT$2"\n', {
      mode: 0o755,
    });
    fs.writeFileSync(
      path.join(dir, "grep"),
      '#!/bin/sh\nexec /bin/grep "$1" -- "$3" "$FAKE_ROOT$4"\n',
      { mode: 0o755 },
    );
    const masker = path.join(dir, "masker.py");
    fs.writeFileSync(
      masker,
      oldMasker
        ? "raise SystemExit(2)\n"
        : `import os, sys\nos.execv("/usr/bin/python3", ["python3", ${JSON.stringify(APPLY)}, "--mask", "--root", ${JSON.stringify(root)}, *sys.argv[2:]])\n`,
    );
    const [shell, c, text, name, realMasker, ...args] = words(script);
    expect([shell, c, name, realMasker]).toEqual(["sh", "-c", "check-diff", HOST_MASKER]);
    expect(text).toBe(fs.readFileSync(path.join(HOST_SCRIPTS_DIR, "check-diff.sh"), "utf8"));
    const r = spawnSync(shell, [c, text, name, masker, ...args], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, FAKE_ROOT: root },
    });
    return { stdout: r.stdout, stderr: r.stderr, code: r.status ?? 1 };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Every host's files as the apply wrote them, under one temp root per host. */
function world(
  opts: { edit?: (hostname: string, p: string, text: string) => string; oldMasker?: boolean } = {},
) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "check-diff-"));
  const roots = new Map<string, string>();
  for (const plan of plans) {
    const root = path.join(base, plan.hostname);
    roots.set(plan.hostname, root);
    const put = (p: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
      fs.writeFileSync(path.join(root, p), text);
    };
    put(
      "/etc/maglev-infra/secrets.json",
      JSON.stringify(
        Object.fromEntries(plan.files.flatMap((f) => f.secretKeys ?? []).map((k) => [k, SECRET])),
      ),
    );
    for (const f of plan.files) {
      const written = f.secretKeys?.length
        ? f.content.replace(/\{\{secret:[^}]+\}\}/g, haproxyQuoted(SECRET))
        : f.content;
      put(f.path, opts.edit ? opts.edit(plan.hostname, f.path, written) : written);
      put(
        `${APPLIED_DIR}/${fileSlug(f.path)}`,
        `${contentSha256(f.content)} ${contentSha256(written)}\n`,
      );
    }
  }
  const scripts: string[] = [];
  const answer = (hostname: string, cmd: string): RunResult => {
    const root = roots.get(hostname)!;
    const ok = (stdout: string) => ({ stdout, stderr: "", code: 0 });
    if (cmd.startsWith("sha256sum")) {
      const plan = plans.find((p) => p.hostname === hostname)!;
      const read = (p: string) =>
        fs.existsSync(path.join(root, p)) ? fs.readFileSync(path.join(root, p), "utf8") : undefined;
      return ok(
        [
          ...plan.files
            .filter((f) => read(f.path) !== undefined)
            .map((f) => `${contentSha256(read(f.path)!)}  ${f.path}`),
          ...plan.files.map(
            (f) =>
              `${APPLIED_DIR}/${fileSlug(f.path)}:${read(`${APPLIED_DIR}/${fileSlug(f.path)}`)!.trim()}`,
          ),
        ].join("\n"),
      );
    }
    return ok("");
  };
  const runner: HostRunner = {
    kind: "fake",
    services: systemd,
    async run(hostname, script) {
      const root = roots.get(hostname)!;
      if (script.includes("--mask")) {
        scripts.push(script);
        return onHost(script, root, !!opts.oldMasker);
      }
      const probes = [...script.matchAll(/^echo '@@maglev-check@@ (.+)'\n\{ ([^\n]*)\n\}/gm)];
      const out = probes.map(
        ([, key, cmd]) =>
          `@@maglev-check@@ ${key}\n${answer(hostname, cmd).stdout}\n@@maglev-check@@ rc 0`,
      );
      return { stdout: out.join("\n") + "\n", stderr: "", code: 0 };
    },
  };
  return { runner, scripts, cleanup: () => fs.rmSync(base, { recursive: true, force: true }) };
}

const mlb01 = topo.byName.get("mlb01")!.hostname;
const mgw01 = topo.byName.get("mgw01")!.hostname;

describe("check --diff", () => {
  test("GIVEN a hand edit of a file filled with a secret WHEN checked with --diff THEN the edit is a unified diff and the secret shows only as its placeholder", async () => {
    const w = world({
      edit: (h, p, t) =>
        h === mlb01 && p === "/etc/haproxy/haproxy.cfg"
          ? t.replace('stats auth "admin:', 'stats auth "root:') + "# maxconn raised by hand\n"
          : t,
    });
    try {
      const { rows, diffs } = await checkHosts(topo, plans, w.runner, {
        hosts: ["mlb01"],
        diff: true,
      });
      expect(rows.find((r) => r.check === "files match the plan")!.ok).toBe(false);
      expect(diffs.map((d) => [d.host, d.path, d.why])).toEqual([
        [mlb01, "/etc/haproxy/haproxy.cfg", "edited on the host"],
      ]);
      const d = diffs[0].diff;
      expect(d).toMatch(
        /^--- plan\/etc\/haproxy\/haproxy\.cfg\n\+\+\+ host\/etc\/haproxy\/haproxy\.cfg\n@@ /,
      );
      expect(d).toContain(
        '-    stats auth "admin:{{secret:haproxyStatsPassword}}"\n+    stats auth "root:{{secret:haproxyStatsPassword}}"',
      );
      expect(d).toContain("+# maxconn raised by hand");
      const all = JSON.stringify(diffs) + formatDiffs(diffs);
      expect(all).not.toContain("Sw0rd");
      expect(all).not.toContain(haproxyQuoted(SECRET));
    } finally {
      w.cleanup();
    }
  });

  test("GIVEN an edited frr.conf on a gateway and --tier gateway WHEN checked THEN only gateways are asked and the diff shows the line", async () => {
    const w = world({
      edit: (h, p, t) =>
        h === mgw01 && p === "/etc/frr/frr.conf"
          ? t.replace(/^ bgp log-neighbor-changes\n/m, "")
          : t,
    });
    try {
      const { rows, diffs } = await checkHosts(topo, plans, w.runner, {
        tiers: ["gateway"],
        diff: true,
      });
      expect(new Set(rows.map((r) => r.host))).toEqual(
        new Set(topo.gateways.map((g) => g.hostname)),
      );
      expect(diffs).toHaveLength(1);
      expect(diffs[0]).toMatchObject({ host: mgw01, path: "/etc/frr/frr.conf", why: "differs" });
      expect(diffs[0].diff).toContain("\n- bgp log-neighbor-changes\n");
    } finally {
      w.cleanup();
    }
  });

  test("GIVEN a host whose apply program predates --mask WHEN checked THEN a file with secrets is not shown, a plain one is read with cat", async () => {
    const w = world({
      oldMasker: true,
      edit: (h, p, t) =>
        h === mlb01 && (p === "/etc/haproxy/haproxy.cfg" || p === "/etc/hosts") ? t + "# x\n" : t,
    });
    try {
      const { diffs } = await checkHosts(topo, plans, w.runner, { hosts: ["mlb01"], diff: true });
      const by = Object.fromEntries(diffs.map((d) => [d.path, d]));
      expect(by["/etc/haproxy/haproxy.cfg"]).toMatchObject({
        diff: "",
        note: expect.stringMatching(/cannot mask/),
      });
      expect(by["/etc/hosts"].diff).toContain("+# x");
      expect(JSON.stringify(diffs)).not.toContain("Sw0rd");
    } finally {
      w.cleanup();
    }
  });

  test("GIVEN no drift WHEN checked with --diff THEN no diff script runs", async () => {
    const w = world();
    try {
      const { diffs } = await checkHosts(topo, plans, w.runner, { diff: true });
      expect(diffs).toEqual([]);
      expect(w.scripts).toEqual([]);
    } finally {
      w.cleanup();
    }
  });

  test("GIVEN the masker's frames WHEN a file has no final newline or is missing THEN the text reads back exactly", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mask-"));
    try {
      fs.mkdirSync(path.join(dir, "etc"));
      fs.writeFileSync(path.join(dir, "etc/a"), "no newline");
      fs.writeFileSync(path.join(dir, "etc/b"), "");
      const r = spawnSync(
        "/usr/bin/python3",
        [APPLY, "--mask", "--root", dir, "/etc/a", "/etc/b", "/etc/c"],
        { encoding: "utf8" },
      );
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(
        "@@maglev-mask@@ noeol /etc/a\nno newline\n@@maglev-mask@@ text /etc/b\n@@maglev-mask@@ missing /etc/c\n",
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  test("GIVEN files with variants, one with secrets, and a masker that predates --mask WHEN the diff script runs THEN a failed frame, the plain file by cat, and the variant whose marker holds its text", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "check-diff-root-"));
    try {
      fs.mkdirSync(path.join(root, "etc"));
      fs.writeFileSync(path.join(root, "etc/a"), "a's text\n");
      fs.writeFileSync(path.join(root, "etc/marker"), "-- it's $(drained) `x`\n");
      const contains = "-- it's $(drained)";
      const plan = {
        files: [
          {
            path: "/etc/a",
            content: "",
            variants: [
              { when: { path: "/etc/marker", contains: "other" }, content: "" },
              { when: { path: "/etc/marker", contains }, content: "" },
            ],
          },
          { path: "/etc/s", content: "", secretKeys: ["k"] },
          { path: "/etc/gone", content: "" },
        ],
      } as unknown as HostPlan;
      const drifted = [
        { path: "/etc/a", why: "differs" },
        { path: "/etc/s", why: "differs" },
        { path: "/etc/gone", why: "missing" },
      ] as DriftedFile[];
      const r = onHost(diffScript(plan, drifted), root, true);
      expect(r).toMatchObject({ code: 0, stderr: "" });
      expect(r.stdout).toBe(
        "@@maglev-mask@@ failed -\n@@maglev-mask@@ cat /etc/a\na's text\n\n@@maglev-variant@@ 1 /etc/a\n",
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("GIVEN the check CLI's tier filter (issue 18: one name for the tier)", () => {
  const tsx = path.join(ROOT, "node_modules", ".bin", "tsx");
  const cli = path.join(ROOT, "src", "cli", "check.ts");
  const run = (...args: string[]) =>
    spawnSync(tsx, [cli, ...args], { cwd: ROOT, encoding: "utf8" });

  test("WHEN --help is asked THEN it shows --tier, not the former --role", () => {
    const r = run("--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--tier <tier\.\.\.>\s+only hosts of these tiers/);
    expect(r.stdout).not.toContain("--role");
  });

  test.each([["--tier"], ["--role"]])(
    "WHEN %s names a tier the stack has no host of THEN it is refused before any host is asked",
    (flag) => {
      const r = run("lab", flag, "maglev", "k0s-worker");
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^check: --tier k0s-worker: no host of stack lab has that tier \(/);
    },
  );
});
