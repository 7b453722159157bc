/** npm run diagram -- <stack> [--out file.mmd]: the environment's topology as mermaid. */
import { Command } from "commander";
import * as fs from "fs";
import { deriveTopology } from "../topology";
import { mermaidDiagram } from "../diagram";
import { loadOrExit } from "./common";

new Command()
  .name("diagram")
  .argument("<stack>", "stack name or stack file")
  .option("-o, --out <file>", "write to a file instead of stdout")
  .action((stack: string, opts: { out?: string }) => {
    const text = mermaidDiagram(deriveTopology(loadOrExit(stack)));
    if (opts.out) fs.writeFileSync(opts.out, text);
    else process.stdout.write(text);
  })
  .parse(process.argv);
