import { LabActions, runLab } from "../../lab/cli-program";

/** Actions that only record what they were called with: no guest starts. */
function recorder(code = 0) {
  const calls: unknown[][] = [];
  const rec =
    (name: string) =>
    async (...args: unknown[]) => {
      calls.push([name, ...args]);
      return code;
    };
  const actions: LabActions = {
    up: rec("up"),
    down: rec("down"),
    status: rec("status"),
    exec: rec("exec"),
    stop: rec("stop"),
    start: rec("start"),
    reboot: rec("reboot"),
    apply: rec("apply"),
    test: rec("test"),
  };
  return { actions, calls };
}

async function lab(argv: string[], code = 0) {
  const { actions, calls } = recorder(code);
  let out = "";
  let err = "";
  const status = await runLab(actions, argv, {
    out: (s) => (out += s),
    err: (s) => (err += s),
  });
  return { status, calls, out, err };
}

describe("npm run lab -- <command> (lab/cli-program.ts)", () => {
  test.each([
    [["up"], ["up", { stack: "lab" }]],
    [
      ["up", "--stack", "mgmt02"],
      ["up", { stack: "mgmt02" }],
    ],
    [["down"], ["down"]],
    [["status"], ["status"]],
    [
      ["stop", "lab-vm-mgw01"],
      ["stop", "lab-vm-mgw01"],
    ],
    [
      ["start", "lab-vm-mgw01"],
      ["start", "lab-vm-mgw01"],
    ],
    [
      ["reboot", "lab-vm-mlb01"],
      ["reboot", "lab-vm-mlb01"],
    ],
    [["apply"], ["apply", { stack: undefined }]],
    [
      ["apply", "--stack", "lab-sites"],
      ["apply", { stack: "lab-sites" }],
    ],
    [["test"], ["test", []]],
    [
      ["test", "maglev-power-cut", "e"],
      ["test", ["maglev-power-cut", "e"]],
    ],
    [
      ["test", "a", "--keep", "b"],
      ["test", ["a", "b", "--keep"]],
    ],
    [
      ["test", "--all"],
      ["test", ["--all"]],
    ],
  ])("GIVEN %j THEN it calls %j and exits with the action's status", async (argv, call) => {
    const r = await lab(argv, 3);
    expect(r.calls).toEqual([call]);
    expect(r.status).toBe(3);
  });

  test("GIVEN exec with `--` THEN the words after it are the command, options included", async () => {
    const r = await lab(["exec", "lab-vm-mgw01", "--", "ip", "-j", "route", "show"]);
    expect(r.calls).toEqual([["exec", "lab-vm-mgw01", ["ip", "-j", "route", "show"]]]);
  });

  test("GIVEN exec without `--` THEN the command's own options are still its own", async () => {
    const r = await lab(["exec", "lab-vm-mgw01", "vtysh", "-c", "show bfd peers"]);
    expect(r.calls).toEqual([["exec", "lab-vm-mgw01", ["vtysh", "-c", "show bfd peers"]]]);
  });

  test("GIVEN exec with one quoted command line THEN it arrives as one argument (run by the guest's shell)", async () => {
    const r = await lab(["exec", "lab-vm-mgw01", "--", "ip route | wc -l"]);
    expect(r.calls).toEqual([["exec", "lab-vm-mgw01", ["ip route | wc -l"]]]);
  });

  test.each([[["exec", "lab-vm-mgw01"]], [["exec", "lab-vm-mgw01", "--"]], [["exec"]], [["stop"]]])(
    "GIVEN %j (a host or command missing) THEN nothing runs and it exits 2 with the usage",
    async (argv) => {
      const r = await lab(argv);
      expect(r.calls).toEqual([]);
      expect(r.status).toBe(2);
      expect(r.err).toMatch(/Usage: npm run lab -- /);
    },
  );

  test("GIVEN an unknown command, an unknown flag or no command THEN it exits 2 and runs nothing", async () => {
    for (const argv of [["bogus"], ["up", "--stak", "lab"], []]) {
      const r = await lab(argv);
      expect(r.calls).toEqual([]);
      expect(r.status).toBe(2);
      expect(r.err).toMatch(/Usage: npm run lab -- /);
    }
  });

  test("GIVEN --help THEN every command and the environment variables are listed, exit 0", async () => {
    const r = await lab(["--help"]);
    expect(r.status).toBe(0);
    expect(r.calls).toEqual([]);
    for (const c of ["up", "down", "status", "exec", "stop", "start", "reboot", "apply", "test"])
      expect(r.out).toMatch(new RegExp(`^  ${c}\\b`, "m"));
    for (const v of ["MAGLEV_LAB_DIR", "MAGLEV_LAB_KERNEL", "LAB_EXEC_TIMEOUT_MS", "LAB_KEEP"])
      expect(r.out).toContain(v);
  });

  test("GIVEN a command's --help THEN its own usage, exit 0", async () => {
    const r = await lab(["exec", "--help"]);
    expect(r.status).toBe(0);
    expect(r.out).toContain("Usage: npm run lab -- exec <host> -- <cmd…>");
  });

  test("GIVEN an action that throws THEN the error reaches the caller (lab/cli.ts prints `lab: …`, exit 1)", async () => {
    const { actions } = recorder();
    actions.status = async () => {
      throw new Error("no lab in /run/maglev-lab (npm run lab -- up)");
    };
    await expect(runLab(actions, ["status"], { out: () => {}, err: () => {} })).rejects.toThrow(
      /no lab in/,
    );
  });
});
