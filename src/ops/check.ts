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
import { contentSha256 as contentHash, APPLIED_DIR, fileSlug } from "../apply/steps";
import { ipvsServices, DRAIN_FILE, ANNOUNCED_FILE } from "../tiers/maglev";
import { HACTL_PATH, HAPROXY_ADMIN_SOCKET, HAPROXY_DRAIN_BACKEND } from "../tiers/haproxy";
import { HostRunner } from "./runner";

export interface CheckRow {
  host: string;
  check: string;
  ok: boolean;
  detail: string;
}

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `ipvsadm -Ln` parsed: service key (`4:100080`) → real server address → {weight, active}. */
export function parseIpvs(text: string): Map<string, Map<string, { weight: number; active: number }>> {
  const out = new Map<string, Map<string, { weight: number; active: number }>>();
  let cur: Map<string, { weight: number; active: number }> | undefined;
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] === "FWM") {
      cur = new Map();
      out.set(`${f[2] === "IPv6" ? 6 : 4}:${f[1]}`, cur);
    } else if (f[0] === "TCP" || f[0] === "UDP") {
      cur = undefined;
    } else if (f[0] === "->" && cur && f[2] === "Route") {
      // "[2a0a::21]:0" or "10.1.10.33:0"
      const addr = f[1].replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
      cur.set(addr, { weight: Number(f[3]), active: Number(f[4]) });
    }
  }
  return out;
}

/** Next hops of one route from `ip -j route show <prefix>`. */
export function nextHops(json: string): string[] {
  try {
    const routes = JSON.parse(json || "[]") as { gateway?: string; nexthops?: { gateway: string }[] }[];
    return routes.flatMap((r) => (r.nexthops ? r.nexthops.map((n) => n.gateway) : r.gateway ? [r.gateway] : []));
  } catch {
    return [];
  }
}

/** Drain state of every maglev and HAProxy node, asked once (expected weights and ECMP width depend on it). */
export async function drainStates(topo: Topology, runner: HostRunner): Promise<Map<string, boolean>> {
  const out = new Map<string, boolean>();
  await Promise.all(
    topo.hosts.map(async (h) => {
      if (h.role === "maglev") {
        const r = await runner.run(h.hostname, `test -e ${DRAIN_FILE}`);
        out.set(h.name, r.code === 0);
      } else if (h.role === "haproxy") {
        const r = await runner.run(h.hostname, `${HACTL_PATH} status`);
        out.set(h.name, r.stdout.trim() === "drained");
      }
    }),
  );
  return out;
}

