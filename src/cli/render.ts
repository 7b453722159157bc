/**
 * npm run render -- <stack> --out <dir>
 * Writes <dir>/<hostname>/<absolute path>, plan.json, dns-records.json and zone.db.
 * With bad config: every problem on stderr, exit 1, <dir> untouched.
 */
import { Command } from "commander";
import { checkRenderOut, renderEnvironment, writeRender } from "../render";
import { loadOrExit } from "./common";

const program = new Command()
  .name("render")
  .description("Render every host's files of a stack offline (no Pulumi CLI, no credentials)")
  .argument("<stack>", "stack name (stacks/Pulumi.<stack>.yaml) or path to a stack file")
  .requiredOption(
    "-o, --out <dir>",
    "output folder: missing, empty, or made by a previous render (then replaced as a whole); anything else is refused",
  )
  .action((stack: string, opts: { out: string }) => {
    // Refused before the stack is even read: a wrong --out never costs a render, never deletes.
    checkRenderOut(opts.out);
    const env = loadOrExit(stack);
    const r = renderEnvironment(env);
    writeRender(opts.out, r);
    const nFiles = r.plans.reduce((n, p) => n + p.files.length, 0);
    process.stdout.write(
      `rendered ${env.name}: ${r.plans.length} hosts, ${nFiles} files, ${r.topology.dnsRecords.length} DNS records → ${opts.out}\n`,
    );
  });

program.parseAsync(process.argv).catch((e) => {
  process.stderr.write(`render: ${(e as Error).message}\n`);
  process.exit(1);
});
