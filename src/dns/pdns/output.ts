/** The diff and the push result as text (a table, summary lines) and as plain data (--json). */
import { changesOf, Diff, isEmpty, summaryOf } from "./diff";
import { PushResult } from "./push";

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
