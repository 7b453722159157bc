/**
 * The scenarios' load chain (lab/scenarios/load-mix.ts): windows back to back while a change
 * runs, and what happens when the client's load generator stops answering — the chain stops at
 * once instead of waiting out every window's time limit.
 */
import { spawnSync } from "child_process";
import { Lab } from "../../lab/guest";
import { buildLabModel } from "../../lab/topology";
import { loadChain, LoadGeneratorDead } from "../../lab/scenarios/load-mix";
import { ROOT } from "../helpers";

const m = buildLabModel("lab", ROOT);

/** wrk's report for one target, as the client prints it after `=== <i>`. */
const report = (i: number) =>
  `=== ${i}\nRunning 1s test @ http://x/\n  100 requests in 1.00s, 10KB read\nRequests/sec:    100.00\n`;

function fakeLab(answer: (call: number, script: string) => Promise<string>): {
  lab: Lab;
  calls: () => number;
} {
  let calls = 0;
  const lab = {
    exec: async (node: string, script: string) => {
      expect(node).toBe("client");
      const out = await answer(++calls, script);
      return { code: 0, stdout: out, stderr: "" };
    },
  } as unknown as Lab;
  return { lab, calls: () => calls };
}

describe("load chain", () => {
  test("GIVEN a client whose wrk reports WHEN the chain is stopped after some windows THEN it returns every target's figures of every window", async () => {
    const { lab, calls } = fakeLab(async (_n, script) => {
      // lab/load-wrk.sh's command line: bash -c TEXT load-wrk SECONDS, then 4 words a target.
      const words = spawnSync("bash", ["-c", `printf '%s\\0' ${script}`], { encoding: "utf8" })
        .stdout.split("\0")
        .slice(0, -1);
      const targets = (words.length - 5) / 4;
      expect(targets).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 20));
      return Array.from({ length: targets }, (_, i) => report(i)).join("");
    });
    const chain = loadChain(lab, m, { windowS: 1, maxWindows: 50 });
    await new Promise((r) => setTimeout(r, 100));
    const figs = await chain.stop();
    expect(calls()).toBeGreaterThanOrEqual(2);
    expect(figs.length % calls()).toBe(0);
    expect(figs.every((f) => f.failed === 0 && f.requests === 100)).toBe(true);
  });

  test("GIVEN a client whose wrk gives no report (agent gone, wrk missing) WHEN a window ends THEN the chain runs no further window and stop() throws LoadGeneratorDead with the client's output", async () => {
    const { lab, calls } = fakeLab(async () => "bash: line 3: wrk: command not found\n");
    const chain = loadChain(lab, m, { windowS: 1, maxWindows: 50 });
    await new Promise((r) => setTimeout(r, 100));
    await expect(chain.stop()).rejects.toThrow(LoadGeneratorDead);
    expect(calls()).toBe(1);
  });

  test("GIVEN a client whose exec fails (its agent timed out) WHEN the window ends THEN stop() throws LoadGeneratorDead naming the failure", async () => {
    const { lab, calls } = fakeLab(async () => {
      throw new Error("exec on client timed out after 38000 ms");
    });
    const chain = loadChain(lab, m, { windowS: 1, maxWindows: 50 });
    await new Promise((r) => setTimeout(r, 50));
    await expect(chain.stop()).rejects.toThrow(/timed out after 38000 ms/);
    expect(calls()).toBe(1);
  });
});
