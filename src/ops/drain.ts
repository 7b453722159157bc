/**
 * Drain and undrain, per host and per site. Written against `HostRunner` (SSH or lab).
 *
 *   maglev   — its drain file makes the announce process withdraw every VIP: the routes leave
 *              both gateways, traffic moves to the other maglevs. Complete when no gateway has a
 *              next hop via this maglev.
 *   haproxy  — the health API answers 503 (hactl drain), so every maglev's keepalived sets the
 *              node to weight 0: no new connections, existing ones finish. Complete when every
 *              maglev shows weight 0 and the node's VIP frontends hold no client connection (hactl sessions).
 *   site     — the site's gateways announce the VIPs less preferred (to iBGP upstreams
 *              LOCAL_PREF 10, to eBGP upstreams a longer AS path than any site's) or not at
 *              all (--withdraw), kept in a file on each gateway that the apply re-applies
 *              after its FRR reload; undrain removes it and reloads the rendered frr.conf.
 *
 * The site drain is in ./drain-site.ts (re-exported here).
 *
 * Refuses to drain the last announcing maglev or the last serving member of a group unless forced.
 */
import * as path from "path";
import { Topology, HostFacts } from "../topology";
import { HostPlan } from "../plan/types";
import { APPLY_DRAIN_MARK, DRAIN_FILE, ipvsServices } from "../tiers/maglev";
import {
  HAPROXY_DRAIN_COMMAND,
  HAPROXY_SESSIONS_COMMAND,
  HAPROXY_UNDRAIN_COMMAND,
} from "../tiers/haproxy";
import { HostRunner, waitFor } from "./runner";
import { drainStates } from "./check";
import { IPVS_LIST_COMMAND, ipvsServiceKey, parseIpvs } from "../daemons/keepalived/probes";
import { parseVipRoutes, vipRoutesScript } from "../daemons/frr/probes";

export {
  APPLY_LOCK,
  DRAIN_SITE_EXTRA_PREPEND,
  DRAIN_SITE_LOCAL_PREF,
  drainedSitePolicy,
  drainSite,
  drainSiteConfig,
  renderedSitePolicy,
  siteDrainCommand,
  siteDrainFile,
  undrainSite,
  type SitePolicy,
} from "./drain-site";

/** Where the drain file lives: synced after every change of it. */
const DRAIN_DIR = path.posix.dirname(DRAIN_FILE);

export interface DrainOptions {
  force?: boolean;
  /** How long to wait for the drain to complete. @default 60 s */
  timeoutMs?: number;
  log?: (line: string) => void;
}

export interface DrainResult {
  host: string;
  action: string;
  complete: boolean;
  detail: string;
  ms: number;
  /** HAProxy node: when every maglev had set it to weight 0 (before its connections finished). */
  weightZeroMs?: number;
}

function find(topo: Topology, name: string): HostFacts {
  const h = topo.hosts.find((x) => x.name === name || x.hostname === name);
  if (!h)
    throw new Error(
      `no host "${name}" in stack ${topo.env.name} (hosts: ${topo.hosts.map((x) => x.name).join(", ")})`,
    );
  return h;
}

/** Next hops via `maglev` on every gateway, for every VIP (one round trip per gateway). */
async function routesVia(topo: Topology, runner: HostRunner, maglev: HostFacts): Promise<string[]> {
  const vips = [...topo.vips.ipv4, ...topo.vips.ipv6];
  const per = await Promise.all(
    topo.gateways.map(async (gw) => {
      const r = await runner.run(gw.hostname, vipRoutesScript(vips));
      const left: string[] = [];
      for (const [vip, hops] of parseVipRoutes(r.stdout)) {
        const nh = vip.includes(":") ? maglev.ingress?.ipv6 : maglev.ingress?.ipv4;
        if (nh && hops.includes(nh)) left.push(`${gw.name}:${vip}`);
      }
      return left;
    }),
  );
  return per.flat();
}

