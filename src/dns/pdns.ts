/**
 * The stack's host records on a PowerDNS primary (the shadow primary dns00): what differs
 * (`diffRecords`) and making it so (`pushRecords`), through the PowerDNS HTTP API.
 *
 * Ownership: every RRset this project writes carries a PowerDNS RRset comment with the fixed
 * account `maglev-infra` and the text `maglev-infra stack=<stack> …`. Only RRsets with that
 * mark (for this stack) are ever replaced or deleted; an RRset without it — a hand-made
 * record, PowerAdmin's, another stack's — is left alone, and one at a name and type the stack
 * wants is a conflict that `push` refuses (or takes over with `adopt`). Why a comment: it is
 * stored next to the RRset in the primary's backend, shown by PowerAdmin and the API, is not
 * served in DNS answers nor sent in zone transfers (an ownership TXT record per name, the
 * external-dns way, would double the zone and publish the marker); and losing it (a zone
 * reloaded from a file) fails safe: the records become "not ours", are never deleted, and the
 * next push reports them as conflicts.
 *
 * One PATCH per zone (PowerDNS applies a PATCH in one backend transaction), the SOA serial
 * bumped once by PowerDNS itself where the zone has SOA-EDIT-API (the tier's pdns-primary-init
 * sets DEFAULT; zones created here get it too), else by this PATCH; every PATCH verified by
 * reading the zone back; NOTIFY per changed zone; then the secondaries: each gets the zones
 * it lacks as secondary zones of the primary, and is waited for until it serves the new serial.
 *
 * One file (over 400 lines) for now: the API client, the pure diff, the push and its output are
 * sections of one flow (the push applies the diff's rows through the client); a split is possible
 * at the section markers.
 */
import { PdnsApi } from "./api";
import { absolute, canonicalContent, DesiredRRset, isReverseZone, placeRRsets } from "./records";
import { jsonDocument, urlPathSegment } from "../escape";

/** The account of the ownership comment. */
export const OWNER_ACCOUNT = "maglev-infra";

export function ownerComment(stack: string): string {
  return `${OWNER_ACCOUNT} stack=${stack}: from the stack's dnsRecords; npm run dns -- push replaces or deletes this RRset`;
}

export interface PdnsComment {
  content: string;
  account: string;
  modified_at?: number;
}
export interface PdnsRRset {
  name: string;
  type: string;
  ttl: number;
  records: { content: string; disabled: boolean }[];
  comments?: PdnsComment[];
}
export interface PdnsZone {
  id: string;
  name: string;
  kind: string;
  serial: number;
  soa_edit_api?: string;
  masters?: string[];
  rrsets?: PdnsRRset[];
}

/** Which stack's mark an RRset carries (undefined: none, i.e. not this project's). */
export function ownerOf(rr: PdnsRRset): string | undefined {
  for (const c of rr.comments ?? []) {
    if (c.account !== OWNER_ACCOUNT) continue;
    const m = /^maglev-infra stack=([a-z0-9-]+)(:|$)/.exec(c.content);
    if (m) return m[1];
  }
  return undefined;
}

// ------------------------------------------------------------------------------ API client

export class PdnsApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** PowerDNS's own `error` text. */
    readonly pdnsError: string,
  ) {
    super(message);
    this.name = "PdnsApiError";
  }
}

const SERVER = "/servers/localhost";
const zonePath = (id: string, rest = "") =>
  `${SERVER}/zones/${urlPathSegment(id, "zone id")}${rest}`;

export class PdnsClient {
  constructor(readonly api: PdnsApi) {}

  private async call<T>(
    method: string,
    path: string,
    body?: unknown,
    ok: number[] = [200, 201, 204],
  ): Promise<T> {
    const r = await this.api.request(
      method,
      path,
      body === undefined ? undefined : jsonDocument(body, "PowerDNS API request"),
    );
    if (!ok.includes(r.status)) {
      let err = r.body.trim();
      try {
        err = String((JSON.parse(r.body) as { error?: string }).error ?? err);
      } catch {
        /* not JSON: the text as it came */
      }
      throw new PdnsApiError(
        `${this.api.where}: ${method} ${path}: HTTP ${r.status}${err ? `: ${err.slice(0, 500)}` : ""}`,
        r.status,
        err,
      );
    }
    if (!r.body.trim()) return undefined as T;
    try {
      return JSON.parse(r.body) as T;
    } catch {
      throw new Error(
        `${this.api.where}: ${method} ${path}: the answer is not JSON (${JSON.stringify(r.body.slice(0, 80))})`,
      );
    }
  }

