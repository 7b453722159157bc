/**
 * The config reference: every key path of the environment schema, walked from the zod
 * schema itself, so the README's reference table can be checked against it by a test.
 */
import { z } from "zod";
import * as schemaModule from "./schema";
import { environmentSchema } from "./schema";

export interface KeyInfo {
  /** e.g. `hosts[].mgmt.ipv4`, `backendGroups.<name>.members`. */
  path: string;
  required: boolean;
  default?: unknown;
}

// zod keeps a schema's definition untyped in `_zod.def`; the walk reads it as such.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function def(s: z.ZodType): any {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return (s as any)._zod.def;
}

export function schemaKeys(
  schema: z.ZodType = environmentSchema,
  prefix = "",
  out: KeyInfo[] = [],
): KeyInfo[] {
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

/**
 * JSDoc of each key, read from schema.ts with the TypeScript parser: `<const>:<path inside
 * the const>` → text. Runtime walk and source are joined by the exported schema consts.
 */
export function keyDocs(schemaSource: string): Map<string, string> {
  // Loaded lazily: typescript is a dev dependency, needed only to build the reference.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require("typescript") as typeof import("typescript");
  const sf = ts.createSourceFile("schema.ts", schemaSource, ts.ScriptTarget.ES2022, true);
  const docs = new Map<string, string>();
  const visitObject = (
    obj: import("typescript").ObjectLiteralExpression,
    owner: string,
    rel: string,
  ) => {
    for (const prop of obj.properties) {
      if (!ts.isPropertyAssignment(prop) && !ts.isShorthandPropertyAssignment(prop)) continue;
      const key = prop.name.getText(sf);
      const p = rel ? `${rel}.${key}` : key;
      const jsdoc = ts.getJSDocCommentsAndTags(prop).filter(ts.isJSDoc);
      if (jsdoc.length) {
        const text = jsdoc
          .map((d) => ts.getTextOfJSDocComment(d.comment) ?? "")
          .join(" ")
          .replace(/\s*\n\s*/g, " ")
          .trim();
        const dflt = jsdoc.flatMap((d) => d.tags ?? []).find((t) => t.tagName.text === "default");
        docs.set(
          `${owner}:${p}`,
          text + (dflt ? ` (default: ${ts.getTextOfJSDocComment(dflt.comment) ?? ""})` : ""),
        );
      }
      if (ts.isPropertyAssignment(prop)) {
        prop.initializer.forEachChild(function find(n): void {
          if (ts.isObjectLiteralExpression(n)) visitObject(n, owner, p);
          else if (!ts.isArrowFunction(n)) n.forEachChild(find);
        });
      }
    }
  };
  sf.forEachChild((stmt) => {
    if (!ts.isVariableStatement(stmt)) return;
    for (const d of stmt.declarationList.declarations) {
      const owner = d.name.getText(sf);
      d.initializer?.forEachChild(function find(n): void {
        if (ts.isObjectLiteralExpression(n)) visitObject(n, owner, "");
        else if (!ts.isArrowFunction(n)) n.forEachChild(find);
      });
    }
  });
  return docs;
}

/** The README's config reference table, generated from the schema and its JSDoc. */
export function referenceTable(schemaSource: string): string {
  const S = schemaModule as unknown as Record<string, unknown>;
  const owners = new Map<unknown, string>();
  for (const [k, v] of Object.entries(S))
    if (v && typeof v === "object" && "_zod" in (v as object)) owners.set(v, k);
  const docs = keyDocs(schemaSource);
  const rows: string[] = [];
  const walk = (schema: z.ZodType, owner: string, rel: string, prefix: string) => {
    const d = def(schema);
    if (d.type !== "object") return;
    if (owners.has(schema)) {
      owner = owners.get(schema)!;
      rel = "";
    }
    for (const [k, v] of Object.entries(d.shape as Record<string, z.ZodType>)) {
      const p = prefix ? `${prefix}.${k}` : k;
      const r = rel ? `${rel}.${k}` : k;
      const info = schemaKeys().find((x) => x.path === p)!;
      const doc = (docs.get(`${owner}:${r}`) ?? "").replace(/\|/g, "\\|");
      const dflt = info.required
        ? "**required**"
        : info.default !== undefined
          ? "`" + JSON.stringify(info.default) + "`"
          : "optional";
      rows.push(`| \`${p}\` | ${dflt} | ${doc} |`);
      let inner: z.ZodType = v;
      while (["optional", "default"].includes(def(inner).type)) inner = def(inner).innerType;
      const id = def(inner);
      if (id.type === "object") walk(inner, owner, r, p);
      else if (id.type === "array" && def(id.element).type === "object")
        walk(id.element, owner, `${r}[]`, `${p}[]`);
      else if (id.type === "record") walk(id.valueType, owner, `${r}.<name>`, `${p}.<name>`);
    }
  };
  walk(environmentSchema, "environmentSchema", "", "");
  return [
    "| key (under `maglev-infra:environment`) | default | meaning |",
    "|---|---|---|",
    ...rows,
  ].join("\n");
}
