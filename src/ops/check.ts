/**
 * Live diagnostics (the seed's "Horizon", as part of the tool): for every host, compare what
 * runs with the plan — file hashes (drift), services, BGP sessions and BFD peers, ECMP width
 * per VIP on each gateway, IPVS services and real-server weights, HAProxy backend states,
 * IPVS conntrack off, ingress0 MTU and interface errors. One row per check, ✓ or ✗.
 *
 * Written against `HostRunner`, so the same checks run over SSH and in the lab.
 */
import { Topology, HostFacts } from "../topology";
import { HostPlan } from "../plan/types";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as nodePath from "path";
import { contentSha256 as contentHash, APPLIED_DIR, fileSlug } from "../apply/steps";
import { CURRENT_LINK } from "../bundle";
import { shellWord } from "../escape";
import { ipvsServices, DRAIN_FILE, ANNOUNCED_FILE } from "../tiers/maglev";
import { HACTL_PATH, HAPROXY_ADMIN_SOCKET, HAPROXY_DRAIN_BACKEND } from "../tiers/haproxy";
import { SITE_DRAIN_FILE } from "../tiers/gateway";
import { HostRunner } from "./runner";
import { IPVS_LIST_COMMAND, ipvsServiceKey, parseIpvs } from "../daemons/keepalived/probes";
import { nextHops, vipRouteCommand } from "../daemons/frr/probes";

export interface CheckRow {
  host: string;
  check: string;
  ok: boolean;
  detail: string;
}

// The IPVS and route parsers live with their daemons (one parser for the operations and the
// lab); their names stay importable here.
export { parseIpvs } from "../daemons/keepalived/probes";
export { nextHops } from "../daemons/frr/probes";

/** The drain state probe of a maglev (its drain file), a gateway (its site's drain file) or an HAProxy node (`hactl status`). */
function drainProbe(h: HostFacts): string | undefined {
  const file =
    h.role === "maglev" ? DRAIN_FILE : h.role === "gateway" ? SITE_DRAIN_FILE : undefined;
  if (file) return `if test -e ${file}; then echo drained; else echo serving; fi`;
  if (h.role === "haproxy") return `${HACTL_PATH} status`;
  return undefined;
}

/** Drain state of every maglev, gateway (site drain) and HAProxy node, asked once (expected weights and ECMP width depend on it). */
export async function drainStates(
  topo: Topology,
  runner: HostRunner,
  hosts: HostFacts[] = topo.hosts,
): Promise<Map<string, boolean>> {
  const out = new Map<string, boolean>();
  await Promise.all(
    hosts.map(async (h) => {
      const probe = drainProbe(h);
      if (!probe) return;
      const r = await runner.run(h.hostname, probe);
      out.set(h.name, isDrained(r.stdout));
    }),
  );
  return out;
}

/** What a drain probe printed. */
function isDrained(out: string): boolean {
  return out.trim() === "drained";
}

/** One command of a host's probe; its output is framed so that all of them share one run. */
export interface Probe {
  key: string;
  command: string;
  /** Drop stderr instead of merging it into the output (commands whose stdout is JSON). @default false */
  quietStderr?: boolean;
}

/** A probe's framed output and exit status. */
export interface ProbeResult {
  out: string;
  code: number;
}

const FRAME = "@@maglev-check@@";

/**
 * One shell script that runs every probe in turn and frames each one's output and exit status:
 * a host costs one SSH connection (one exec in the lab) instead of one per probe. On a busy
 * host, and in the lab's guests on two shared cores, a burst of short execs is what hurts —
 * there it starved bfdd past its 300 ms detection time. Commands run in a group, not a subshell
 * (no fork each), so a probe must not `exit`.
 */
export function probeScript(probes: Probe[]): string {
  return (
    probes
      .map(
        (p) =>
          `echo '${FRAME} ${p.key}'\n{ ${p.command}\n} ${p.quietStderr ? "2>/dev/null" : "2>&1"}\necho "${FRAME} rc $?"`,
      )
      .join("\n") + "\n"
  );
}

