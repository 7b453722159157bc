/**
 * The one implementation of "apply a HostPlan safely": an ordered list of steps,
 * each a shell script plus a hash of its inputs. Two transports run it:
 *   - the Pulumi components (`components/host.ts`), one @pulumi/command resource per step,
 *     `triggers: [hash]` so a step re-runs exactly when its inputs change;
 *   - the lab (`lab/`), through the guest's own exec.
 *
 * Per file: stage (copy to a staging path) → validate (the daemon's checker on the
 * staged copy) → activate (atomic rename into place, then reload/restart). A staged file
 * that fails its checker never reaches the live path, so the old config keeps serving.
 */
import { createHash } from "crypto";
import { HostPlan, PlannedFile, Activate } from "../plan/types";

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

export type StepKind =
  | "packages"
  | "downloads"
  | "sysctls"
  | "stage"
  | "validate"
  | "activate"
  | "services"
  | "drain"
  | "undrain"
  | "health";

export interface Step {
  /** Unique within the host, stable: used in resource names. */
  id: string;
  kind: StepKind;
  /** For stage/validate/activate: the live path of the file. */
  file?: string;
  /** For stage: where the file is copied to. */
  stagedPath?: string;
  /** For stage: the planned file (the transport copies its content). */
  planned?: PlannedFile;
  /** Shell script run on the host (for `stage`, run after the copy: fixes owner and mode). */
  script: string;
  /** sha256 of everything this step depends on; the trigger of the step. */
  hash: string;
  /** Ids of steps that must succeed first. */
  dependsOn: string[];
}

/** Per file, the record of what was applied: `<planned sha256> <live sha256>`. */
export const APPLIED_DIR = "/var/lib/maglev-infra/applied";

/** Where staged copies live. Same filesystem as /etc so the final `mv` is an atomic rename. */
export const STAGING_DIR = "/etc/.maglev-infra-staging";

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

/** One shell word, single-quoted: what every script built here (and by ops, lab) uses. */
export function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function activateScript(a: Activate, sm: ServiceManager): string | undefined {
  switch (a.kind) {
    case "none":
      return undefined;
    case "reload":
      return a.then ? `${sm.reload(a.service)} && { ${a.then}; }` : sm.reload(a.service);
    case "restart":
      return a.then ? `${sm.restart(a.service)} && { ${a.then}; }` : sm.restart(a.service);
    case "command":
      return a.command;
  }
}

/** The validate command for a staged file, or undefined when the file has no checker. */
export function validateCommand(f: PlannedFile, stagedPath: string): string | undefined {
  return f.validate ? f.validate.command.split("{file}").join(q(stagedPath)) : undefined;
}

/** Shell that prints the packages of `pkgs` not installed (one dpkg-query for all of them). */
export function missingPackagesScript(pkgs: string[]): string {
  if (pkgs.length === 0) return "true";
  const list = pkgs.join(" ");
  // A package dpkg has never seen is not listed at all: anything not "installed" is missing.
  return `installed=" $(dpkg-query -W -f='\${db:Status-Status}:\${Package} ' ${list} 2>/dev/null || true)"; for p in ${list}; do case "$installed" in *" installed:$p "*) ;; *) echo "$p" ;; esac; done`;
}

/**
 * Turn a plan into its ordered steps. Order: packages → downloads → per file stage → validate
 * → (all validated) → drain → sysctls → per file activate → services → undrain → health.
 * All validations finish before the host is drained or anything live changes, so a bad file
 * on a host leaves that host serving exactly as it was (nothing half-applied, not drained).
 */
