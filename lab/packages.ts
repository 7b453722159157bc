/**
 * scripts/packages.txt: the one list of Debian packages this machine needs (scripts/setup.sh
 * installs it; lab/prereqs.ts checks it). One package per line, `#` comment lines, and
 * `# group: NAME` comment lines that start a group.
 */
import * as fs from "fs";
import * as path from "path";

export const PACKAGES_FILE = path.resolve(__dirname, "../scripts/packages.txt");

export interface SystemPackage {
  name: string;
  group: string;
  line: number;
}

/** Every package of the list, in order, with its group. Throws on a line that is not one package name. */
export function systemPackages(file = PACKAGES_FILE): SystemPackage[] {
  const out: SystemPackage[] = [];
  let group = "";
  fs.readFileSync(file, "utf8")
    .split("\n")
    .forEach((raw, i) => {
      const g = /^#\s*group:\s*([a-z0-9-]+)/.exec(raw);
      if (g) group = g[1];
      if (raw.startsWith("#") || raw.trim() === "") return;
      // Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters.
      if (!/^[a-z0-9][a-z0-9+.-]+$/.test(raw))
        throw new Error(`${file}:${i + 1}: not one Debian package name: ${JSON.stringify(raw)}`);
      out.push({ name: raw, group, line: i + 1 });
    });
  return out;
}

/** Package names of the list; `except` leaves out whole groups. */
export function packageNames(opts: { except?: string[] } = {}, file = PACKAGES_FILE): string[] {
  return systemPackages(file)
    .filter((p) => !opts.except?.includes(p.group))
    .map((p) => p.name);
}
