/**
 * The gateway's health gate (scripts/host/gateway-health), run for real with the arguments
 * mgmt02's plan gives it and FRR's `show bgp neighbors json` answers as files. It is what lets
 * the gateways converge before the maglevs on a fresh environment (issue 14: no gate waits for
 * what is applied after it) while a later change of mgw02 still waits for mgw01's sessions, and
 * an apply that restarts FRR (which resets the sessions' counters) still waits for the maglevs
 * that were Established right before it, as the pre-change step recorded them.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildPlans } from "../../src/plan";
import { deriveTopology } from "../../src/topology";
import {
  GATEWAY_HEALTH,
  GATEWAY_SESSIONS_BEFORE,
  gatewaySessionsRecord,
} from "../../src/tiers/gateway";
import { mgmt02Raw, mustValidate, ROOT } from "../helpers";

const SCRIPT = path.join(ROOT, "scripts", "host", "gateway-health");
const topo = deriveTopology(mustValidate(mgmt02Raw()));
const mgw01 = buildPlans(topo).find((p) => p.name === "mgw01")!;
const UPSTREAM = "10.1.7.2";
const MAGLEVS = topo.maglevs.map((m) => m.mgmt.ipv4);

/** The gate's own arguments, from the plan's health command. */
function planArgs(): string[] {
  const cmd = mgw01.health!.command;
  expect(cmd.startsWith(`${GATEWAY_HEALTH} `)).toBe(true);
  return cmd.slice(GATEWAY_HEALTH.length + 1).split(" ");
}

type Neighbour = { bgpState: string; connectionsEstablished?: number };

/**
 * Run the gate with the plan's arguments on FRR's answer `neighbours`. Its `--before` record is
 * `before` (FRR's answer before the change, or raw text) in a temp file standing for
 * GATEWAY_SESSIONS_BEFORE, or no file at all when `before` is undefined.
 */
function gate(neighbours: Record<string, Neighbour>, before?: Record<string, Neighbour> | string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-health-"));
  const json = path.join(dir, "neighbors.json");
  fs.writeFileSync(json, JSON.stringify(neighbours));
  const record = path.join(dir, "before.json");
  if (before !== undefined)
    fs.writeFileSync(record, typeof before === "string" ? before : JSON.stringify(before));
  const args = planArgs().map((a) => (a === GATEWAY_SESSIONS_BEFORE ? record : a));
  const r = spawnSync("python3", [SCRIPT, ...args, "--json", json], { encoding: "utf8" });
  fs.rmSync(dir, { recursive: true, force: true });
  return { rc: r.status, out: r.stdout.trim().split("\n").filter(Boolean), err: r.stderr };
}

const established = (n = 1): Neighbour => ({ bgpState: "Established", connectionsEstablished: n });

describe("GIVEN mgw01's health gate with mgmt02's upstream and maglevs", () => {
  test("THEN the plan asks for the upstream session and every maglev's, with the pre-change record", () => {
    expect(planArgs()).toEqual([
      "--upstream",
      UPSTREAM,
      "--maglev",
      MAGLEVS.join(","),
      "--before",
      GATEWAY_SESSIONS_BEFORE,
    ]);
  });

  test("WHEN the upstream is Established and the maglevs have never connected (a fresh environment: they are applied after the gateways) THEN it passes", () => {
    const r = gate({
      [UPSTREAM]: established(),
      ...Object.fromEntries(
        MAGLEVS.map((m) => [m, { bgpState: "Active", connectionsEstablished: 0 }]),
      ),
    });
    expect(r).toEqual({ rc: 0, out: [], err: "" });
  });

  test("WHEN a maglev that was connected is down (a later change of the tier) THEN it fails naming it, so the next gateway waits", () => {
    const r = gate({
      [UPSTREAM]: established(),
      [MAGLEVS[0]]: established(2),
      [MAGLEVS[1]]: { bgpState: "Connect", connectionsEstablished: 1 },
    });
    expect(r.rc).toBe(1);
    expect(r.out).toEqual([`maglev ${MAGLEVS[1]}: Connect`]);
  });

  test("WHEN the upstream session is not Established, or a peer is not configured in bgpd at all THEN it fails naming each", () => {
    let r = gate({
      [UPSTREAM]: { bgpState: "OpenSent" },
      ...Object.fromEntries(MAGLEVS.map((m) => [m, established()])),
    });
    expect({ rc: r.rc, out: r.out }).toEqual({ rc: 1, out: [`upstream ${UPSTREAM}: OpenSent`] });
    r = gate({ [MAGLEVS[0]]: established() });
    expect(r.rc).toBe(1);
    expect(r.out).toEqual([
      `upstream ${UPSTREAM}: not configured`,
      `maglev ${MAGLEVS[1]}: not configured`,
    ]);
  });
});

