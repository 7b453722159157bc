/**
 * The bundle: one host's HostPlan compiled into what the on-host apply program
 * (`scripts/maglev-apply`) takes, deterministic to the byte (same plan → same sha256).
 *
 *   bundle.json    files (contents with `{{secret:<key>}}` placeholders, never values) in
 *                  activation order, with mode, owner, sha256, checker, activation, secret
 *                  syntax; packages, pinned downloads, sysctls and the modules they need,
 *                  services, drain/undrain, health probe (and its pre-change step)
 *   archive        base64 of a gzip'd ustar archive of `maglev-apply`, `bundle.json`,
 *                  `secrets.sha256` and, for a host with secrets, `secrets.json` (the values):
 *                  what the apply command reads on stdin
 *   manifest       one line per file (path, mode, owner, sha256, activation): the visible
 *                  trigger of the apply resource, so `pulumi preview --diff` names the file
 *                  that changes on which host
 *
 * Pulumi (`components/host.ts`) and the lab (`lab/transport.ts`) deliver the same archive
 * to the same command line, `applyCommand(user)`.
 */
import * as fs from "fs";
import * as path from "path";
import { gzipSync } from "zlib";
import { HostPlan, Activate, SecretSyntax } from "../plan/types";
import { contentSha256 } from "../apply/steps";
import { shellWord } from "../escape";

export const BUNDLE_FORMAT = 1;

/** The on-host apply program and the shell commands around it (files of their own). */
export const APPLY_PROGRAM = path.join(__dirname, "..", "..", "scripts", "maglev-apply");
const BOOTSTRAP = path.join(__dirname, "..", "..", "scripts", "host", "apply-bootstrap.py");
const TEARDOWN = path.join(__dirname, "..", "..", "scripts", "host", "teardown.sh");
const K0S_JOIN_TOKEN = path.join(__dirname, "..", "..", "scripts", "host", "k0s-join-token.sh");
const K0S_REJOIN = path.join(__dirname, "..", "..", "scripts", "host", "k0s-rejoin.sh");

/** Where the apply's bootstrap installs a host's secret values from its archive (root, 0600). */
export const SECRETS_FILE = "/etc/maglev-infra/secrets.json";
/** Generations of applied bundles on the host; `current` points at the committed one. */
export const GENERATIONS_DIR = "/var/lib/maglev-infra/generations";
export const CURRENT_LINK = "/var/lib/maglev-infra/current";

export interface BundleFile {
  path: string;
  mode: string;
  owner: string;
  /** sha256 of `content` as written here (placeholders, not values). */
  sha256: string;
  content: string;
  checker?: { name: string; command: string };
  activate: Activate;
  secrets?: { keys: string[]; syntax: SecretSyntax };
  /** Other contents chosen by a marker file on the host (see PlannedFile.variants). */
  variants?: { when: { path: string; contains: string }; sha256: string; content: string }[];
}

export interface Bundle {
  format: number;
  stack: string;
  host: string;
  tier: string;
  packages: string[];
  downloads: HostPlan["downloads"];
  modules: string[];
  sysctls: { key: string; value: string }[];
  services: string[];
  files: BundleFile[];
  drain?: { drain: string; undrain: string };
  health?: { command: string; timeoutSeconds: number; description: string; before?: string };
}

export interface CompiledBundle {
  bundle: Bundle;
  /** bundle.json, byte for byte. */
  json: string;
  /** sha256 of `json`. */
  sha256: string;
  /** sha256 of the apply program shipped with it (a program change re-applies too). */
  programSha256: string;
  /** One line per file: `<path> <mode> <owner> <sha256> <activation>`. */
  manifest: string[];
}

function activationText(a: Activate): string {
  switch (a.kind) {
    case "none":
      return "-";
    case "reload":
    case "restart":
      return `${a.kind} ${a.service}`;
    case "command":
      return `run ${a.command.split(/\s+/)[0]}`;
  }
}

