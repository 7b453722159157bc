/** Escapers of URLs: see index.ts for the rules every escaper keeps. */
import { fail, nonEmpty, wellFormed } from "./core";

/**
 * One path segment of a URL (a PowerDNS zone id in `/zones/<id>`): percent-encoded
 * (encodeURIComponent: `/`, `?`, `#`, `%` and every non-ASCII byte), and never `.` or `..`,
 * which a URL parser would resolve to another path.
 */
export function urlPathSegment(v: string, role = "URL path segment"): string {
  nonEmpty(role, v, "a URL path segment");
  wellFormed(role, v);
  if (v === "." || v === "..")
    fail(role, v, "`.` and `..` are not path segments but moves in the path");
  return encodeURIComponent(v);
}