/** The framed output of `probeScript` → key → output and exit status. A probe that never ran is absent. */
export function parseProbes(stdout: string): Map<string, ProbeResult> {
  const out = new Map<string, ProbeResult>();
  let key: string | undefined;
  let lines: string[] = [];
  for (const raw of stdout.split("\n")) {
    const at = raw.indexOf(FRAME + " ");
    if (at < 0) {
      if (key !== undefined) lines.push(raw);
      continue;
    }
    // Output without a final newline ends on the frame's line.
    if (at > 0 && key !== undefined) lines.push(raw.slice(0, at));
    const rest = raw.slice(at + FRAME.length + 1);
    const rc = /^rc (\d+)$/.exec(rest);
    if (rc && key !== undefined) {
      out.set(key, { out: lines.join("\n"), code: Number(rc[1]) });
      key = undefined;
    } else if (!rc) {
      key = rest;
      lines = [];
    }
  }
  return out;
}

/** Everything `check` asks one host, as probes. */
function hostProbes(topo: Topology, plan: HostPlan, h: HostFacts, runner: HostRunner): Probe[] {
  const probes: Probe[] = [];
  const add = (key: string, command: string, quietStderr = false) =>
    probes.push({ key, command, quietStderr });
  const drain = drainProbe(h);
  if (drain) add("drain", drain);
  // Files: two commands for all of them — live hashes, then the apply records.
  const paths = plan.files.map((f) => shellWord(f.path)).join(" ");
  const records = plan.files.map((f) => `${APPLIED_DIR}/${fileSlug(f.path)}`).join(" ");
  add("files", `sha256sum -- ${paths} 2>/dev/null; grep -H '' ${records} 2>/dev/null; true`);
  for (const s of plan.services) add(`service ${s}`, runner.services.isActive(s));
  if (h.ingress) add("ingress link", `ip -j -s link show ${topo.interfaces.ingress}`);
  if (h.role === "gateway") {
    add("bgp", "vtysh -c 'show bgp neighbors json'", true);
    add("bfd", "vtysh -c 'show bfd peers json'", true);
    for (const vip of [...topo.vips.ipv4, ...topo.vips.ipv6])
      add(`route ${vip}`, vipRouteCommand(vip), true);
  }
  if (h.role === "maglev") {
    add("conntrack", "sysctl -n net.ipv4.vs.conntrack");
    add("exabgp sessions", "ss -Htn state established '( dport = :179 or sport = :179 )'");
    add("announced", `cat ${ANNOUNCED_FILE} 2>/dev/null; true`);
    add("ipvs", IPVS_LIST_COMMAND);
  }
  if (h.role === "haproxy")
    add(
      "haproxy stat",
      `echo 'show stat -1 4 -1' | socat stdio unix-connect:${HAPROXY_ADMIN_SOCKET}`,
    );
  return probes;
}

/** What one host answered: its probes' results, and the transport's message for any that never ran. */
export interface HostProbe {
  results: Map<string, ProbeResult>;
  /** Why a probe may be missing (host unreachable, script cut short): stderr or the exit status. */
  failure: string;
}

/** Ask one host everything at once. */
async function probeHost(
  topo: Topology,
  plan: HostPlan,
  h: HostFacts,
  runner: HostRunner,
): Promise<HostProbe> {
  const r = await runner.run(h.hostname, probeScript(hostProbes(topo, plan, h, runner)), 60000);
  return { results: parseProbes(r.stdout), failure: (r.stderr || `exit ${r.code}`).trim() };
}

/** The live file hashes and apply records from the "files" probe: path → [live, planned then, live then]. */
function parseFiles(plan: HostPlan, out: string): Map<string, string[]> {
  const bySlug = new Map(plan.files.map((f) => [`${APPLIED_DIR}/${fileSlug(f.path)}`, f.path]));
  const live = new Map<string, string[]>();
  for (const l of out.split("\n")) {
    const hash = /^([0-9a-f]{64}) [ *](.+)$/.exec(l);
    if (hash) {
      live.set(hash[2], [hash[1], "-", "-"]);
      continue;
    }
    const sep = l.indexOf(":");
    const p = sep > 0 ? bySlug.get(l.slice(0, sep)) : undefined;
    if (p && live.has(p)) {
      const [plannedAt = "-", liveAt = "-"] = l
        .slice(sep + 1)
        .trim()
        .split(/\s+/);
      live.set(p, [live.get(p)![0], plannedAt, liveAt]);
    }
  }
  return live;
}

/** A file whose live copy is not what the plan says, and how. */
export interface DriftedFile {
  path: string;
  why: "missing" | "not the planned version" | "edited on the host" | "differs";
}

