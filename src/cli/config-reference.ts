/** Prints the README's config reference table (generated from the schema): `npx tsx src/cli/config-reference.ts`. */
import * as fs from "fs";
import * as path from "path";
import { referenceTable } from "../config/reference";

process.stdout.write(
  referenceTable(fs.readFileSync(path.join(__dirname, "../config/schema.ts"), "utf8")) + "\n",
);
