/**
 * npm run dns against real PowerDNS servers on loopback: a primary (gsqlite3, as dns00, with
 * the zone made the way pdns-primary-init makes it) and a secondary (lmdb, as dns01) that the
 * primary NOTIFYs. diff → push → diff empty → second push "no change" → a host removed from a
 * copy of the stack disappears while a hand-made record survives; conflicts refused before any
 * write; the curl program (scripts/host/pdns-api.sh) gives the same answers as plain HTTP; the
 * nsupdate script, sent with the real nsupdate, makes a PowerDNS with DNS UPDATE serve the same
 * records. Every server is stopped by its own PID in afterAll.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { loadStack } from "../../src/config/load";
import { deriveTopology } from "../../src/topology";
import { httpApi, runnerApi } from "../../src/dns/api";
import {
  changesOf,
  diffRecords,
  OWNER_ACCOUNT,
  PdnsClient,
  PushRefused,
  pushRecords,
  summaryOf,
} from "../../src/dns/pdns";
import { desiredRRsets } from "../../src/dns/records";
import { reverseName } from "../../src/dns/zone";
import { nsupdateScript } from "../../src/dns/nsupdate";
import { HostRunner } from "../../src/ops/runner";
import { systemd } from "../../src/apply/steps";
import { ROOT } from "../helpers";
import { dig, PdnsServer, startPdns } from "./pdns-server";

const STACK = "lab";
const env = loadStack(STACK, ROOT);
const ZONE = `${env.dns.zone}.`;
const records = deriveTopology(env).dnsRecords;
const desired = desiredRRsets(records, env.dns.zone);

let primary: PdnsServer;
let secondary: PdnsServer;
let client: PdnsClient;
let secClient: PdnsClient;
const t0 = Date.now();
const pushOpts = () => ({
  log: (s: string) => process.env.DNS_TEST_LOG && console.log(`${Date.now() - t0} ms ${s}`),
  secondaries: [{ name: "secondary", client: secClient }],
  primaryAddresses: [`127.0.0.1:${primary.dnsPort}`],
  waitMs: 20_000,
});

/** The lab stack without one host (and its group membership), as a plain environment. */
function withoutHost(name: string) {
  const raw = YAML.parse(fs.readFileSync(path.join(ROOT, "stacks", `Pulumi.${STACK}.yaml`), "utf8"))
    .config["maglev-infra:environment"];
  raw.hosts = raw.hosts.filter((h: { name: string }) => h.name !== name);
  for (const g of Object.values(raw.backendGroups) as { members: string[] }[])
    g.members = g.members.filter((m) => m !== name);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-dns-stack-"));
  fs.mkdirSync(path.join(dir, "stacks"));
  fs.writeFileSync(
    path.join(dir, "stacks", `Pulumi.${STACK}.yaml`),
    YAML.stringify({ config: { "maglev-infra:environment": raw } }),
  );
  const e = loadStack(STACK, dir);
  fs.rmSync(dir, { recursive: true, force: true });
  return e;
}

beforeAll(async () => {
  secondary = await startPdns({ role: "secondary" });
  primary = await startPdns({ role: "primary", notify: [secondary.dnsPort] });
  // As the tier's pdns-primary-init does it.
  primary.pdnsutil("create-zone", env.dns.zone);
  primary.pdnsutil("set-kind", env.dns.zone, "primary");
  primary.pdnsutil("set-meta", env.dns.zone, "SOA-EDIT-API", "DEFAULT");
  client = new PdnsClient(httpApi(primary.apiUrl, primary.key));
  secClient = new PdnsClient(httpApi(secondary.apiUrl, secondary.key));
  // Hand-made records (as in PowerAdmin): no maglev-infra mark.
  await client.patchZone(ZONE, [
    {
      name: `www.${ZONE}`,
      type: "A",
      ttl: 60,
      changetype: "REPLACE",
      records: [{ content: "198.18.7.15", disabled: false }],
    },
    {
      name: `ns1.${ZONE}`,
      type: "A",
      ttl: 60,
      changetype: "REPLACE",
      records: [{ content: "198.18.7.53", disabled: false }],
    },
  ]);
}, 60_000);

afterAll(async () => {
  await primary?.stop();
  await secondary?.stop();
});

