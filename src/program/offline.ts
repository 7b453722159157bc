/**
 * Run the real program under Pulumi's mock runtime and record the resource graph: what
 * `pulumi preview` would register, without the Pulumi CLI, plugins, Proxmox or SSH.
 * Used by `npm run preview:offline` and by the tests (`synth`).
 *
 * Secrets: the mock monitor receives inputs the way the engine does, with secret values
 * wrapped in Pulumi's secret signature; the recorder replaces each with `[secret]`, so
 * nothing recorded carries a secret in clear. Secret config keys get placeholder values
 * `offline-secret-<key>`, which makes a leak easy to find.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the mock runtime reads Pulumi's untyped gRPC requests, aliases and outputs */
import * as fs from "fs";
import { createHash } from "crypto";
import * as YAML from "yaml";
import * as pulumi from "@pulumi/pulumi";
import {
  CONFIG_NAMESPACE,
  ENVIRONMENT_KEY,
  stackFilePath,
  validateEnvironment,
} from "../config/load";
import { deriveTopology } from "../topology";
import { buildPlans } from "../plan";
import { K0S_JOIN_TOKEN_SECRET } from "../tiers/k0s";
import {
  main,
  PlaceholderDigests,
  ProgramOutputs,
  PROXMOX_ENDPOINT_KEY,
  referencedSecretKeys,
  SECRET_KEYS,
} from "./index";

/** Pulumi's wire signatures (sdk/nodejs/runtime/rpc.ts): a secret is `{[SIG_KEY]: SECRET_SIG, value}`. */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17";
/** A value not known until `pulumi up` (e.g. a resource output during preview). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export const SECRET_MARK = "[secret]";
export const OFFLINE_SECRET_PREFIX = "offline-secret-";
export const OFFLINE_PROXMOX_ENDPOINT = "https://proxmox.offline.invalid:8006/";

export interface RecordedResource {
  type: string;
  name: string;
  urn: string;
  /** URN of the parent, if any. */
  parent?: string;
  /** URNs of the resources it waits for (explicit dependsOn and input dependencies, as the engine sees them). */
  dependsOn: string[];
  custom: boolean;
  /** Provider reference (`urn::id`), if explicit. */
  provider?: string;
  /** Inputs with every secret replaced by `[secret]`, assets by `{asset: text}`. */
  inputs: Record<string, unknown>;
  /** Input property names that carried a secret. */
  secretInputs: string[];
  /** Output properties the engine must treat as secret (`additionalSecretOutputs`). */
  additionalSecretOutputs?: string[];
  /** The URNs its aliases stand for (resolved as the engine resolves an alias spec), sorted. */
  aliases?: string[];
  /** URNs of the resources whose replacement replaces it (`replaceWith`). */
  replaceWith?: string[];
  /** Whether Pulumi may not delete it (`protect`). */
  protect?: boolean;
  /** Whether a replacement deletes it before creating its successor (`deleteBeforeReplace`). */
  deleteBeforeReplace?: boolean;
  /** The provider's ID of an existing resource to adopt (`import`). */
  importId?: string;
  /** Input properties whose changes Pulumi ignores (`ignoreChanges`), sorted. */
  ignoreChanges?: string[];
  /** Input properties whose changes replace it (`replaceOnChanges`), sorted. */
  replaceOnChanges?: string[];
  /** The inputs with secrets unwrapped, as a policy pack sees them; only with `unwrapSecrets` (never printed). */
  rawInputs?: Record<string, unknown>;
}

/** Secrets unwrapped to their values, assets to their text: the analyzer's view of the inputs. */
function unwrap(v: unknown): unknown {
  if (v === UNKNOWN) return undefined;
  if (isSecretSig(v)) return unwrap(v.value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (v && typeof v === "object")
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, e]) => [k, unwrap(e)]),
    );
  return v;
}

