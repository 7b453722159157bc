/**
 * Test helpers: the mgmt02 stack as a raw object to mutate, and one-call synthesis of a
 * render (cdk8s-style `synth`).
 */
import * as path from "path";
import { readStackEnvironment, validateEnvironment, ConfigError } from "../src/config/load";
import { Environment } from "../src/config/schema";
import { renderEnvironment, Rendered } from "../src/render";

export const ROOT = path.resolve(__dirname, "..");

/** A fresh deep copy of the mgmt02 environment object, as written in the stack file. */
export function mgmt02Raw(): any {
  return structuredClone(readStackEnvironment(path.join(ROOT, "stacks", "Pulumi.mgmt02.yaml")));
}

export function mustValidate(raw: unknown): Environment {
  const r = validateEnvironment(raw);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join("\n"));
  return r.env;
}

export function errorsOf(raw: unknown): ConfigError[] {
  const r = validateEnvironment(raw);
  return r.ok ? [] : r.errors;
}

/** Validate and render in one call. */
export function synth(raw: unknown = mgmt02Raw()): Rendered {
  return renderEnvironment(mustValidate(raw));
}

export function hostIndex(raw: any, name: string): number {
  const i = raw.hosts.findIndex((h: any) => h.name === name);
  if (i < 0) throw new Error(`no host ${name}`);
  return i;
}
