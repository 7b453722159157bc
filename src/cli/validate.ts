/**
 * npm run validate -- <stack>          render in memory, check every file with its real checker
 * npm run validate -- --dir <rendered> check a folder written by `npm run render`
 * One line per file: host, path, checker, ok | FAIL with the checker's own message.
 * Exit 1 if anything fails (a missing checker is a failure).
 */
import { Command } from "commander";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderEnvironment, writeRender } from "../render";
import { validatePlans, checkAlertRules, CheckResult } from "../validate";
import { ALERT_RULES_FILE } from "../monitoring/rules";
import { loadOrExit } from "./common";
import { PlannedFile, Sysctl } from "../plan/types";

function print(results: CheckResult[]): number {
  const w = (s: string, n: number) => s.padEnd(n);
  const hw = Math.max(...results.map((r) => r.host.length), 4);
  const pw = Math.max(...results.map((r) => r.what.length), 4);
  for (const r of results) {
    process.stdout.write(
      `${w(r.host, hw)}  ${w(r.what, pw)}  ${w(r.checker, 10)}  ${r.ok ? "ok" : "FAIL " + r.message}\n`,
    );
  }
  const failed = results.filter((r) => !r.ok).length;
  process.stdout.write(`\n${results.length - failed} passed, ${failed} failed\n`);
  return failed;
}

const program = new Command()
  .name("validate")
  .description("Check every rendered file with its daemon's own checker")
  .argument("[stack]", "stack name or stack file")
  .option("-d, --dir <dir>", "a folder written by `npm run render`")
  .action(async (stack: string | undefined, opts: { dir?: string }) => {
    let dir: string;
    let cleanup = false;
    if (opts.dir) {
      dir = path.resolve(opts.dir);
    } else if (stack) {
      const env = loadOrExit(stack);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-render-"));
      fs.rmSync(dir, { recursive: true });
      writeRender(dir, renderEnvironment(env));
      cleanup = true;
    } else {
      process.stderr.write("validate: give a stack or --dir\n");
      process.exit(2);
    }
    try {
      const planFile = path.join(dir, "plan.json");
      if (!fs.existsSync(planFile))
        throw new Error(`${planFile}: not found (is ${dir} a render folder?)`);
      const plan = JSON.parse(fs.readFileSync(planFile, "utf8")) as {
        hosts: { hostname: string; files: PlannedFile[]; sysctls: Sysctl[] }[];
      };
      const results = await validatePlans(plan.hosts, (h, p) => path.join(dir, h, p));
      const rules = path.join(dir, ALERT_RULES_FILE);
      if (fs.existsSync(rules)) results.push(await checkAlertRules(rules));
      process.exitCode = print(results) > 0 ? 1 : 0;
    } finally {
      if (cleanup) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

program.parseAsync(process.argv).catch((e) => {
  process.stderr.write(`validate: ${(e as Error).message}\n`);
  process.exit(1);
});