async function hostChecks(topo: Topology, plan: HostPlan, h: HostFacts, runner: HostRunner, drained: Map<string, boolean>): Promise<CheckRow[]> {
  const rows: CheckRow[] = [];
  const row = (check: string, ok: boolean, detail = "") => rows.push({ host: h.hostname, check, ok, detail });
  const run = (script: string) => runner.run(h.hostname, script, 20000);

  // Files: the live hash against the plan. A file filled with secrets on the host cannot be
  // compared with its template: there the apply record says which template was applied and
  // what the file hashed to then (a hand edit changes the live hash).
  const r = await run(
    plan.files
      .map((f) => `x=$( (sha256sum < ${q(f.path)}) 2>/dev/null | cut -d' ' -f1); y=$(cat ${APPLIED_DIR}/${fileSlug(f.path)} 2>/dev/null); echo "F ${f.path} \${x:--} \${y:-- -}"`)
      .join("; "),
  );
  const live = new Map<string, string[]>();
  for (const l of r.stdout.split("\n")) {
    const [tag, p, ...rest] = l.trim().split(/\s+/);
    if (tag === "F") live.set(p, rest);
  }
  const drift: string[] = [];
  for (const f of plan.files) {
    const [now, plannedAt, liveAt] = live.get(f.path) ?? ["-"];
    const want = contentHash(f.content);
    if (now === "-") {
      drift.push(`${f.path} (missing)`);
      continue;
    }
    if (f.secretKeys?.length) {
      if (plannedAt !== want) drift.push(`${f.path} (not the planned version)`);
      else if (liveAt !== now) drift.push(`${f.path} (edited on the host)`);
    } else if (now !== want) drift.push(f.path);
  }
  row("files match the plan", drift.length === 0, drift.length ? `drift: ${drift.join(", ")}` : `${plan.files.length} files`);

  for (const s of plan.services) {
    const a = await run(runner.services.isActive(s));
    row(`service ${s}`, a.code === 0, a.code === 0 ? "active" : "not active");
  }

  if (h.ingress) {
    const ifname = topo.env.networks.ingress.interface ?? "ingress0";
    const l = await run(`ip -j -s link show ${ifname}`);
    try {
      const link = JSON.parse(l.stdout)[0];
      const want = topo.env.networks.ingress.mtu;
      row(`${ifname} MTU`, link.mtu === want, `${link.mtu} (plan ${want})`);
      const st = link.stats64 ?? link.stats;
      const errs = (st?.rx?.errors ?? 0) + (st?.tx?.errors ?? 0);
      row(`${ifname} errors`, errs === 0, `rx ${st?.rx?.errors ?? "?"} tx ${st?.tx?.errors ?? "?"}`);
    } catch {
      row(`${ifname} present`, false, (l.stderr || l.stdout).trim() || "no such interface");
    }
  }

  if (h.role === "gateway") {
    const nb = await run("vtysh -c 'show bgp neighbors json'");
    let neighbors: Record<string, { bgpState?: string }> = {};
    try {
      neighbors = JSON.parse(nb.stdout);
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
    const bfd = await run("vtysh -c 'show bfd peers json'");
    let peers: { peer: string; status: string }[] = [];
    try {
      peers = JSON.parse(bfd.stdout);
    } catch {
      /* none */
    }
    for (const m of topo.maglevs) {
      const p = peers.find((x) => x.peer === m.mgmt.ipv4);
      row(`BFD ${m.mgmt.ipv4} (${m.name})`, p?.status === "up", p?.status ?? "absent");
    }
    const announcing = topo.maglevs.filter((m) => !drained.get(m.name));
    const want = announcing.length;
    for (const vip of [...topo.vips.ipv4, ...topo.vips.ipv6]) {
      const six = vip.includes(":");
      const rt = await run(`ip ${six ? "-6 " : ""}-j route show ${vip}/${six ? 128 : 32}`);
      const hops = nextHops(rt.stdout);
      const drainedNote = topo.maglevs.filter((m) => drained.get(m.name)).map((m) => `${m.name} drained`);
      row(`ECMP ${vip}`, hops.length === want, `${hops.length} next-hops (want ${want}${drainedNote.length ? `; ${drainedNote.join(", ")}` : ""})`);
    }
  }

  if (h.role === "maglev") {
    row("announcements", true, drained.get(h.name) ? `drained (${DRAIN_FILE} exists)` : "not drained");
    const ct = await run("sysctl -n net.ipv4.vs.conntrack");
    row("IPVS conntrack off", ct.stdout.trim() === "0", `net.ipv4.vs.conntrack=${ct.stdout.trim() || "?"}`);
    const ex = await run("ss -Htn state established '( dport = :179 or sport = :179 )'");
    for (const gw of topo.gateways) row(`ExaBGP → ${gw.name}`, ex.stdout.includes(`${gw.mgmt.ipv4}:`), ex.stdout.includes(`${gw.mgmt.ipv4}:`) ? "established" : "no session");
    const ann = await run(`cat ${ANNOUNCED_FILE} 2>/dev/null`);
    const announced = ann.stdout.trim().split("\n").filter(Boolean);
    if (!drained.get(h.name)) row("VIPs announced", announced.length === topo.vips.ipv4.length + topo.vips.ipv6.length, `${announced.length} of ${topo.vips.ipv4.length + topo.vips.ipv6.length}`);
    const ipvs = parseIpvs((await run("ipvsadm -Ln")).stdout);
    for (const s of ipvsServices(topo)) {
      const key = `${s.family === "ipv6" ? 6 : 4}:${s.fwmark.fwmark}`;
      const svc = ipvs.get(key);
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
    const st = await run(`echo 'show stat -1 4 -1' | socat stdio unix-connect:${HAPROXY_ADMIN_SOCKET}`);
    const lines = st.stdout.split("\n").filter((l) => l && !l.startsWith("#"));
    if (st.code !== 0 || lines.length === 0) row("HAProxy backends", false, (st.stderr || "no answer from the stats socket").trim());
    for (const l of lines) {
      const f = l.split(",");
      if (f[0] === HAPROXY_DRAIN_BACKEND) continue;
      row(`HAProxy ${f[0]}/${f[1]}`, f[17] === "UP" || f[17]?.startsWith("UP"), f[17] ?? "?");
    }
  }
  return rows;
}

export async function checkEnvironment(topo: Topology, plans: HostPlan[], runner: HostRunner, only?: string[]): Promise<CheckRow[]> {
  const drained = await drainStates(topo, runner);
  const byName = new Map(plans.map((p) => [p.name, p]));
  const hosts = topo.hosts.filter((h) => !only?.length || only.includes(h.name) || only.includes(h.hostname));
  const all = await Promise.all(hosts.map((h) => hostChecks(topo, byName.get(h.name)!, h, runner, drained)));
  return all.flat();
}

export function formatTable(rows: CheckRow[]): string {
  const hw = Math.max(4, ...rows.map((r) => r.host.length));
  const cw = Math.max(5, ...rows.map((r) => r.check.length));
  const lines = rows.map((r) => `${r.ok ? "✓" : "✗"}  ${r.host.padEnd(hw)}  ${r.check.padEnd(cw)}  ${r.detail}`);
  const failed = rows.filter((r) => !r.ok).length;
  return [...lines, "", `${rows.length - failed} passed, ${failed} failed`].join("\n") + "\n";
}