describe("GIVEN the lab stack's records and a fresh shadow primary on loopback", () => {
  test("WHEN diffed THEN every RRset (forward and PTR) is to add, the reverse zones to create, nothing to remove", async () => {
    const d = await diffRecords(client, STACK, env.dns.zone, desired);
    const s = summaryOf(d);
    expect(s).toEqual({
      add: desired.length,
      change: 0,
      remove: 0,
      conflict: 0,
      adopt: 0,
      zonesToCreate: 4,
    });
    expect(changesOf(d).every((r) => r.action === "add")).toBe(true);
    expect(d.zones.map((z) => z.zone)).toEqual([
      ZONE,
      "0.0.0.0.0.0.0.0.7.0.0.0.0.0.d.f.ip6.arpa.",
      "0.0.0.0.0.0.0.0.a.0.0.0.0.0.d.f.ip6.arpa.",
      "10.18.198.in-addr.arpa.",
      "7.18.198.in-addr.arpa.",
    ]);
  });

  test("WHEN the curl program (scripts/host/pdns-api.sh) is the transport THEN the diff is the same as over HTTP", async () => {
    // A HostRunner that runs the script here, as SSH would on the host.
    const local: HostRunner = {
      kind: "local",
      services: systemd,
      run: (_h, script, timeoutMs = 30_000, stdin) =>
        new Promise((resolve) => {
          const c = spawn("sh", ["-c", script], { stdio: ["pipe", "pipe", "pipe"] });
          let stdout = "";
          let stderr = "";
          c.stdout.on("data", (x) => (stdout += x));
          c.stderr.on("data", (x) => (stderr += x));
          const t = setTimeout(() => c.kill("SIGKILL"), timeoutMs);
          c.on(
            "close",
            (code) => (clearTimeout(t), resolve({ stdout, stderr, code: code ?? 124 })),
          );
          c.stdin.end(stdin ?? "");
        }),
    };
    const viaCurl = new PdnsClient(runnerApi(local, "loopback", primary.apiUrl, primary.key));
    expect(await diffRecords(viaCurl, STACK, env.dns.zone, desired)).toEqual(
      await diffRecords(client, STACK, env.dns.zone, desired),
    );
    // A wrong key: the API's 401, and the key is in no message.
    const bad = new PdnsClient(runnerApi(local, "loopback", primary.apiUrl, "not-the-key-XYZ"));
    const err = await bad.listZones().then(
      () => "",
      (e: Error) => e.message,
    );
    expect(err).toMatch(/HTTP 401/);
    expect(err).not.toContain("not-the-key-XYZ");
  });

  test("WHEN pushed THEN one PATCH per zone, the serial moves, the secondary gets every zone and answers for every host and its PTR", async () => {
    const soa0 = (await client.getZone(ZONE)).serial;
    const r = await pushRecords(client, STACK, env.dns.zone, desired, pushOpts());
    expect(r.noChange).toBe(false);
    expect(r.zones.map((z) => [z.zone, z.created, z.notified])).toEqual([
      [ZONE, false, true],
      ["0.0.0.0.0.0.0.0.7.0.0.0.0.0.d.f.ip6.arpa.", true, true],
      ["0.0.0.0.0.0.0.0.a.0.0.0.0.0.d.f.ip6.arpa.", true, true],
      ["10.18.198.in-addr.arpa.", true, true],
      ["7.18.198.in-addr.arpa.", true, true],
    ]);
    expect(r.zones[0].serialBefore).toBe(soa0);
    expect(r.zones[0].serialAfter).toBeGreaterThan(soa0);
    expect(r.secondaries).toHaveLength(1);
    expect(r.secondaries[0]).toMatchObject({ ok: true });
    expect(r.secondaries[0].created).toHaveLength(5);
    // Every record from the secondary, over DNS.
    for (const rec of records) {
      expect([rec.name, rec.type, dig(secondary.dnsPort, `${rec.name}.${ZONE}`, rec.type)]).toEqual(
        [rec.name, rec.type, [rec.value]],
      );
      expect([rec.value, dig(secondary.dnsPort, reverseName(rec.value), "PTR")]).toEqual([
        rec.value,
        [`${rec.name}.${ZONE}`],
      ]);
    }
    // The marker: each RRset of ours carries the account's comment.
    const z = await client.getZone(ZONE);
    const ours = (z.rrsets ?? []).filter((x) =>
      (x.comments ?? []).some((c) => c.account === OWNER_ACCOUNT),
    );
    expect(ours.length).toBe(desired.filter((d) => d.type !== "PTR").length);
  }, 90_000);

  test("WHEN diffed again THEN nothing differs; a second push says no change and PATCHes nothing", async () => {
    expect(changesOf(await diffRecords(client, STACK, env.dns.zone, desired))).toEqual([]);
    const serials = (await client.listZones()).map((z) => [z.name, z.serial]);
    const r = await pushRecords(client, STACK, env.dns.zone, desired, pushOpts());
    expect(r.noChange).toBe(true);
    expect(r.zones).toEqual([]);
    expect((await client.listZones()).map((z) => [z.name, z.serial])).toEqual(serials);
  }, 60_000);

  test("WHEN a hand-made RRset sits at a name the stack wants THEN push refuses before any write, naming zone and record; --adopt takes it over", async () => {
    const name = `lab-vm-mgw01.${ZONE}`;
    // Made by hand: the same name, no mark.
    await client.patchZone(ZONE, [
      {
        name,
        type: "A",
        ttl: 300,
        changetype: "REPLACE",
        records: [{ content: "198.18.7.4", disabled: false }],
        comments: [],
      },
    ]);
    const serials = (await client.listZones()).map((z) => [z.name, z.serial]);
    const e = await pushRecords(client, STACK, env.dns.zone, desired, pushOpts()).then(
      () => undefined,
      (x: Error) => x,
    );
    expect(e).toBeInstanceOf(PushRefused);
    expect(e!.message).toContain(`zone ${ZONE}: ${name} A (hand-made`);
    expect((await client.listZones()).map((z) => [z.name, z.serial])).toEqual(serials);
    const r = await pushRecords(client, STACK, env.dns.zone, desired, {
      ...pushOpts(),
      adopt: true,
    });
    expect(r.zones.map((z) => z.changed)).toEqual([1]);
    expect(changesOf(await diffRecords(client, STACK, env.dns.zone, desired))).toEqual([]);
  }, 60_000);

  test("WHEN a host is removed from a copy of the stack and pushed THEN its records and PTRs are gone, hand-made ones stay", async () => {
    const gone = "mlb02";
    const env2 = withoutHost(gone);
    const desired2 = desiredRRsets(deriveTopology(env2).dnsRecords, env2.dns.zone);
    const removedRecords = records.filter((r) => r.name.endsWith(`-${gone}`));
    expect(removedRecords).toHaveLength(4);
    const d = await diffRecords(client, STACK, env.dns.zone, desired2);
    expect(summaryOf(d)).toMatchObject({ add: 0, change: 0, remove: 8, conflict: 0 });
    const r = await pushRecords(client, STACK, env.dns.zone, desired2, pushOpts());
    expect(r.secondaries[0].ok).toBe(true);
    for (const rec of removedRecords) {
      expect(dig(secondary.dnsPort, `${rec.name}.${ZONE}`, rec.type)).toEqual([]);
      expect(dig(secondary.dnsPort, reverseName(rec.value), "PTR")).toEqual([]);
    }
    expect(dig(secondary.dnsPort, `www.${ZONE}`, "A")).toEqual(["198.18.7.15"]);
    expect(dig(secondary.dnsPort, `ns1.${ZONE}`, "A")).toEqual(["198.18.7.53"]);
    // The full stack again: the host comes back, the hand-made records are still untouched.
    await pushRecords(client, STACK, env.dns.zone, desired, pushOpts());
    expect(changesOf(await diffRecords(client, STACK, env.dns.zone, desired))).toEqual([]);
    expect(dig(secondary.dnsPort, `www.${ZONE}`, "A")).toEqual(["198.18.7.15"]);
  }, 90_000);

  test("WHEN the CLI diffs and pushes with the key from MAGLEV_PDNS_API_KEY THEN its output says no change and never shows the key", () => {
    const run = (args: string[], key: string) =>
      spawnSync(
        path.join(ROOT, "node_modules/.bin/tsx"),
        [path.join(ROOT, "src/cli/dns.ts"), ...args],
        {
          cwd: ROOT,
          encoding: "utf8",
          timeout: 120_000,
          env: { ...process.env, MAGLEV_PDNS_API_KEY: key },
        },
      );
    const ok = run(
      ["push", STACK, "--from", "render", "--api-url", primary.apiUrl, "--timeout", "5"],
      primary.key,
    );
    expect({ code: ok.status, err: ok.stderr }).toEqual({ code: 0, err: "" });
    expect(ok.stdout).toContain(
      "no change: the primary already serves the records of stack lab; nothing pushed",
    );
    expect(ok.stdout + ok.stderr).not.toContain(primary.key);
    const bad = run(
      ["diff", STACK, "--from", "render", "--api-url", primary.apiUrl, "--timeout", "5"],
      `${primary.key}-wrong`,
    );
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/HTTP 401/);
    expect(bad.stdout + bad.stderr).not.toContain(primary.key);
  }, 240_000);
});