describe("GIVEN mgw01's health gate after an apply that restarted FRR (every session's counter back to 0)", () => {
  const idle: Neighbour = { bgpState: "Idle", connectionsEstablished: 0 };
  const never: Neighbour = { bgpState: "Active", connectionsEstablished: 0 };
  const upBefore: Record<string, Neighbour> = Object.fromEntries([
    [UPSTREAM, established(3)],
    ...MAGLEVS.map((m) => [m, established(5)]),
  ]);
  const oneIdle = () => ({
    [UPSTREAM]: established(),
    [MAGLEVS[0]]: established(),
    [MAGLEVS[1]]: idle,
  });

  test("WHEN a maglev was Established before the change and is Idle after it, counter 0 THEN it fails naming it, so the next gateway waits", () => {
    const r = gate(oneIdle(), upBefore);
    expect(r.rc).toBe(1);
    expect(r.out).toEqual([`maglev ${MAGLEVS[1]}: Idle (Established before the change)`]);
    // Without the record the restart hides it: the counter says "never connected".
    expect(gate(oneIdle()).rc).toBe(0);
  });

  test("WHEN every maglev Established before is Established again THEN it passes", () => {
    const after = Object.fromEntries([
      [UPSTREAM, established()],
      ...MAGLEVS.map((m) => [m, established()]),
    ]);
    expect(gate(after, upBefore)).toEqual({ rc: 0, out: [], err: "" });
  });

  test("WHEN a maglev was never Established before the change (not applied yet) THEN it passes, as without the record", () => {
    const before = { [UPSTREAM]: established(), [MAGLEVS[0]]: established(), [MAGLEVS[1]]: never };
    const after = { [UPSTREAM]: established(), [MAGLEVS[0]]: established(), [MAGLEVS[1]]: never };
    expect(gate(after, before)).toEqual({ rc: 0, out: [], err: "" });
  });

  test("WHEN there is no record (bgpd did not answer before, or a reboot emptied /run) or it is not FRR's JSON THEN the counter decides, as without --before", () => {
    const after = Object.fromEntries([[UPSTREAM, established()], ...MAGLEVS.map((m) => [m, idle])]);
    expect(gate(after)).toEqual({ rc: 0, out: [], err: "" });
    const r = gate(after, "% bgpd is not running\n");
    expect({ rc: r.rc, out: r.out }).toEqual({ rc: 0, out: [] });
    expect(r.err).toContain("is not FRR's neighbour JSON, ignored");
    // An empty answer records nothing Established.
    expect(gate(after, "").rc).toBe(0);
  });

  test("WHEN the plan's pre-change step runs (maglev-apply runs health.before after the checkers, before the drain) THEN it writes FRR's answer where --before reads it; no answer THEN it leaves no record, not even an older one, and still succeeds", () => {
    expect(mgw01.health!.before).toBe(gatewaySessionsRecord());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-record-"));
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    const step = (doc?: Record<string, Neighbour>) => {
      fs.writeFileSync(
        path.join(bin, "vtysh"),
        doc === undefined
          ? "#!/bin/sh\necho 'vtysh: bgpd is not running' >&2\nexit 1\n"
          : `#!/bin/sh\n[ "$*" = "-c show bgp neighbors json" ] || exit 2\necho '${JSON.stringify(doc)}'\n`,
        { mode: 0o755 },
      );
      // The step as planned, its /run directory moved into the test's own.
      const cmd = mgw01
        .health!.before!.split(path.posix.dirname(GATEWAY_SESSIONS_BEFORE))
        .join(path.join(dir, "run"));
      const r = spawnSync("sh", ["-c", cmd], {
        encoding: "utf8",
        env: { PATH: `${bin}:/usr/bin:/bin` },
      });
      return { rc: r.status, out: r.stdout, err: r.stderr };
    };
    const record = path.join(dir, "run", path.posix.basename(GATEWAY_SESSIONS_BEFORE));
    expect(step(upBefore)).toEqual({ rc: 0, out: "", err: "" });
    expect(JSON.parse(fs.readFileSync(record, "utf8"))).toEqual(upBefore);
    // That record, after a restart that left a maglev Idle: the gate fails on it.
    expect(gate(oneIdle(), fs.readFileSync(record, "utf8")).out).toEqual([
      `maglev ${MAGLEVS[1]}: Idle (Established before the change)`,
    ]);
    expect(step(undefined)).toEqual({ rc: 0, out: "", err: "" });
    expect(fs.readdirSync(path.join(dir, "run"))).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