/** `urn:pulumi:<stack>::<project>::<type chain>::<name>` of a child of `parentUrn` (or of the stack). */
export function urnOf(
  stack: string,
  project: string,
  type: string,
  name: string,
  parentUrn?: string,
): string {
  const chain = parentUrn ? parentUrn.split("::")[2] : "";
  // The root Stack's type is not part of its children's URNs.
  const qualified = chain && chain !== "pulumi:pulumi:Stack" ? `${chain}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

/** An alias of a registration, as the URN it stands for. */
function aliasUrn(
  a: any,
  own: { stack: string; project: string; type: string; name: string; parent?: string },
): string {
  if (a.getUrn?.()) return a.getUrn();
  const spec = a.getSpec();
  const parent = spec.getNoparent() ? undefined : spec.getParenturn() || own.parent;
  return urnOf(
    spec.getStack() || own.stack,
    spec.getProject() || own.project,
    spec.getType() || own.type,
    spec.getName() || own.name,
    parent,
  );
}

export interface SynthResult {
  stack: string;
  resources: RecordedResource[];
  /** Stack outputs with secrets replaced by `[secret]`. */
  outputs: Record<string, unknown>;
  /** The outputs as the program returned them (for secret-ness checks). */
  rawOutputs: ProgramOutputs;
}

export interface SynthOptions {
  /** Stack name (for `pulumi.getStack()` and the URNs). */
  stack: string;
  /** The stack's config map: `maglev-infra:environment` → object, other keys → string. */
  config: Record<string, unknown>;
  /** Value for secret keys; `offline-secret-<key>` when left out. */
  secretValue?: (key: string) => string;
  /** Register as a preview (`pulumi preview`) rather than an update. @default true */
  preview?: boolean;
  /** The program to run. @default main (the real program) */
  program?: () => unknown;
  /**
   * Placeholder sha256 digests of needed downloads: "reject" as `pulumi preview`/`up` does
   * (and `npm run preview:offline` by default), or "allow" for the mock-runtime tools, so a
   * stack whose releases are not pinned yet can be synthesized for review. @default "allow"
   */
  placeholderDigests?: PlaceholderDigests;
  /** Also record each resource's inputs with secrets unwrapped (`rawInputs`), for the policy pack's tests. @default false */
  unwrapSecrets?: boolean;
  /** Secret config keys left unset (e.g. the `up` credentials, which may come from the environment instead). @default [] */
  unsetSecrets?: string[];
}

/** The config map of a stack file (`stacks/Pulumi.<stack>.yaml` or a path). */
export function readStackConfig(stack: string): Record<string, unknown> {
  const file = stackFilePath(stack);
  if (!fs.existsSync(file)) throw new Error(`${file}: no such stack file`);
  return (YAML.parse(fs.readFileSync(file, "utf8"))?.config ?? {}) as Record<string, unknown>;
}

function isSecretSig(v: unknown): v is { value: unknown } {
  return !!v && typeof v === "object" && (v as any)[SIG_KEY] === SECRET_SIG;
}

/** Replace secrets by `[secret]`, assets by `{asset: <text>}`; records whether a secret was seen. */
export function redact(v: unknown, seen: { secret: boolean } = { secret: false }): unknown {
  if (v === UNKNOWN) return "[unknown]";
  if (isSecretSig(v)) {
    seen.secret = true;
    return SECRET_MARK;
  }
  if (Array.isArray(v)) return v.map((e) => redact(e, seen));
  if (v && typeof v === "object") {
    if ((v as any)[SIG_KEY] === ASSET_SIG)
      return { asset: (v as any).text ?? (v as any).path ?? (v as any).uri };
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, e]) => [k, redact(e, seen)]),
    );
  }
  return v;
}

/** Resolve an Output (or plain value) to `{value, secret}` under the mock runtime. */
async function settle(v: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(v)) {
    const o = v as pulumi.Output<unknown>;
    const secret = await (o as any).isSecret;
    const value = await new Promise<unknown>((resolve) => o.apply((x) => resolve(x)));
    return secret ? SECRET_MARK : settle(value);
  }
  if (Array.isArray(v)) return Promise.all(v.map(settle));
  if (v && typeof v === "object")
    return Object.fromEntries(
      await Promise.all(Object.entries(v).map(async ([k, e]) => [k, await settle(e)])),
    );
  return v;
}

/** Run the program once under mocks with the given config; resolves when every registration is done. */
export async function synthesize(opts: SynthOptions): Promise<SynthResult> {
  const resources: RecordedResource[] = [];
  let inFlight = 0;
  const mocks: pulumi.runtime.Mocks = {
    newResource: (args) => ({
      id: args.custom ? `${args.name}-id` : undefined,
      state: mockState(args.type, args.name, args.inputs),
    }),
    call: (args) => args.inputs,
  };
  await pulumi.runtime.setMocks(mocks, "maglev-infra", opts.stack, opts.preview ?? true);

  // The mock's newResource does not see parent or dependencies; the monitor's request has them.
  const monitor = pulumi.runtime.getMonitor() as any;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, cb: (err: any, resp: any) => void) => {
    inFlight++;
    const parent: string = req.getParent();
    const deps: string[] = req.getDependenciesList();
    const providerRef: string = req.getProvider();
    const secretOutputs: string[] = req.getAdditionalsecretoutputsList?.() ?? [];
    const own = {
      stack: opts.stack,
      project: "maglev-infra",
      type: req.getType(),
      name: req.getName(),
      parent: parent || undefined,
    };
    const aliases: string[] = [
      ...new Set<string>((req.getAliasesList?.() ?? []).map((a: any) => aliasUrn(a, own))),
    ].sort();
    const replaceWith: string[] = req.getReplaceWithList?.() ?? [];
    const protect: boolean = req.getProtect?.() ?? false;
    const deleteBeforeReplace: boolean = req.getDeletebeforereplace?.() ?? false;
    const importId: string = req.getImportid?.() ?? "";
    const ignoreChanges: string[] = req.getIgnorechangesList?.() ?? [];
    const replaceOnChanges: string[] = req.getReplaceonchangesList?.() ?? [];
    return register(req, (err: any, resp: any) => {
      inFlight--;
      if (!err && resp) {
        // The wire form, as the engine receives it: secrets and assets carry their signatures.
        const raw = (req.getObject()?.toJavaScript() ?? {}) as Record<string, unknown>;
        const secretInputs: string[] = [];
        const inputs: Record<string, unknown> = {};
        for (const k of Object.keys(raw).sort()) {
          const seen = { secret: false };
          inputs[k] = redact(raw[k], seen);
          if (seen.secret) secretInputs.push(k);
        }
        resources.push({
          type: req.getType(),
          name: req.getName(),
          urn: resp.getUrn(),
          ...(parent ? { parent } : {}),
          dependsOn: [...new Set(deps)].sort(),
          custom: req.getCustom(),
          ...(providerRef ? { provider: providerRef } : {}),
          inputs,
          secretInputs,
          ...(secretOutputs.length ? { additionalSecretOutputs: [...secretOutputs].sort() } : {}),
          ...(aliases.length ? { aliases } : {}),
          ...(replaceWith.length ? { replaceWith: [...replaceWith].sort() } : {}),
          ...(protect ? { protect } : {}),
          ...(deleteBeforeReplace ? { deleteBeforeReplace } : {}),
          ...(importId ? { importId } : {}),
          ...(ignoreChanges.length ? { ignoreChanges: [...ignoreChanges].sort() } : {}),
          ...(replaceOnChanges.length ? { replaceOnChanges: [...replaceOnChanges].sort() } : {}),
          ...(opts.unwrapSecrets ? { rawInputs: unwrap(raw) as Record<string, unknown> } : {}),
        });
      }
      cb(err, resp);
    });
  };

  const keys = [...new Set([...SECRET_KEYS, ...planSecretKeys(opts.config)])]
    .filter((k) => !(opts.unsetSecrets ?? []).includes(k))
    .sort();
  const secretKeys = keys.map((k) => `${CONFIG_NAMESPACE}:${k}`);
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.config))
    config[k] = typeof v === "string" ? v : JSON.stringify(v);
  for (const k of keys)
    config[`${CONFIG_NAMESPACE}:${k}`] = (
      opts.secretValue ?? ((key) => `${OFFLINE_SECRET_PREFIX}${key}`)
    )(k);
  const endpointKey = `${CONFIG_NAMESPACE}:${PROXMOX_ENDPOINT_KEY}`;
  if (!(endpointKey in config)) config[endpointKey] = OFFLINE_PROXMOX_ENDPOINT;
  // What the Pulumi CLI hands a program: PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS.
  pulumi.runtime.setAllConfig(config, secretKeys);

  // The SDK records a stack trace on every internal promise (for its leak report); with
  // source maps that dominates the run time. Not needed here: off while the program runs.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const before = resources.length;
  let raw: ProgramOutputs;
  let outputs: Record<string, unknown>;
  try {
    try {
      raw = (
        opts.program
          ? opts.program()
          : main({ placeholderDigests: opts.placeholderDigests ?? "allow" })
      ) as ProgramOutputs;
    } catch (e) {
      await drain(() => inFlight);
      if (resources.length > before)
        (e as Error).message +=
          `\n(${resources.length - before} resources were registered before the failure)`;
      throw e;
    }
    outputs = (await settle(raw)) as Record<string, unknown>;
    await drain(() => inFlight);
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  return {
    stack: opts.stack,
    resources: resources.sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0)),
    outputs,
    rawOutputs: raw,
  };
}

/** Secret keys the stack's plans reference (none when the environment is invalid: the program reports that). */
function planSecretKeys(config: Record<string, unknown>): string[] {
  try {
    const raw = config[ENVIRONMENT_KEY];
    const r = validateEnvironment(typeof raw === "string" ? JSON.parse(raw) : raw);
    return r.ok ? referencedSecretKeys(buildPlans(deriveTopology(r.env))) : [];
  } catch {
    return [];
  }
}

/** Wait until no registration is in flight for a few consecutive turns of the event loop. */
async function drain(inFlight: () => number): Promise<void> {
  let quiet = 0;
  for (let i = 0; i < 100000 && quiet < 5; i++) {
    await new Promise((r) => setImmediate(r));
    quiet = inFlight() === 0 ? quiet + 1 : 0;
  }
}

/**
 * What the mock "provider" returns: the inputs, plus the outputs programs read from commands.
 * A host's first-contact command "reads" a well-formed ed25519 key derived from its name
 * (offline, there is no host to read one from). A k0s worker's join token is a secret the
 * program makes (PROGRAM_SECRET_KEYS): it gets the placeholder `offline-secret-k0sJoinToken`
 * like the config's secret keys, so a leak of it is found the same way.
 */
function mockState(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
): Record<string, unknown> {
  if (type === "command:remote:Command" && name.endsWith("-host-key"))
    return { ...inputs, stdout: offlineHostKey(name.slice(0, -"-host-key".length)), stderr: "" };
  if (type === "command:remote:Command" && name.endsWith("-join-token"))
    return { ...inputs, stdout: `${OFFLINE_SECRET_PREFIX}${K0S_JOIN_TOKEN_SECRET}\n`, stderr: "" };
  if (type === "command:remote:Command") return { ...inputs, stdout: `offline-stdout`, stderr: "" };
  return { ...inputs };
}

/** The host key the offline preview records for a host: "ssh-ed25519" + a blob built from the host's name. */
export function offlineHostKey(host: string): string {
  const type = Buffer.from("ssh-ed25519");
  const len = (n: number) => Buffer.from([0, 0, 0, n]);
  const key = createHash("sha256").update(`offline host key of ${host}`).digest();
  return `ssh-ed25519 ${Buffer.concat([len(type.length), type, len(32), key]).toString("base64")} root@${host}`;
}

/** Load a stack file and synthesize it. */
export function synthesizeStack(
  stack: string,
  extra: Partial<SynthOptions> = {},
): Promise<SynthResult> {
  return synthesize({
    stack: stack.replace(/^.*Pulumi\.|\.ya?ml$/g, ""),
    config: readStackConfig(stack),
    ...extra,
  });
}
