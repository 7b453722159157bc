/**
 * `npm run render -- <stack> --out DIR` writes only into a missing or empty folder, or one a
 * previous render made (it holds RENDER_MARKER); anything else is refused, naming the folder,
 * and nothing outside the folder is ever removed.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkRenderOut, RENDER_MARKER, writeRender } from "../../src/render";
import { ROOT, synth } from "../helpers";

const rendered = synth();

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "render-out-test-"));
}

/** Every path under `dir` with its content (files) or "<dir>", sorted: to prove nothing changed. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs
      .readdirSync(d, { withFileTypes: true })
      .sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        out.push(`${path.relative(dir, p)}/`);
        walk(p);
      } else
        out.push(
          `${path.relative(dir, p)} ${e.isSymbolicLink() ? "-> " + fs.readlinkSync(p) : fs.readFileSync(p, "utf8")}`,
        );
    }
  };
  walk(dir);
  return out;
}

function runRender(args: string[], cwd = ROOT) {
  return spawnSync(
    path.join(ROOT, "node_modules/.bin/tsx"),
    [path.join(ROOT, "src/cli/render.ts"), ...args],
    { cwd, encoding: "utf8" },
  );
}

describe("render --out: which folders may be written", () => {
  test("GIVEN a missing folder WHEN rendered THEN it holds the render and the marker, and nothing is left beside it", () => {
    const parent = tmpdir();
    const out = path.join(parent, "out");
    writeRender(out, rendered);
    expect(fs.existsSync(path.join(out, RENDER_MARKER))).toBe(true);
    expect(fs.existsSync(path.join(out, "plan.json"))).toBe(true);
    expect(fs.readdirSync(parent)).toEqual(["out"]);
  });

  test("GIVEN an empty folder WHEN rendered THEN the render is written into it", () => {
    const out = tmpdir();
    writeRender(out, rendered);
    expect(fs.readdirSync(out)).toContain(RENDER_MARKER);
  });

  test("GIVEN a folder a previous render made WHEN rendered again THEN it is replaced as a whole (a stale file goes) and its siblings stay", () => {
    const parent = tmpdir();
    const out = path.join(parent, "out");
    fs.writeFileSync(path.join(parent, "sibling.txt"), "keep me");
    fs.mkdirSync(path.join(parent, "out.old-1"));
    writeRender(out, rendered);
    fs.writeFileSync(path.join(out, "stale.txt"), "left by hand");
    writeRender(out, rendered);
    expect(fs.existsSync(path.join(out, "stale.txt"))).toBe(false);
    expect(fs.readdirSync(parent).sort()).toEqual(["out", "out.old-1", "sibling.txt"]);
    expect(fs.readFileSync(path.join(parent, "sibling.txt"), "utf8")).toBe("keep me");
  });

  test.each([
    [
      "a folder with other content",
      (d: string) => (fs.mkdirSync(d), fs.writeFileSync(path.join(d, "notes.txt"), "mine")),
      /not empty and no render made it/,
    ],
    ["a file", (d: string) => fs.writeFileSync(d, "a file"), /not a folder/],
    [
      "a symbolic link to a render folder",
      (d: string) => {
        const real = `${d}-real`;
        writeRender(real, rendered);
        fs.symlinkSync(real, d);
      },
      /symbolic link/,
    ],
    [
      "a folder whose marker is a folder",
      (d: string) => (fs.mkdirSync(d), fs.mkdirSync(path.join(d, RENDER_MARKER))),
      /no render made it/,
    ],
  ])(
    "GIVEN %s WHEN rendered into THEN it is refused naming the folder, and nothing anywhere changes",
    (_what, make, why) => {
      const parent = tmpdir();
      const out = path.join(parent, "out");
      make(out);
      const before = snapshot(parent);
      expect(() => writeRender(out, rendered)).toThrow(why);
      expect(() => writeRender(out, rendered)).toThrow(
        new RegExp(`refusing to write into ${out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:`),
      );
      expect(snapshot(parent)).toEqual(before);
    },
  );

  test("GIVEN the repository itself THEN it is refused (checked only: nothing is written or removed)", () => {
    expect(() => checkRenderOut(ROOT)).toThrow(
      /refusing to write into .*not empty and no render made it/,
    );
    expect(() => checkRenderOut("/")).toThrow(/refusing to write into \//);
  });

  test("GIVEN a project folder WHEN `npm run render -- mgmt02 --out .` runs in it THEN it exits 1 naming the folder, and the folder is untouched", () => {
    const proj = tmpdir();
    fs.writeFileSync(path.join(proj, "package.json"), "{}\n");
    fs.mkdirSync(path.join(proj, "src"));
    fs.writeFileSync(path.join(proj, "src", "index.ts"), "export {};\n");
    const siblings = () =>
      fs.readdirSync(path.dirname(proj)).filter((n) => n.startsWith(path.basename(proj)));
    const before = [snapshot(proj), siblings()];
    const res = runRender([path.join(ROOT, "stacks/Pulumi.mgmt02.yaml"), "--out", "."], proj);
    expect(res.status).toBe(1);
    expect(res.stderr).toContain(`refusing to write into ${proj}:`);
    expect([snapshot(proj), siblings()]).toEqual(before);
  });
});
