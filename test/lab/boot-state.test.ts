/**
 * lab/boot-state.sh, what the reboot scenario asks a guest after its boot (lab/scenarios/
 * reboot.ts), run for real (bash) with fakes of sysctl, systemctl, ip and nft on PATH that answer
 * from a temp folder, and its output read by the scenario's own parser.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildPlans, HostPlan } from "../../src/plan";
import { deriveTopology } from "../../src/topology";
import { loadStack } from "../../src/config/load";
import { BOOT_STATE, bootStateCommand, bootStateProblems } from "../../lab/scenarios/reboot";
import { ROOT } from "../helpers";

const maglev = buildPlans(deriveTopology(loadStack("lab", ROOT))).find((p) => p.tier === "maglev")!;
/** With a value of two words, which sysctl prints with a tab. */
const plan: HostPlan = {
  ...maglev,
  sysctls: [...maglev.sysctls, { key: "net.ipv4.ip_local_port_range", value: "1024 65535" }],
};

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "boot-state-"));
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  fs.mkdirSync(path.join(dir, "sysctl"));
  fs.mkdirSync(path.join(dir, "units"));
  const fake = (name: string, body: string) =>
    fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  // sysctl -n KEY; systemctl is-active UNIT; ip -br addr show dev vip; nft list tables
  fake(
    "sysctl",
    'f="$FAKE/sysctl/$2"; [ -e "$f" ] && exec cat "$f"; echo "sysctl: cannot stat /proc/sys/${2//.//}: No such file or directory" >&2; exit 255',
  );
  fake("systemctl", 'cat "$FAKE/units/$2" 2>/dev/null || echo inactive');
  fake(
    "ip",
    '[ -e "$FAKE/vip" ] && cat "$FAKE/vip" || { echo "Device \\"vip\\" does not exist." >&2; exit 1; }',
  );
  fake("nft", 'cat "$FAKE/nft"');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A guest as booted: every sysctl at the plan's value, every unit active, VIPs and the mark table. */
function booted() {
  for (const s of plan.sysctls)
    fs.writeFileSync(path.join(dir, "sysctl", s.key), s.value.replace(/ /g, "\t") + "\n");
  for (const u of plan.services) fs.writeFileSync(path.join(dir, "units", u), "active\n");
  fs.writeFileSync(
    path.join(dir, "vip"),
    "vip              UNKNOWN        198.18.7.15/32 fd00:7::10/128 \n",
  );
  fs.writeFileSync(path.join(dir, "nft"), "table inet maglev_infra\ntable ip nat\n");
}

function ask(p: HostPlan) {
  const r = spawnSync("bash", ["-c", bootStateCommand(p)], {
    encoding: "utf8",
    env: { PATH: `${path.join(dir, "bin")}:/usr/bin:/bin`, FAKE: dir },
  });
  return { rc: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("GIVEN the command WHEN a shell parses it THEN it runs lab/boot-state.sh's text with the keys, --, the units", () => {
  const r = spawnSync("bash", ["-c", `printf '%s\\0' ${bootStateCommand(plan)}`], {
    encoding: "utf8",
  });
  expect(r.stdout.split("\0").slice(0, -1)).toEqual([
    "bash",
    "-c",
    fs.readFileSync(BOOT_STATE, "utf8"),
    "boot-state",
    ...plan.sysctls.map((s) => s.key),
    "--",
    ...plan.services,
  ]);
});

test("GIVEN a maglev booted with its plan's state WHEN asked THEN one line per key and unit, V and M, and no problem", () => {
  booted();
  const r = ask(plan);
  expect(r.rc).toBe(0);
  expect(r.stdout).toBe(
    [
      ...plan.sysctls.map((s) => `S ${s.key} ${s.value}`),
      ...plan.services.map((u) => `U ${u} active`),
      "V vip UNKNOWN 198.18.7.15/32 fd00:7::10/128 ",
      "M table inet maglev_infra table ip nat ",
      "",
    ].join("\n"),
  );
  expect(bootStateProblems(plan, r.stdout)).toEqual([]);
});

test("GIVEN a sysctl lost, a unit failed, no vip and no mark table WHEN asked THEN each is a problem", () => {
  booted();
  fs.writeFileSync(path.join(dir, "sysctl", "net.ipv4.vs.conntrack"), "1\n");
  fs.rmSync(path.join(dir, "sysctl", "net.ipv4.vs.sloppy_tcp"));
  fs.writeFileSync(path.join(dir, "units", "exabgp"), "failed\n");
  fs.rmSync(path.join(dir, "units", "frr"));
  fs.rmSync(path.join(dir, "vip"));
  fs.writeFileSync(path.join(dir, "nft"), "table ip nat\n");
  expect(bootStateProblems(plan, ask(plan).stdout)).toEqual([
    "net.ipv4.vs.conntrack=1 (plan 0)",
    "net.ipv4.vs.sloppy_tcp=sysctl: cannot stat /proc/sys/net/ipv4/vs/sloppy_tcp: No such file or directory (plan 1)",
    "exabgp failed",
    "frr inactive",
    "no VIPs on vip ( )",
    "no mark table (table ip nat )",
  ]);
});

test("GIVEN a plan with no sysctls and no units WHEN asked THEN only V and M", () => {
  booted();
  expect(ask({ ...plan, sysctls: [], services: [] }).stdout).toBe(
    "V vip UNKNOWN 198.18.7.15/32 fd00:7::10/128 \nM table inet maglev_infra table ip nat \n",
  );
});