  listZones(): Promise<PdnsZone[]> {
    return this.call("GET", `${SERVER}/zones`);
  }
  getZone(id: string): Promise<PdnsZone> {
    return this.call("GET", zonePath(id));
  }
  createZone(z: {
    name: string;
    kind: string;
    masters?: string[];
    soa_edit_api?: string;
    rrsets?: PdnsRRset[];
  }): Promise<PdnsZone> {
    return this.call("POST", `${SERVER}/zones`, { nameservers: [], ...z });
  }
  patchZone(id: string, rrsets: unknown[]): Promise<void> {
    return this.call("PATCH", zonePath(id), { rrsets });
  }
  notify(id: string): Promise<void> {
    return this.call("PUT", zonePath(id, "/notify"));
  }
  axfrRetrieve(id: string): Promise<void> {
    return this.call("PUT", zonePath(id, "/axfr-retrieve"));
  }
}

// ------------------------------------------------------------------------------ diff (pure)

export type Action = "add" | "change" | "remove" | "conflict" | "adopt";

export interface DiffRow {
  action: Action;
  zone: string;
  name: string;
  type: string;
  ttl: number;
  /** What the primary serves now (canonical, sorted); empty for add. */
  before: string[];
  /** What the stack wants; empty for remove. */
  after: string[];
  /** TTL now, when it differs or the RRset is removed. */
  beforeTtl?: number;
  /** Why a conflict is one (who owns the RRset). */
  note?: string;
}

export interface ZoneDiff {
  zone: string;
  /** Missing on the primary: push creates it. */
  create: boolean;
  rows: DiffRow[];
}

export interface Diff {
  stack: string;
  zones: ZoneDiff[];
}

const contentsOf = (rr: PdnsRRset) =>
  rr.records
    .filter((r) => !r.disabled)
    .map((r) => canonicalContent(rr.type, r.content))
    .sort();
const hasDisabled = (rr: PdnsRRset) => rr.records.some((r) => r.disabled);
const sameSet = (a: string[], b: string[]) =>
  a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

/**
 * One zone: the stack's RRsets for it against what the primary has (undefined: no such zone).
 * `owned` removals only; an unmarked RRset at a wanted name/type is a conflict (an `adopt` with
 * `adopt`), and any RRset of another type that cannot coexist with the wanted one (a CNAME) is
 * a conflict that adopting does not resolve.
 */
export function diffZone(
  stack: string,
  zone: string,
  want: DesiredRRset[],
  current: PdnsRRset[] | undefined,
  opts: { adopt?: boolean } = {},
): ZoneDiff {
  const rows: DiffRow[] = [];
  const cur = new Map((current ?? []).map((rr) => [`${absolute(rr.name)} ${rr.type}`, rr]));
  const wanted = new Set<string>();
  for (const w of want) {
    const k = `${w.name} ${w.type}`;
    wanted.add(k);
    const base = { zone, name: w.name, type: w.type, ttl: w.ttl, after: w.contents };
    const cname = cur.get(`${w.name} CNAME`);
    if (cname) {
      rows.push({
        ...base,
        action: "conflict",
        before: contentsOf(cname),
        note: `a CNAME at this name (${ownerOf(cname) ? `stack ${ownerOf(cname)}` : "hand-made"}): remove it by hand`,
      });
      continue;
    }
    const rr = cur.get(k);
    if (!rr) {
      rows.push({ ...base, action: "add", before: [] });
      continue;
    }
    const owner = ownerOf(rr);
    const before = contentsOf(rr);
    const same = sameSet(before, w.contents) && rr.ttl === w.ttl && !hasDisabled(rr);
    if (owner !== stack) {
      const who = owner ? `marked for stack ${owner}` : "hand-made (no maglev-infra mark)";
      rows.push({
        ...base,
        action: opts.adopt ? "adopt" : "conflict",
        before,
        ...(rr.ttl !== w.ttl ? { beforeTtl: rr.ttl } : {}),
        note: `${who}${same ? ", same records" : ""}`,
      });
      continue;
    }
    if (!same)
      rows.push({
        ...base,
        action: "change",
        before,
        ...(rr.ttl !== w.ttl ? { beforeTtl: rr.ttl } : {}),
      });
  }
  for (const rr of current ?? []) {
    const k = `${absolute(rr.name)} ${rr.type}`;
    if (wanted.has(k) || ownerOf(rr) !== stack) continue;
    rows.push({
      action: "remove",
      zone,
      name: absolute(rr.name),
      type: rr.type,
      ttl: rr.ttl,
      before: contentsOf(rr),
      after: [],
      beforeTtl: rr.ttl,
    });
  }
  rows.sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : a.type < b.type ? -1 : a.type > b.type ? 1 : 0,
  );
  return { zone, create: current === undefined, rows };
}

