/**
 * Load a stack file (`stacks/Pulumi.<stack>.yaml`) or a raw config object and validate it.
 * Used by the offline tools (render, validate, lab, ops) and by the Pulumi program, so the
 * same rules apply everywhere.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- reads raw, not yet validated YAML and zod's untyped issue fields */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { z } from "zod";
import { environmentSchema, Environment } from "./schema";
import { ConfigError, crossFieldErrors, placeholderDigestErrors } from "./rules";

export type { ConfigError } from "./rules";

/** The project's config namespace; the environment is one object under `<namespace>:environment`. */
export const CONFIG_NAMESPACE = "maglev-infra";
export const ENVIRONMENT_KEY = `${CONFIG_NAMESPACE}:environment`;

export type LoadResult = { ok: true; env: Environment } | { ok: false; errors: ConfigError[] };

export class ConfigValidationError extends Error {
  constructor(
    public readonly source: string,
    public readonly errors: ConfigError[],
  ) {
    super(formatErrors(source, errors));
    this.name = "ConfigValidationError";
  }
}

function valueAt(root: unknown, p: PropertyKey[]): unknown {
  let cur: any = root;
  for (const k of p) {
    if (cur === null || cur === undefined) return undefined;
    cur = cur[k as any];
  }
  return cur;
}

export function formatPath(p: PropertyKey[]): string {
  let out = "";
  for (const k of p) {
    if (typeof k === "number") out += `[${k}]`;
    else out += out ? `.${String(k)}` : String(k);
  }
  return out;
}

/**
 * Keys the stack schema renamed: where the old key was (array indices as `[]`) → its new name.
 * A stack still using the old key is refused with the rename named (not as a typo), and the
 * missing new key is not reported besides (one problem per host, not two).
 */
export const RENAMED_KEYS: Readonly<Record<string, string>> = {
  // Issue 18: one name for the host's tier across the schema, the topology and the plan.
  "hosts[].role": "tier",
};

/** The RENAMED_KEYS pattern of a path: array indices as `[]`. */
const keyPattern = (p: PropertyKey[]) =>
  p.reduce<string>(
    (out, k) => (typeof k === "number" ? `${out}[]` : out ? `${out}.${String(k)}` : String(k)),
    "",
  );

function zodErrors(input: unknown, error: z.ZodError): ConfigError[] {
  const out: ConfigError[] = [];
  /** Paths of new keys missing where the old key is: that problem is the rename, reported once. */
  const renamedTo = new Set<string>();
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const k of issue.keys) {
        const to = RENAMED_KEYS[keyPattern([...issue.path, k])];
        if (to !== undefined) {
          renamedTo.add(formatPath([...issue.path, to]));
          out.push({
            path: formatPath([...issue.path, k]),
            message: `renamed to \`${to}\`: write \`${to}:\` instead of \`${k}:\``,
            value: valueAt(input, [...issue.path, k]),
          });
          continue;
        }
        out.push({
          path: formatPath([...issue.path, k]),
          message: "unknown key (a typo?)",
          value: valueAt(input, [...issue.path, k]),
        });
      }
      continue;
    }
    if (issue.code === "invalid_key") {
      // A record key (a group or site name): name the key itself, and why.
      const key = issue.path[issue.path.length - 1];
      const why = ((issue as any).issues ?? [])
        .map((i: { message: string }) => i.message)
        .join("; ");
      out.push({
        path: formatPath(issue.path),
        message: `invalid name${why ? `: ${why}` : ""}`,
        value: key,
      });
      continue;
    }
    const value = valueAt(input, issue.path);
    out.push({
      path: formatPath(issue.path),
      message: value === undefined && issue.code === "invalid_type" ? "is required" : issue.message,
      value,
    });
  }
  return out.filter((e) => !(renamedTo.has(e.path) && e.value === undefined));
}

export interface ValidateOptions {
  /**
   * Reject placeholder (all-zero, all-f) sha256 digests of downloads a host of the stack
   * needs. For a deployment (`pulumi up`); off for review renders of a stack whose releases
   * are not pinned yet.
   */
  requirePinnedDigests?: boolean;
}

