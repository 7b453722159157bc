/**
 * The escapers `npm run dns` adds to src/escape, fed arbitrary strings (fast-check):
 *  - dnsName: presentation format (zone files, nsupdate) that reads back, label by label and
 *    byte by byte, as the value — and holds nothing an nsupdate line could split at or treat
 *    as a comment, quote or include;
 *  - dnsAddress: only one address of the family passes, canonical;
 *  - urlPathSegment: one segment, which a URL parser keeps as exactly that segment.
 * Anything else is refused with an EscapeError naming the role.
 */
import fc from "fast-check";
import * as ipaddr from "ipaddr.js";
import { dnsAddress, dnsName, EscapeError, urlPathSegment } from "../../src/escape";

const SPECIAL = [
  ..." \t\n\r\0\"'`\\$%#!;{}[]()<>|&*?~=,:@^-_/.",
  "\u0085",
  "\u2028",
  "\u00e9",
  "\ud83d\ude00",
  "\ud800",
  "\u007f",
  "\u0001",
];
const char = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
  { weight: 4, arbitrary: fc.constantFrom(..."abcxyzAZ019") },
);
const value = fc.string({ unit: char, maxLength: 40 });

/** RFC 1035 §5.1 reader of an absolute name: labels as bytes (`\DDD`, `\c`, bare bytes). */
function readName(s: string): Buffer[] {
  if (!s.endsWith(".")) throw new Error("not absolute");
  const labels: Buffer[] = [];
  let cur: number[] = [];
  const bytes = Buffer.from(s, "utf8");
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x5c) {
      const d = bytes.subarray(i + 1, i + 4).toString("latin1");
      if (/^\d{3}$/.test(d)) {
        cur.push(Number(d));
        i += 3;
      } else {
        cur.push(bytes[i + 1]);
        i += 1;
      }
    } else if (b === 0x2e) {
      labels.push(Buffer.from(cur));
      cur = [];
    } else cur.push(b);
  }
  return labels;
}

function tryIt(f: () => string): string | EscapeError {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof EscapeError)) throw e;
    return e;
  }
}

describe("dnsName", () => {
  test("GIVEN ordinary names THEN they come back as they are, absolute", () => {
    expect(dnsName("lab-vm-mgw01.lab.example.net")).toBe("lab-vm-mgw01.lab.example.net.");
    expect(dnsName("4.7.18.198.in-addr.arpa.")).toBe("4.7.18.198.in-addr.arpa.");
    expect(dnsName("_dmarc.example.net")).toBe("_dmarc.example.net.");
    expect(dnsName("a b;c.example")).toBe("a\\032b\\059c.example.");
  });

  test("GIVEN arbitrary labels THEN the result reads back as the same bytes, or an EscapeError names the role", () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 5 }), (labels) => {
        const v = labels.join(".");
        const r = tryIt(() => dnsName(v, "the.role"));
        if (r instanceof EscapeError) return r.message.startsWith("the.role: ");
        // Nothing a line parser (nsupdate, zone file) splits at or treats specially, outside \DDD.
        if (!/^([A-Za-z0-9_-]|\\\d{3}|\.)+$/.test(r)) return false;
        const want = (v.endsWith(".") ? v.slice(0, -1) : v)
          .split(".")
          .map((l) => Buffer.from(l, "utf8"));
        const got = readName(r);
        return (
          got.length === want.length &&
          got.every((b, i) => b.equals(want[i])) &&
          got.every((b) => b.length >= 1 && b.length <= 63)
        );
      }),
      { numRuns: 1000 },
    );
  });

  test("GIVEN names DNS cannot carry THEN refused", () => {
    for (const v of [
      "",
      ".",
      "a..b",
      ".a",
      "x".repeat(64) + ".net",
      Array(130).fill("ab").join("."),
      "\ud800.net",
    ])
      expect(tryIt(() => dnsName(v, "r"))).toBeInstanceOf(EscapeError);
  });
});

describe("dnsAddress", () => {
  test("GIVEN arbitrary strings THEN only one address of the family passes, in canonical form", () => {
    fc.assert(
      fc.property(
        fc.oneof(value, fc.ipV4(), fc.ipV6()),
        fc.constantFrom("A" as const, "AAAA" as const),
        (v, type) => {
          const r = tryIt(() => dnsAddress(v, type, "r"));
          const ok =
            type === "A"
              ? ipaddr.IPv4.isValidFourPartDecimal(v)
              : !v.includes("%") && ipaddr.IPv6.isValid(v) && !ipaddr.IPv4.isValid(v);
          if (!ok) return r instanceof EscapeError;
          return (
            typeof r === "string" && r === ipaddr.parse(v).toString() && /^[0-9a-f.:]+$/.test(r)
          );
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("urlPathSegment", () => {
  test("GIVEN arbitrary strings THEN the URL keeps the value as one path segment", () => {
    fc.assert(
      fc.property(value, (v) => {
        const r = tryIt(() => urlPathSegment(v, "r"));
        if (r instanceof EscapeError)
          return v === "" || v === "." || v === ".." || /[\ud800-\udfff]/.test(v);
        const u = new URL(`http://h/api/zones/${r}/notify`);
        const segs = u.pathname.split("/");
        return (
          segs.length === 5 &&
          decodeURIComponent(segs[3]) === v &&
          segs[4] === "notify" &&
          u.search === "" &&
          u.hash === ""
        );
      }),
      { numRuns: 1000 },
    );
  });
});
