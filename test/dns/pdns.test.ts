/**
 * The pure parts of `npm run dns`: desired RRsets and their zones, the diff (ownership by
 * comment), the PATCH, the table, the nsupdate script; and the push's error paths against a
 * scripted API (a refused PATCH names zone and record; the key is in no message).
 */
import * as net from "net";
import { loadStack } from "../../src/config/load";
import { deriveTopology } from "../../src/topology";
import { ApiResponse, checkApiKey, httpApi, PdnsApi, redact } from "../../src/dns/api";
import {
  diffZone,
  formatDiff,
  ownerComment,
  ownerOf,
  OWNER_ACCOUNT,
  patchOf,
  PdnsClient,
  PdnsRRset,
  pushRecords,
} from "../../src/dns/pdns";
import { defaultReverseZone, desiredRRsets, placeRRsets } from "../../src/dns/records";
import { nsupdateScript } from "../../src/dns/nsupdate";
import { ROOT } from "../helpers";

const env = loadStack("lab", ROOT);
const records = deriveTopology(env).dnsRecords;
const ZONE = "lab.example.net.";
const mark = (stack = "lab") => [{ content: ownerComment(stack), account: OWNER_ACCOUNT }];
const rr = (
  name: string,
  type: string,
  contents: string[],
  comments = mark(),
  ttl = 300,
): PdnsRRset => ({
  name,
  type,
  ttl,
  records: contents.map((content) => ({ content, disabled: false })),
  comments,
});

describe("GIVEN the lab stack's records", () => {
  const desired = desiredRRsets(records, env.dns.zone);

  test("THEN one forward RRset per name and type, one PTR per address, sorted, canonical", () => {
    expect(desired.filter((d) => d.type !== "PTR")).toHaveLength(records.length);
    expect(desired.filter((d) => d.type === "PTR")).toHaveLength(records.length);
    expect(desired.find((d) => d.name === "4.7.18.198.in-addr.arpa.")).toEqual({
      name: "4.7.18.198.in-addr.arpa.",
      type: "PTR",
      ttl: 300,
      contents: ["lab-vm-mgw01.lab.example.net."],
    });
    expect(desired.map((d) => `${d.name} ${d.type}`)).toEqual(
      [...desired.map((d) => `${d.name} ${d.type}`)].sort(),
    );
    expect(desiredRRsets([...records].reverse(), env.dns.zone)).toEqual(desired);
  });

  test("WHEN placed THEN PTRs go in the longest reverse zone the server has, else their /24 or /64", () => {
    expect(defaultReverseZone("4.7.18.198.in-addr.arpa.")).toBe("7.18.198.in-addr.arpa.");
    expect(
      defaultReverseZone(
        "4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.7.0.0.0.0.0.d.f.ip6.arpa.",
      ),
    ).toBe("0.0.0.0.0.0.0.0.7.0.0.0.0.0.d.f.ip6.arpa.");
    const p = placeRRsets(desired, env.dns.zone, ["18.198.in-addr.arpa.", "example.org."]);
    expect([...p.keys()]).toEqual([
      ZONE,
      "0.0.0.0.0.0.0.0.7.0.0.0.0.0.d.f.ip6.arpa.",
      "0.0.0.0.0.0.0.0.a.0.0.0.0.0.d.f.ip6.arpa.",
      "18.198.in-addr.arpa.",
    ]);
    expect(p.get("18.198.in-addr.arpa.")).toHaveLength(
      records.filter((r) => r.type === "A").length,
    );
  });
});

