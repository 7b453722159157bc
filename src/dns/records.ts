/**
 * The DNS automation's input and its desired state: the `dnsRecords` array (stack output or
 * offline render), checked at run time against the same contract as
 * schemas/dns-records.schema.json, turned into RRsets — forward A/AAAA plus the PTR of every
 * address — and each RRset placed in its zone. Pure: no I/O.
 */
import * as ipaddr from "ipaddr.js";
import { z } from "zod";
import { DnsRecord } from "../topology";
import { reverseName } from "./zone";

/** TTL of every RRset the automation writes, unless `--ttl` says otherwise. */
export const DEFAULT_TTL = 300;

const LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
const isV4 = (s: string) => ipaddr.IPv4.isValidFourPartDecimal(s);
const isV6 = (s: string) => !s.includes("%") && ipaddr.IPv6.isValid(s) && !ipaddr.IPv4.isValid(s);

/**
 * The run-time reader of the contract (schemas/dns-records.schema.json; test/dns/schema.test.ts
 * checks that both accept and refuse the same documents). zod is already a dependency; the JSON
 * Schema is for other consumers.
 */
export const dnsRecordsSchema = z
  .array(
    z
      .strictObject({
        name: z
          .string()
          .max(253)
          .regex(
            new RegExp(`^${LABEL}(\\.${LABEL})*$`),
            "must be lowercase DNS labels joined by dots",
          ),
        type: z.enum(["A", "AAAA"]),
        value: z.string(),
      })
      .superRefine((r, ctx) => {
        if (r.type === "A" ? !isV4(r.value) : !isV6(r.value))
          ctx.addIssue({
            code: "custom",
            path: ["value"],
            message: `is not an ${r.type === "A" ? "IPv4" : "IPv6"} address`,
          });
      }),
  )
  .superRefine((rs, ctx) => {
    const seen = new Set<string>();
    rs.forEach((r, i) => {
      const k = JSON.stringify([r.name, r.type, r.value]);
      if (seen.has(k)) ctx.addIssue({ code: "custom", path: [i], message: "duplicate record" });
      seen.add(k);
    });
  });

/** Parse and check an untrusted `dnsRecords` document; the message names the first bad items. */
export function parseDnsRecords(data: unknown, source: string): DnsRecord[] {
  const r = dnsRecordsSchema.safeParse(data);
  if (r.success) return r.data as DnsRecord[];
  const probs = r.error.issues
    .slice(0, 5)
    .map(
      (i) =>
        `${i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("") || "$"}: ${i.message}`,
    );
  throw new Error(
    `${source}: not a dnsRecords array (schemas/dns-records.schema.json): ${probs.join("; ")}${r.error.issues.length > 5 ? ` (+${r.error.issues.length - 5} more)` : ""}`,
  );
}

export type RRType = "A" | "AAAA" | "PTR";

/** One RRset the automation wants: absolute lowercase name with trailing dot, contents canonical and sorted. */
export interface DesiredRRset {
  name: string;
  type: RRType;
  ttl: number;
  contents: string[];
}

/** Canonical text of a record's content, as PowerDNS gives it back (lowercase, compressed IPv6, absolute names). */
export function canonicalContent(type: string, content: string): string {
  if (type === "A" || type === "AAAA") {
    try {
      return ipaddr.parse(content).toString();
    } catch {
      return content;
    }
  }
  if (type === "PTR" || type === "CNAME" || type === "NS") return absolute(content);
  return content;
}

/** Lowercase, with exactly one trailing dot. */
export function absolute(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith(".") ? n : `${n}.`;
}

const byKey = (a: { name: string; type: string }, b: { name: string; type: string }) =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : a.type < b.type ? -1 : a.type > b.type ? 1 : 0;

function sortContents(type: RRType, xs: string[]): string[] {
  const u = [...new Set(xs)];
  if (type === "PTR") return u.sort();
  return u
    .map((a) => ({ a, b: ipaddr.parse(a).toByteArray() }))
    .sort((x, y) => {
      for (let i = 0; i < x.b.length; i++) if (x.b[i] !== y.b[i]) return x.b[i] - y.b[i];
      return 0;
    })
    .map((x) => x.a);
}

/** Forward A/AAAA RRsets under `zone` and one PTR RRset per address, sorted by name and type. */
export function desiredRRsets(
  records: DnsRecord[],
  zone: string,
  ttl = DEFAULT_TTL,
): DesiredRRset[] {
  const z0 = absolute(zone);
  const sets = new Map<string, DesiredRRset>();
  const add = (name: string, type: RRType, content: string) => {
    const k = `${name} ${type}`;
    const s = sets.get(k) ?? { name, type, ttl, contents: [] };
    s.contents.push(content);
    sets.set(k, s);
  };
  for (const r of records) {
    const fqdn = `${r.name}.${z0}`;
    add(fqdn, r.type, canonicalContent(r.type, r.value));
    add(reverseName(r.value), "PTR", fqdn);
  }
  return [...sets.values()]
    .map((s) => ({ ...s, contents: sortContents(s.type, s.contents) }))
    .sort(byKey);
}

export const isReverseZone = (zone: string) => /(^|\.)(in-addr|ip6)\.arpa\.$/.test(absolute(zone));

/**
 * The zone a reverse name belongs in when the server has none containing it: the /24 of an
 * IPv4 address (`7.18.198.in-addr.arpa.`) or the /64 of an IPv6 address (16 nibbles), the
 * usual delegation sizes and the prefix lengths of the stacks' networks.
 */
export function defaultReverseZone(ptrName: string): string {
  const labels = absolute(ptrName).slice(0, -1).split(".");
  if (ptrName.endsWith(".in-addr.arpa.")) return labels.slice(1).join(".") + ".";
  return labels.slice(16).join(".") + ".";
}

/** Is `name` at or below `zone`? Both absolute. */
export function inZone(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

/**
 * Which zone each RRset goes in: forward names in the stack's zone; a PTR in the longest reverse
 * zone the server already has that contains it (a /16 or /48 zone an operator made stays the
 * home of its PTRs), else in its default reverse zone (created by `push`). Zones sorted, the
 * forward zone first.
 */
export function placeRRsets(
  desired: DesiredRRset[],
  forwardZone: string,
  existingZones: string[],
): Map<string, DesiredRRset[]> {
  const fwd = absolute(forwardZone);
  const reverse = existingZones
    .map(absolute)
    .filter(isReverseZone)
    .sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
  const out = new Map<string, DesiredRRset[]>([[fwd, []]]);
  for (const s of desired) {
    let zone: string;
    if (s.type !== "PTR") {
      if (!inZone(s.name, fwd))
        throw new Error(`${s.name} ${s.type} is not inside the zone ${fwd}`);
      zone = fwd;
    } else zone = reverse.find((z) => inZone(s.name, z)) ?? defaultReverseZone(s.name);
    if (!out.has(zone)) out.set(zone, []);
    out.get(zone)!.push(s);
  }
  return new Map(
    [...out.entries()].sort(([a], [b]) =>
      a === fwd ? -1 : b === fwd ? 1 : a < b ? -1 : a > b ? 1 : 0,
    ),
  );
}
