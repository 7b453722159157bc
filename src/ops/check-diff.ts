/**
 * `check --diff`: every drifted file fetched from the host with its secrets masked there (by the
 * host's own apply program), and shown as a unified diff against the plan.
 */
import { HostFacts } from "../topology";
import { HostPlan } from "../plan/types";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as nodePath from "path";
import { CURRENT_LINK } from "../bundle";
import { hostScriptCommand } from "../plan/scripts";
import { HostRunner } from "./runner";
import { DriftedFile } from "./check-rows";

/** One drifted file as a unified diff (`---` the plan, `+++` the host), secrets as their placeholders. */
export interface FileDiff {
  host: string;
  path: string;
  why: DriftedFile["why"];
  /** The unified diff; empty when it could not be had (see `note`). */
  diff: string;
  /** Why there is no diff, or what it was compared with (a variant). */
  note?: string;
}

/** The host's own apply program, from its committed generation: it masks secrets with the apply's own escaping. */
export const HOST_MASKER = `${CURRENT_LINK}/maglev-apply`;
/** A diff longer than this is cut (a file replaced wholesale says enough in its first lines). */
export const DIFF_MAX_LINES = 400;

/**
 * One run on the host (scripts/host/check-diff.sh): every drifted file through the host's apply
 * program in `--mask` mode (secret values never leave the host; a host whose program predates
 * it prints nothing and then only files without secrets are read with `cat`), and the marker
 * of every file with variants.
 */
export function diffScript(plan: HostPlan, drifted: DriftedFile[]): string {
  const files = drifted
    .filter((d) => d.why !== "missing")
    .map((d) => plan.files.find((f) => f.path === d.path)!);
  const plain = files.filter((f) => !f.secretKeys?.length);
  const variants = files.flatMap((f) =>
    (f.variants ?? []).flatMap((v, i) => [String(i), f.path, v.when.contains, v.when.path]),
  );
  return hostScriptCommand("check-diff.sh", [
    HOST_MASKER,
    ...files.map((f) => f.path),
    "--",
    ...plain.map((f) => f.path),
    "--",
    ...variants,
  ]);
}

/** The frames of a diff script's output: path → live text (masked), and the variant chosen per path. */
export function parseDiffOutput(out: string): {
  texts: Map<string, string>;
  variants: Map<string, number>;
} {
  const texts = new Map<string, string>();
  const variants = new Map<string, number>();
  const heads = [...out.matchAll(/^@@maglev-(mask|variant)@@ (\S+) (.*)$/gm)];
  heads.forEach((m, i) => {
    if (m[1] === "variant") {
      if (!variants.has(m[3])) variants.set(m[3], Number(m[2]));
      return;
    }
    const start = m.index! + m[0].length + 1;
    const end = i + 1 < heads.length ? heads[i + 1].index! : out.length;
    const body = out.slice(start, Math.max(start, end));
    if (m[2] === "text") texts.set(m[3], body);
    else if (m[2] === "noeol" || m[2] === "cat") texts.set(m[3], body.slice(0, -1));
  });
  return { texts, variants };
}

/** `diff -u` (diffutils, on every Debian and macOS machine) of two texts, labelled. */
export function unifiedDiff(planned: string, live: string, path: string): string {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "maglev-diff-"));
  try {
    const a = nodePath.join(dir, "planned");
    const b = nodePath.join(dir, "live");
    fs.writeFileSync(a, planned);
    fs.writeFileSync(b, live);
    const r = spawnSync("diff", ["-u", "--label", `plan${path}`, "--label", `host${path}`, a, b], {
      encoding: "utf8",
    });
    if (r.status !== 0 && r.status !== 1)
      throw new Error(`diff failed: ${(r.stderr || r.error?.message || "").trim()}`);
    const lines = r.stdout.split("\n");
    return lines.length > DIFF_MAX_LINES + 1
      ? lines.slice(0, DIFF_MAX_LINES).join("\n") +
          `\n… (${lines.length - DIFF_MAX_LINES} more lines)\n`
      : r.stdout;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The diffs of one host's drifted files (one run on the host). */
export async function hostDiffs(
  plan: HostPlan,
  h: HostFacts,
  drifted: DriftedFile[],
  runner: HostRunner,
): Promise<FileDiff[]> {
  if (!drifted.length) return [];
  const present = drifted.filter((d) => d.why !== "missing");
  const { texts, variants } = present.length
    ? parseDiffOutput((await runner.run(h.hostname, diffScript(plan, drifted), 60000)).stdout)
    : { texts: new Map(), variants: new Map() };
  return drifted.map((d) => {
    const f = plan.files.find((x) => x.path === d.path)!;
    const base = { host: h.hostname, path: d.path, why: d.why };
    const vi = variants.get(d.path);
    const planned = vi !== undefined && f.variants?.[vi] ? f.variants[vi].content : f.content;
    const note =
      vi !== undefined && f.variants?.[vi]
        ? `compared with the variant for ${f.variants[vi].when.path}`
        : undefined;
    if (d.why === "missing")
      return {
        ...base,
        diff: unifiedDiff(planned, "", d.path).replace(
          /^\+\+\+ .*$/m,
          `+++ host${d.path} (missing)`,
        ),
        ...(note ? { note } : {}),
      };
    const live = texts.get(d.path);
    if (live === undefined)
      return {
        ...base,
        diff: "",
        note: f.secretKeys?.length
          ? "not shown: the host's apply program cannot mask its secrets (re-apply the host to update it)"
          : "could not be read on the host",
      };
    const diff = unifiedDiff(planned, live, d.path);
    return {
      ...base,
      diff,
      ...(note
        ? { note }
        : !diff
          ? { note: "the masked text equals the plan: only a secret value differs" }
          : {}),
    };
  });
}

/** The diffs as text, after the table. */
export function formatDiffs(diffs: FileDiff[]): string {
  return diffs
    .map((d) => `# ${d.host}: ${d.path} (${d.why})${d.note ? ` — ${d.note}` : ""}\n${d.diff}`)
    .join("\n");
}
