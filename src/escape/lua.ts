/** Escapers of Lua (dnsdist): see index.ts for the rules every escaper keeps. */
import { wellFormed } from "./core";

/**
 * A Lua "…" literal (dnsdist.conf). `\\`, `\"`, `\n`, `\r`; other control bytes as `\ddd`
 * (always three digits, so a following digit cannot join the escape). Non-ASCII is written
 * as its UTF-8 bytes, which Lua keeps as they are.
 */
export function luaString(v: string, role = "Lua string"): string {
  wellFormed(role, v);
  let out = '"';
  for (const c of v) {
    const n = c.codePointAt(0)!;
    if (c === "\\") out += "\\\\";
    else if (c === '"') out += '\\"';
    else if (c === "\n") out += "\\n";
    else if (c === "\r") out += "\\r";
    else if (n < 0x20 || n === 0x7f) out += "\\" + String(n).padStart(3, "0");
    else out += c;
  }
  return out + '"';
}