/** `member`'s IPVS entries on one maglev: one weight per service (NaN: entry missing). */
interface MemberOnMaglev {
  maglev: string;
  weights: { service: string; weight: number }[];
  active: number;
}

/** Weight and active connections of `member` on every maglev, per maglev and service. */
async function memberOnMaglevs(
  topo: Topology,
  runner: HostRunner,
  member: HostFacts,
): Promise<{ weight: number; active: number; per: MemberOnMaglev[] }> {
  const services = ipvsServices(topo).filter((s) =>
    s.realServers.some((r) => r.host.name === member.name),
  );
  const per = await Promise.all(
    topo.maglevs.map(async (m): Promise<MemberOnMaglev> => {
      const ipvs = parseIpvs((await runner.run(m.hostname, IPVS_LIST_COMMAND)).stdout);
      let active = 0;
      const weights = services.map((s) => {
        const rs = s.realServers.find((r) => r.host.name === member.name)!;
        const e = ipvs.get(ipvsServiceKey(s.family, s.fwmark.fwmark))?.get(rs.address);
        active += e?.active ?? 0;
        return { service: `fwmark ${s.fwmark.fwmark} ${s.family}`, weight: e ? e.weight : NaN };
      });
      return { maglev: m.name, weights, active };
    }),
  );
  const sum = (f: (x: MemberOnMaglev) => number) => per.reduce((a, x) => a + f(x), 0);
  return {
    weight: sum((x) => x.weights.reduce((a, w) => a + (w.weight || 0), 0)),
    active: sum((x) => x.active),
    per,
  };
}

/**
 * Where `member` has no weight yet: `maglev: service w0|missing`, one per entry.
 *
 * An undrain is complete only when every maglev gives the member weight again, not the first
 * one: each maglev's keepalived checks on its own clock, so for up to one check interval the
 * maglevs' Maglev tables differ. A flow moved between maglevs in that window (the next host's
 * drain moves half of them) lands on the other member, which answers it with a reset (lab,
 * 2026-12-02: 1 keep-alive connection reset in the maglev drain right after an HAProxy undrain).
 */
function withoutWeight(per: MemberOnMaglev[]): string[] {
  return per.flatMap((m) =>
    m.weights
      .filter((w) => !(w.weight > 0))
      .map((w) => `${m.maglev}: ${w.service} ${Number.isNaN(w.weight) ? "missing" : "w0"}`),
  );
}

/**
 * Where `maglev`'s IPVS weights differ from another maglev's: `service address: maglev02 w0,
 * maglev01 w1`, one per real server (empty: the same everywhere).
 *
 * Maglevs keep no shared state: a flow survives a move between them only because both pick the
 * same real server, which holds only while their weights agree. After a reboot keepalived's
 * checkers start failed (`alpha`) and pass one by one; undrained in that window, the gateways'
 * rehash moves flows onto a table without some members and those flows get a reset (lab,
 * 2026-12-02: 1 of ~80,000 requests, twice, in the maglev turns of `maintain --all`).
 */
async function tableDiffers(
  topo: Topology,
  runner: HostRunner,
  maglev: HostFacts,
): Promise<string[]> {
  // Only maglevs that carry flows count: announcing (not drained) and answering.
  const others = topo.maglevs.filter((m) => m.name !== maglev.name);
  const drained = await drainStates(topo, runner, others);
  const tables = new Map<string, ReturnType<typeof parseIpvs>>();
  await Promise.all(
    [maglev, ...others.filter((m) => !drained.get(m.name))].map(async (m) => {
      const r = await runner.run(m.hostname, IPVS_LIST_COMMAND);
      if (r.code === 0 || m === maglev) tables.set(m.name, parseIpvs(r.stdout));
    }),
  );
  const compared = others.filter((m) => tables.has(m.name));
  const out: string[] = [];
  const w = (m: string, key: string, addr: string) => {
    const e = tables.get(m)?.get(key)?.get(addr);
    return e ? `w${e.weight}` : "missing";
  };
  for (const s of ipvsServices(topo)) {
    const key = ipvsServiceKey(s.family, s.fwmark.fwmark);
    for (const rs of s.realServers) {
      const mine = w(maglev.name, key, rs.address);
      const other = compared
        .map((m) => `${m.name} ${w(m.name, key, rs.address)}`)
        .filter((x) => !x.endsWith(` ${mine}`));
      if (other.length)
        out.push(
          `fwmark ${s.fwmark.fwmark} ${s.family} ${rs.address}: ${maglev.name} ${mine}, ${other.join(", ")}`,
        );
    }
  }
  return out;
}

