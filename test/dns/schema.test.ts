/**
 * The contract for other consumers of the host records: schemas/dns-records.schema.json (JSON
 * Schema 2020-12, checked with ajv). Every stack's rendered dns-records.json — the same array
 * as the `dnsRecords` stack output — validates against it, and the run-time reader of
 * `npm run dns` (src/dns/records.ts) accepts and refuses exactly what the schema does.
 */
import * as fs from "fs";
import * as path from "path";
import Ajv2020 from "ajv/dist/2020";
import fc from "fast-check";
import * as ipaddr from "ipaddr.js";
import { loadStack } from "../../src/config/load";
import { renderEnvironment } from "../../src/render";
import { dnsRecordsSchema } from "../../src/dns/records";
import { ROOT } from "../helpers";

const schema = JSON.parse(
  fs.readFileSync(path.join(ROOT, "schemas", "dns-records.schema.json"), "utf8"),
);
const ajv = new Ajv2020({ strict: true, allErrors: true });
const validate = ajv.compile(schema);
const stacks = fs
  .readdirSync(path.join(ROOT, "stacks"))
  .filter((f) => /^Pulumi\..+\.yaml$/.test(f))
  .map((f) => f.replace(/^Pulumi\.|\.yaml$/g, ""));

describe("GIVEN schemas/dns-records.schema.json", () => {
  test("THEN it is a valid JSON Schema 2020-12 document with an $id and a description", () => {
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schema.$id).toMatch(/^urn:maglev-infra:schema:dns-records:\d+$/);
    expect(ajv.validateSchema(schema)).toBe(true);
  });

  test.each(stacks)("WHEN stack %s is rendered THEN its dns-records.json validates", (stack) => {
    const r = renderEnvironment(loadStack(stack, ROOT));
    const doc = JSON.parse(r.files.get("dns-records.json")!);
    const ok = validate(doc);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    expect(doc.length).toBe(r.topology.dnsRecords.length);
    expect(doc.length).toBeGreaterThan(0);
  });

  test("WHEN documents break the contract THEN both the schema and the run-time reader refuse them", () => {
    const good = { name: "mgmt02-vm-mgw01", type: "A", value: "10.1.7.4" };
    const bad: unknown[] = [
      {},
      [{ ...good, extra: 1 }],
      [{ ...good, type: "a" }],
      [{ ...good, type: "CNAME" }],
      [{ ...good, value: "10.1.7.256" }],
      [{ ...good, value: "010.1.7.4" }],
      [{ ...good, type: "AAAA" }],
      [{ ...good, type: "A", value: "2a0a::1" }],
      [{ ...good, name: "Upper" }],
      [{ ...good, name: "trailing." }],
      [{ ...good, name: "-dash" }],
      [{ ...good, name: "a b" }],
      [{ ...good, name: "x".repeat(64) }],
      [{ name: good.name, type: "A" }],
      [good, good],
    ];
    for (const d of bad)
      expect([d, validate(d), dnsRecordsSchema.safeParse(d).success]).toEqual([d, false, false]);
    expect([validate([good]), dnsRecordsSchema.safeParse([good]).success]).toEqual([true, true]);
  });

  test("WHEN addresses are generated (fast-check) THEN the schema's address patterns agree with ipaddr.js, as does the reader", () => {
    const asSchema = (type: string, value: string) => validate([{ name: "h", type, value }]);
    const asReader = (type: string, value: string) =>
      dnsRecordsSchema.safeParse([{ name: "h", type, value }]).success;
    fc.assert(
      fc.property(fc.ipV4(), (v) => asSchema("A", v) && asReader("A", v)),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(
        fc.ipV6(),
        (v) =>
          asSchema("AAAA", v) === ipaddr.IPv6.isValid(v) &&
          asReader("AAAA", v) === asSchema("AAAA", v),
      ),
      { numRuns: 500 },
    );
    // Near misses: strings of address characters.
    const near = fc.string({
      unit: fc.constantFrom(..."0123456789abcdefABCDEF:.%"),
      maxLength: 45,
    });
    fc.assert(
      fc.property(near, (v) => {
        const v6 = !v.includes("%") && ipaddr.IPv6.isValid(v) && !ipaddr.IPv4.isValid(v);
        const v4 = ipaddr.IPv4.isValidFourPartDecimal(v);
        return (
          asSchema("AAAA", v) === v6 &&
          asReader("AAAA", v) === v6 &&
          asSchema("A", v) === v4 &&
          asReader("A", v) === v4
        );
      }),
      { numRuns: 2000 },
    );
  });
});