/** The drifted files of one host, from its "files" probe (pure). */
export function driftedFiles(plan: HostPlan, probe: HostProbe): DriftedFile[] {
  const r = probe.results.get("files");
  if (!r) return [];
  const live = parseFiles(plan, r.out);
  const drift: DriftedFile[] = [];
  for (const f of plan.files) {
    const [now, plannedAt, liveAt] = live.get(f.path) ?? ["-"];
    const want = contentHash(f.content);
    // A variant the apply chose by an operator's marker (a drained site's frr.conf) is planned too.
    const wants = [want, ...(f.variants ?? []).map((v) => contentHash(v.content))];
    if (now === "-") drift.push({ path: f.path, why: "missing" });
    else if (f.secretKeys?.length) {
      if (plannedAt !== want) drift.push({ path: f.path, why: "not the planned version" });
      else if (liveAt !== now) drift.push({ path: f.path, why: "edited on the host" });
    } else if (!wants.includes(now)) drift.push({ path: f.path, why: "differs" });
  }
  return drift;
}

/** Turn one host's probe results into ✓/✗ rows (pure: no I/O). */
export function hostRows(
  topo: Topology,
  plan: HostPlan,
  h: HostFacts,
  probe: HostProbe,
  drained: Map<string, boolean>,
): CheckRow[] {
  const rows: CheckRow[] = [];
  const row = (check: string, ok: boolean, detail = "") =>
    rows.push({ host: h.hostname, check, ok, detail });
  // A probe that never ran reads as exit -1: its check is ✗ with the transport's message.
  const failure = probe.failure;
  const get = (key: string): ProbeResult => probe.results.get(key) ?? { out: "", code: -1 };
  const missing = (key: string) => !probe.results.has(key);

  // Files: the live hash against the plan. A file filled with secrets on the host cannot be
  // compared with its template: there the apply record says which template was applied and
  // what the file hashed to then (a hand edit changes the live hash).
  if (missing("files")) row("files match the plan", false, `no answer: ${failure}`);
  else {
    const drift = driftedFiles(plan, probe).map((d) =>
      d.why === "differs" ? d.path : `${d.path} (${d.why})`,
    );
    row(
      "files match the plan",
      drift.length === 0,
      drift.length ? `drift: ${drift.join(", ")}` : `${plan.files.length} files`,
    );
  }

  for (const s of plan.services) {
    const a = get(`service ${s}`);
    row(
      `service ${s}`,
      a.code === 0,
      a.code === 0 ? "active" : a.code < 0 ? `no answer: ${failure}` : "not active",
    );
  }

  if (h.ingress) {
    const ifname = topo.interfaces.ingress;
    const l = get("ingress link");
    try {
      const link = JSON.parse(l.out)[0];
      const want = topo.env.networks.ingress.mtu;
      row(`${ifname} MTU`, link.mtu === want, `${link.mtu} (plan ${want})`);
      const st = link.stats64 ?? link.stats;
      const errs = (st?.rx?.errors ?? 0) + (st?.tx?.errors ?? 0);
      row(
        `${ifname} errors`,
        errs === 0,
        `rx ${st?.rx?.errors ?? "?"} tx ${st?.tx?.errors ?? "?"}`,
      );
    } catch {
      row(
        `${ifname} present`,
        false,
        l.code < 0 ? `no answer: ${failure}` : l.out.trim() || "no such interface",
      );
    }
  }

  if (h.role === "gateway") {
    row(
      "site drain",
      true,
      drained.get(h.name)
        ? `site ${h.site ?? "?"} drained (${SITE_DRAIN_FILE} exists)`
        : "not drained",
    );
    let neighbors: Record<string, { bgpState?: string }> = {};
    try {
      neighbors = JSON.parse(get("bgp").out);
    } catch {
      /* reported below as not established */
    }
    const expect: [string, string][] = [];
    for (const u of topo.env.bgp.upstream) {
      expect.push([u.ipv4, u.name]);
      if (u.ipv6) expect.push([u.ipv6, u.name]);
    }
    for (const m of topo.maglevs) expect.push([m.mgmt.ipv4, m.name]);
    for (const [addr, name] of expect) {
      const st = neighbors[addr]?.bgpState ?? "absent";
      row(`BGP ${addr} (${name})`, st === "Established", st);
    }
    let peers: { peer: string; status: string }[] = [];
    try {
      peers = JSON.parse(get("bfd").out);
    } catch {
      /* none */
    }
    for (const m of topo.maglevs) {
      const p = peers.find((x) => x.peer === m.mgmt.ipv4);
      row(`BFD ${m.mgmt.ipv4} (${m.name})`, p?.status === "up", p?.status ?? "absent");
    }
    const want = topo.maglevs.filter((m) => !drained.get(m.name)).length;
    const drainedNote = topo.maglevs
      .filter((m) => drained.get(m.name))
      .map((m) => `${m.name} drained`);
    for (const vip of [...topo.vips.ipv4, ...topo.vips.ipv6]) {
      const hops = nextHops(get(`route ${vip}`).out);
      row(
        `ECMP ${vip}`,
        hops.length === want,
        `${hops.length} next-hops (want ${want}${drainedNote.length ? `; ${drainedNote.join(", ")}` : ""})`,
      );
    }
  }

  if (h.role === "maglev") {
    row(
      "announcements",
      true,
      drained.get(h.name) ? `drained (${DRAIN_FILE} exists)` : "not drained",
    );
    const ct = get("conntrack").out.trim();
    row("IPVS conntrack off", ct === "0", `net.ipv4.vs.conntrack=${ct || "?"}`);
    const ex = get("exabgp sessions").out;
    for (const gw of topo.gateways)
      row(
        `ExaBGP → ${gw.name}`,
        ex.includes(`${gw.mgmt.ipv4}:`),
        ex.includes(`${gw.mgmt.ipv4}:`) ? "established" : "no session",
      );
    const announced = get("announced").out.trim().split("\n").filter(Boolean);
    const vipCount = topo.vips.ipv4.length + topo.vips.ipv6.length;
    if (!drained.get(h.name))
      row("VIPs announced", announced.length === vipCount, `${announced.length} of ${vipCount}`);
    const ipvs = parseIpvs(get("ipvs").out);
    for (const s of ipvsServices(topo)) {
      const svc = ipvs.get(ipvsServiceKey(s.family, s.fwmark.fwmark));
      if (!svc) {
        row(`IPVS fwmark ${s.fwmark.fwmark} ${s.family}`, false, "service missing");
        continue;
      }
      const parts: string[] = [];
      let ok = true;
      for (const rs of s.realServers) {
        const e = svc.get(rs.address);
        const isDrained = drained.get(rs.host.name) === true;
        if (!e) {
          ok = false;
          parts.push(`${rs.host.name} missing`);
        } else {
          if (e.weight === 0 && !isDrained) ok = false;
          parts.push(`${rs.host.name} w${e.weight}${isDrained ? " (drained)" : ""}`);
        }
      }
      row(`IPVS fwmark ${s.fwmark.fwmark} ${s.family}`, ok, parts.join(", "));
    }
  }

  if (h.role === "haproxy") {
    row("drain", true, drained.get(h.name) ? "drained (health API answers 503)" : "serving");
    const st = get("haproxy stat");
    const lines = st.out.split("\n").filter((l) => l && !l.startsWith("#"));
    if (st.code !== 0 || lines.length === 0)
      row(
        "HAProxy backends",
        false,
        (st.code < 0 ? `no answer: ${failure}` : st.out.trim()) ||
          "no answer from the stats socket",
      );
    else
      for (const l of lines) {
        const f = l.split(",");
        if (f[0] === HAPROXY_DRAIN_BACKEND) continue;
        row(`HAProxy ${f[0]}/${f[1]}`, f[17] === "UP" || f[17]?.startsWith("UP"), f[17] ?? "?");
      }
  }
  return rows;
}

