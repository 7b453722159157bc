/**
 * Programs that run on the hosts are files of their own under `scripts/host/` (linted and
 * tested there); a plan ships them with the generated-from-stack header after the shebang.
 */
import * as fs from "fs";
import * as path from "path";
import { Validate } from "./types";
import { header } from "./header";

/** The repository's folder of on-host programs. */
export const HOST_SCRIPTS_DIR = path.join(__dirname, "..", "..", "scripts", "host");

/** `scripts/host/<name>`, with the generated-from-stack header after its `#!` line. */
export function hostScript(name: string, stack: string): string {
  const text = fs.readFileSync(path.join(HOST_SCRIPTS_DIR, name), "utf8");
  const nl = text.indexOf("\n");
  if (!text.startsWith("#!") || nl < 0) throw new Error(`scripts/host/${name}: no #! line`);
  return text.slice(0, nl + 1) + header(stack, "#", `scripts/host/${name}`) + text.slice(nl + 1);
}

/** Python's own parser (writes nothing, unlike py_compile): a syntax error fails the apply. */
export const PYTHON_SYNTAX: Validate = {
  checker: "python3",
  command: "python3 -m ast {file} >/dev/null",
};

/** `bash -n`: the script parses. */
export const BASH_SYNTAX: Validate = { checker: "bash", command: "bash -n {file}" };
