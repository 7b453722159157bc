/**
 * lab/scenarios/index.ts: the order of `npm run lab -- test`, its ids (lab-results.json and the
 * result lines carry them) and the aliases — each scenario file's name — that select them.
 */
import * as fs from "fs";
import * as path from "path";
import { ALIASES, QUICK, SCENARIOS } from "../../lab/scenarios";
import { rebootedHosts } from "../../lab/scenarios/reboot";
import { rolloutOrder } from "../../lab/cluster";
import { buildLabModel } from "../../lab/topology";
import { ROOT } from "../helpers";

const DIR = path.join(ROOT, "lab/scenarios");
/** The folder's modules that hold no scenario. */
const NOT_SCENARIOS = ["index", "runner", "probes", "load-mix"];

describe("GIVEN the lab scenarios", () => {
  test("WHEN listed THEN the order and ids are the ones lab-results.json has carried", () => {
    expect(SCENARIOS.map((s) => s.id)).toEqual(
      "check a b g ports drift noop h h2 s f rollback removed-file d watchdog marks metrics c survival e dns-publish reboot first-boot maintain-all".split(
        " ",
      ),
    );
  });

  test("WHEN a bare `lab test` runs THEN it is the quick set, each a scenario --all runs too", () => {
    const ids = SCENARIOS.map((s) => s.id);
    expect(QUICK.filter((q) => !ids.includes(q))).toEqual([]);
    expect(QUICK.length).toBeLessThan(ids.length);
    // One of each kind of promise: a drain of each tier, the checker, the rollback, a power cut.
    expect(QUICK).toEqual(expect.arrayContaining(["h", "h2", "f", "rollback", "c"]));
  });

  test("WHEN the ids are compared THEN none is taken twice, by another scenario or an alias", () => {
    const ids = SCENARIOS.map((s) => s.id);
    expect(ids.filter((x, i) => ids.indexOf(x) !== i)).toEqual([]);
    expect(Object.keys(ALIASES).filter((a) => ids.includes(a))).toEqual([]);
    expect(Object.values(ALIASES).filter((id) => !ids.includes(id))).toEqual([]);
  });

  test("WHEN the folder is read THEN every scenario file's name is its id or an alias of it", () => {
    const ids = new Set(SCENARIOS.map((s) => s.id));
    const files = fs
      .readdirSync(DIR)
      .filter((f) => f.endsWith(".ts"))
      .map((f) => f.replace(/\.ts$/, ""))
      .filter((f) => !NOT_SCENARIOS.includes(f));
    expect(files.filter((f) => !ids.has(f) && !ALIASES[f])).toEqual([]);
    expect(files.length).toBe(ids.size);
  });
});

describe("GIVEN the lab stack's model", () => {
  const m = buildLabModel("lab", ROOT);

  test("WHEN a bare `lab test` runs THEN it reboots guests and builds one from a blank disk (issue 13)", () => {
    expect(QUICK).toEqual(expect.arrayContaining(["reboot", "first-boot"]));
  });

  test("WHEN `reboot` runs in the quick set THEN it reboots the first maglev and the first HAProxy node, in rollout order", () => {
    const quick = rebootedHosts({ m, quick: true });
    expect(quick.map((p) => p.tier)).toEqual(["haproxy", "maglev"]);
    const order = rolloutOrder(m);
    expect(quick.map((p) => p.hostname)).toEqual(
      order.filter((p) => quick.includes(p)).map((p) => p.hostname),
    );
    expect(quick[0]).toBe(order.find((p) => p.tier === "haproxy"));
    expect(quick[1]).toBe(order.find((p) => p.tier === "maglev"));
  });

  test("WHEN `reboot` is named or --all runs it THEN every managed guest is rebooted", () => {
    const every = rebootedHosts({ m, quick: false }).map((p) => p.hostname);
    expect([...every].sort()).toEqual(m.plans.map((p) => p.hostname).sort());
  });
});
