/**
 * The order hosts (and group members) are written in the stack carries no meaning: any
 * reordering renders byte-identically, so a tidy-up of the stack file changes no host.
 */
import fc from "fast-check";
import { mgmt02Raw, synth } from "../helpers";

const reference = synth().files;

/** Fisher–Yates with fast-check's random keys, so a failure shrinks to a small permutation. */
function permute<T>(xs: T[], keys: number[]): T[] {
  return xs
    .map((x, i) => ({ x, k: keys[i] ?? 0, i }))
    .sort((a, b) => a.k - b.k || a.i - b.i)
    .map((e) => e.x);
}

function differences(files: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [rel, content] of reference) if (files.get(rel) !== content) out.push(rel);
  for (const rel of files.keys()) if (!reference.has(rel)) out.push(`extra ${rel}`);
  return out;
}

describe("rendered output is independent of the order of hosts in the stack", () => {
  test("GIVEN mgmt02 with its hosts reversed WHEN rendered THEN every file is byte-identical", () => {
    const raw = mgmt02Raw();
    raw.hosts.reverse();
    expect(differences(synth(raw).files)).toEqual([]);
  });

  test("GIVEN mgmt02 with its hosts, each group's members and the group keys shuffled WHEN rendered THEN every file is byte-identical (property)", () => {
    const n = mgmt02Raw().hosts.length;
    fc.assert(
      fc.property(
        fc.array(fc.integer(), { minLength: n, maxLength: n }),
        fc.array(fc.array(fc.integer(), { maxLength: 8 }), { maxLength: 8 }),
        fc.integer(),
        (hostKeys, memberKeys, groupSeed) => {
          const raw = mgmt02Raw();
          raw.hosts = permute(raw.hosts, hostKeys);
          const groups = Object.entries(raw.backendGroups as Record<string, any>);
          groups.forEach(([, g], i) => (g.members = permute(g.members, memberKeys[i] ?? [])));
          raw.backendGroups = Object.fromEntries(
            permute(
              groups,
              groups.map((_, i) => (i * 7919 + groupSeed) % 13),
            ),
          );
          expect(differences(synth(raw).files)).toEqual([]);
        },
      ),
      { numRuns: 30 },
    );
  });
});
