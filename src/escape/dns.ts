/** Escapers of DNS presentation format: see index.ts for the rules every escaper keeps. */
import * as ipaddr from "ipaddr.js";
import { fail, wellFormed } from "./core";

/** Characters written bare in a name of a zone file or an nsupdate script. */
const DNS_BARE = /^[A-Za-z0-9_-]$/;

/**
 * An absolute domain name in presentation format (RFC 1035 §5.1: zone files, nsupdate
 * scripts): the labels of `v` are split at `.` (a trailing `.` is allowed), each byte that is
 * not a letter, digit, `-` or `_` is written `\DDD` (its decimal value), so no space, `;`,
 * quote, `(`, `@`, `$` or `\` of the value can reach the line's parser. Refused: an empty
 * label, a label over 63 bytes, a name over 255 bytes on the wire.
 */
export function dnsName(v: string, role = "DNS name"): string {
  wellFormed(role, v);
  if (v === "" || v === ".") fail(role, v, "the root is not a name records can be written at");
  const labels = (v.endsWith(".") ? v.slice(0, -1) : v).split(".");
  let wire = 1;
  const out = labels.map((l) => {
    if (l === "") fail(role, v, "an empty label (two dots in a row, or a leading dot)");
    const bytes = Buffer.from(l, "utf8");
    if (bytes.length > 63) fail(role, v, `a label has ${bytes.length} bytes (at most 63)`);
    wire += bytes.length + 1;
    let s = "";
    for (const b of bytes) {
      const c = String.fromCharCode(b);
      s += b < 0x80 && DNS_BARE.test(c) ? c : `\\${String(b).padStart(3, "0")}`;
    }
    return s;
  });
  if (wire > 255) fail(role, v, `the name has ${wire} bytes on the wire (at most 255)`);
  return out.join(".") + ".";
}

/**
 * The address of an A or AAAA record in presentation format: only what parses as one address
 * of that family (dotted decimal for A, no zone index for AAAA), written in its canonical form.
 */
export function dnsAddress(v: string, type: "A" | "AAAA", role = "DNS address"): string {
  wellFormed(role, v);
  if (type === "A") {
    if (!ipaddr.IPv4.isValidFourPartDecimal(v))
      fail(role, v, "is not an IPv4 address in dotted decimal");
    return ipaddr.IPv4.parse(v).toString();
  }
  if (v.includes("%") || !ipaddr.IPv6.isValid(v) || ipaddr.IPv4.isValid(v))
    fail(role, v, "is not an IPv6 address");
  return ipaddr.IPv6.parse(v).toString();
}