/** Compile one host's plan. Pure apart from reading the apply program's bytes. */
export function compileBundle(stack: string, plan: HostPlan): CompiledBundle {
  const files: BundleFile[] = plan.files.map((f) => {
    if (f.secretKeys?.length && !f.secretSyntax)
      throw new Error(`${plan.hostname}: ${f.path} has secret placeholders but no secretSyntax`);
    return {
      path: f.path,
      mode: f.mode,
      owner: f.owner,
      sha256: contentSha256(f.content),
      content: f.content,
      ...(f.validate ? { checker: { name: f.validate.checker, command: f.validate.command } } : {}),
      activate: f.activate,
      ...(f.secretKeys?.length
        ? { secrets: { keys: [...f.secretKeys].sort(), syntax: f.secretSyntax! } }
        : {}),
      ...(f.variants?.length
        ? {
            variants: f.variants.map((v) => ({
              when: { path: v.when.path, contains: v.when.contains },
              sha256: contentSha256(v.content),
              content: v.content,
            })),
          }
        : {}),
    };
  });
  const bundle: Bundle = {
    format: BUNDLE_FORMAT,
    stack,
    host: plan.hostname,
    tier: plan.tier,
    packages: plan.packages,
    downloads: plan.downloads,
    modules: [...new Set(plan.sysctls.map((s) => s.module).filter((m): m is string => !!m))].sort(),
    sysctls: plan.sysctls.map((s) => ({ key: s.key, value: s.value })),
    services: plan.services,
    files,
    ...(plan.drain ? { drain: { drain: plan.drain.drain, undrain: plan.drain.undrain } } : {}),
    ...(plan.health
      ? {
          health: {
            command: plan.health.command,
            timeoutSeconds: plan.health.timeoutSeconds,
            description: plan.health.description,
            // Only when set: the other hosts' bundle bytes (and so their triggers) stay as they were.
            ...(plan.health.before !== undefined ? { before: plan.health.before } : {}),
          },
        }
      : {}),
  };
  const json = JSON.stringify(bundle, null, 1) + "\n";
  return {
    bundle,
    json,
    sha256: contentSha256(json),
    programSha256: contentSha256(applyProgram()),
    manifest: files.map(
      (f) =>
        `${f.path} ${f.mode} ${f.owner} ${f.sha256} ${activationText(f.activate)}${f.variants ? ` (+${f.variants.length} variants: ${f.variants.map((v) => v.sha256).join(" ")})` : ""}`,
    ),
  };
}

let programCache: string | undefined;
/** The apply program's source, as shipped. */
export function applyProgram(): string {
  return (programCache ??= fs.readFileSync(APPLY_PROGRAM, "utf8"));
}

/**
 * The JSON of a host's secret values (`secrets.json` in its archive, installed on the host as
 * SECRETS_FILE): the values of the keys the plan's placeholders name, sorted by key. Its sha256
 * travels in the archive too, so the apply program refuses to fill placeholders from a secrets
 * file other than the one delivered with it.
 */
export function secretsFileContent(keys: string[], values: Record<string, string>): string {
  const out: Record<string, string> = {};
  for (const k of [...keys].sort()) {
    if (values[k] === undefined) throw new Error(`no value for secret ${k}`);
    out[k] = values[k];
  }
  return JSON.stringify(out) + "\n";
}

/** The secret keys a bundle's files need, sorted. */
export function bundleSecretKeys(b: Bundle): string[] {
  return [...new Set(b.files.flatMap((f) => f.secrets?.keys ?? []))].sort();
}

/**
 * What the apply command reads on stdin: base64 of a gzip'd ustar archive. `secrets` is the
 * host's `secretsFileContent`, or "" when the host has none: then the archive carries an empty
 * `secrets.sha256` and no `secrets.json`. An archive with secrets holds their values, so the
 * caller keeps it a secret (components/host.ts). mtime 0, uid/gid 0, fixed order: the same
 * inputs give the same bytes.
 */
export function bundleArchive(c: CompiledBundle, secrets: string): string {
  const tar = ustar([
    { name: "maglev-apply", mode: 0o755, data: Buffer.from(applyProgram()) },
    { name: "bundle.json", mode: 0o600, data: Buffer.from(c.json) },
    {
      name: "secrets.sha256",
      mode: 0o600,
      data: Buffer.from(secrets ? `${contentSha256(secrets)}\n` : ""),
    },
    ...(secrets ? [{ name: "secrets.json", mode: 0o600, data: Buffer.from(secrets) }] : []),
  ]);
  // Base64 in lines of 76 (what `base64 -d` reads and a diff can show).
  return gzipSync(tar, { level: 9 }).toString("base64").replace(/.{76}/g, "$&\n") + "\n";
}

/**
 * A host's apply stdin from its compiled bundle and the stack's secret values: the archive
 * with `secrets.json` holding exactly the keys its files' placeholders name. Pulumi
 * (components/host.ts) and the lab (lab/transport.ts) both build stdin with it.
 */
export function applyStdin(c: CompiledBundle, values: Record<string, string>): string {
  const keys = bundleSecretKeys(c.bundle);
  return bundleArchive(c, keys.length ? secretsFileContent(keys, values) : "");
}