/** The RRset changes of one zone's PATCH (conflicts excluded: push refuses before any PATCH). */
export function patchOf(stack: string, zd: ZoneDiff): unknown[] {
  return zd.rows
    .filter((r) => r.action !== "conflict")
    .map((r) =>
      r.action === "remove"
        ? { name: r.name, type: r.type, changetype: "DELETE", records: [], comments: [] }
        : {
            name: r.name,
            type: r.type,
            ttl: r.ttl,
            changetype: "REPLACE",
            records: r.after.map((content) => ({ content, disabled: false })),
            comments: [{ content: ownerComment(stack), account: OWNER_ACCOUNT }],
          },
    );
}

export const changesOf = (d: Diff) => d.zones.flatMap((z) => z.rows);

export function summaryOf(d: Diff): Record<Action, number> & { zonesToCreate: number } {
  const rows = changesOf(d);
  const n = (a: Action) => rows.filter((r) => r.action === a).length;
  return {
    add: n("add"),
    change: n("change"),
    remove: n("remove"),
    conflict: n("conflict"),
    adopt: n("adopt"),
    zonesToCreate: d.zones.filter((z) => z.create).length,
  };
}

export const isEmpty = (d: Diff) => changesOf(d).length === 0 && d.zones.every((z) => !z.create);

// ------------------------------------------------------------------------------ reading the primary

export interface PrimaryState {
  zones: PdnsZone[];
  /** Zone name → the zone with its RRsets (only the zones the diff looks at). */
  full: Map<string, PdnsZone>;
}

/**
 * The zones the diff looks at: the forward zone, every reverse zone the stack's PTRs go in, and
 * every reverse zone the primary has (where a removed host's PTR may sit).
 */
export async function readPrimary(
  client: PdnsClient,
  forwardZone: string,
  desired: DesiredRRset[],
): Promise<{ state: PrimaryState; placed: Map<string, DesiredRRset[]> }> {
  const zones = await client.listZones();
  const names = zones.map((z) => absolute(z.name));
  const placed = placeRRsets(desired, forwardZone, names);
  const look = new Set([...placed.keys(), ...names.filter(isReverseZone)]);
  const full = new Map<string, PdnsZone>();
  for (const z of zones
    .filter((x) => look.has(absolute(x.name)))
    .sort((a, b) => (a.name < b.name ? -1 : 1)))
    full.set(absolute(z.name), await client.getZone(z.id));
  return { state: { zones, full }, placed };
}

export function diffAgainst(
  stack: string,
  placed: Map<string, DesiredRRset[]>,
  state: PrimaryState,
  opts: { adopt?: boolean } = {},
): Diff {
  const zones: ZoneDiff[] = [];
  const all = new Set([...placed.keys(), ...state.full.keys()]);
  const fwd = [...placed.keys()][0];
  const order = [...all].sort((a, b) =>
    a === fwd ? -1 : b === fwd ? 1 : a < b ? -1 : a > b ? 1 : 0,
  );
  for (const zone of order) {
    const want = placed.get(zone) ?? [];
    const cur = state.full.get(zone);
    const zd = diffZone(stack, zone, want, cur?.rrsets, opts);
    // A zone the primary lacks and the stack needs nothing in is not listed.
    if (cur || want.length) zones.push(zd);
  }
  return { stack, zones: zones.filter((z) => z.create || z.rows.length || placed.has(z.zone)) };
}

