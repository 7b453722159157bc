/**
 * Load a stack file (`stacks/Pulumi.<stack>.yaml`) or a raw config object and validate it.
 * Used by the offline tools (render, validate, lab, ops) and by the Pulumi program, so the
 * same rules apply everywhere.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { z } from "zod";
import { environmentSchema, Environment } from "./schema";
import { ConfigError, crossFieldErrors } from "./rules";

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

function zodErrors(input: unknown, error: z.ZodError): ConfigError[] {
  const out: ConfigError[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const k of issue.keys) {
        out.push({ path: formatPath([...issue.path, k]), message: "unknown key (a typo?)", value: valueAt(input, [...issue.path, k]) });
      }
      continue;
    }
    const value = valueAt(input, issue.path);
    out.push({ path: formatPath(issue.path), message: value === undefined && issue.code === "invalid_type" ? "is required" : issue.message, value });
  }
  return out;
}

/** Validate a raw environment object: field rules first, then (if they pass) the cross-field rules. */
export function validateEnvironment(input: unknown): LoadResult {
  const parsed = environmentSchema.safeParse(input);
  if (!parsed.success) {
    // Report the cross-field problems too (all problems at once), as far as the raw input
    // allows; a path that already has a field error is not reported twice.
    const fieldErrors = zodErrors(input, parsed.error);
    let more: ConfigError[] = [];
    try {
      more = crossFieldErrors(withDefaults(input));
    } catch {
      more = [];
    }
    const seen = new Set(fieldErrors.map((e) => e.path));
    return { ok: false, errors: [...fieldErrors, ...more.filter((e) => !seen.has(e.path))] };
  }
  const errors = crossFieldErrors(parsed.data);
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
    hosts: arr(raw.hosts).map((h) => ({ provider: "proxmox", ...obj(h), mgmt: obj(obj(h).mgmt) })),
    backendGroups: Object.fromEntries(
      Object.entries(groups).map(([k, g]) => [k, { servers: [], ...obj(g), members: arr(obj(g).members) }]),
    ),
    sites: obj(raw.sites),
    maglev: { minHealthyRealServers: 1, ...obj(raw.maglev) },
    vips: arr(raw.vips).map((v) => ({ protocols: ["tcp"], ...obj(v), ports: arr(obj(v).ports) })),
  } as Environment;
}

function sortErrors(errors: ConfigError[]): ConfigError[] {
  return errors; // kept in discovery order: the order of the file, which reads best
}

export function formatErrors(source: string, errors: ConfigError[]): string {
  const lines = errors.map((e) => {
    const v = e.value === undefined ? "" : ` (value: ${JSON.stringify(e.value)})`;
    return `  ${ENVIRONMENT_KEY}.${e.path}: ${e.message}${v}`;
  });
  return `${source}: ${errors.length} problem${errors.length === 1 ? "" : "s"} in the environment:\n${lines.join("\n")}`;
}

/** Where a stack's file lives: a name (`mgmt02`) or a path to a YAML file. */
export function stackFilePath(stack: string, root = process.cwd()): string {
  if (stack.endsWith(".yaml") || stack.endsWith(".yml") || stack.includes("/")) return path.resolve(stack);
  return path.join(root, "stacks", `Pulumi.${stack}.yaml`);
}

/** Read a stack file and return its raw environment object (no validation). */
export function readStackEnvironment(file: string): unknown {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such stack file`);
  const doc = YAML.parse(fs.readFileSync(file, "utf8"));
  const cfg = doc?.config ?? {};
  if (!(ENVIRONMENT_KEY in cfg)) throw new Error(`${file}: no "${ENVIRONMENT_KEY}" key under config`);
  return cfg[ENVIRONMENT_KEY];
}

/** Read, validate, or throw a ConfigValidationError listing every problem. */
export function loadStack(stack: string, root = process.cwd()): Environment {
  const file = stackFilePath(stack, root);
  const raw = readStackEnvironment(file);
  const r = validateEnvironment(raw);
  if (!r.ok) {
    const rel = path.relative(root, file);
    throw new ConfigValidationError(rel && !rel.startsWith("..") ? rel : file, r.errors);
  }
  return r.env;
}
