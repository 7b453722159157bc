/**
 * Where an apply's time goes: scripts/maglev-apply ends every apply that changed something
 * with a line `maglev-apply: timings: stage 0.4s, check 12.0s, …; total 31.8s` (seconds per
 * phase, in the order entered). `lab up` reads it from every host and prints one table, so a
 * slow lab up says which phase of which host to look at (issue 17: "print that breakdown").
 */

/** Seconds per phase of one apply, in the program's order, and its total; undefined without the line. */
export interface ApplyTimings {
  phases: [string, number][];
  total: number;
}

/** The `timings` line among an apply's phase lines, parsed. */
export function parseApplyTimings(lines: string[]): ApplyTimings | undefined {
  const line = lines.find((l) => l.startsWith("maglev-apply: timings: "));
  const m = line && /^maglev-apply: timings: (.*); total (\d+(?:\.\d+)?)s$/.exec(line);
  if (!m) return undefined;
  const phases: [string, number][] = [];
  for (const part of m[1] ? m[1].split(", ") : []) {
    const p = /^([\w-]+) (\d+(?:\.\d+)?)s$/.exec(part);
    if (!p) return undefined;
    phases.push([p[1], Number(p[2])]);
  }
  return { phases, total: Number(m[2]) };
}

/**
 * One row per host (sorted by name), one column per phase that took 0.1 s or more on some
 * host, in the programs' order; a host without a timings line shows "-" (unchanged, or lost).
 */
export function timingsTable(byHost: Record<string, ApplyTimings | undefined>): string[] {
  const hosts = Object.keys(byHost).sort();
  // The programs' order (every host's phases, whatever they took), then only the columns
  // some host spent 0.1 s or more in.
  const order: string[] = [];
  for (const h of hosts) {
    let at = 0;
    for (const [name] of byHost[h]?.phases ?? []) {
      const i = order.indexOf(name);
      if (i < 0) order.splice(at++, 0, name);
      else at = i + 1;
    }
  }
  const wide = (name: string) =>
    hosts.some((h) => (byHost[h]?.phases.find(([n]) => n === name)?.[1] ?? 0) >= 0.1);
  const cols = [...order.filter(wide), "total"];
  const cell = (h: string, c: string): string => {
    const t = byHost[h];
    if (!t) return "-";
    const sec = c === "total" ? t.total : t.phases.find(([n]) => n === c)?.[1];
    return sec === undefined ? "" : sec.toFixed(1);
  };
  const width = Math.max(4, ...hosts.map((h) => h.length));
  const w = cols.map((c) => Math.max(c.length, ...hosts.map((h) => cell(h, c).length)));
  const row = (first: string, cells: string[]) =>
    [first.padEnd(width), ...cells.map((x, i) => x.padStart(w[i]))].join("  ").trimEnd();
  return [
    row("host", cols),
    ...hosts.map((h) =>
      row(
        h,
        cols.map((c) => cell(h, c)),
      ),
    ),
  ];
}
