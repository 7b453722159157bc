/**
 * npm run hactl -- <stack> [--group <name>] list
 * npm run hactl -- <stack> [--group <name>] maint  <backend>/<server>
 * npm run hactl -- <stack> [--group <name>] enable <backend>/<server>
 * npm run hactl -- <stack> drain | undrain | status <host>
 *
 * The seed's hactl: one command across every HAProxy node of a group. Each node has the
 * node-local `/usr/local/sbin/hactl` (installed by the plan, talks to the admin socket); this
 * runs it on every member over a HostRunner (SSH to the mgmt address as the stack's user, in
 * the lab from its operator seat), merges the answers and flags servers whose state differs between nodes.
 */
import { deriveTopology, Topology, HostFacts } from "../topology";
import { HostRunner } from "../ops/runner";
import { HACTL_PATH, HAPROXY_STATS_PORT } from "../tiers/haproxy";
import { loadOrExit, runnerFor } from "./common";
import { shellWord } from "../escape";

export interface ServerState {
  backend: string;
  server: string;
  /** UP, DOWN, MAINT, DRAIN, no check, … as HAProxy reports it. */
  status: string;
  weight: string;
  check: string;
}

/** Parse the node script's `hactl list` output (`backend,server,status,weight,check` per line). */
export function parseList(out: string): ServerState[] {
  return out
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const [backend, server, status = "", weight = "", check = ""] = l.split(",");
      return { backend, server, status, weight, check };
    })
    .filter((s) => s.backend && s.server);
}

export interface MergedRow {
  key: string;
  /** hostname → state (missing when the node does not know the server). */
  byHost: Map<string, ServerState | undefined>;
  /** Nodes disagree: a server in maintenance on some nodes only, or missing on some. */
  inconsistent: boolean;
}

const adminState = (s?: ServerState) =>
  !s ? "absent" : /MAINT/.test(s.status) ? "maint" : /DRAIN/.test(s.status) ? "drain" : "ready";

export function mergeLists(perHost: Map<string, ServerState[]>): MergedRow[] {
  const keys = new Set<string>();
  for (const list of perHost.values()) for (const s of list) keys.add(`${s.backend}/${s.server}`);
  return [...keys].sort().map((key) => {
    const byHost = new Map<string, ServerState | undefined>();
    for (const [h, list] of perHost)
      byHost.set(
        h,
        list.find((s) => `${s.backend}/${s.server}` === key),
      );
    const states = new Set([...byHost.values()].map(adminState));
    return { key, byHost, inconsistent: states.size > 1 };
  });
}

export type HactlCommand =
  | { op: "list" }
  | { op: "maint" | "enable"; target: string }
  | { op: "drain" | "undrain" | "status" };

export interface HactlResult {
  ok: boolean;
  text: string;
}

/** The HAProxy members of a group (default: the only haproxy group). */
export function haproxyMembers(
  topo: Topology,
  group?: string,
): { group: string; members: HostFacts[] } {
  const groups = [...topo.groups.values()].filter((g) => g.kind === "haproxy");
  const g = group
    ? groups.find((x) => x.name === group)
    : groups.length === 1
      ? groups[0]
      : undefined;
  if (!g)
    throw new Error(
      group
        ? `no haproxy group named "${group}" (have: ${groups.map((x) => x.name).join(", ")})`
        : `several haproxy groups: pick one with --group (${groups.map((x) => x.name).join(", ")})`,
    );
  return { group: g.name, members: g.members };
}

