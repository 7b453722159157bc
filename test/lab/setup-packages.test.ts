/**
 * The set-up installs what the lab checks for: a package the lab's prerequisite check names
 * but scripts/setup.sh does not install once made the README's lab command fail on a fresh
 * machine while CI, on a machine that had it by hand, stayed green.
 */
import * as fs from "fs";
import * as path from "path";
import { KERNEL_BUILD_PACKAGES, LAB_PACKAGES } from "../../lab/prereqs";

function setupPackages(): Set<string> {
  const text = fs.readFileSync(path.join(__dirname, "../../scripts/setup.sh"), "utf8");
  const list = /PACKAGES=\(([\s\S]*?)\n\)/.exec(text)![1];
  return new Set(
    list
      .split("\n")
      .map((l) => l.replace(/#.*$/, ""))
      .join(" ")
      .split(/\s+/)
      .filter(Boolean),
  );
}

describe("GIVEN scripts/setup.sh", () => {
  test("THEN it installs every package the lab's prerequisite check and the kernel build need", () => {
    const have = setupPackages();
    expect([...LAB_PACKAGES, ...KERNEL_BUILD_PACKAGES].filter((p) => !have.has(p))).toEqual([]);
  });

  test("THEN it installs the apply program's and the host scripts' linters and sudo (the command Pulumi runs)", () => {
    const have = setupPackages();
    expect(["sudo", "python3-pyflakes", "shellcheck", "python3"].filter((p) => !have.has(p))).toEqual([]);
  });
});
