import * as fs from "fs";
import * as path from "path";

const DAEMONS = path.join(__dirname, "..", "..", "src", "daemons");

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

describe("src/daemons", () => {
  test("GIVEN a daemon module THEN it imports no tier (facts come from the topology, checkers from src/daemons)", () => {
    const offenders = tsFiles(DAEMONS).flatMap((f) =>
      [...fs.readFileSync(f, "utf8").matchAll(/from\s+"([^"]+)"/g)]
        .map((m) => m[1])
        .filter((spec) => /(^|\/)tiers(\/|$)/.test(spec))
        .map((spec) => `${path.relative(DAEMONS, f)} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
  });
});
