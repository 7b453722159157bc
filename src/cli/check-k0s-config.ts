/**
 * Offline checker for a rendered k0s.yaml: parses it and checks it against the typed schema
 * of the ClusterConfig fields this project uses (k0s itself is not packaged in Debian; on the
 * host, `k0s config validate` runs instead). Exit 1 with the problems on stderr.
 */
import * as fs from "fs";
import * as YAML from "yaml";
import { assertClusterConfig } from "../daemons/k0s/schema";

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: check-k0s-config <k0s.yaml>\n");
  process.exit(2);
}
try {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  const errs = docs.flatMap((d) => d.errors.map((e) => e.message));
  if (errs.length) throw new Error(errs.join("; "));
  assertClusterConfig(docs[0].toJS(), file);
  process.stdout.write(`${file}: ClusterConfig ok\n`);
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
}