/** Run a command on every node (in parallel), merge and render. Pure apart from `runner`. */
export async function hactl(
  runner: HostRunner,
  members: HostFacts[],
  cmd: HactlCommand,
): Promise<HactlResult> {
  if (
    (cmd.op === "maint" || cmd.op === "enable") &&
    !/^[A-Za-z0-9_.:-]+\/[A-Za-z0-9_.:-]+$/.test(cmd.target)
  )
    return { ok: false, text: `hactl: expected <backend>/<server>, got "${cmd.target}"\n` };
  const script =
    cmd.op === "maint" || cmd.op === "enable"
      ? `${HACTL_PATH} ${cmd.op} ${shellWord(cmd.target)}`
      : `${HACTL_PATH} ${cmd.op}`;
  const results = await Promise.all(
    members.map(async (m) => ({ m, r: await runner.run(m.hostname, script) })),
  );
  const failed = results.filter(({ r }) => r.code !== 0);
  let text = "";
  for (const { m, r } of failed)
    text += `${m.hostname}: FAILED (exit ${r.code}) ${(r.stderr || r.stdout).trim()}\n`;

  if (cmd.op === "list") {
    const perHost = new Map<string, ServerState[]>();
    for (const { m, r } of results) if (r.code === 0) perHost.set(m.hostname, parseList(r.stdout));
    const rows = mergeLists(perHost);
    const hosts = [...perHost.keys()];
    const w = Math.max(8, ...rows.map((r) => r.key.length));
    text += ["server".padEnd(w), ...hosts.map((h) => h.padEnd(24))].join("  ").trimEnd() + "\n";
    for (const row of rows) {
      const cells = hosts.map((h) => {
        const s = row.byHost.get(h);
        return (s ? `${s.status}${s.check ? ` (${s.check})` : ""}` : "-").padEnd(24);
      });
      text +=
        [row.key.padEnd(w), ...cells].join("  ").trimEnd() +
        (row.inconsistent ? "  INCONSISTENT" : "") +
        "\n";
    }
    const bad = rows.filter((r) => r.inconsistent);
    if (bad.length)
      text += `\n${bad.length} server(s) differ between nodes: run maint or enable again to align them.\n`;
    text +=
      "\nstats: " +
      members.map((m) => `http://${m.mgmt.ipv4}:${HAPROXY_STATS_PORT}/stats`).join("  ") +
      "\n";
    return { ok: failed.length === 0 && bad.length === 0, text };
  }
  for (const { m, r } of results)
    if (r.code === 0) text += `${m.hostname}: ${r.stdout.trim() || "ok"}\n`;
  return { ok: failed.length === 0, text };
}

const USAGE = `usage: npm run hactl -- <stack> [--lab] [--group <name>] list | maint <backend>/<server> | enable <backend>/<server> | drain <host> | undrain <host> | status [<host>]
`;

/** Arguments by hand: commander 15 is ESM-only and this module is also imported by the tests. */
export function parseArgs(argv: string[]): {
  stack: string;
  group?: string;
  command: string;
  target?: string;
  lab: boolean;
} {
  const pos: string[] = [];
  let group: string | undefined;
  let lab = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--lab") lab = true;
    else if (argv[i] === "-g" || argv[i] === "--group") group = argv[++i];
    else if (argv[i].startsWith("--group=")) group = argv[i].slice(8);
    else if (argv[i] === "-h" || argv[i] === "--help") throw new Error(USAGE);
    else pos.push(argv[i]);
  }
  if (pos.length < 2) throw new Error(USAGE);
  return { stack: pos[0], group, command: pos[1], target: pos[2], lab };
}

async function main(argv: string[]): Promise<void> {
  const a = parseArgs(argv);
  const env = loadOrExit(a.stack);
  const topo = deriveTopology(env);
  const { members } = haproxyMembers(topo, a.group);
  let cmd: HactlCommand;
  let on = members;
  if (a.command === "list") cmd = { op: "list" };
  else if (a.command === "maint" || a.command === "enable")
    cmd = { op: a.command, target: a.target ?? "" };
  else if (a.command === "drain" || a.command === "undrain" || a.command === "status") {
    cmd = { op: a.command };
    if (a.target) {
      on = members.filter((m) => m.name === a.target || m.hostname === a.target);
      if (!on.length) throw new Error(`${a.target} is not a member of the group`);
    } else if (a.command !== "status") throw new Error(`${a.command} needs a host\n${USAGE}`);
  } else throw new Error(`unknown command ${a.command}\n${USAGE}`);
  const runner = await runnerFor(env, topo, a.lab);
  const r = await hactl(runner, on, cmd);
  process.stdout.write(r.text);
  process.exitCode = r.ok ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`hactl: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
