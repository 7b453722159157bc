/**
 * Making the primary serve the stack's records (`pushRecords`): refuse on conflicts, per zone
 * create, PATCH, read back, NOTIFY; then the secondaries, waited for until they serve the serial.
 */
import { absolute, DesiredRRset } from "../records";
import { sleep as pause } from "../../ops/runner";
import { PdnsApiError, PdnsClient, PdnsRRset, PdnsZone } from "./client";
import { changesOf, Diff, diffAgainst, DiffRow, diffZone, patchOf, readPrimary } from "./diff";

export interface SecondaryTarget {
  /** Hostname, for messages. */
  name: string;
  client: PdnsClient;
}

export interface PushOptions {
  /** Take over hand-made RRsets at the stack's names (replacing their records). */
  adopt?: boolean;
  /** The secondaries: each is given the zones it lacks, then waited for. */
  secondaries?: SecondaryTarget[];
  /** The primary's addresses the secondaries transfer from (`ip` or `ip:port`). */
  primaryAddresses?: string[];
  /** How long to wait for the secondaries to serve the new serials, ms. @default 30 000 (0: do not wait) */
  waitMs?: number;
  /** SOA of a zone created here, when the forward zone's SOA cannot be copied. */
  soaFallback?: { mname: string; rname: string };
  log?: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

export interface ZoneResult {
  zone: string;
  created: boolean;
  /** RRsets replaced or deleted by the PATCH. */
  changed: number;
  serialBefore?: number;
  serialAfter?: number;
  notified: boolean;
}

export interface SecondaryResult {
  host: string;
  /** Zones created on it as secondary zones. */
  created: string[];
  /** zone → serial it serves at the end (undefined: not checked / not reached). */
  serials: Record<string, number>;
  ok: boolean;
  detail: string;
  /** How long it took this secondary to serve the new serials, ms (from the start of the wait). */
  waitedMs?: number;
}

export interface PushResult {
  diff: Diff;
  /** Nothing was changed anywhere (primary nor secondaries). */
  noChange: boolean;
  zones: ZoneResult[];
  secondaries: SecondaryResult[];
}

export class PushRefused extends Error {}

const describeRow = (r: DiffRow) => `${r.name} ${r.type}${r.note ? ` (${r.note})` : ""}`;

function soaParts(content: string): string[] {
  return content.trim().split(/\s+/);
}

/** The SOA for a zone created here: the forward zone's MNAME, RNAME and timers, serial 1. */
function newZoneSoa(
  zone: string,
  template: PdnsRRset | undefined,
  fallback: { mname: string; rname: string } | undefined,
): PdnsRRset {
  const p = template ? soaParts(template.records[0]?.content ?? "") : [];
  const [mname, rname] =
    p.length === 7
      ? [p[0], p[1]]
      : [fallback?.mname ?? `ns.${zone}`, fallback?.rname ?? `hostmaster.${zone}`];
  const timers = p.length === 7 ? p.slice(3).join(" ") : "10800 3600 604800 300";
  return {
    name: zone,
    type: "SOA",
    ttl: template?.ttl ?? 3600,
    records: [{ content: `${absolute(mname)} ${absolute(rname)} 1 ${timers}`, disabled: false }],
  };
}

/** Where a PATCH is refused: the rows it names (PowerDNS names the RRset in its message), else all of them. */
function refusedRows(err: PdnsApiError, rows: DiffRow[]): DiffRow[] {
  const named = rows.filter((r) => err.pdnsError.includes(r.name));
  return named.length ? named : rows;
}

const soaEditsItself = (z: PdnsZone) => !!z.soa_edit_api && z.soa_edit_api.toUpperCase() !== "OFF";

/**
 * Make the primary serve the stack's records: refuse on conflicts before writing anything,
 * then per zone (forward first) create it if missing, one PATCH, read back and compare,
 * NOTIFY; then the secondaries. A second run with the same input changes nothing.
 */
export async function pushRecords(
  client: PdnsClient,
  stack: string,
  forwardZone: string,
  desired: DesiredRRset[],
  opts: PushOptions = {},
): Promise<PushResult> {
  const log = opts.log ?? (() => undefined);
  const sleep = opts.sleep ?? pause;
  const { state, placed } = await readPrimary(client, forwardZone, desired);
  const diff = diffAgainst(stack, placed, state, { adopt: opts.adopt });
  const conflicts = changesOf(diff).filter((r) => r.action === "conflict");
  if (conflicts.length)
    throw new PushRefused(
      `refused, nothing changed: ${conflicts.length} RRset(s) the stack wants are not marked as this stack's — ${conflicts
        .slice(0, 8)
        .map((r) => `zone ${r.zone}: ${describeRow(r)}`)
        .join(
          "; ",
        )}${conflicts.length > 8 ? `; +${conflicts.length - 8} more` : ""}. Check them (npm run dns -- diff), then remove them by hand or take them over with --adopt.`,
    );
  const fwd = absolute(forwardZone);
  const fwdSoa = state.full.get(fwd)?.rrsets?.find((r) => r.type === "SOA");
  const fwdNs = state.full
    .get(fwd)
    ?.rrsets?.find((r) => r.type === "NS" && absolute(r.name) === fwd);
  const zones: ZoneResult[] = [];
  for (const zd of diff.zones) {
    if (!zd.create && zd.rows.length === 0) continue;
    let zone = state.full.get(zd.zone);
    let created = false;
    if (!zone) {
      const rrsets: PdnsRRset[] = [newZoneSoa(zd.zone, fwdSoa, opts.soaFallback)];
      if (fwdNs && zd.zone !== fwd)
        rrsets.push({
          name: zd.zone,
          type: "NS",
          ttl: fwdNs.ttl,
          records: fwdNs.records.map((r) => ({ content: r.content, disabled: r.disabled })),
        });
      try {
        await client.createZone({ name: zd.zone, kind: "Master", soa_edit_api: "DEFAULT", rrsets });
      } catch (e) {
        throw new Error(
          `zone ${zd.zone}: could not create it on the primary: ${(e as Error).message}`,
          { cause: e },
        );
      }
      zone = await client.getZone(zd.zone);
      created = true;
      log(`zone ${zd.zone}: created (kind Master, SOA-EDIT-API DEFAULT)`);
    }
    if (!/^(master|native|primary)$/i.test(zone.kind))
      throw new Error(
        `zone ${zd.zone}: kind ${zone.kind} on the primary, not a primary zone: nothing changed in it`,
      );
    // Recompute against the zone as it is now (a created zone: only its SOA and NS).
    const now = diffZone(stack, zd.zone, placed.get(zd.zone) ?? [], zone.rrsets ?? [], {
      adopt: opts.adopt,
    });
    const changes = patchOf(stack, now);
    const serialBefore = zone.serial;
    if (changes.length) {
      if (!soaEditsItself(zone)) {
        // No SOA-EDIT-API: the PATCH itself carries the SOA with the serial + 1 (RFC 1982 wrap).
        const soa = zone.rrsets?.find((r) => r.type === "SOA");
        const p = soa ? soaParts(soa.records[0]?.content ?? "") : [];
        if (!soa || p.length !== 7)
          throw new Error(
            `zone ${zd.zone}: no SOA record to bump the serial in (and no SOA-EDIT-API): nothing changed`,
          );
        p[2] = String((Number(p[2]) + 1) % 2 ** 32 || 1);
        changes.push({
          name: absolute(soa.name),
          type: "SOA",
          ttl: soa.ttl,
          changetype: "REPLACE",
          records: [{ content: p.join(" "), disabled: false }],
        });
      }
      try {
        await client.patchZone(zone.id, changes);
      } catch (e) {
        if (e instanceof PdnsApiError)
          throw new Error(
            `zone ${zd.zone}: PowerDNS refused the PATCH (HTTP ${e.status}: ${e.pdnsError}); nothing in this zone changed. Records: ${refusedRows(
              e,
              now.rows,
            )
              .slice(0, 6)
              .map((r) => `${r.action} ${describeRow(r)} ${r.after.join(",")}`)
              .join(
                "; ",
              )}${zones.length ? `. Zones already pushed: ${zones.map((z) => z.zone).join(", ")} (a re-run completes the rest)` : ""}`,
            { cause: e },
          );
        throw new Error(`zone ${zd.zone}: the PATCH did not complete: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
    // Verify: read back, nothing may differ, the serial must have moved (once per PATCH).
    const after = await client.getZone(zone.id);
    const left = diffZone(stack, zd.zone, placed.get(zd.zone) ?? [], after.rrsets ?? []).rows;
    if (left.length)
      throw new Error(
        `zone ${zd.zone}: after the PATCH the primary still differs: ${left
          .slice(0, 6)
          .map((r) => `${r.action} ${describeRow(r)}`)
          .join("; ")}`,
      );
    if (changes.length && !(after.serial !== serialBefore))
      throw new Error(
        `zone ${zd.zone}: the SOA serial did not change (${serialBefore}): the secondaries would not transfer`,
      );
    let notified = false;
    if (changes.length || created) {
      try {
        await client.notify(zone.id);
        notified = true;
      } catch (e) {
        log(
          `zone ${zd.zone}: NOTIFY not queued (${(e as Error).message}); the secondaries pick the change up at their next SOA check`,
        );
      }
    }
    zones.push({
      zone: zd.zone,
      created,
      changed: now.rows.length,
      serialBefore,
      serialAfter: after.serial,
      notified,
    });
    log(
      `zone ${zd.zone}: ${now.rows.length} RRset(s) changed, serial ${serialBefore} → ${after.serial}${notified ? ", NOTIFY sent" : ""}`,
    );
  }
  const secondaries = await syncSecondaries(client, [...placed.keys()], zones, opts, sleep, log);
  return {
    diff,
    noChange: zones.length === 0 && secondaries.every((s) => s.created.length === 0),
    zones,
    secondaries,
  };
}

/**
 * Every zone the stack's records are in exists on every secondary (as a secondary zone of the
 * primary); then wait until each serves the primary's serial of every zone (bounded).
 */
async function syncSecondaries(
  primary: PdnsClient,
  zoneNames: string[],
  pushed: ZoneResult[],
  opts: PushOptions,
  sleep: (ms: number) => Promise<void>,
  log: (s: string) => void,
): Promise<SecondaryResult[]> {
  const out: SecondaryResult[] = [];
  if (!opts.secondaries?.length) return out;
  const masters = opts.primaryAddresses ?? [];
  const primaryZones = new Map((await primary.listZones()).map((z) => [absolute(z.name), z]));
  for (const s of opts.secondaries) {
    const res: SecondaryResult = { host: s.name, created: [], serials: {}, ok: true, detail: "" };
    try {
      const have = new Set((await s.client.listZones()).map((z) => absolute(z.name)));
      for (const zone of zoneNames) {
        if (have.has(zone)) continue;
        if (!masters.length)
          throw new Error(`zone ${zone} is missing and no primary address is known to create it`);
        await s.client.createZone({ name: zone, kind: "Slave", masters });
        res.created.push(zone);
        log(`${s.name}: zone ${zone} created as a secondary zone of ${masters.join(", ")}`);
        await s.client.axfrRetrieve(zone).catch(() => undefined); // NOTIFY or the next SOA check does it otherwise
      }
    } catch (e) {
      res.ok = false;
      res.detail = (e as Error).message;
      out.push(res);
      continue;
    }
    out.push(res);
  }
  const waitMs = opts.waitMs ?? 30_000;
  const relevant = zoneNames.filter(
    (z) => pushed.some((p) => p.zone === z) || out.some((s) => s.created.includes(z)),
  );
  if (waitMs <= 0 || relevant.length === 0) {
    for (const r of out)
      if (r.ok) r.detail = relevant.length ? "not waited for" : "up to date (nothing pushed)";
    return out;
  }
  const want = new Map(relevant.map((z) => [z, primaryZones.get(z)?.serial ?? 0]));
  const start = Date.now();
  const deadline = start + waitMs;
  for (const [i, s] of opts.secondaries.entries()) {
    const r = out[i];
    if (!r.ok) continue;
    let behind: string[];
    let asked = 0;
    for (;;) {
      const zs = new Map(
        (await s.client.listZones().catch(() => [] as PdnsZone[])).map((z) => [
          absolute(z.name),
          z,
        ]),
      );
      behind = [];
      for (const [z, serial] of want) {
        const got = zs.get(z)?.serial ?? 0;
        r.serials[z] = got;
        // Equal, not "at least": a secondary ahead of the primary (its serial went back) never transfers.
        if (got !== serial)
          behind.push(
            got > serial
              ? `${z} at ${got}, AHEAD of the primary's ${serial} (the primary's serial went back: it will not transfer until the primary's passes it)`
              : `${z} at ${got}, primary ${serial}`,
          );
      }
      if (!behind.length || Date.now() >= deadline) break;
      // Ask for a transfer now and then (a NOTIFY can be lost, and is not retried for long).
      if (asked++ % 10 === 9)
        for (const z of want.keys()) await s.client.axfrRetrieve(z).catch(() => undefined);
      await sleep(500);
    }
    r.ok = behind.length === 0;
    if (r.ok) r.waitedMs = Date.now() - start;
    r.detail = r.ok
      ? `serves the new serials after ${r.waitedMs} ms (${[...want].map(([z, n]) => `${z} ${n}`).join(", ")})`
      : `not caught up within ${waitMs / 1000} s: ${behind.join("; ")}`;
  }
  return out;
}