export async function drainHost(
  topo: Topology,
  plans: HostPlan[],
  runner: HostRunner,
  name: string,
  opts: DrainOptions = {},
): Promise<DrainResult> {
  const h = find(topo, name);
  // Refuse what cannot be drained before touching any host.
  if (h.tier !== "maglev" && h.tier !== "haproxy")
    throw new Error(`drain of a ${h.tier} is not supported (maglev and haproxy nodes are)`);
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? 60000;
  const drained = await drainStates(topo, runner);
  if (h.tier === "maglev") {
    const others = topo.maglevs.filter((m) => m.name !== h.name && !drained.get(m.name));
    if (others.length === 0 && !opts.force)
      throw new Error(
        `${h.name} is the last announcing maglev: draining it takes every VIP offline (use --force)`,
      );
    // An operator's drain: the file alone (no apply mark), so a later apply keeps it drained.
    const r = await runner.run(
      h.hostname,
      // `sync <dir>`: the drain is on disk before we rely on it (a power cut right after must
      // not boot the host undrained; the undrain below the same way round).
      `install -d ${DRAIN_DIR} && touch ${DRAIN_FILE} && sync ${DRAIN_DIR}`,
      timeoutMs,
    );
    if (r.code !== 0)
      throw new Error(`drain of ${h.name} failed: ${(r.stderr || r.stdout).trim()}`);
    const w = await waitFor(timeoutMs, async () => {
      const left = await routesVia(topo, runner, h);
      return {
        done: left.length === 0,
        detail: left.length ? `still routed: ${left.join(", ")}` : "routes gone from every gateway",
      };
    });
    return {
      host: h.hostname,
      action: "drain",
      complete: w.done,
      detail: w.done ? w.detail : `timed out after ${timeoutMs} ms: ${w.detail}`,
      ms: Date.now() - t0,
    };
  }
  if (h.tier === "haproxy") {
    for (const gname of h.groups) {
      const g = topo.groups.get(gname)!;
      const serving = g.members.filter((m) => m.name !== h.name && !drained.get(m.name));
      if (serving.length === 0 && !opts.force)
        throw new Error(`${h.name} is the last serving member of group ${gname} (use --force)`);
    }
    const r = await runner.run(h.hostname, HAPROXY_DRAIN_COMMAND);
    if (r.code !== 0)
      throw new Error(`drain of ${h.name} failed: ${(r.stderr || r.stdout).trim()}`);
    // Two phases: no new connections (weight 0 everywhere), then the existing ones finish.
    const w0 = await waitFor(timeoutMs, async () => {
      const s = await memberOnMaglevs(topo, runner, h);
      return { done: s.weight === 0, detail: `weight ${s.weight} (summed over the maglevs)` };
    });
    if (!w0.done)
      return {
        host: h.hostname,
        action: "drain",
        complete: false,
        detail: `timed out after ${timeoutMs} ms: ${w0.detail}`,
        ms: Date.now() - t0,
      };
    const weightZeroMs = Date.now() - t0;
    // The node's own count of the client connections it holds is the measure: an IPVS entry
    // of a flow that an ECMP change moved to the other maglev stays "active" on the first one
    // until its timeout (15 min), long after the connection ended. A host whose hactl has no
    // `sessions` yet (before its first apply of this version) is judged by IPVS as before.
    const w = await waitFor(Math.max(0, timeoutMs - weightZeroMs), async () => {
      const r = await runner.run(h.hostname, HAPROXY_SESSIONS_COMMAND);
      const sessions = r.code === 0 && /^\d+$/.test(r.stdout.trim()) ? Number(r.stdout) : NaN;
      if (!Number.isNaN(sessions))
        return {
          done: sessions === 0,
          detail: `${sessions} client connections on its VIP frontends`,
        };
      const s = await memberOnMaglevs(topo, runner, h);
      return {
        done: s.active === 0,
        detail: `${s.active} active connections (summed over the maglevs)`,
      };
    });
    return {
      host: h.hostname,
      action: "drain",
      complete: w.done,
      detail: w.done
        ? `weight 0 on every maglev after ${weightZeroMs} ms, no client connection left`
        : `weight 0 on every maglev after ${weightZeroMs} ms; timed out after ${timeoutMs} ms waiting for ${w.detail} to finish`,
      ms: Date.now() - t0,
      weightZeroMs,
    };
  }
  throw new Error(`drain of a ${h.tier} is not supported (maglev and haproxy nodes are)`);
}

