/**
 * Small shared pieces of applying and inspecting hosts: shell quoting, hashes, the service
 * manager commands day-2 operations use, and where the apply program records what it wrote.
 * Applying a plan itself is one transaction on the host: src/bundle compiles the plan and
 * scripts/maglev-apply applies it (stage, check, drain, activate, health gate, rollback).
 */
import { createHash } from "crypto";

/** How a transport starts, reloads and checks services (systemd on real hosts, a small supervisor in the lab). */
export interface ServiceManager {
  /** Command that enables and starts the unit, idempotently. */
  enableStart(service: string): string;
  reload(service: string): string;
  restart(service: string): string;
  isActive(service: string): string;
}

export const systemd: ServiceManager = {
  enableStart: (s) => `systemctl enable --now ${s}`,
  reload: (s) => `systemctl reload-or-restart ${s}`,
  restart: (s) => `systemctl restart ${s}`,
  isActive: (s) => `systemctl is-active --quiet ${s}`,
};

/** Per file, the apply program's record of what it wrote: `<planned sha256> <live sha256>` (read by `check`). */
export const APPLIED_DIR = "/var/lib/maglev-infra/applied";

export function sha256(...parts: string[]): string {
  const h = createHash("sha256");
  for (const p of parts) {
    h.update(String(p.length));
    h.update(":");
    h.update(p);
  }
  return h.digest("hex");
}

/** Plain sha256 of a file's content, exactly as `sha256sum` prints it on the host. */
export function contentSha256(content: string): string {
  return createHash("sha256").update(content).digest("hex");
}

/** A name safe for resource ids and staging files: `/etc/frr/frr.conf` → `etc-frr-frr.conf`. */
export function fileSlug(path: string): string {
  return path.replace(/^\/+/, "").replace(/[^A-Za-z0-9._-]+/g, "-");
}
