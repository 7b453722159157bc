/** Escapers of comments: see index.ts for the rules every escaper keeps. */
import { fail, noControls } from "./core";

/**
 * Text inside a line comment (`#`, `!`, `--`, `//`, `;` — whichever the file uses): a comment
 * ends at the line break, so no line break or control character. In PHP a `//` comment also
 * ends at `?>`.
 */
export function commentText(v: string, role: string, opts: { php?: boolean } = {}): string {
  noControls(role, v, "a comment");
  if (opts.php && v.includes("?>")) fail(role, v, "`?>` ends a PHP comment (and PHP mode)");
  return v;
}
