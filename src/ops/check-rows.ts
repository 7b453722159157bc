/**
 * What `check` asks one host (its probes, by tier) and how it judges the answers: one ✓/✗ row
 * per check — file drift against the plan, services, BGP and BFD, ECMP width per VIP, IPVS
 * services and weights, HAProxy backends, conntrack, ingress MTU and errors. The judging is pure.
 */
import { Topology, HostFacts } from "../topology";
import { HostPlan } from "../plan/types";
import { contentSha256 as contentHash, APPLIED_DIR, fileSlug } from "../apply/steps";
import { shellWord } from "../escape";
import { ipvsServices, DRAIN_FILE, ANNOUNCED_FILE } from "../tiers/maglev";
import { HACTL_PATH, HAPROXY_ADMIN_SOCKET, HAPROXY_DRAIN_BACKEND } from "../tiers/haproxy";
import { SITE_DRAIN_FILE } from "../tiers/gateway";
import { HostRunner } from "./runner";
import { IPVS_LIST_COMMAND, ipvsServiceKey, parseIpvs } from "../daemons/keepalived/probes";
import { nextHops, vipRouteCommand } from "../daemons/frr/probes";
import { parseProbes, Probe, ProbeResult, probeScript } from "./probe-frames";

export interface CheckRow {
  host: string;
  check: string;
  ok: boolean;
  detail: string;
}

/** The drain state probe of a maglev (its drain file), a gateway (its site's drain file) or an HAProxy node (`hactl status`). */
export function drainProbe(h: HostFacts): string | undefined {
  const file =
    h.tier === "maglev" ? DRAIN_FILE : h.tier === "gateway" ? SITE_DRAIN_FILE : undefined;
  if (file) return `if test -e ${file}; then echo drained; else echo serving; fi`;
  if (h.tier === "haproxy") return `${HACTL_PATH} status`;
  return undefined;
}

/** What a drain probe printed. */
export function isDrained(out: string): boolean {
  return out.trim() === "drained";
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
  if (h.tier === "gateway") {
    add("bgp", "vtysh -c 'show bgp neighbors json'", true);
    add("bfd", "vtysh -c 'show bfd peers json'", true);
    for (const vip of [...topo.vips.ipv4, ...topo.vips.ipv6])
      add(`route ${vip}`, vipRouteCommand(vip), true);
  }
  if (h.tier === "maglev") {
    add("conntrack", "sysctl -n net.ipv4.vs.conntrack");
    add("exabgp sessions", "ss -Htn state established '( dport = :179 or sport = :179 )'");
    add("announced", `cat ${ANNOUNCED_FILE} 2>/dev/null; true`);
    add("ipvs", IPVS_LIST_COMMAND);
  }
  if (h.tier === "haproxy")
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
export async function probeHost(
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

  if (h.tier === "gateway") {
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

  if (h.tier === "maglev") {
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

  if (h.tier === "haproxy") {
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
