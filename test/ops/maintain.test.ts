/**
 * The maintenance run: the loop against fake actions (which phases run, in which order, what a
 * failure leaves behind, when the run stops), and the real phases that can be shown without
 * hosts — the reboot wait against a fake runner, the --run command's quoting, IPVS parsing.
 */
import * as path from "path";
import fc from "fast-check";
import { deriveTopology, Topology } from "../../src/topology";
import { buildPlans } from "../../src/plan";
import { readStackEnvironment } from "../../src/config/load";
import { planMaintenance, planStep, MaintenanceStep, PhaseName } from "../../src/ops/maintain-plan";
import {
  formatSummary,
  ipvsTraffic,
  MaintenanceActions,
  oneLine,
  runMaintenance,
  runnerActions,
  systemdRebooter,
} from "../../src/ops/maintain";
import { HostRunner } from "../../src/ops/runner";
import { systemd } from "../../src/apply/steps";
import { mustValidate, ROOT } from "../helpers";

const lab: Topology = deriveTopology(
  mustValidate(readStackEnvironment(path.join(ROOT, "stacks/Pulumi.lab.yaml"))),
);

/** Actions that record every call and fail the (host, phase) pairs given. */
function fakeActions(fail: Set<string>, drained: Set<string> = new Set()) {
  const calls: string[] = [];
  const actions: MaintenanceActions = {
    async drained() {
      return new Set(drained);
    },
    async phase(step: MaintenanceStep, ph) {
      calls.push(`${step.host} ${ph.phase}`);
      return fail.has(`${step.host} ${ph.phase}`)
        ? { ok: false, detail: "boom \u001b[31mred\u001b[0m" }
        : { ok: true, detail: "fine" };
    },
  };
  return { actions, calls };
}

/** A clock that moves 1 s per reading: deterministic elapsed times. */
function tick() {
  let t = 0;
  return () => (t += 1000);
}

const ALL = { all: true };
const OPTS = { reboot: true, rebootKind: "lab" as const, allowUndrained: true, force: true };

