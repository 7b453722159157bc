/**
 * Programs that run on the hosts are files of their own under `scripts/host/` (linted and
 * tested there); a plan ships them with the generated-from-stack header after the shebang.
 */
import * as fs from "fs";
import * as path from "path";
import { Validate } from "./types";
import { header } from "./header";
import { shellWord } from "../escape";

/** The repository's folder of on-host programs. */
export const HOST_SCRIPTS_DIR = path.join(__dirname, "..", "..", "scripts", "host");

/** `scripts/host/<name>`, with the generated-from-stack header after its `#!` line. */
export function hostScript(name: string, stack: string): string {
  const text = fs.readFileSync(path.join(HOST_SCRIPTS_DIR, name), "utf8");
  const nl = text.indexOf("\n");
  if (!text.startsWith("#!") || nl < 0) throw new Error(`scripts/host/${name}: no #! line`);
  return text.slice(0, nl + 1) + header(stack, "#", `scripts/host/${name}`) + text.slice(nl + 1);
}

/**
 * A command line running the program in `file` with `shell` (`sh -c TEXT NAME ARGS…`) and these
 * arguments, every word through the shell escaper: how a day-2 command (src/ops, src/dns) or
 * the lab runs a program of the repository on a host, nothing installed there first.
 */
export function scriptCommand(file: string, args: string[], shell = "sh"): string {
  const text = fs.readFileSync(file, "utf8");
  const name = path.basename(file).replace(/\.sh$/, "");
  return [shell, "-c", text, name, ...args].map((w) => shellWord(w)).join(" ");
}

/** `scriptCommand` of `scripts/host/<name>`. */
export function hostScriptCommand(name: string, args: string[]): string {
  return scriptCommand(path.join(HOST_SCRIPTS_DIR, name), args);
}

/** Python's own parser (writes nothing, unlike py_compile): a syntax error fails the apply. */
export const PYTHON_SYNTAX: Validate = {
  checker: "python3",
  command: "python3 -m ast {file} >/dev/null",
};

/** `bash -n`: the script parses. */
export const BASH_SYNTAX: Validate = { checker: "bash", command: "bash -n {file}" };
