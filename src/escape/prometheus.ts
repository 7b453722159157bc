/** Escapers of Prometheus: see index.ts for the rules every escaper keeps. */
import { wellFormed } from "./core";

/**
 * A PromQL string literal, quotes included (a label matcher's value: `{group="mlb"}`). PromQL
 * reads "…" with Go's escapes; JSON's escapes (`\\`, `\"`, `\n`, `\uXXXX`) are a subset of
 * them, so JSON.stringify writes it. A lone surrogate has no Go form and is refused.
 */
export function promqlString(v: string, role = "PromQL string"): string {
  wellFormed(role, v);
  return JSON.stringify(v);
}

/**
 * A regular expression matching exactly `v` (PromQL's `=~` takes RE2, anchored): every
 * character RE2 gives a meaning is escaped with `\`. Write it with promqlString.
 */
export function re2Literal(v: string, role = "RE2 literal"): string {
  wellFormed(role, v);
  return v.replace(/[\\.+*?()|[\]{}^$]/g, (c) => `\\${c}`);
}

/**
 * Text of a Prometheus rule's label or annotation, which Prometheus expands as a Go template:
 * `{{` would start an action, so it is written as the action that prints it (`{{"{{"}}`).
 */
export function goTemplateText(v: string, role = "Go template text"): string {
  wellFormed(role, v);
  return v.split("{{").join(`{{"{{"}}`);
}
