/**
 * What differs between the stack's RRsets and what the primary serves: pure per zone
 * (`diffZone`, `patchOf`), and read from the primary (`readPrimary`, `diffRecords`).
 */
import { absolute, canonicalContent, DesiredRRset, isReverseZone, placeRRsets } from "../records";
import { ownerComment, ownerOf, OWNER_ACCOUNT, PdnsClient, PdnsRRset, PdnsZone } from "./client";

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
