/**
 * The exec agent's host side (the guest side is lab/machine/agent.sh): a job is a script file
 * in the node dir's in/, its results in out/; files reach the guest through xfer/.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { shellWord } from "../../src/escape";
import { sleep } from "./proc";
import type { ExecOptions, ExecResult, FileToWrite } from "./types";

/** A job or file name unique in this lab: time, this process's counter `seq`, random bytes. */
export function jobId(seq: number): string {
  return `${Date.now().toString(36)}-${seq.toString(36)}-${randomBytes(3).toString("hex")}`;
}

/**
 * Run a bash script through the agent of the guest whose node dir is `dir`: the script in
 * in/<id>.sh (stdin beside it), its stdout, stderr and rc read back from out/. `running` tells
 * whether the guest process is still there (checked every 0.5 s).
 */
export async function execInGuest(
  dir: string,
  node: string,
  id: string,
  script: string,
  opts: ExecOptions,
  running: () => boolean,
): Promise<ExecResult> {
  const inSh = path.join(dir, "in", `${id}.sh`);
  const out = (ext: string) => path.join(dir, "out", `${id}.${ext}`);
  const t0 = Date.now();
  const stdinFile = path.join(dir, "in", `${id}.stdin`);
  if (opts.stdin !== undefined) {
    fs.writeFileSync(stdinFile, opts.stdin, { mode: 0o600 });
    script = `exec 0<'/run/lab/in/${id}.stdin'\n${script}`;
  }
  // tmp + rename: the agent never sees half a script.
  fs.writeFileSync(path.join(dir, "in", `${id}.tmp`), script);
  fs.renameSync(path.join(dir, "in", `${id}.tmp`), inSh);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let code: number | undefined;
  let lastAliveCheck = t0;
  for (;;) {
    try {
      // The agent writes the rc in one write: empty means "not yet".
      const rc = fs.readFileSync(out("rc"), "utf8");
      if (/^\d+\n$/.test(rc)) {
        code = Number(rc.trim());
        break;
      }
    } catch {
      /* not there yet */
    }
    const now = Date.now();
    if (now - t0 > timeoutMs) break;
    if (now - lastAliveCheck > 500) {
      lastAliveCheck = now;
      if (!running()) break;
    }
    await sleep(now - t0 < 1000 ? 5 : 25);
  }
  if (code === undefined) {
    fs.writeFileSync(path.join(dir, "in", `${id}.kill`), "");
    await sleep(200);
  }
  const read = (ext: string) => {
    try {
      return fs.readFileSync(out(ext), "utf8");
    } catch {
      return "";
    }
  };
  const res: ExecResult = {
    stdout: read("out"),
    stderr:
      read("err") +
      (code === undefined
        ? running()
          ? `\n[lab] timeout after ${timeoutMs} ms`
          : `\n[lab] guest ${node} is gone`
        : ""),
    code: code ?? 124,
    ms: Date.now() - t0,
  };
  for (const p of [
    inSh,
    stdinFile,
    path.join(dir, "in", `${id}.kill`),
    out("out"),
    out("err"),
    out("rc"),
  ])
    fs.rmSync(p, { force: true });
  return res;
}

/**
 * Write files into the guest whose node dir is `dir`: staged on the host (xfer/<id>), then one
 * script (`run`) installs them all (`install` to a temp name next to the target, then an atomic `mv`).
 */
export async function writeFilesInGuest(
  dir: string,
  files: FileToWrite[],
  newId: () => string,
  run: (script: string) => Promise<unknown>,
): Promise<void> {
  const lines = ["set -e"];
  const staged: string[] = [];
  for (const f of files) {
    const name = newId();
    const host = path.join(dir, "xfer", name);
    fs.writeFileSync(host, f.content);
    staged.push(host);
    const [user, group] = (f.owner ?? "root:root").split(":");
    const tmp = `${f.path}.lab-new`;
    lines.push(
      `install -D -m ${f.mode ?? "0644"} -o ${shellWord(user)} -g ${shellWord(group ?? user)} /run/lab/xfer/${name} ${shellWord(tmp)}`,
      `mv -f ${shellWord(tmp)} ${shellWord(f.path)}`,
    );
  }
  try {
    await run(lines.join("\n"));
  } finally {
    for (const p of staged) fs.rmSync(p, { force: true });
  }
}
