/**
 * One-call synthesis of the Pulumi program under Pulumi's mock runtime (cdk8s-style
 * `synth`): run it once with a stack's config and get every registered resource back,
 * secrets already replaced by `[secret]`.
 */
import * as path from "path";
import {
  RecordedResource,
  readStackConfig,
  synthesize,
  SynthOptions,
  SynthResult,
} from "../../src/program/offline";
import { ENVIRONMENT_KEY } from "../../src/config/load";
import { ROOT } from "../helpers";

export type { RecordedResource, SynthResult } from "../../src/program/offline";

/** The config map of a stack file in stacks/. */
export function stackConfig(stack = "mgmt02"): Record<string, unknown> {
  return readStackConfig(path.join(ROOT, "stacks", `Pulumi.${stack}.yaml`));
}

/** Synthesize a stack file (default mgmt02). */
export function synth(stack = "mgmt02", extra: Partial<SynthOptions> = {}): Promise<SynthResult> {
  return synthesize({ stack, config: stackConfig(stack), ...extra });
}

/** Synthesize a raw environment object (e.g. a mutated copy of mgmt02) with mgmt02's other config. */
export function synthEnv(env: unknown, extra: Partial<SynthOptions> = {}): Promise<SynthResult> {
  return synthesize({
    stack: "test",
    config: { ...stackConfig("mgmt02"), [ENVIRONMENT_KEY]: env },
    ...extra,
  });
}

/** Index of a synthesis: lookups by URN and by logical name. */
export class Graph {
  readonly byUrn: Map<string, RecordedResource>;
  readonly byName = new Map<string, RecordedResource[]>();
  constructor(readonly result: SynthResult) {
    this.byUrn = new Map(result.resources.map((r) => [r.urn, r]));
    for (const r of result.resources)
      this.byName.set(r.name, [...(this.byName.get(r.name) ?? []), r]);
  }
  ofType(type: string): RecordedResource[] {
    return this.result.resources.filter((r) => r.type === type);
  }
  /** The one resource of `type` named `name`. */
  get(type: string, name: string): RecordedResource {
    const r = (this.byName.get(name) ?? []).filter((x) => x.type === type);
    if (r.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${r.length}`);
    return r[0];
  }
  has(type: string, name: string): boolean {
    return (this.byName.get(name) ?? []).some((x) => x.type === type);
  }
  /** Logical names of the resources `r` depends on. */
  deps(r: RecordedResource): string[] {
    return r.dependsOn.map((u) => this.byUrn.get(u)?.name ?? u).sort();
  }
  /** Children of a component. */
  children(parent: RecordedResource): RecordedResource[] {
    return this.result.resources.filter((r) => r.parent === parent.urn);
  }
}

export const COMMAND = "command:remote:Command";
export const COPY = "command:remote:CopyToRemote";
export const VM = "proxmoxve:index/vmLegacy:VmLegacy";
