/**
 * lab/pdns-zone.sh, the lab's DNS chain after its applies (lab/cluster.ts applyHost), run for
 * real (bash) against the fakes on PATH of test/host/fakes (runuser, pdnsutil, pdns_control, dig)
 * that log what they are asked into the test's state folder.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const FAKES = path.join(__dirname, "..", "host", "fakes");
const SCRIPT = path.join(__dirname, "..", "..", "lab", "pdns-zone.sh");

let state: string;
beforeEach(() => (state = fs.mkdtempSync(path.join(os.tmpdir(), "pdns-zone-"))));
afterEach(() => fs.rmSync(state, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync("bash", [SCRIPT, ...args], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${FAKES}:${process.env.PATH}`, FAKE_STATE: state, ...env },
  });
  const log = path.join(state, "calls.log");
  const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trimEnd().split("\n") : [];
  return { rc: r.status, stderr: r.stderr, calls };
}

describe("pdns-zone.sh load", () => {
  test("GIVEN the zone has no NS record WHEN loaded THEN the file is loaded as pdns, the zone made primary, a NOTIFY sent", () => {
    fs.writeFileSync(path.join(state, "zone-lab.example"), "lab.example 3600 IN SOA …\n");
    expect(run(["load", "lab.example", "/run/lab-zone.db"])).toEqual({
      rc: 0,
      stderr: "",
      calls: [
        "pdnsutil list-zone lab.example",
        "pdnsutil load-zone lab.example /run/lab-zone.db",
        "pdnsutil set-kind lab.example primary",
        "pdns_control notify lab.example",
      ],
    });
    expect(fs.readFileSync(path.join(state, "runuser.log"), "utf8")).toBe("pdns\npdns\npdns\n");
  });

  test("GIVEN no zone yet WHEN loaded THEN it is loaded too", () => {
    expect(run(["load", "lab.example", "/run/lab-zone.db"]).calls).toContain(
      "pdnsutil load-zone lab.example /run/lab-zone.db",
    );
  });

  test("GIVEN the zone has its NS record (loaded before, pushed since) WHEN loaded THEN only the NOTIFY", () => {
    fs.writeFileSync(
      path.join(state, "zone-lab.example"),
      "lab.example\t3600\tIN\tNS\tns1.lab.example.\n",
    );
    expect(run(["load", "lab.example", "/run/lab-zone.db"]).calls).toEqual([
      "pdnsutil list-zone lab.example",
      "pdns_control notify lab.example",
    ]);
  });
});

describe("pdns-zone.sh transfer", () => {
  test("GIVEN the SOA is answered on the third query WHEN it transfers THEN one retrieve, a purge before each query, exit 0", () => {
    const r = run(["transfer", "lab.example", "20"], {
      FAKE_DIG_AFTER: "3",
      FAKE_DIG_ANSWER: "ns1.lab.example. hostmaster.lab.example. 1 10800 3600 604800 60",
    });
    const dig = "dig +short +time=1 +tries=1 @127.0.0.1 SOA lab.example";
    const purge = "pdns_control purge lab.example$";
    expect(r).toEqual({
      rc: 0,
      stderr: "",
      calls: ["pdns_control retrieve lab.example", purge, dig, purge, dig, purge, dig],
    });
  });

  test("GIVEN the SOA is never answered WHEN it transfers for 1 s THEN exit 1 saying so", () => {
    const r = run(["transfer", "lab.example", "1"], { FAKE_DIG_ANSWER: "" });
    expect(r.rc).toBe(1);
    expect(r.stderr).toMatch(/^zone lab.example not transferred after 1 s; pdns log:\n/);
  });

  test("GIVEN an unknown action THEN exit 2", () => {
    expect(run(["reload", "lab.example"])).toMatchObject({ rc: 2, calls: [] });
  });
});