/**
 * Check every host (or only those named): one probe run per host, all hosts at once, then the
 * rows. The gateways' expected ECMP width and the maglevs' expected weights depend on which
 * nodes are drained, so hosts outside `only` are still asked for their drain state.
 */
export async function checkEnvironment(
  topo: Topology,
  plans: HostPlan[],
  runner: HostRunner,
  only?: string[],
): Promise<CheckRow[]> {
  return (await checkHosts(topo, plans, runner, { hosts: only })).rows;
}

/** Which hosts to check and whether to fetch the drifted files' diffs. */
export interface CheckOptions {
  /** Only these hosts (short or full names). @default every host */
  hosts?: string[];
  /** Only hosts of these tiers. @default every tier */
  roles?: string[];
  /** Fetch every drifted file (secrets masked on the host) and diff it against the plan. @default false */
  diff?: boolean;
}

/** What `check` found: the rows, and with `diff` one unified diff per drifted file. */
export interface CheckReport {
  rows: CheckRow[];
  diffs: FileDiff[];
}

/** The hosts `check` looks at: named ones and tiers, both when both are given. */
export function selectHosts(
  topo: Topology,
  opts: Pick<CheckOptions, "hosts" | "roles">,
): HostFacts[] {
  const { hosts: only, roles } = opts;
  return topo.hosts.filter(
    (h) =>
      (!only?.length || only.includes(h.name) || only.includes(h.hostname)) &&
      (!roles?.length || roles.includes(h.role)),
  );
}