export function applySteps(plan: HostPlan, sm: ServiceManager = systemd): Step[] {
  const steps: Step[] = [];
  const planHash = sha256(JSON.stringify(plan));
  const add = (s: Step) => {
    steps.push(s);
    return s.id;
  };

  let prev: string[] = [];

  const pkgs = plan.packages.join(" ");
  prev = [
    add({
      id: "packages",
      kind: "packages",
      script: pkgs
        ? `set -e; missing=$(${missingPackagesScript(plan.packages)}); ` +
          `if [ -n "$missing" ]; then export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq $missing; fi`
        : "true",
      hash: sha256("packages", pkgs),
      dependsOn: prev,
    }),
  ];

  if (plan.downloads.length > 0) {
    const script = plan.downloads
      .map(
        (d) =>
          `if ! echo ${q(d.sha256 + "  " + d.path)} | sha256sum -c --status 2>/dev/null; then ` +
          `tmp=$(mktemp ${q(d.path)}.XXXXXX) && curl -fsSL --retry 3 -o "$tmp" ${q(d.url)} && ` +
          `echo ${q(d.sha256)}"  $tmp" | sha256sum -c --status && chmod ${d.mode} "$tmp" && mv "$tmp" ${q(d.path)} || { rm -f "$tmp"; echo "download of ${d.name} failed or its sha256 differs" >&2; exit 1; }; fi`,
      )
      .join("\n");
    prev = [add({ id: "downloads", kind: "downloads", script: `set -e\n${script}`, hash: sha256("downloads", JSON.stringify(plan.downloads)), dependsOn: prev })];
  }

  const validated: string[] = [];
  for (const f of plan.files) {
    const slug = fileSlug(f.path);
    const staged = `${STAGING_DIR}/${slug}`;
    const fileHash = sha256(f.path, f.mode, f.owner, f.content, JSON.stringify(f.validate ?? null), JSON.stringify(f.secretKeys ?? []));
    const stageId = add({
      id: `stage-${slug}`,
      kind: "stage",
      file: f.path,
      stagedPath: staged,
      planned: f,
      script: `set -e; chown ${f.owner} ${q(staged)}; chmod ${f.mode} ${q(staged)}`,
      hash: fileHash,
      dependsOn: prev,
    });
    const vcmd = validateCommand(f, staged);
    validated.push(
      add({
        id: `validate-${slug}`,
        kind: "validate",
        file: f.path,
        stagedPath: staged,
        // `exec 2>&1` so the checker's own message is what the failure shows.
        script: vcmd ? `exec 2>&1; ${vcmd}` : "true",
        hash: fileHash,
        dependsOn: [stageId],
      }),
    );
  }

  // Nothing live changes before every file has passed its checker: a bad file leaves the host
  // serving, undrained, exactly as it was.
  prev = validated.length ? validated : prev;
  if (plan.drain) {
    // The drain must run whenever anything on the host changes; so its hash is the plan's.
    prev = [add({ id: "drain", kind: "drain", script: plan.drain.drain, hash: planHash, dependsOn: prev })];
  }

  if (plan.sysctls.length > 0) {
    const modules = [...new Set(plan.sysctls.map((s) => s.module).filter((m): m is string => !!m))].sort();
    const lines = plan.sysctls.map((s) => `${s.key} = ${s.value}`).join("\n");
    const script =
      `set -e\n` +
      // A module is loaded only when its sysctls are missing: built into the kernel or already
      // loaded, there is nothing to load (and modprobe of a built-in fails without modules.builtin).
      modules
        .map((m) => {
          const key = plan.sysctls.find((x) => x.module === m)!.key;
          return `[ -e /proc/sys/${key.replace(/\./g, "/")} ] || modprobe ${m}\n`;
        })
        .join("") +
      plan.sysctls.map((s) => `sysctl -q -w ${q(`${s.key}=${s.value}`)}`).join("\n");
    prev = [add({ id: "sysctls", kind: "sysctls", script, hash: sha256("sysctls", lines, modules.join(",")), dependsOn: prev })];
  }

  const activated: string[] = [];
  for (const f of plan.files) {
    const slug = fileSlug(f.path);
    const staged = `${STAGING_DIR}/${slug}`;
    const fileHash = sha256(f.path, f.mode, f.owner, f.content, JSON.stringify(f.activate));
    const dir = f.path.replace(/\/[^/]+$/, "") || "/";
    const act = activateScript(f.activate, sm);
    // Copy next to the target first, then rename: the rename is atomic on one filesystem,
    // so a reader sees either the old or the new file, never half of one.
    const record = `${APPLIED_DIR}/${slug}`;
    const script =
      `set -e; [ -d ${q(dir)} ] || install -d ${q(dir)}; ` +
      `if ! cmp -s ${q(staged)} ${q(f.path)} || [ "$(stat -c '%a %U:%G' ${q(f.path)} 2>/dev/null)" != "${f.mode.replace(/^0/, "")} ${f.owner}" ]; then ` +
      `cp -p ${q(staged)} ${q(f.path + ".maglev-infra-new")} && mv -f ${q(f.path + ".maglev-infra-new")} ${q(f.path)}; ` +
      (act ? `${act}; ` : "") +
      `fi; ` +
      // What was applied: the planned (template) hash and the hash of the file as written, so
      // `npm run check` finds hand edits even in files filled with secrets on the host.
      `[ -d ${APPLIED_DIR} ] || install -d -m 0700 ${APPLIED_DIR}; live=$(sha256sum < ${q(f.path)}); printf '%s %s\n' ${contentSha256(f.content)} "\${live%% *}" > ${q(record)}`;
    activated.push(add({ id: `activate-${slug}`, kind: "activate", file: f.path, stagedPath: staged, script, hash: fileHash, dependsOn: [...prev] }));
  }
  if (activated.length) prev = activated;

  if (plan.services.length > 0) {
    prev = [
      add({
        id: "services",
        kind: "services",
        script: `set -e\n` + plan.services.map((s) => sm.enableStart(s)).join("\n"),
        hash: sha256("services", plan.services.join(",")),
        dependsOn: prev,
      }),
    ];
  }

  if (plan.drain) {
    prev = [add({ id: "undrain", kind: "undrain", script: plan.drain.undrain, hash: planHash, dependsOn: prev })];
  }

  if (plan.health) {
    const h = plan.health;
    // Bounded: a host that never becomes healthy fails the rollout instead of hanging it.
    const script =
      `end=$(( $(date +%s) + ${h.timeoutSeconds} )); ` +
      `until ( ${h.command} ) >/dev/null 2>&1; do if [ "$(date +%s)" -ge "$end" ]; then echo ${q(`health gate failed after ${h.timeoutSeconds}s: ${h.description}`)} >&2; exit 1; fi; sleep 1; done`;
    add({ id: "health", kind: "health", script, hash: planHash, dependsOn: prev });
  }
  return steps;
}