describe("GIVEN a PowerDNS that takes RFC 2136 updates", () => {
  let upd: PdnsServer;
  beforeAll(async () => {
    upd = await startPdns({ role: "primary", dnsupdate: true });
    for (const z of [
      env.dns.zone,
      "7.18.198.in-addr.arpa",
      "10.18.198.in-addr.arpa",
      "0.0.0.0.0.0.0.0.7.0.0.0.0.0.d.f.ip6.arpa",
      "0.0.0.0.0.0.0.0.a.0.0.0.0.0.d.f.ip6.arpa",
    ])
      upd.pdnsutil("create-zone", z);
  }, 60_000);
  afterAll(async () => {
    await upd?.stop();
  });

  test("WHEN the nsupdate script is sent twice with the real nsupdate THEN the server serves every record and PTR, as push would write them", () => {
    const script = nsupdateScript(STACK, env.dns.zone, records, {
      server: "127.0.0.1",
      port: upd.dnsPort,
    });
    for (let i = 0; i < 2; i++) {
      const r = spawnSync("nsupdate", ["-v"], { input: script, encoding: "utf8", timeout: 60_000 });
      expect({ code: r.status, err: r.stderr }).toEqual({ code: 0, err: "" });
    }
    for (const rec of records) {
      expect([rec.name, dig(upd.dnsPort, `${rec.name}.${ZONE}`, rec.type)]).toEqual([
        rec.name,
        [rec.value],
      ]);
      expect([rec.value, dig(upd.dnsPort, reverseName(rec.value), "PTR")]).toEqual([
        rec.value,
        [`${rec.name}.${ZONE}`],
      ]);
    }
  }, 90_000);
});