export async function undrainHost(
  topo: Topology,
  plans: HostPlan[],
  runner: HostRunner,
  name: string,
  opts: DrainOptions = {},
): Promise<DrainResult> {
  const h = find(topo, name);
  if (h.tier !== "maglev" && h.tier !== "haproxy")
    throw new Error(`undrain of a ${h.tier} is not supported (maglev and haproxy nodes are)`);
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? 60000;
  if (h.tier === "maglev") {
    // Announce only once this maglev's Maglev tables are the other maglevs': see tableDiffers.
    const same = await waitFor(timeoutMs, async () => {
      const d = await tableDiffers(topo, runner, h);
      return { done: d.length === 0, detail: d.join("; ") };
    });
    if (!same.done)
      return {
        host: h.hostname,
        action: "undrain",
        complete: false,
        detail: `left drained: its IPVS weights still differ from the other maglevs' after ${timeoutMs} ms: ${same.detail}`,
        ms: Date.now() - t0,
      };
    // Lab, metrics scenario on systemd guests: a power cut 30 s after this `rm` booted maglev01
    // drained again (the unlink was still in the page cache), and it stayed out of ECMP.
    const r = await runner.run(
      h.hostname,
      `rm -f ${DRAIN_FILE} ${APPLY_DRAIN_MARK} && sync ${DRAIN_DIR} ${path.posix.dirname(APPLY_DRAIN_MARK)}`,
      timeoutMs,
    );
    if (r.code !== 0)
      throw new Error(`undrain of ${h.name} failed: ${(r.stderr || r.stdout).trim()}`);
    const want = topo.gateways.length * (topo.vips.ipv4.length + topo.vips.ipv6.length);
    const w = await waitFor(timeoutMs, async () => {
      const n = (await routesVia(topo, runner, h)).length;
      return { done: n === want, detail: `${n} of ${want} gateway routes via ${h.name}` };
    });
    return {
      host: h.hostname,
      action: "undrain",
      complete: w.done,
      detail: w.detail,
      ms: Date.now() - t0,
    };
  }
  if (h.tier === "haproxy") {
    const r = await runner.run(h.hostname, HAPROXY_UNDRAIN_COMMAND);
    if (r.code !== 0)
      throw new Error(`undrain of ${h.name} failed: ${(r.stderr || r.stdout).trim()}`);
    const w = await waitFor(timeoutMs, async () => {
      const left = withoutWeight((await memberOnMaglevs(topo, runner, h)).per);
      return {
        done: left.length === 0,
        detail: left.length
          ? `no weight yet on ${left.join(", ")}`
          : `weight > 0 on every maglev (${topo.maglevs.map((m) => m.name).join(", ")})`,
      };
    });
    return {
      host: h.hostname,
      action: "undrain",
      complete: w.done,
      detail: w.detail,
      ms: Date.now() - t0,
    };
  }
  throw new Error(`undrain of a ${h.tier} is not supported (maglev and haproxy nodes are)`);
}
