/**
 * lab/apply-timings.ts: the `timings` line scripts/maglev-apply prints, read back, and the
 * table `lab up` prints from every host's line.
 */
import { parseApplyTimings, timingsTable } from "../../lab/apply-timings";
import { whenLost } from "../../lab/scenarios/health-gate-rollback";

const LINE =
  "maglev-apply: timings: wait 0.0s, packages 0.0s, stage 0.4s, check 12.0s, activate 6.5s, services 3.1s, health 9.8s, commit 0.2s; total 32.1s";

describe("GIVEN an apply's phase lines", () => {
  test("WHEN they hold a timings line THEN every phase in order and the total are read", () => {
    const t = parseApplyTimings([
      "maglev-apply: check: ok",
      LINE,
      "maglev-apply: applied generation 1",
    ]);
    expect(t!.phases.map(([n]) => n)).toEqual(
      "wait packages stage check activate services health commit".split(" "),
    );
    expect(t!.phases.find(([n]) => n === "check")![1]).toBe(12);
    expect(t!.total).toBe(32.1);
  });

  test("WHEN there is none (unchanged) or it is garbled THEN nothing is read", () => {
    expect(parseApplyTimings(["maglev-apply: unchanged"])).toBeUndefined();
    expect(parseApplyTimings(["maglev-apply: timings: check twelve; total 3s"])).toBeUndefined();
  });
});

describe("GIVEN the timings of several hosts", () => {
  test("WHEN the first host skipped phases others ran THEN the columns still follow the programs' order", () => {
    const rows = timingsTable({
      a: parseApplyTimings(["maglev-apply: timings: check 1.0s, health 2.0s; total 3.0s"]),
      b: parseApplyTimings([
        "maglev-apply: timings: wait 0.5s, check 1.0s, record 0.4s, drain 0.3s, health 1.0s; total 3.2s",
      ]),
    });
    expect(rows[0].split(/\s+/)).toEqual("host wait check record drain health total".split(" "));
  });

  test("WHEN tabled THEN hosts sorted, phases under 0.1 s on every host left out, a host without timings shown as -", () => {
    const rows = timingsTable({
      "lab-vm-mlb01": parseApplyTimings([LINE]),
      "lab-vm-dns00": parseApplyTimings([
        "maglev-apply: timings: wait 0.0s, stage 0.2s, check 4.0s; total 5.0s",
      ]),
      "lab-vm-gone": undefined,
    });
    expect(rows[0].split(/\s+/)).toEqual(
      "host stage check activate services health commit total".split(" "),
    );
    expect(rows.slice(1).map((r) => r.split(/\s+/)[0])).toEqual([
      "lab-vm-dns00",
      "lab-vm-gone",
      "lab-vm-mlb01",
    ]);
    expect(rows[3].split(/\s+/).slice(1)).toEqual("0.4 12.0 6.5 3.1 9.8 0.2 32.1".split(" "));
    expect(rows[2].split(/\s+/).slice(1)).toEqual(["-", "-", "-", "-", "-", "-", "-"]);
    // Columns line up: every row's total ends where the header's does.
    expect(new Set([rows[0], rows[1], rows[3]].map((r) => r.length)).size).toBe(1);
  });
});

describe("GIVEN a rollback scenario's load that lost a request", () => {
  test("WHEN reported THEN the second after the apply's start and the apply's phase windows are named", () => {
    const t0 = 1_000_000_000_000;
    const figs = [
      {
        url: "http://[fd00:7::10]:80/",
        newConnections: true,
        requests: 100,
        failed: 1,
        rps: 10,
        detail: "",
        perSecond: [
          { second: t0 / 1000 + 3, written: 10, ok: 10, failed: 0 },
          { second: t0 / 1000 + 17, written: 10, ok: 9, failed: 1 },
        ],
      },
    ];
    const phases = [
      "maglev-apply: timings: stage 0.4s, check 4.6s, activate 2.0s, health 15.0s, rollback 3.0s; total 25.0s",
    ];
    expect(whenLost(figs, t0, phases)).toBe(
      "lost in second(s) +17 of the apply (phases: stage 0.0–0.4 s, check 0.4–5.0 s, activate 5.0–7.0 s, health 7.0–22.0 s, rollback 22.0–25.0 s)",
    );
  });
});
