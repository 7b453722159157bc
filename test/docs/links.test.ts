import * as fs from "fs";
import * as path from "path";
import { ROOT } from "../helpers";

/** The documents: the README and docs/. Their relative links must point at a file that exists and,
 * with a #fragment, at one of its headings (GitHub's anchor for it), so moving text between them
 * cannot leave a dead link behind. */
const DOCS = [
  "README.md",
  ...fs
    .readdirSync(path.join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor of a heading: lowercase, punctuation but `-` and `_` dropped, spaces to `-`. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function anchorsOf(file: string): Set<string> {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8").replace(/^```[\s\S]*?^```/gm, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1])));
}

describe("links between the documents", () => {
  test.each(DOCS)(
    "GIVEN %s WHEN its relative links are followed THEN each file and heading exists",
    (doc) => {
      // Code (fenced blocks, inline spans: regexes such as `^[a-z]([a-z-]{0,61})?$`) holds no links.
      const text = fs
        .readFileSync(path.join(ROOT, doc), "utf8")
        .replace(/^```[\s\S]*?^```/gm, "")
        .replace(/`[^`\n]*`/g, "");
      const dead: string[] = [];
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1];
        if (/^[a-z]+:/.test(target)) continue;
        const [file, fragment] = target.split("#");
        const resolved = file ? path.normalize(path.join(path.dirname(doc), file)) : doc;
        if (!fs.existsSync(path.join(ROOT, resolved))) dead.push(`${target}: no file ${resolved}`);
        else if (fragment !== undefined && !anchorsOf(resolved).has(fragment))
          dead.push(`${target}: no heading #${fragment} in ${resolved}`);
      }
      expect(dead).toEqual([]);
    },
  );
});