export async function checkHosts(
  topo: Topology,
  plans: HostPlan[],
  runner: HostRunner,
  opts: CheckOptions = {},
): Promise<CheckReport> {
  const byName = new Map(plans.map((p) => [p.name, p]));
  const hosts = selectHosts(topo, opts);
  const probed = await Promise.all(
    hosts.map((h) => probeHost(topo, byName.get(h.name)!, h, runner)),
  );
  const drained = new Map<string, boolean>();
  hosts.forEach((h, i) => {
    const d = probed[i].results.get("drain");
    if (d) drained.set(h.name, isDrained(d.out));
  });
  const others = topo.hosts.filter((h) => !hosts.includes(h) && drainProbe(h));
  if (others.length)
    for (const [name, d] of await drainStates(topo, runner, others)) drained.set(name, d);
  const rows = hosts.flatMap((h, i) => hostRows(topo, byName.get(h.name)!, h, probed[i], drained));
  const diffs = opts.diff
    ? (
        await Promise.all(
          hosts.map((h, i) =>
            hostDiffs(byName.get(h.name)!, h, driftedFiles(byName.get(h.name)!, probed[i]), runner),
          ),
        )
      ).flat()
    : [];
  return { rows, diffs };
}

/** One drifted file as a unified diff (`---` the plan, `+++` the host), secrets as their placeholders. */
export interface FileDiff {
  host: string;
  path: string;
  why: DriftedFile["why"];
  /** The unified diff; empty when it could not be had (see `note`). */
  diff: string;
  /** Why there is no diff, or what it was compared with (a variant). */
  note?: string;
}

/** The host's own apply program, from its committed generation: it masks secrets with the apply's own escaping. */
export const HOST_MASKER = `${CURRENT_LINK}/maglev-apply`;
const MASK_FRAME = "@@maglev-mask@@";
const VARIANT_FRAME = "@@maglev-variant@@";
/** A diff longer than this is cut (a file replaced wholesale says enough in its first lines). */
export const DIFF_MAX_LINES = 400;

/**
 * One run on the host: every drifted file through the host's apply program in `--mask` mode
 * (secret values never leave the host; a host whose program predates it prints nothing and then
 * only files without secrets are read with `cat`), and the marker of every file with variants.
 */
export function diffScript(plan: HostPlan, drifted: DriftedFile[]): string {
  const files = drifted
    .filter((d) => d.why !== "missing")
    .map((d) => plan.files.find((f) => f.path === d.path)!);
  const plain = files.filter((f) => !f.secretKeys?.length);
  const L = [
    `if ! /usr/bin/python3 -I -S ${HOST_MASKER} --mask ${files.map((f) => shellWord(f.path)).join(" ")} 2>/dev/null; then`,
    `  echo '${MASK_FRAME} failed -'`,
    ...plain.map(
      (f) =>
        `  echo ${shellWord(`${MASK_FRAME} cat ${f.path}`)}; cat -- ${shellWord(f.path)} 2>/dev/null; echo`,
    ),
    "fi",
  ];
  for (const f of files)
    (f.variants ?? []).forEach((v, i) =>
      L.push(
        `if grep -qF -- ${shellWord(v.when.contains)} ${shellWord(v.when.path)} 2>/dev/null; then echo ${shellWord(`${VARIANT_FRAME} ${i} ${f.path}`)}; fi`,
      ),
    );
  return L.join("\n") + "\n";
}

