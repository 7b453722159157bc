/**
 * Many probes in one run on a host: each command's output and exit status framed, so a host
 * costs one SSH connection (one exec in the lab). Used by `check`; pure (no I/O).
 */

/** One command of a host's probe; its output is framed so that all of them share one run. */
export interface Probe {
  key: string;
  command: string;
  /** Drop stderr instead of merging it into the output (commands whose stdout is JSON). @default false */
  quietStderr?: boolean;
}

/** A probe's framed output and exit status. */
export interface ProbeResult {
  out: string;
  code: number;
}

const FRAME = "@@maglev-check@@";

/**
 * One shell script that runs every probe in turn and frames each one's output and exit status:
 * a host costs one SSH connection (one exec in the lab) instead of one per probe. On a busy
 * host, and in the lab's guests on two shared cores, a burst of short execs is what hurts —
 * there it starved bfdd past its 300 ms detection time. Commands run in a group, not a subshell
 * (no fork each), so a probe must not `exit`.
 */
export function probeScript(probes: Probe[]): string {
  return (
    probes
      .map(
        (p) =>
          `echo '${FRAME} ${p.key}'\n{ ${p.command}\n} ${p.quietStderr ? "2>/dev/null" : "2>&1"}\necho "${FRAME} rc $?"`,
      )
      .join("\n") + "\n"
  );
}

/** The framed output of `probeScript` → key → output and exit status. A probe that never ran is absent. */
export function parseProbes(stdout: string): Map<string, ProbeResult> {
  const out = new Map<string, ProbeResult>();
  let key: string | undefined;
  let lines: string[] = [];
  for (const raw of stdout.split("\n")) {
    const at = raw.indexOf(FRAME + " ");
    if (at < 0) {
      if (key !== undefined) lines.push(raw);
      continue;
    }
    // Output without a final newline ends on the frame's line.
    if (at > 0 && key !== undefined) lines.push(raw.slice(0, at));
    const rest = raw.slice(at + FRAME.length + 1);
    const rc = /^rc (\d+)$/.exec(rest);
    if (rc && key !== undefined) {
      out.set(key, { out: lines.join("\n"), code: Number(rc[1]) });
      key = undefined;
    } else if (!rc) {
      key = rest;
      lines = [];
    }
  }
  return out;
}