describe("diffZone: only RRsets marked as this stack's are changed or removed", () => {
  const want = [{ name: `a.${ZONE}`, type: "A" as const, ttl: 300, contents: ["198.18.7.4"] }];

  test("GIVEN an empty zone THEN add; a zone the server lacks THEN create", () => {
    expect(diffZone("lab", ZONE, want, []).rows.map((r) => r.action)).toEqual(["add"]);
    expect(diffZone("lab", ZONE, want, undefined).create).toBe(true);
  });

  test("GIVEN ours with other content or TTL THEN change; identical THEN nothing (IPv6 compared canonically)", () => {
    expect(
      diffZone("lab", ZONE, want, [rr(`a.${ZONE}`, "A", ["198.18.7.5"])]).rows.map((r) => [
        r.action,
        r.before,
        r.after,
      ]),
    ).toEqual([["change", ["198.18.7.5"], ["198.18.7.4"]]]);
    expect(
      diffZone("lab", ZONE, want, [rr(`a.${ZONE}`, "A", ["198.18.7.4"], mark(), 60)]).rows.map(
        (r) => [r.action, r.beforeTtl],
      ),
    ).toEqual([["change", 60]]);
    expect(
      diffZone("lab", ZONE, want, [rr(`A.${ZONE.toUpperCase()}`, "A", ["198.18.7.4"])]).rows,
    ).toEqual([]);
    const six = [{ name: `a.${ZONE}`, type: "AAAA" as const, ttl: 300, contents: ["fd00:7::4"] }];
    expect(
      diffZone("lab", ZONE, six, [rr(`a.${ZONE}`, "AAAA", ["FD00:0007:0000::0004"])]).rows,
    ).toEqual([]);
  });

  test("GIVEN a hand-made RRset or another stack's at a wanted name THEN conflict (adopt with adopt); a CNAME stays a conflict", () => {
    const hand = [rr(`a.${ZONE}`, "A", ["198.18.7.4"], [])];
    expect(diffZone("lab", ZONE, want, hand).rows.map((r) => [r.action, r.note])).toEqual([
      ["conflict", "hand-made (no maglev-infra mark), same records"],
    ]);
    expect(diffZone("lab", ZONE, want, hand, { adopt: true }).rows.map((r) => r.action)).toEqual([
      "adopt",
    ]);
    expect(
      diffZone("lab", ZONE, want, [rr(`a.${ZONE}`, "A", ["1.2.3.4"], mark("mgmt02"))]).rows.map(
        (r) => r.note,
      ),
    ).toEqual(["marked for stack mgmt02"]);
    // A comment with the right text but another account is not the mark.
    expect(
      ownerOf(
        rr(`a.${ZONE}`, "A", ["1.2.3.4"], [{ content: ownerComment("lab"), account: "someone" }]),
      ),
    ).toBeUndefined();
    const cname = [rr(`a.${ZONE}`, "CNAME", ["b.example.net."], [])];
    expect(diffZone("lab", ZONE, want, cname, { adopt: true }).rows.map((r) => r.action)).toEqual([
      "conflict",
    ]);
  });

  test("GIVEN ours no longer wanted THEN remove; hand-made and other stacks' never", () => {
    const cur = [
      rr(`old.${ZONE}`, "A", ["198.18.7.9"]),
      rr(`www.${ZONE}`, "A", ["198.18.7.15"], []),
      rr(`x.${ZONE}`, "A", ["198.18.7.10"], mark("mgmt02")),
      rr(ZONE, "SOA", ["ns. h. 1 2 3 4 5"], []),
    ];
    const d = diffZone("lab", ZONE, [], cur);
    expect(d.rows.map((r) => [r.action, r.name])).toEqual([["remove", `old.${ZONE}`]]);
    expect(patchOf("lab", d)).toEqual([
      { name: `old.${ZONE}`, type: "A", changetype: "DELETE", records: [], comments: [] },
    ]);
  });

  test("THEN the PATCH replaces each RRset with the mark, and the table lists it", () => {
    const d = diffZone("lab", ZONE, want, []);
    expect(patchOf("lab", d)).toEqual([
      {
        name: `a.${ZONE}`,
        type: "A",
        ttl: 300,
        changetype: "REPLACE",
        records: [{ content: "198.18.7.4", disabled: false }],
        comments: [{ content: ownerComment("lab"), account: "maglev-infra" }],
      },
    ]);
    expect(formatDiff({ stack: "lab", zones: [d] })).toBe(
      [
        "ACTION  ZONE              NAME                TYPE  TTL  NOW  STACK",
        `add     ${ZONE}  a.${ZONE}  A     300  -    198.18.7.4`,
        "",
        "1 to add, 0 to change, 0 to remove",
        "",
      ].join("\n"),
    );
    expect(formatDiff({ stack: "lab", zones: [{ zone: ZONE, create: false, rows: [] }] })).toBe(
      "no change: the primary serves the records of stack lab (1 zone(s))\n",
    );
  });
});

/** A scripted PowerDNS API: a zone with an SOA and no SOA-EDIT-API; PATCHes refused on demand. */
function fakeApi(opts: { refuse?: string; soaEdit?: string }) {
  const calls: string[] = [];
  let serial = 5;
  const api: PdnsApi = {
    where: "fake",
    async request(method, p, body): Promise<ApiResponse> {
      calls.push(`${method} ${p}`);
      if (method === "GET" && p.endsWith("/zones"))
        return {
          status: 200,
          body: JSON.stringify([{ id: ZONE, name: ZONE, kind: "Master", serial }]),
        };
      if (method === "GET")
        return {
          status: 200,
          body: JSON.stringify({
            id: ZONE,
            name: ZONE,
            kind: "Master",
            serial,
            soa_edit_api: opts.soaEdit ?? "",
            rrsets: [rr(ZONE, "SOA", [`ns.${ZONE} h.${ZONE} ${serial} 10800 3600 604800 300`], [])],
          }),
        };
      if (method === "PATCH" && opts.refuse)
        return { status: 422, body: JSON.stringify({ error: opts.refuse }) };
      if (method === "PATCH") {
        const soa = (
          JSON.parse(body!).rrsets as { type: string; records: { content: string }[] }[]
        ).find((x) => x.type === "SOA");
        if (soa) serial = Number(soa.records[0].content.split(" ")[2]);
        return { status: 204, body: "" };
      }
      return { status: 404, body: JSON.stringify({ error: "Not Found" }) };
    },
  };
  return { api, calls };
}

