/**
 * Tier test helpers: plan a host, run a file's real checker, and golden files.
 *
 * Golden files of one host's plan: test/golden/<env>/<host>/<absolute path> for every planned
 * file, plus plan.json (everything but the contents). `UPDATE_GOLDEN=1 npx jest test/tiers`
 * rewrites them; otherwise any difference (changed, missing or stale file) fails the test, a
 * changed file with its unified diff (golden → rendered), so the failure shows what moved.
 */
import * as fs from "fs";
import * as path from "path";
import * as os from "os";
import { spawnSync } from "child_process";
import { deriveTopology, Topology } from "../../src/topology";
import { planHost, HostPlan, PlannedFile } from "../../src/plan";
import { checkFile, CheckResult } from "../../src/validate";
import { mgmt02Raw, mustValidate } from "../helpers";

export const GOLDEN_ROOT = path.resolve(__dirname, "..", "golden");

function planSummary(p: HostPlan): string {
  const { files, ...rest } = p;
  return (
    JSON.stringify({ ...rest, files: files.map(({ content: _c, ...meta }) => meta) }, null, 2) +
    "\n"
  );
}

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** The expected files of a host, relative path → content. */
export function goldenEntries(p: HostPlan): Map<string, string> {
  const m = new Map<string, string>([["plan.json", planSummary(p)]]);
  for (const f of p.files) m.set(f.path.replace(/^\/+/, ""), f.content);
  return m;
}

/** Lines of a unified diff shown per changed file; the rest is counted, not printed. */
const DIFF_LINES = 80;

/** `diff -u` of the golden file against the rendered content (diffutils is Essential in Debian). */
export function unifiedDiff(rel: string, goldenFile: string, content: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "golden-diff-"));
  try {
    const rendered = path.join(dir, "rendered");
    fs.writeFileSync(rendered, content);
    const r = spawnSync(
      "diff",
      ["-u", "--label", `golden/${rel}`, "--label", `rendered/${rel}`, goldenFile, rendered],
      {
        encoding: "utf8",
      },
    );
    const lines = r.stdout.trimEnd().split("\n");
    const more = lines.length - DIFF_LINES;
    return lines.slice(0, DIFF_LINES).join("\n") + (more > 0 ? `\n… ${more} more diff lines` : "");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Returns a list of differences (empty = matches); with UPDATE_GOLDEN=1 writes and returns []. */
export function compareGolden(env: string, p: HostPlan): string[] {
  const dir = path.join(GOLDEN_ROOT, env, p.name);
  const want = goldenEntries(p);
  if (process.env.UPDATE_GOLDEN === "1") {
    fs.rmSync(dir, { recursive: true, force: true });
    for (const [rel, content] of want) {
      const f = path.join(dir, rel);
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, content);
    }
    return [];
  }
  const diffs: string[] = [];
  for (const [rel, content] of want) {
    const f = path.join(dir, rel);
    if (!fs.existsSync(f)) diffs.push(`missing golden ${rel} (run UPDATE_GOLDEN=1)`);
    else if (fs.readFileSync(f, "utf8") !== content)
      diffs.push(`changed ${rel}:\n${unifiedDiff(rel, f, content)}`);
  }
  for (const f of walk(dir)) {
    const rel = path.relative(dir, f);
    if (!want.has(rel)) diffs.push(`stale golden ${rel}`);
  }
  return diffs;
}

// ---- planning and checking helpers

export function topologyOf(raw: unknown = mgmt02Raw()): Topology {
  return deriveTopology(mustValidate(raw));
}

export function plan(name: string, topo: Topology = topologyOf()): HostPlan {
  const h = topo.byName.get(name);
  if (!h) throw new Error(`no host ${name}`);
  return planHost(topo, h);
}

export function file(p: HostPlan, filePath: string): PlannedFile {
  const f = p.files.find((x) => x.path === filePath);
  if (!f)
    throw new Error(
      `${p.name}: no file ${filePath} (have ${p.files.map((x) => x.path).join(", ")})`,
    );
  return f;
}

export function installed(cmd: string): boolean {
  return (process.env.PATH ?? "").split(":").some((d) => fs.existsSync(path.join(d, cmd)));
}

/** Run the file's own checker against `content` (default: the planned content). */
export async function check(
  host: string,
  f: PlannedFile,
  content = f.content,
): Promise<CheckResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tier-test-"));
  try {
    const onDisk = path.join(dir, path.basename(f.path));
    fs.writeFileSync(onDisk, content);
    return await checkFile(host, f, onDisk);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Every file of the plan that has a checker installed here passes it. Returns the failures. */
export async function failingFiles(p: HostPlan): Promise<string[]> {
  const out: string[] = [];
  for (const f of p.files) {
    if (!f.validate || !installed(f.validate.checker)) continue;
    const r = await check(p.hostname, f);
    if (!r.ok) out.push(`${f.path}: ${r.message}`);
  }
  return out;
}
