/** Escapers of nftables: see index.ts for the rules every escaper keeps. */
import * as ipaddr from "ipaddr.js";
import { fail, nonEmpty, wellFormed } from "./core";

/**
 * The inside of an nftables "…" string (an interface name in `iifname "…"`): nft has no
 * escapes in strings, and a trailing `*` makes the string a wildcard.
 */
export function nftString(
  v: string,
  role = "nftables string",
  opts: { ifname?: boolean } = {},
): string {
  nonEmpty(role, v, "an nftables string");
  // IFNAMSIZ: nft refuses a longer interface name.
  if (opts.ifname && Buffer.byteLength(v) > 15)
    fail(role, v, "an interface name has at most 15 bytes");
  wellFormed(role, v);
  if (!/^[\x20-\x7e]+$/.test(v))
    fail(role, v, "only printable ASCII can be written inside an nftables string");
  const m = /["\\]/.exec(v);
  if (m)
    fail(role, v, `\`${m[0]}\` cannot be written inside an nftables string (nft has no escapes)`);
  if (v.endsWith("*")) fail(role, v, "a trailing `*` would make the string an nftables wildcard");
  return `"${v}"`;
}

/**
 * An address or network in an nftables rule or set element (`ip saddr 10.1.7.0/24`): nft reads
 * a bare IPv4/IPv6 address or prefix; anything else (a name, a second element after a comma, a
 * `}`) would change the rule, so only what ipaddr.js parses as one address or prefix of the
 * expected family passes, written in its own canonical form.
 */
export function nftAddress(v: string, role = "nftables address", family?: "ipv4" | "ipv6"): string {
  wellFormed(role, v);
  const [addr, len, ...rest] = v.split("/");
  if (rest.length || !ipaddr.isValid(addr)) fail(role, v, "is not an IP address or prefix");
  // ipaddr.js also parses "1", "0x7f.1" and other historic IPv4 shorthands: nft does not.
  if (!ipaddr.IPv6.isValid(addr) && !ipaddr.IPv4.isValidFourPartDecimal(addr))
    fail(role, v, "is not an IP address or prefix");
  const kind = ipaddr.parse(addr).kind();
  if (family && kind !== family)
    fail(role, v, `is not an ${family === "ipv4" ? "IPv4" : "IPv6"} address`);
  if (len !== undefined && (!/^\d{1,3}$/.test(len) || Number(len) > (kind === "ipv4" ? 32 : 128)))
    fail(role, v, "has an invalid prefix length");
  return ipaddr.parse(addr).toString() + (len !== undefined ? `/${Number(len)}` : "");
}

/** An nftables identifier (table, chain, set name). */
export function nftIdentifier(v: string, role = "nftables identifier"): string {
  wellFormed(role, v);
  if (!/^[A-Za-z][A-Za-z0-9_]{0,254}$/.test(v))
    fail(role, v, "an nftables identifier is a letter followed by letters, digits and `_`");
  return v;
}