/** A minimal POSIX ustar writer: regular files only, names under 100 bytes. */
export function ustar(entries: { name: string; mode: number; data: Buffer }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    if (Buffer.byteLength(e.name) > 99) throw new Error(`ustar: name too long: ${e.name}`);
    const h = Buffer.alloc(512);
    const put = (off: number, len: number, s: string) => h.write(s, off, len, "ascii");
    const oct = (off: number, len: number, n: number) =>
      put(off, len, n.toString(8).padStart(len - 1, "0") + "\0");
    put(0, 100, e.name);
    oct(100, 8, e.mode);
    oct(108, 8, 0); // uid
    oct(116, 8, 0); // gid
    oct(124, 12, e.data.length);
    oct(136, 12, 0); // mtime: fixed, for byte-identical archives
    h.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
    put(156, 1, "0");
    put(257, 6, "ustar\0");
    put(263, 2, "00");
    put(265, 32, "root");
    put(297, 32, "root");
    let sum = 0;
    for (const b of h) sum += b;
    put(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    blocks.push(h, e.data, Buffer.alloc((512 - (e.data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Wrap a root script for the login user: `sudo -n` (a missing sudo rule fails instead of hanging). */
export function asRootFor(user: string): (script: string) => string {
  return (script) => (user === "root" ? script : `sudo -n sh -c ${shellWord(script)}`);
}

/**
 * The command line of a host's apply, for the stack's login user: the same for Pulumi and the
 * lab. The bootstrap's text is the command (nothing needs to be on the host first), run by
 * Debian's interpreter: -I ignores PYTHON* variables and the user site dir, -S skips the site
 * module (its .pth scan was 0.3-1.2 s of a no-op apply in a lab guest; the bootstrap and the
 * program need the standard library only).
 */
export function applyCommand(user: string): string {
  return asRootArgv(user, [
    "/usr/bin/python3",
    "-I",
    "-S",
    "-c",
    fs.readFileSync(BOOTSTRAP, "utf8"),
  ]);
}

/** A command line of these words, run as root for the stack's login user (`sudo -n`, as above). */
function asRootArgv(user: string, argv: string[]): string {
  const words = argv.map((w) => shellWord(w)).join(" ");
  return user === "root" ? words : `sudo -n ${words}`;
}

/** A script file of scripts/host run as root with arguments, for the stack's login user. */
function rootScript(user: string, file: string, name: string, args: string[]): string {
  return asRootArgv(user, ["sh", "-c", fs.readFileSync(file, "utf8"), name, ...args]);
}

/**
 * The delete step of a host's teardown (scripts/host/teardown.sh): drain, stop and disable the
 * plan's services, and on an adopted host put back what the host had before our files. The
 * plan's files and downloads are named one argument each, sorted (deterministic).
 */
export function teardownCommand(user: string, plan: HostPlan, mode: "vm" | "adopted"): string {
  const paths = [
    ...new Set([...plan.files.map((f) => f.path), ...plan.downloads.map((d) => d.path)]),
  ].sort();
  return rootScript(user, TEARDOWN, "maglev-teardown", [
    mode,
    plan.drain?.drain ?? "",
    [...plan.services].sort().join(" "),
    ...paths,
  ]);
}

/**
 * On the primary k0s controller, for one worker (scripts/host/k0s-join-token.sh): `create`
 * invalidates the worker's previous token and mints a new one (printed: the resource's secret
 * stdout), `revoke` invalidates it. Only the token's id is kept on the controller.
 */
export function k0sJoinTokenCommand(
  user: string,
  action: "create" | "revoke",
  worker: string,
  k0sBinary: string,
): string {
  return rootScript(user, K0S_JOIN_TOKEN, "k0s-join-token", [action, worker, k0sBinary]);
}

/**
 * On a k0s worker, right after its apply (scripts/host/k0s-rejoin.sh): when the worker is
 * joined to a cluster whose CA is not the one its (just installed) join token carries — the
 * controller was rebuilt — it clears the worker's kubelet credentials and joins again with the
 * token, waiting up to `timeoutSeconds`. Reads nothing on stdin.
 */
export function k0sRejoinCommand(
  user: string,
  unit: string,
  tokenFile: string,
  dataDir: string,
  timeoutSeconds: number,
): string {
  return `${rootScript(user, K0S_REJOIN, "k0s-rejoin", [unit, tokenFile, dataDir, String(timeoutSeconds)])} </dev/null`;
}