/** Validate a raw environment object: field rules first, then (if they pass) the cross-field rules. */
export function validateEnvironment(input: unknown, opts: ValidateOptions = {}): LoadResult {
  const parsed = environmentSchema.safeParse(input);
  if (!parsed.success) {
    // Report the cross-field problems too (all problems at once), as far as the raw input
    // allows; a path that already has a field error is not reported twice.
    const fieldErrors = zodErrors(input, parsed.error);
    let more: ConfigError[];
    try {
      more = crossFieldErrors(withDefaults(input));
    } catch {
      more = [];
    }
    const seen = new Set(fieldErrors.map((e) => e.path));
    return { ok: false, errors: [...fieldErrors, ...more.filter((e) => !seen.has(e.path))] };
  }
  const errors = crossFieldErrors(parsed.data);
  if (opts.requirePinnedDigests) errors.push(...placeholderDigestErrors(parsed.data));
  if (errors.length) return { ok: false, errors: sortErrors(errors) };
  return { ok: true, env: parsed.data };
}

/** The raw input with the defaults the cross-field rules rely on, for best-effort checks of an invalid config. */
function withDefaults(input: unknown): Environment {
  const raw = (input ?? {}) as any;
  const obj = (x: unknown) => (x && typeof x === "object" && !Array.isArray(x) ? (x as any) : {});
  const arr = (x: unknown) => (Array.isArray(x) ? (x as any[]) : []);
  const groups = obj(raw.backendGroups);
  return {
    ...raw,
    networks: { mgmt: obj(obj(raw.networks).mgmt), ingress: obj(obj(raw.networks).ingress) },
    bgp: { ...obj(raw.bgp), upstream: arr(obj(raw.bgp).upstream).map(obj) },
    dns: { ...obj(raw.dns), lightningStream: obj(obj(raw.dns).lightningStream) },
    // A host that still says `role` (renamed to `tier`) is checked with it as its tier.
    hosts: arr(raw.hosts).map((h) => ({
      provider: "proxmox",
      ...("role" in obj(h) ? { tier: obj(h).role } : {}),
      ...obj(h),
      mgmt: obj(obj(h).mgmt),
    })),
    backendGroups: Object.fromEntries(
      Object.entries(groups).map(([k, g]) => [
        k,
        { servers: [], ...obj(g), members: arr(obj(g).members) },
      ]),
    ),
    sites: obj(raw.sites),
    maglev: { minHealthyRealServers: 1, ...obj(raw.maglev) },
    vips: arr(raw.vips).map((v) => ({ protocols: ["tcp"], ...obj(v), ports: arr(obj(v).ports) })),
  } as Environment;
}

function sortErrors(errors: ConfigError[]): ConfigError[] {
  return errors; // kept in discovery order: the order of the file, which reads best
}

/** Control characters (a hostile key or name quoted in a path or message) shown escaped, never raw. */
const printable = (s: string) =>
  s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));

export function formatErrors(source: string, errors: ConfigError[]): string {
  const lines = errors.map((e) => {
    const v =
      e.value === undefined
        ? ""
        : ` (value: ${printable(JSON.stringify(e.value) ?? String(e.value))})`;
    return `  ${ENVIRONMENT_KEY}.${printable(e.path)}: ${printable(e.message)}${v}`;
  });
  return `${source}: ${errors.length} problem${errors.length === 1 ? "" : "s"} in the environment:\n${lines.join("\n")}`;
}

/** Where a stack's file lives: a name (`mgmt02`) or a path to a YAML file. */
export function stackFilePath(stack: string, root = process.cwd()): string {
  if (stack.endsWith(".yaml") || stack.endsWith(".yml") || stack.includes("/"))
    return path.resolve(stack);
  return path.join(root, "stacks", `Pulumi.${stack}.yaml`);
}

/** A YAML problem of a stack file, at a line and column (1-based). */
export interface YamlProblem {
  line: number;
  col: number;
  message: string;
}