describe("pushRecords against a scripted API", () => {
  const want = [{ name: `a.${ZONE}`, type: "A" as const, ttl: 300, contents: ["198.18.7.4"] }];

  test("GIVEN PowerDNS refuses the PATCH THEN the error names the zone, the record and PowerDNS's reason", async () => {
    const { api } = fakeApi({ refuse: `RRset a.${ZONE} IN A: Conflicts with pre-existing RRset` });
    const e = await pushRecords(new PdnsClient(api), "lab", env.dns.zone, want).then(
      () => undefined,
      (x: Error) => x,
    );
    expect(e?.message).toBe(
      `zone ${ZONE}: PowerDNS refused the PATCH (HTTP 422: RRset a.${ZONE} IN A: Conflicts with pre-existing RRset); nothing in this zone changed. Records: add a.${ZONE} A 198.18.7.4`,
    );
  });

  test("GIVEN a zone without SOA-EDIT-API THEN the PATCH itself bumps the serial by one, once", async () => {
    const { api, calls } = fakeApi({});
    const client = new PdnsClient(api);
    // The scripted zone never shows the record, so the read-back after the PATCH must fail loudly.
    const e = await pushRecords(client, "lab", env.dns.zone, want).then(
      () => undefined,
      (x: Error) => x,
    );
    expect(e?.message).toBe(
      `zone ${ZONE}: after the PATCH the primary still differs: add a.${ZONE} A`,
    );
    expect(calls.filter((c) => c.startsWith("PATCH"))).toHaveLength(1);
    expect((await client.getZone(ZONE)).serial).toBe(6);
  });
});

describe("the API key", () => {
  test("GIVEN messages holding it THEN redact removes it; a key a header cannot carry is refused without showing it", () => {
    expect(redact("x s3cr3t y s3cr3t", "s3cr3t")).toBe("x [secret] y [secret]");
    expect(() => checkApiKey("bad\nkey", "src")).toThrow(
      "src: the PowerDNS API key has characters an HTTP header cannot carry (only printable ASCII, no space at either end)",
    );
    try {
      checkApiKey("bad\nkey", "src");
    } catch (e) {
      expect((e as Error).message).not.toContain("bad");
    }
  });

  test("GIVEN no server listening THEN the HTTP transport fails within its bound, naming the URL but not the key", async () => {
    const api = httpApi("http://127.0.0.1:9", "the-key-42", 2000);
    const t0 = Date.now();
    const e = await api.request("GET", "/servers/localhost/zones").then(
      () => undefined,
      (x: Error) => x,
    );
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(e?.message).toMatch(
      /^GET http:\/\/127\.0\.0\.1:9\/api\/v1\/servers\/localhost\/zones: /,
    );
    expect(e?.message).not.toContain("the-key-42");
  });
});

test("GIVEN a server that accepts but never answers THEN the request gives up at its bound", async () => {
  const held: net.Socket[] = [];
  const srv = net.createServer((s) => held.push(s));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  const t0 = Date.now();
  const e = await httpApi(`http://127.0.0.1:${port}`, "k", 500)
    .request("GET", "/servers/localhost/zones")
    .then(
      () => undefined,
      (x: Error) => x,
    );
  const ms = Date.now() - t0;
  held.forEach((s) => s.destroy());
  await new Promise<void>((r) => srv.close(() => r()));
  expect(e?.message).toMatch(/no answer within 0\.5 s/);
  expect(ms).toBeGreaterThanOrEqual(450);
  expect(ms).toBeLessThan(3000);
});

describe("nsupdate script", () => {
  const script = nsupdateScript("lab", env.dns.zone, records, { server: "198.18.7.40" });

  test("THEN one update per zone, each RRset replaced (delete, add), PTRs in their reverse zones, deterministic", () => {
    expect(script).toBe(
      nsupdateScript("lab", env.dns.zone, [...records].reverse(), { server: "198.18.7.40" }),
    );
    const lines = script.split("\n");
    expect(lines.filter((l) => l.startsWith("zone "))).toEqual([
      "zone lab.example.net.",
      "zone 0.0.0.0.0.0.0.0.7.0.0.0.0.0.d.f.ip6.arpa.",
      "zone 0.0.0.0.0.0.0.0.a.0.0.0.0.0.d.f.ip6.arpa.",
      "zone 10.18.198.in-addr.arpa.",
      "zone 7.18.198.in-addr.arpa.",
    ]);
    expect(lines.filter((l) => l === "send")).toHaveLength(5);
    expect(lines).toContain("server 198.18.7.40 53");
    expect(script).toContain(
      "update delete lab-vm-mgw01.lab.example.net. A\nupdate add lab-vm-mgw01.lab.example.net. 300 IN A 198.18.7.4\n",
    );
    expect(script).toContain(
      "update delete 4.7.18.198.in-addr.arpa. PTR\nupdate add 4.7.18.198.in-addr.arpa. 300 IN PTR lab-vm-mgw01.lab.example.net.\n",
    );
    expect(lines.filter((l) => l.startsWith("update add"))).toHaveLength(2 * records.length);
    expect(script).not.toMatch(/\d{4}-\d\d-\d\d/);
  });

  test("GIVEN a hostile server address THEN refused", () => {
    expect(() =>
      nsupdateScript("lab", env.dns.zone, records, { server: "198.18.7.40\nsend" }),
    ).toThrow(/--server: is not an IPv4 address/);
  });
});
