/**
 * Lab scenario `dns-publish` (issue 20): the DNS automation against the lab's own DNS chain.
 *
 *   npm run dns -- diff lab --lab     before: every RRset of the stack is to add
 *   push                              the lab stack's records + PTRs to the shadow primary (dns00),
 *                                     reverse zones created, NOTIFY, the secondaries catch up
 *   dig @<DNS VIP> from the client     every host's A/AAAA and the PTR of each address, answered by
 *                                     the secondaries through dnsdist
 *   second push                       "no change", no serial moved
 *   push of a copy without one host   its records and PTRs gone from DNS; the hand-made records
 *                                     (the lab's www and ns1, and one this scenario makes) stay
 *   push of the full stack again      the lab ends as the stack says
 *
 * The API is reached the way `npm run dns -- … --lab` does it: curl in the PowerDNS guest
 * (scripts/host/pdns-api.sh) through the lab's exec, the key on stdin. dnsdist's packet cache
 * is emptied before each round of digs (an answer cached before a push would otherwise be
 * served until its TTL runs out — DNS's own behaviour, not the automation's).
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { loadStack } from "../../src/config/load";
import { deriveTopology, DnsRecord, HostFacts } from "../../src/topology";
import { PDNS_API_PORT, DNSDIST_CONF, SECRETS } from "../../src/tiers/dns";
import { runnerApi } from "../../src/dns/api";
import {
  changesOf,
  diffRecords,
  PdnsClient,
  pushRecords,
  PushResult,
  summaryOf,
} from "../../src/dns/pdns";
import { absolute, canonicalContent, desiredRRsets } from "../../src/dns/records";
import { reverseName } from "../../src/dns/zone";
import { shellWord } from "../../src/escape";
import { CLIENT, LabModel } from "../topology";
import { Ctx, Outcome, Scenario, stackEnv, writeStackVariant } from "./runner";
import { dnsVipPort } from "./probes";

const apiBase = (h: HostFacts) => `http://${h.mgmt.ipv4}:${PDNS_API_PORT}`;

/** The lab stack without `name` (and without it in any group), loaded from a temporary copy. */
function stackWithout(m: LabModel, name: string) {
  const raw = stackEnv(m);
  raw.hosts = raw.hosts.filter((h) => h.name !== name);
  for (const g of Object.values(raw.backendGroups)) g.members = g.members.filter((x) => x !== name);
  const root = writeStackVariant(m, raw, "maglev-lab-dns-");
  try {
    return loadStack(m.stack, root);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** A host whose removal leaves a valid stack: a member of a backend group that keeps another member. */
function removableHost(m: LabModel): HostFacts | undefined {
  return [...m.topo.groups.values()]
    .filter((g) => g.members.length > 1)
    .flatMap((g) => g.members)
    .sort((a, b) => (a.name < b.name ? 1 : -1))[0];
}

/** `npm run dns -- diff <stack file> --lab --json`, as a user runs it (niced: the guests keep the CPU). */
function cliDiff(m: LabModel): Promise<{
  code: number;
  json?: { empty: boolean; summary: Record<string, number>; rows: { action: string }[] };
  err: string;
}> {
  const tsx = path.join(m.root, "node_modules", ".bin", "tsx");
  const args = [
    "-n",
    "10",
    tsx,
    path.join(m.root, "src", "cli", "dns.ts"),
    "diff",
    path.join(m.root, "stacks", `Pulumi.${m.stack}.yaml`),
    "--lab",
    "--json",
  ];
  return new Promise((resolve) => {
    execFile(
      "nice",
      args,
      { cwd: m.root, timeout: 180_000, maxBuffer: 16 * 1024 * 1024 },
      (e, stdout, stderr) => {
        const code = e
          ? typeof (e as { code?: unknown }).code === "number"
            ? ((e as { code: number }).code as number)
            : 1
          : 0;
        try {
          resolve({ code, json: JSON.parse(stdout), err: stderr });
        } catch {
          resolve({ code, err: `${stderr}${stdout}`.slice(-400) });
        }
      },
    );
  });
}

/**
 * Empty the caches between the client and the records: dnsdist's packet cache (its console, as
 * the plan's health probe uses it) and each secondary's packet and query caches for the zones.
 */
async function purgeCaches(c: Ctx, zones: string[]): Promise<void> {
  for (const h of c.m.topo.hosts.filter((x) => x.tier === "dnsdist"))
    await c.lab.run(
      h.hostname,
      `dnsdist -C ${DNSDIST_CONF} -c -e 'getPool("pdns"):getCache():expunge(0)' >/dev/null`,
      { timeoutMs: 30_000 },
    );
  const words = zones.map((z) => shellWord(`${z}$`)).join(" ");
  for (const h of c.m.topo.hosts.filter((x) => x.tier === "powerdns"))
    await c.lab.run(h.hostname, `pdns_control purge ${words} >/dev/null`, { timeoutMs: 30_000 });
}

/**
 * dig from the lab's client through the DNS VIP, one batch (dig -f): name → type → answers.
 * Each query bounded (+time=2 +tries=2), the whole batch by the exec's timeout. The batch
 * arrives on stdin, read as /proc/self/fd/0: the guests' devtmpfs has no /dev/stdin link.
 */
async function digAll(
  c: Ctx,
  vip: string,
  queries: { name: string; type: string }[],
): Promise<Map<string, string[]>> {
  const batch = queries.map((q) => `${q.name} ${q.type}`).join("\n") + "\n";
  const out = await c.lab.run(
    CLIENT.name,
    `dig @${vip} +noall +answer +time=2 +tries=2 -f /proc/self/fd/0`,
    { timeoutMs: 180_000, stdin: batch },
  );
  const got = new Map<string, string[]>();
  for (const line of out.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const k = `${absolute(f[0])} ${f[3]}`;
    got.set(k, [...(got.get(k) ?? []), f[4]]);
  }
  return got;
}

/** Every record of `records` answered exactly (A/AAAA, and the PTR of its address): the misses. */
function misses(got: Map<string, string[]>, records: DnsRecord[], zone: string): string[] {
  const bad: string[] = [];
  for (const r of records) {
    const fqdn = `${r.name}.${absolute(zone)}`;
    const a = got.get(`${fqdn} ${r.type}`) ?? [];
    if (a.length !== 1 || canonicalContent(r.type, a[0]) !== canonicalContent(r.type, r.value))
      bad.push(`${fqdn} ${r.type} → ${a.join(",") || "nothing"} (want ${r.value})`);
    const p = got.get(`${reverseName(r.value)} PTR`) ?? [];
    if (p.length !== 1 || absolute(p[0]) !== fqdn)
      bad.push(`PTR ${r.value} → ${p.join(",") || "nothing"} (want ${fqdn})`);
  }
  return bad;
}

const queriesOf = (records: DnsRecord[], zone: string) =>
  records.flatMap((r) => [
    { name: `${r.name}.${absolute(zone)}`, type: r.type },
    { name: reverseName(r.value), type: "PTR" },
  ]);

const secondariesOk = (r: PushResult) =>
  r.secondaries.length > 0 && r.secondaries.every((s) => s.ok);

export const dnsPublish: Scenario = {
  id: "dns-publish",
  title:
    "npm run dns: push the stack's records and PTRs to the shadow primary; dig through the DNS VIP; no change on a second push; a removed host disappears, hand-made records stay",
  async run(c): Promise<Outcome> {
    const { m, runner, log } = c;
    const env = m.topo.env;
    const zone = env.dns.zone;
    const primary = m.topo.hosts.find((h) => h.tier === "shadow-primary");
    const secs = m.topo.hosts.filter((h) => h.tier === "powerdns");
    const vip = dnsVipPort(m, "ipv4")?.vip;
    const key = c.secrets[SECRETS.pdnsApiKey];
    if (!primary || !secs.length || !vip || !key)
      return {
        ok: false,
        detail: `the lab stack lacks a shadow primary, a PowerDNS secondary, a DNS VIP or the API key`,
        figures: {},
      };
    const client = new PdnsClient(
      runnerApi(runner, primary.hostname, apiBase(primary), key, 20_000),
    );
    const secondaries = secs.map((s) => ({
      name: s.hostname,
      client: new PdnsClient(runnerApi(runner, s.hostname, apiBase(s), key, 20_000)),
    }));
    const opts = {
      secondaries,
      primaryAddresses: [primary.mgmt.ipv4],
      waitMs: 60_000,
      log: (s: string) => log(`     ${s}`),
    };
    const records = m.topo.dnsRecords;
    const desired = desiredRRsets(records, zone);
    const bad: string[] = [];
    const figures: Record<string, number | string | boolean> = {
      dnsVip: vip,
      records: records.length,
      rrsets: desired.length,
    };

    // 1. The user's command before a push.
    const before = await cliDiff(m);
    if (before.code !== 0 || !before.json)
      return {
        ok: false,
        detail: `npm run dns -- diff ${m.stack} --lab failed (exit ${before.code}): ${before.err}`,
        figures,
      };
    const s0 = before.json.summary;
    figures.diffBeforeAdd = s0.add;
    figures.diffBeforeOther = before.json.rows.length - s0.add;
    // A lab where an earlier run already pushed shows nothing to add (and nothing else).
    if (!(s0.add === desired.length && before.json.rows.length === s0.add) && !before.json.empty)
      bad.push(
        `diff before the push: ${JSON.stringify(s0)} (want ${desired.length} to add and nothing else)`,
      );

    // 2. Push; the secondaries serve the new serials.
    let t0 = Date.now();
    const first = await pushRecords(client, env.name, zone, desired, opts);
    figures.pushMs = Date.now() - t0;
    figures.zonesCreated = first.zones.filter((z) => z.created).length;
    figures.secondaryCatchUpMs = Math.max(0, ...first.secondaries.map((s) => s.waitedMs ?? 0));
    if (!secondariesOk(first))
      bad.push(
        `secondaries after the push: ${first.secondaries.map((s) => `${s.host}: ${s.detail}`).join("; ")}`,
      );
    const after = await diffRecords(client, env.name, zone, desired);
    if (changesOf(after).length)
      bad.push(`diff after the push is not empty: ${JSON.stringify(summaryOf(after))}`);

    // 3. dig through the VIP from the client: every A/AAAA and PTR.
    const zones = [
      ...new Set([...first.zones.map((z) => z.zone), ...after.zones.map((z) => z.zone)]),
    ];
    await purgeCaches(c, zones);
    t0 = Date.now();
    const got = await digAll(c, vip, queriesOf(records, zone));
    figures.digMs = Date.now() - t0;
    const miss = misses(got, records, zone);
    figures.answered = 2 * records.length - miss.length;
    if (miss.length)
      bad.push(
        `${miss.length} of ${2 * records.length} answers wrong via ${vip}: ${miss.slice(0, 4).join("; ")}`,
      );

    // 4. Second push: no change, no serial moved.
    const serials = JSON.stringify(
      (await client.listZones()).map((z) => [z.name, z.serial]).sort(),
    );
    t0 = Date.now();
    const second = await pushRecords(client, env.name, zone, desired, opts);
    figures.secondPushMs = Date.now() - t0;
    figures.secondPushNoChange = second.noChange;
    if (!second.noChange)
      bad.push(
        `second push changed ${second.zones.map((z) => `${z.zone} (${z.changed})`).join(", ")}`,
      );
    if (
      JSON.stringify((await client.listZones()).map((z) => [z.name, z.serial]).sort()) !== serials
    )
      bad.push("a serial moved on the second push");

    // 5. A hand-made record next to ours, then a copy of the stack without one host.
    const hand = {
      name: `handmade-dns-publish.${absolute(zone)}`,
      type: "A",
      content: "198.18.7.250",
    };
    await client.patchZone(absolute(zone), [
      {
        name: hand.name,
        type: hand.type,
        ttl: 60,
        changetype: "REPLACE",
        records: [{ content: hand.content, disabled: false }],
      },
    ]);
    const gone = removableHost(m);
    try {
      if (!gone) bad.push("no host can be removed from the lab stack (no group with two members)");
      else {
        const env2 = stackWithout(m, gone.name);
        const records2 = deriveTopology(env2).dnsRecords;
        const removed = records.filter(
          (r) => !records2.some((x) => x.name === r.name && x.type === r.type),
        );
        t0 = Date.now();
        const third = await pushRecords(
          client,
          env.name,
          zone,
          desiredRRsets(records2, zone),
          opts,
        );
        figures.removePushMs = Date.now() - t0;
        figures.removedRRsets = summaryOf(third.diff).remove;
        if (
          summaryOf(third.diff).remove !== 2 * removed.length ||
          summaryOf(third.diff).add + summaryOf(third.diff).change !== 0
        )
          bad.push(
            `push without ${gone.name}: ${JSON.stringify(summaryOf(third.diff))} (want ${2 * removed.length} to remove, nothing else)`,
          );
        if (!secondariesOk(third))
          bad.push(
            `secondaries after the removal: ${third.secondaries.map((s) => `${s.host}: ${s.detail}`).join("; ")}`,
          );
        await purgeCaches(c, zones);
        const www = m.topo.vipPorts.find((v) => v.port === 80);
        const got2 = await digAll(c, vip, [
          ...queriesOf(removed, zone),
          { name: hand.name, type: hand.type },
          ...(www
            ? [{ name: `www.${absolute(zone)}`, type: www.family === "ipv6" ? "AAAA" : "A" }]
            : []),
        ]);
        const still = [...got2.keys()].filter(
          (k) => !k.startsWith(hand.name) && !k.startsWith(`www.${absolute(zone)}`),
        );
        if (still.length)
          bad.push(
            `${gone.hostname} still answered after its removal: ${still.slice(0, 4).join("; ")}`,
          );
        if ((got2.get(`${hand.name} A`) ?? []).join() !== hand.content)
          bad.push(
            `the hand-made ${hand.name} did not survive (${(got2.get(`${hand.name} A`) ?? []).join() || "no answer"})`,
          );
        if (
          www &&
          !(got2.get(`www.${absolute(zone)} ${www.family === "ipv6" ? "AAAA" : "A"}`) ?? []).length
        )
          bad.push("the lab's hand-made www record did not survive");
        figures.removedHost = gone.hostname;
      }
    } finally {
      // 6. Back to the full stack (the host's records return); the hand-made probe goes.
      const back = await pushRecords(client, env.name, zone, desired, opts);
      if (!secondariesOk(back))
        bad.push(
          `secondaries after restoring: ${back.secondaries.map((s) => `${s.host}: ${s.detail}`).join("; ")}`,
        );
      await client.patchZone(absolute(zone), [
        { name: hand.name, type: hand.type, changetype: "DELETE", records: [], comments: [] },
      ]);
    }
    const end = await cliDiff(m);
    figures.diffAtEndEmpty = !!end.json?.empty;
    if (!end.json?.empty)
      bad.push(
        `npm run dns -- diff ${m.stack} --lab at the end: ${end.json ? JSON.stringify(end.json.summary) : end.err}`,
      );
    return {
      ok: bad.length === 0,
      detail: bad.length
        ? bad.join("; ")
        : `diff before: ${s0.add} RRsets to add; push in ${figures.pushMs} ms (${figures.zonesCreated} reverse zones created, secondaries caught up in ${figures.secondaryCatchUpMs} ms); ${figures.answered}/${2 * records.length} A/AAAA/PTR answers via ${vip}; second push: no change; without ${figures.removedHost}: ${figures.removedRRsets} RRsets removed, gone from DNS, hand-made records kept`,
      figures,
    };
  },
};