/** The stack file is not the YAML it should be: every problem with its `file:line:col`. */
export class StackFileError extends Error {
  constructor(
    public readonly source: string,
    public readonly problems: YamlProblem[],
  ) {
    super(
      `${source}: ${problems.length} YAML problem${problems.length === 1 ? "" : "s"}:\n` +
        problems.map((p) => `  ${source}:${p.line}:${p.col}: ${p.message}`).join("\n"),
    );
    this.name = "StackFileError";
  }
}

/** Aliases a stack file may expand (a stack has none today; a "billion laughs" has millions). */
export const MAX_ALIAS_COUNT = 100;

/** The first line of a yaml error message: the rest is a code frame that repeats the file. */
const firstLine = (m: string) => m.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");

/**
 * Parse stack file text: duplicate keys, syntax errors and alias bombs are errors with
 * their line and column; YAML warnings too (a stack file has no reason to carry any).
 */
export function parseStackYaml(text: string, source: string): unknown {
  const lc = new YAML.LineCounter();
  const docs = YAML.parseAllDocuments(text, {
    uniqueKeys: true,
    prettyErrors: false,
    lineCounter: lc,
    strict: true,
  });
  const at = (offset: number) => {
    const p = lc.linePos(offset);
    return { line: p.line, col: p.col };
  };
  const list = Array.isArray(docs) ? docs : [docs];
  const problems: YamlProblem[] = [];
  for (const d of list)
    for (const e of [...d.errors, ...d.warnings]) {
      const key =
        e.code === "DUPLICATE_KEY"
          ? ` (${JSON.stringify((/^[^:\n]*/.exec(text.slice(e.pos[0]))?.[0] ?? "").trim().slice(0, 80))})`
          : "";
      problems.push({ ...at(e.pos[0]), message: firstLine(e.message) + key });
    }
  if (list.length > 1)
    problems.push({ ...at(list[1].range[0]), message: "a stack file holds one YAML document" });
  if (problems.length) throw new StackFileError(source, problems);
  const doc = list[0];
  if (!doc) return undefined;
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    // The expansion limit carries no location: name the alias that expands other aliases
    // (the bomb's top level; else the first alias) and how many the file holds.
    const aliases: YAML.Alias[] = [];
    YAML.visit(doc, { Alias: (_k, node) => void aliases.push(node) });
    const nested = aliases.find((a) => {
      const target = a.resolve(doc);
      let inner = false;
      if (target) YAML.visit(target as any, { Alias: () => ((inner = true), YAML.visit.BREAK) });
      return inner;
    });
    const culprit = nested ?? aliases[0];
    const where = culprit?.range ? at(culprit.range[0]) : { line: 1, col: 1 };
    throw new StackFileError(source, [
      {
        ...where,
        message: `${culprit ? `alias *${culprit.source}: ` : ""}aliases expand beyond ${MAX_ALIAS_COUNT} nodes (${aliases.length} aliases in the file; a "billion laughs" bomb?): ${(e as Error).message}`,
      },
    ]);
  }
}

/** Read a stack file and return its raw environment object (no validation). */
export function readStackEnvironment(file: string, source = file): unknown {
  if (!fs.existsSync(file)) throw new Error(`${source}: no such stack file`);
  const doc = parseStackYaml(fs.readFileSync(file, "utf8"), source) as any;
  const cfg = doc?.config;
  if (!cfg || typeof cfg !== "object" || Array.isArray(cfg) || !(ENVIRONMENT_KEY in cfg))
    throw new Error(`${source}: no "${ENVIRONMENT_KEY}" key under config`);
  return cfg[ENVIRONMENT_KEY];
}

/**
 * Read, validate, or throw: a StackFileError (YAML problems, with file:line:col) or a
 * ConfigValidationError listing every problem of the environment (path and value).
 */
export function loadStack(
  stack: string,
  root = process.cwd(),
  opts: ValidateOptions = {},
): Environment {
  const file = stackFilePath(stack, root);
  const rel = path.relative(root, file);
  const source = rel && !rel.startsWith("..") ? rel : file;
  const raw = readStackEnvironment(file, source);
  const r = validateEnvironment(raw, opts);
  if (!r.ok) throw new ConfigValidationError(source, r.errors);
  return r.env;
}
