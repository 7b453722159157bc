/** The checker of every systemd unit a plan writes (src/daemons/*, the tiers, monitoring). */
import { Validate } from "../../plan/types";
import { shellWord } from "../../escape";

/**
 * `systemd-analyze verify` on a copy named like the unit, made strict: verify exits 0 on
 * "Unknown key" and "Failed to parse" (it only logs them), so any diagnostic fails the check.
 * `pinned` lists binaries the plan's downloads step installs (and sha256-checks) before any file
 * is validated on the host; on a render machine they are absent, so verify's "is not executable"
 * for exactly those paths is not a diagnostic of the unit.
 */
export function systemdVerify(unitName: string, pinned: string[] = []): Validate {
  const filters = pinned
    .map((p) => ` | grep -vF ${shellWord(`Command ${p} is not executable`)}`)
    .join("");
  return {
    checker: "systemd-analyze",
    command:
      `d=$(mktemp -d) && cp {file} "$d/${unitName}" && ` +
      `out=$(cd "$d" && systemd-analyze verify --man=no ./${unitName} 2>&1${filters}); ` +
      `rm -rf "$d"; if [ -n "$out" ]; then printf '%s\\n' "$out"; exit 1; fi`,
  };
}
