/**
 * scripts/host/site-drain.sh, the gateway's side of drain-site / undrain-site, run for real (sh)
 * against a temp folder: vtysh is a fake on PATH (test/host/fakes), the committed apply a fake
 * `maglev-apply` in a temp `current` generation that records whether the apply's lock was free.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { siteDrainCommand } from "../../src/ops/drain";
import { HOST_SCRIPTS_DIR } from "../../src/plan/scripts";

const FAKES = path.join(__dirname, "fakes");
const SCRIPT = path.join(HOST_SCRIPTS_DIR, "site-drain.sh");
const TEXT = "! Site dc1 drained.\nroute-map NH-INGRESS permit 10\nset local-preference 10\nexit\n";

class Gateway {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "site-drain-"));
  state = path.join(this.dir, "state");
  drainFile = path.join(this.dir, "etc", "site-drain.vtysh");
  lock = path.join(this.dir, "run", "apply.lock");
  current = path.join(this.dir, "current");
  constructor(generation: boolean) {
    fs.mkdirSync(this.state);
    fs.mkdirSync(this.current);
    if (generation)
      fs.writeFileSync(
        path.join(this.current, "maglev-apply"),
        [
          "#!/bin/bash",
          'echo "maglev-apply $* drain-file:$([ -e "$DRAIN_FILE" ] && echo yes || echo no)" >>"$FAKE_STATE/calls.log"',
          'flock -n "$LOCK" true || echo "maglev-apply: lock held" >>"$FAKE_STATE/calls.log"',
        ].join("\n") + "\n",
        { mode: 0o755 },
      );
  }
  run(action: string, last: string, env: Record<string, string> = {}) {
    const r = spawnSync("sh", [SCRIPT, action, this.drainFile, this.lock, this.current, last], {
      encoding: "utf8",
      env: {
        ...process.env,
        PATH: `${FAKES}:${process.env.PATH}`,
        FAKE_STATE: this.state,
        DRAIN_FILE: this.drainFile,
        LOCK: this.lock,
        ...env,
      },
    });
    return { rc: r.status, stderr: r.stderr };
  }
  calls(): string[] {
    const log = path.join(this.state, "calls.log");
    return fs.existsSync(log) ? fs.readFileSync(log, "utf8").trimEnd().split("\n") : [];
  }
  /** What is left next to the drain file (no temporary copy may stay). */
  etc(): string[] {
    return fs.readdirSync(path.dirname(this.drainFile)).sort();
  }
}

let gw: Gateway;
afterEach(() => fs.rmSync(gw.dir, { recursive: true, force: true }));

describe("site-drain.sh drain", () => {
  test("GIVEN a gateway with no generation WHEN drained THEN FRR gets the lines and they become the drain file (0644), then clear soft out", () => {
    gw = new Gateway(false);
    expect(gw.run("drain", TEXT)).toEqual({ rc: 0, stderr: "" });
    expect(fs.readFileSync(gw.drainFile, "utf8")).toBe(TEXT);
    expect(fs.statSync(gw.drainFile).mode & 0o777).toBe(0o644);
    expect(fs.readFileSync(path.join(gw.state, "vtysh-f.txt"), "utf8")).toBe(TEXT);
    const calls = gw.calls();
    expect(calls[0]).toMatch(/^vtysh -f .*\/etc\/\.site-drain\.\w{6}$/);
    expect(calls.slice(1)).toEqual(["vtysh -c clear bgp * soft out"]);
    expect(gw.etc()).toEqual(["site-drain.vtysh"]);
  });

  test("GIVEN FRR refuses the lines WHEN drained THEN it fails, no drain file, no temporary copy, no apply", () => {
    gw = new Gateway(true);
    expect(gw.run("drain", TEXT, { FAKE_VTYSH_FAIL: "1" }).rc).not.toBe(0);
    expect(fs.existsSync(gw.drainFile)).toBe(false);
    expect(gw.etc()).toEqual([]);
    expect(gw.calls().some((c) => c.startsWith("maglev-apply"))).toBe(false);
  });

  test("GIVEN a committed generation WHEN drained THEN its apply runs after the clear, with the drain file in place and the lock free", () => {
    gw = new Gateway(true);
    expect(gw.run("drain", TEXT).rc).toBe(0);
    expect(gw.calls().slice(1)).toEqual([
      "vtysh -c clear bgp * soft out",
      `maglev-apply --bundle ${gw.current}/bundle.json drain-file:yes`,
    ]);
  });
});

describe("site-drain.sh undrain", () => {
  test("GIVEN a committed generation WHEN undrained THEN the drain file goes, the apply runs (not the reload), then clear soft out", () => {
    gw = new Gateway(true);
    fs.mkdirSync(path.dirname(gw.drainFile));
    fs.writeFileSync(gw.drainFile, TEXT);
    expect(gw.run("undrain", 'echo reloaded >>"$FAKE_STATE/calls.log"')).toEqual({
      rc: 0,
      stderr: "",
    });
    expect(fs.existsSync(gw.drainFile)).toBe(false);
    expect(gw.calls()).toEqual([
      `maglev-apply --bundle ${gw.current}/bundle.json drain-file:no`,
      "vtysh -c clear bgp * soft out",
    ]);
  });

  test("GIVEN no generation WHEN undrained THEN the reload command runs instead", () => {
    gw = new Gateway(false);
    expect(gw.run("undrain", 'echo reloaded >>"$FAKE_STATE/calls.log"').rc).toBe(0);
    expect(gw.calls()).toEqual(["reloaded", "vtysh -c clear bgp * soft out"]);
  });

  test("GIVEN an unknown action THEN exit 2, nothing run", () => {
    gw = new Gateway(true);
    expect(gw.run("drian", TEXT)).toEqual({
      rc: 2,
      stderr: "site-drain: unknown action 'drian' (drain or undrain)\n",
    });
    expect(gw.calls()).toEqual([]);
  });
});

describe("siteDrainCommand", () => {
  test("GIVEN the drain file's text WHEN the command line is parsed by a shell THEN its words are sh -c, the script's text and the arguments, unchanged", () => {
    gw = new Gateway(false);
    const text = '! it\'s "quoted" $(not run) `nor this`\nexit\n';
    const r = spawnSync(
      "bash",
      ["-c", `words() { printf '%s\\0' "$@"; }; words ${siteDrainCommand("drain", text)}`],
      { encoding: "utf8" },
    );
    expect(r.stdout.split("\0").slice(0, -1)).toEqual([
      "sh",
      "-c",
      fs.readFileSync(SCRIPT, "utf8"),
      "site-drain",
      "drain",
      "/etc/maglev-infra/site-drain.vtysh",
      "/run/maglev-infra/apply.lock",
      "/var/lib/maglev-infra/current",
      text,
    ]);
  });
});
