/**
 * The config reference: every key path of the environment schema, walked from the zod
 * schema itself, so the README's reference table can be checked against it by a test.
 */
import { z } from "zod";
import { environmentSchema } from "./schema";

export interface KeyInfo {
  /** e.g. `hosts[].mgmt.ipv4`, `backendGroups.<name>.members`. */
  path: string;
  required: boolean;
  default?: unknown;
}

function def(s: z.ZodType): any {
  return (s as any)._zod.def;
}

export function schemaKeys(schema: z.ZodType = environmentSchema, prefix = "", out: KeyInfo[] = []): KeyInfo[] {
  const d = def(schema);
  if (d.type === "object") {
    for (const [k, v] of Object.entries(d.shape as Record<string, z.ZodType>)) {
      const p = prefix ? `${prefix}.${k}` : k;
      let inner = v;
      let required = true;
      let dflt: unknown;
      for (;;) {
        const id = def(inner);
        if (id.type === "optional") required = false;
        else if (id.type === "default") {
          required = false;
          dflt = typeof id.defaultValue === "function" ? id.defaultValue() : id.defaultValue;
        } else break;
        inner = id.innerType;
      }
      out.push(dflt === undefined ? { path: p, required } : { path: p, required, default: dflt });
      walkChildren(inner, p, out);
    }
  }
  return out;
}

function walkChildren(s: z.ZodType, p: string, out: KeyInfo[]) {
  const d = def(s);
  if (d.type === "object") schemaKeys(s, p, out);
  else if (d.type === "array") walkChildren(d.element, `${p}[]`, out);
  else if (d.type === "record") walkChildren(d.valueType, `${p}.<name>`, out);
}
