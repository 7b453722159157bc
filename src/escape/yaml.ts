/** Escapers of YAML: see index.ts for the rules every escaper keeps. */
import * as YAML from "yaml";
import { LONE_SURROGATE, fail, wellFormed } from "./core";

/**
 * Written with the YAML 1.1 schema's quoting (which also quotes `yes`, `on`, `no`, dates, …),
 * and proven to read back the same under both 1.1 and 1.2: the readers on the hosts differ
 * (netplan's libyaml, k0s's Go YAML, PyYAML are 1.1-flavoured; the yaml package is 1.2).
 */
const YAML_WRITE = { lineWidth: 0, version: "1.1" } as const;

function readsBackAs(text: string, want: unknown): boolean {
  const w = JSON.stringify(want);
  return (["1.1", "1.2"] as const).every(
    (version) => JSON.stringify(YAML.parse(text, { version })) === w,
  );
}

/** Printable ASCII, no space at either end, not PyYAML's `=` (the 1.1 "value" type). */
const YAML_PLAIN_OK = (v: string) => /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(v) && v !== "=";
/** What the yaml package writes raw even inside "…" but YAML 1.1 readers take as a line break or drop. */
const YAML_RAW_UNSAFE = /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/;

/** Plain scalars the YAML 1.2 core schema reads as null, a boolean or a number. */
const YAML12_NOT_A_STRING =
  /^(?:|~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

/**
 * One YAML scalar on one line: the yaml package's own plain form when it writes one for a
 * printable-ASCII value (it quotes what YAML 1.1 or 1.2 would read as another type), else the
 * double-quoted form with every character a reader could take as a line break escaped.
 */
export function yamlScalar(v: string, role = "YAML scalar"): string {
  wellFormed(role, v);
  const own = YAML.stringify(v, { ...YAML_WRITE, blockQuote: false }).replace(/\n$/, "");
  const text = YAML_PLAIN_OK(v) && !own.includes("\n") ? own : yamlDoubleQuoted(v, role);
  if (!readsBackAs(text, v)) fail(role, v, "does not read back as the same YAML string");
  return text;
}

/**
 * A whole YAML document from plain data, written by the yaml package (which quotes every key
 * and scalar itself) and read back to prove it: what the host reads is the data given.
 * Strings beyond printable ASCII and newlines are written double-quoted (PyYAML and libyaml
 * refuse a tab or `=` plain); the few characters the package would write raw even then are
 * refused.
 */
export function yamlDocument(data: unknown, role = "YAML document"): string {
  const doc = new YAML.Document(data, { version: "1.1" });
  YAML.visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== "string") return;
      wellFormed(role, node.value);
      // Printable ASCII, on one line or several (the package writes those as a `|` block): its own choice.
      // (A block the package itself would not read back — lines of only spaces — goes "…".)
      if (/^[\x20-\x7e\n]*$/.test(node.value) && node.value !== "=") {
        // Written with the 1.1 schema's quoting; what 1.2 alone reads as another type is quoted too.
        if (YAML12_NOT_A_STRING.test(node.value)) node.type = "QUOTE_DOUBLE";
        if (
          !node.value.includes("\n") ||
          readsBackAs(YAML.stringify({ s: node.value }, YAML_WRITE), { s: node.value })
        )
          return;
      }
      const m = YAML_RAW_UNSAFE.exec(node.value);
      if (m)
        fail(
          role,
          node.value,
          `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")} would be a line break (or vanish) for a YAML 1.1 reader`,
        );
      node.type = "QUOTE_DOUBLE";
    },
  });
  const text = doc.toString({ lineWidth: 0 });
  // One read-back, as the hosts' (1.1) readers read it; the 1.2 reading of the scalars is settled above.
  if (JSON.stringify(YAML.parse(text, { version: "1.1" })) !== JSON.stringify(data))
    fail(role, text.slice(0, 200), "does not read back as the data it was written from");
  return text;
}

/**
 * A whole JSON document from plain data (two-space indent, one trailing newline). JSON.stringify
 * escapes every string itself; what it would drop or change (undefined, a function, NaN, a lone
 * surrogate written as U+FFFD by a UTF-8 writer) is refused, and the text is read back to prove
 * the reader gets exactly the data given.
 */
export function jsonDocument(data: unknown, role = "JSON document"): string {
  const wellFormedAt = (v: string, where: string) => {
    if (LONE_SURROGATE.test(v))
      fail(role, v, `${where}: is not well-formed Unicode (lone surrogate)`);
  };
  const visit = (v: unknown, where: string): void => {
    if (typeof v === "string") wellFormedAt(v, where);
    else if (typeof v === "number") {
      if (!Number.isFinite(v)) fail(role, String(v), `${where}: not a finite number`);
    } else if (Array.isArray(v)) v.forEach((x, i) => visit(x, `${where}[${i}]`));
    else if (v && typeof v === "object")
      for (const [k, x] of Object.entries(v)) {
        wellFormedAt(k, `${where} key`);
        visit(x, `${where}.${k}`);
      }
    else if (v !== null && typeof v !== "boolean")
      fail(role, String(v), `${where}: ${typeof v} has no JSON form`);
  };
  visit(data, "$");
  const text = JSON.stringify(data, null, 2) + "\n";
  if (JSON.stringify(JSON.parse(text)) !== JSON.stringify(data))
    fail(role, text.slice(0, 200), "does not read back as the data it was written from");
  return text;
}

/** The double-quoted YAML form of a value (what the apply program writes for a secret inside "…"). */
export function yamlDoubleQuoted(v: string, role = "YAML string"): string {
  wellFormed(role, v);
  let out = '"';
  for (const c of v) {
    const n = c.codePointAt(0)!;
    if (c === "\\") out += "\\\\";
    else if (c === '"') out += '\\"';
    else if (n < 0x20 || n === 0x7f || (n >= 0x80 && n <= 0x9f))
      out += "\\x" + n.toString(16).toUpperCase().padStart(2, "0");
    // Line and paragraph separators are line breaks to libyaml, the BOM is dropped, U+FFFE/F unprintable.
    else if (n === 0x2028 || n === 0x2029 || n === 0xfeff || n === 0xfffe || n === 0xffff)
      out += "\\u" + n.toString(16).toUpperCase().padStart(4, "0");
    else out += c;
  }
  return out + '"';
}