/** The frames of a diff script's output: path → live text (masked), and the variant chosen per path. */
export function parseDiffOutput(out: string): {
  texts: Map<string, string>;
  variants: Map<string, number>;
} {
  const texts = new Map<string, string>();
  const variants = new Map<string, number>();
  const heads = [...out.matchAll(/^@@maglev-(mask|variant)@@ (\S+) (.*)$/gm)];
  heads.forEach((m, i) => {
    if (m[1] === "variant") {
      if (!variants.has(m[3])) variants.set(m[3], Number(m[2]));
      return;
    }
    const start = m.index! + m[0].length + 1;
    const end = i + 1 < heads.length ? heads[i + 1].index! : out.length;
    const body = out.slice(start, Math.max(start, end));
    if (m[2] === "text") texts.set(m[3], body);
    else if (m[2] === "noeol" || m[2] === "cat") texts.set(m[3], body.slice(0, -1));
  });
  return { texts, variants };
}

/** `diff -u` (diffutils, on every Debian and macOS machine) of two texts, labelled. */
export function unifiedDiff(planned: string, live: string, path: string): string {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "maglev-diff-"));
  try {
    const a = nodePath.join(dir, "planned");
    const b = nodePath.join(dir, "live");
    fs.writeFileSync(a, planned);
    fs.writeFileSync(b, live);
    const r = spawnSync("diff", ["-u", "--label", `plan${path}`, "--label", `host${path}`, a, b], {
      encoding: "utf8",
    });
    if (r.status !== 0 && r.status !== 1)
      throw new Error(`diff failed: ${(r.stderr || r.error?.message || "").trim()}`);
    const lines = r.stdout.split("\n");
    return lines.length > DIFF_MAX_LINES + 1
      ? lines.slice(0, DIFF_MAX_LINES).join("\n") +
          `\n… (${lines.length - DIFF_MAX_LINES} more lines)\n`
      : r.stdout;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The diffs of one host's drifted files (one run on the host). */
async function hostDiffs(
  plan: HostPlan,
  h: HostFacts,
  drifted: DriftedFile[],
  runner: HostRunner,
): Promise<FileDiff[]> {
  if (!drifted.length) return [];
  const present = drifted.filter((d) => d.why !== "missing");
  const { texts, variants } = present.length
    ? parseDiffOutput((await runner.run(h.hostname, diffScript(plan, drifted), 60000)).stdout)
    : { texts: new Map(), variants: new Map() };
  return drifted.map((d) => {
    const f = plan.files.find((x) => x.path === d.path)!;
    const base = { host: h.hostname, path: d.path, why: d.why };
    const vi = variants.get(d.path);
    const planned = vi !== undefined && f.variants?.[vi] ? f.variants[vi].content : f.content;
    const note =
      vi !== undefined && f.variants?.[vi]
        ? `compared with the variant for ${f.variants[vi].when.path}`
        : undefined;
    if (d.why === "missing")
      return {
        ...base,
        diff: unifiedDiff(planned, "", d.path).replace(
          /^\+\+\+ .*$/m,
          `+++ host${d.path} (missing)`,
        ),
        ...(note ? { note } : {}),
      };
    const live = texts.get(d.path);
    if (live === undefined)
      return {
        ...base,
        diff: "",
        note: f.secretKeys?.length
          ? "not shown: the host's apply program cannot mask its secrets (re-apply the host to update it)"
          : "could not be read on the host",
      };
    const diff = unifiedDiff(planned, live, d.path);
    return {
      ...base,
      diff,
      ...(note
        ? { note }
        : !diff
          ? { note: "the masked text equals the plan: only a secret value differs" }
          : {}),
    };
  });
}

/** The diffs as text, after the table. */
export function formatDiffs(diffs: FileDiff[]): string {
  return diffs
    .map((d) => `# ${d.host}: ${d.path} (${d.why})${d.note ? ` — ${d.note}` : ""}\n${d.diff}`)
    .join("\n");
}

export function formatTable(rows: CheckRow[]): string {
  const hw = Math.max(4, ...rows.map((r) => r.host.length));
  const cw = Math.max(5, ...rows.map((r) => r.check.length));
  const lines = rows.map(
    (r) => `${r.ok ? "✓" : "✗"}  ${r.host.padEnd(hw)}  ${r.check.padEnd(cw)}  ${r.detail}`,
  );
  const failed = rows.filter((r) => !r.ok).length;
  return [...lines, "", `${rows.length - failed} passed, ${failed} failed`].join("\n") + "\n";
}