describe("maintenance run (fake actions)", () => {
  test("GIVEN random failures and a random budget WHEN the lab is maintained THEN hosts go in plan order, a failed host gets no further phase (it stays drained), and the run stops exactly when the budget is exceeded", async () => {
    const plan = planMaintenance(lab, [], ALL, OPTS);
    const phases: PhaseName[] = ["drain", "reboot", "health", "check", "undrain"];
    const pairs = plan.steps.flatMap((s) => phases.map((p) => `${s.host} ${p}`));
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(pairs, { maxLength: 5 }),
        fc.integer({ min: 0, max: 3 }),
        async (failing, budget) => {
          const fail = new Set(failing);
          const { actions, calls } = fakeActions(fail);
          const r = await runMaintenance(lab, [], plan, actions, {
            ...OPTS,
            maxFailures: budget,
            now: tick(),
          });
          // The calls are the phases in plan order, cut after each host's first failure and at the
          // stop; each host's phases decided with the hosts failed before it counted as out (a
          // gateway whose other site's gateway failed has no site to drain to any more).
          const want: string[] = [];
          const out = new Set<string>();
          // Each host's step as the run decides it (with the hosts failed before it counted out).
          const decided = new Map<string, ReturnType<typeof planStep>>();
          for (const planned of plan.steps) {
            if (out.size > budget) break;
            const s = planStep(lab, [], lab.byName.get(planned.host)!, { ...OPTS, drained: out });
            decided.set(s.host, s);
            for (const p of s.phases.filter((x) => !x.noop)) {
              want.push(`${s.host} ${p.phase}`);
              if (fail.has(`${s.host} ${p.phase}`)) {
                out.add(s.host);
                break;
              }
            }
          }
          const failures = out.size;
          expect(calls).toEqual(want);
          expect(r.failures).toBe(failures);
          expect(r.ok).toBe(failures === 0);
          expect(r.stopped !== undefined).toBe(failures > budget);
          for (const h of r.hosts) {
            // (seen: mgw01 failed its check, so mgw02 had no site to drain to and was not drained)
            const step = decided.get(h.host) ?? plan.steps.find((s) => s.host === h.host)!;
            if (h.status === "failed") expect(h.leftDrained).toBe(step.drain !== "none");
            if (h.status === "not reached")
              expect(calls.some((c) => c.startsWith(`${h.host} `))).toBe(false);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  test("GIVEN mlb01 fails its reboot with a budget of 1 WHEN the HAProxy tier is maintained THEN mlb01 stays drained and mlb02 is refused untouched (it is the group's last serving member)", async () => {
    const plan = planMaintenance(lab, [], { tier: "haproxy" }, { reboot: true });
    const { actions, calls } = fakeActions(new Set(["mlb01 reboot"]));
    const lines: string[] = [];
    const r = await runMaintenance(lab, [], plan, actions, {
      reboot: true,
      maxFailures: 1,
      now: tick(),
      log: (l) => lines.push(l),
    });
    expect(calls).toEqual(["mlb01 drain", "mlb01 reboot"]);
    expect(r.hosts.map((h) => [h.host, h.status, h.leftDrained])).toEqual([
      ["mlb01", "failed", true],
      ["mlb02", "refused", false],
    ]);
    expect(r.stopped).toMatch(/^mlb02 was refused: 2 failure\(s\), budget 1/);
    expect(lines.join("\n")).toContain("left drained (undo: npm run ops -- undrain lab mlb01)");
    // the host's words reach the terminal without their escape sequences
    expect(lines.join("\n")).not.toContain("\u001b");
  });

  test("GIVEN mlb02 is already drained WHEN the HAProxy tier is maintained THEN the run refuses to start and touches nothing", async () => {
    const plan = planMaintenance(lab, [], { tier: "haproxy" }, { reboot: true });
    const { actions, calls } = fakeActions(new Set(), new Set(["mlb02"]));
    const r = await runMaintenance(lab, [], plan, actions, { reboot: true, now: tick() });
    expect(calls).toEqual([]);
    expect(r.refused).toEqual([
      expect.stringMatching(/^mlb01: group mlb would keep 0 serving member/),
    ]);
    expect(formatSummary(r)).toContain("refused to start: nothing touched");
  });

  test("GIVEN a run of the maglev tier WHEN it ends THEN the summary has one row per host with seconds per phase and the result", async () => {
    const plans = buildPlans(lab);
    const plan = planMaintenance(
      lab,
      plans,
      { tier: "maglev" },
      { reboot: true, rebootKind: "lab" },
    );
    const { actions } = fakeActions(new Set(["maglev02 check"]));
    const r = await runMaintenance(lab, plans, plan, actions, { reboot: true, now: tick() });
    expect(formatSummary(r)).toBe(
      [
        "host      tier    drain  reboot  health  check  undrain  total s  result",
        "--------  ------  -----  ------  ------  -----  -------  -------  ---------------------",
        "maglev01  maglev  1.0    1.0     1.0     1.0    1.0      17.0     ok",
        "maglev02  maglev  1.0    1.0     1.0     ✗ 1.0  -        14.0     FAILED (left drained)",
        "",
        "1 of 2 host(s) maintained, 1 failed (budget 0) in 35.0 s; stopped: maglev02 failed in check: 1 failure(s), budget 0; maglev02 left drained (undo: npm run ops -- undrain lab maglev02)",
        "",
      ].join("\n"),
    );
  });
});

/** A runner that answers boot_id with `ids` in turn (then the last one), and records scripts. */
function bootRunner(ids: (string | null)[]) {
  const scripts: string[] = [];
  let i = 0;
  const runner: HostRunner = {
    kind: "fake",
    services: systemd,
    async run(_h, script) {
      scripts.push(script);
      if (script.includes("boot_id")) {
        const id = ids[Math.min(i++, ids.length - 1)];
        return id === null
          ? { stdout: "", stderr: "ssh: connect to host: Connection refused", code: 255 }
          : { stdout: id + "\n", stderr: "", code: 0 };
      }
      return { stdout: "", stderr: "", code: 0 };
    },
  };
  return { runner, scripts };
}

describe("real phases against a fake runner", () => {
  const mg = lab.byName.get("maglev01")!;

  test("GIVEN a host that goes away and comes back with a new boot id WHEN rebooted THEN the phase passes and says so", async () => {
    const { runner, scripts } = bootRunner(["a", "a", null, null, "b"]);
    const o = await systemdRebooter(runner, 1).reboot(mg, undefined, 5000);
    expect(o.ok).toBe(true);
    expect(o.detail).toMatch(/^back with a new boot id after .* \(gone after/);
    expect(scripts).toContain("systemctl reboot");
  });

  test("GIVEN a host whose boot id never changes WHEN rebooted THEN the phase fails: the reboot did not happen", async () => {
    const { runner } = bootRunner(["a"]);
    const o = await systemdRebooter(runner, 1).reboot(mg, undefined, 50);
    expect(o).toEqual({ ok: false, detail: expect.stringMatching(/the reboot did not happen/) });
  });

  test("GIVEN a --run command with quotes, $ and a newline WHEN its phase runs THEN the host gets it as one shell word after sh -c", async () => {
    const cmd = `apt-get update && echo '$x' "it's"\nexit 3`;
    const { runner, scripts } = bootRunner(["a"]);
    const plan = planMaintenance(lab, [], { hosts: ["dns00"] }, { run: cmd });
    const step = plan.steps[0];
    const o = await runnerActions(lab, [], runner, systemdRebooter(runner), { run: cmd }).phase(
      step,
      step.phases.find((p) => p.phase === "run")!,
    );
    expect(o.ok).toBe(true);
    expect(scripts).toEqual([`sh -c 'apt-get update && echo '\\''$x'\\'' "it'\\''s"\nexit 3'`]);
  });

  test("GIVEN a maglev whose routes leave every gateway and whose IPVS stops receiving WHEN its drain phase runs THEN it is the ops drain plus IPVS quiet", async () => {
    const scripts: string[] = [];
    let reads = 0;
    const runner: HostRunner = {
      kind: "fake",
      services: systemd,
      async run(hostname, script) {
        scripts.push(`${hostname}: ${script.split("\n")[0].slice(0, 40)}`);
        const ok = (stdout: string) => ({ stdout, stderr: "", code: 0 });
        if (script.includes("if test -e")) return ok("serving\n");
        if (script.startsWith("install -d")) return ok("");
        if (script.includes('echo "R '))
          return ok([...lab.vips.ipv4, ...lab.vips.ipv6].map((v) => `R ${v} []`).join("\n") + "\n");
        if (script.startsWith("ipvsadm -Ln; echo")) {
          // 3 stale entries; packets arrive once more, then no more
          const pkts = reads++ === 0 ? 100 : 130;
          return ok(
            `FWM  100080 mh\n  -> 198.18.10.33:0 Route 1 3 0\n@@maglev-maintain-stats@@\nFWM  100080  9 ${pkts} 0 1 0\n`,
          );
        }
        if (script.includes("hactl status")) return ok("serving\n");
        return { stdout: "", stderr: `unexpected: ${script}`, code: 1 };
      },
    };
    const plan = planMaintenance(lab, [], { hosts: ["maglev01"] }, {});
    const step = plan.steps[0];
    const o = await runnerActions(lab, [], runner, systemdRebooter(runner), {
      drainTimeoutS: 10,
    }).phase(step, step.phases[0]);
    expect(o).toEqual({
      ok: true,
      detail:
        "routes gone from every gateway; no IPVS packet for 1 s (3 stale connection entries left to time out)",
    });
    expect(scripts.filter((x) => x.includes("ipvsadm -Ln; echo"))).toHaveLength(3);
  });

  test("GIVEN ipvsadm's list and stats WHEN read THEN active connections and received packets are summed over every service", () => {
    const list = [
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port Scheduler Flags",
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
      "FWM  100080 mh (mh-fallback,mh-port)",
      "  -> 198.18.10.33:0                Route   1      3          10",
      "  -> 198.18.10.34:0                Route   0      2          1",
      "FWM  100080 IPv6 mh (mh-fallback,mh-port)",
      "  -> [fd00:a::21]:0                Route   1      1          0",
    ].join("\n");
    const stats = [
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
      "  -> RemoteAddress:Port",
      "FWM  100080                            120     4000        0   300000        0",
      "  -> 198.18.10.33:0                     60     2000        0   150000        0",
      "FWM  100080 IPv6                        10       77        0     5000        0",
    ].join("\n");
    expect(ipvsTraffic(list, stats)).toEqual({ active: 6, inPkts: 4077 });
  });

  test("GIVEN a host's output with escape sequences and newlines WHEN shown THEN it is one line without control characters", () => {
    expect(oneLine("E: failed\n\u001b]0;owned\u0007\u001b[2Jdone\r\n")).toBe(
      "E: failed ]0;owned [2Jdone",
    );
  });
});

describe("the health gate's pre-change record (health.before), as the apply runs it", () => {
  const plans = buildPlans(lab);
  const gw = plans.find((p) => p.name === "mgw01")!;

  test("GIVEN the lab's gateways (their gate compares the BGP sessions with a record taken before the change) WHEN maintained THEN each step starts with `record`, the plan's health.before, before the drain; a host whose plan has none has no record phase", () => {
    expect(gw.health?.before).toBeTruthy();
    const plan = planMaintenance(lab, plans, { all: true }, OPTS);
    for (const s of plan.steps) {
      const p = plans.find((x) => x.name === s.host)!;
      const ph = s.phases.map((x) => x.phase);
      if (p.health?.before) {
        expect(ph.slice(0, 2)).toEqual(["record", "drain"]);
        expect(s.phases[0].what).toContain(p.health.before);
      } else expect(ph).not.toContain("record");
    }
    expect(plan.steps.filter((s) => s.phases[0].phase === "record").map((s) => s.host)).toEqual([
      "mgw01",
      "mgw02",
    ]);
  });

  test("GIVEN a gateway WHEN its record phase runs THEN the host runs exactly health.before (bounded as the apply bounds it); a failing step fails the phase, naming it", async () => {
    const step = planStep(lab, plans, lab.byName.get("mgw01")!, OPTS);
    const rec = step.phases[0];
    const seen: [string, string, number | undefined][] = [];
    let code = 0;
    const runner: HostRunner = {
      kind: "fake",
      services: systemd,
      async run(hostname, script, timeoutMs) {
        seen.push([hostname, script, timeoutMs]);
        return { stdout: "", stderr: code ? "vtysh: no space left" : "", code };
      },
    };
    const actions = runnerActions(lab, plans, runner, systemdRebooter(runner), OPTS);
    expect(await actions.phase(step, rec)).toEqual({
      ok: true,
      detail: "health gate's record of the host before the change written",
    });
    expect(seen).toEqual([[lab.byName.get("mgw01")!.hostname, gw.health!.before!, 120000]]);
    code = 1;
    expect(await actions.phase(step, rec)).toEqual({
      ok: false,
      detail: "the health gate's pre-change step failed: vtysh: no space left",
    });
  });

  test("GIVEN a gateway whose record fails WHEN the run maintains it THEN nothing else runs on it and it is not left drained (nothing was touched)", async () => {
    const plan = planMaintenance(lab, plans, { hosts: ["mgw01"] }, OPTS);
    const { actions, calls } = fakeActions(new Set(["mgw01 record"]));
    const r = await runMaintenance(lab, plans, plan, actions, { ...OPTS, now: tick() });
    expect(calls).toEqual(["mgw01 record"]);
    expect(r.hosts[0]).toMatchObject({ status: "failed", leftDrained: false });
    expect(r.stopped).toMatch(/mgw01 failed in record: .* not drained \(nothing was touched\)/);
  });

  test("GIVEN a gateway WHEN the run maintains it THEN record runs first, then the drain, the reboot and the gate that reads the record", async () => {
    const plan = planMaintenance(lab, plans, { hosts: ["mgw01"] }, OPTS);
    const { actions, calls } = fakeActions(new Set());
    await runMaintenance(lab, plans, plan, actions, { ...OPTS, now: tick() });
    expect(calls).toEqual([
      "mgw01 record",
      "mgw01 drain",
      "mgw01 reboot",
      "mgw01 health",
      "mgw01 check",
      "mgw01 undrain",
    ]);
  });
});