/** Compare the stack's RRsets with what the primary serves. Reads only. */
export async function diffRecords(
  client: PdnsClient,
  stack: string,
  forwardZone: string,
  desired: DesiredRRset[],
  opts: { adopt?: boolean } = {},
): Promise<Diff> {
  const { state, placed } = await readPrimary(client, forwardZone, desired);
  return diffAgainst(stack, placed, state, opts);
}

// ------------------------------------------------------------------------------ push

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
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
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

// ------------------------------------------------------------------------------ output

const cell = (xs: string[]) => (xs.length ? xs.join(", ") : "-");

/** The difference as a table (fixed columns, sorted rows), and a summary line. */
export function formatDiff(d: Diff): string {
  const lines: string[] = [];
  for (const z of d.zones.filter((x) => x.create))
    lines.push(
      `zone ${z.zone}: missing on the primary; push creates it (kind Master, SOA-EDIT-API DEFAULT)`,
    );
  const rows = changesOf(d);
  if (!rows.length) {
    lines.push(
      `no change: the primary serves the records of stack ${d.stack} (${d.zones.length} zone(s))`,
    );
    return lines.join("\n") + "\n";
  }
  const table = [["ACTION", "ZONE", "NAME", "TYPE", "TTL", "NOW", "STACK"]];
  for (const r of rows) {
    const ttl =
      r.beforeTtl !== undefined && r.action !== "remove"
        ? `${r.beforeTtl}→${r.ttl}`
        : String(r.action === "remove" ? (r.beforeTtl ?? r.ttl) : r.ttl);
    table.push([
      r.action,
      r.zone,
      r.name,
      r.type,
      ttl,
      cell(r.before),
      cell(r.after) + (r.note ? `  (${r.note})` : ""),
    ]);
  }
  const w = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  for (const row of table)
    lines.push(
      row
        .map((c, i) => (i === row.length - 1 ? c : c.padEnd(w[i])))
        .join("  ")
        .trimEnd(),
    );
  const s = summaryOf(d);
  lines.push(
    "",
    `${s.add} to add, ${s.change} to change, ${s.remove} to remove${s.adopt ? `, ${s.adopt} to adopt` : ""}${s.conflict ? `, ${s.conflict} conflict(s): RRsets without this stack's mark at names the stack wants (push refuses; --adopt takes them over)` : ""}${s.zonesToCreate ? `; ${s.zonesToCreate} zone(s) to create` : ""}`,
  );
  return lines.join("\n") + "\n";
}

/** The difference as plain data (for --json): sorted, no server timestamps. */
export function diffJson(d: Diff, extra: Record<string, unknown> = {}) {
  return {
    stack: d.stack,
    ...extra,
    empty: isEmpty(d),
    summary: summaryOf(d),
    zones: d.zones.map((z) => ({ zone: z.zone, create: z.create })),
    rows: changesOf(d),
  };
}

export function formatPush(r: PushResult): string {
  const lines: string[] = [];
  if (r.noChange)
    lines.push(
      `no change: the primary already serves the records of stack ${r.diff.stack}; nothing pushed`,
    );
  for (const z of r.zones)
    lines.push(
      `zone ${z.zone}: ${z.created ? "created, " : ""}${z.changed} RRset(s) changed, serial ${z.serialBefore} → ${z.serialAfter}${z.notified ? ", NOTIFY sent" : ", NOTIFY not sent"}`,
    );
  for (const s of r.secondaries)
    lines.push(
      `secondary ${s.host}: ${s.ok ? "✓" : "✗"} ${s.created.length ? `created ${s.created.join(", ")}; ` : ""}${s.detail}`,
    );
  return lines.join("\n") + "\n";
}
