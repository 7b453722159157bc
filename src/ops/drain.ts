/**
 * Drain and undrain, per host and per site. Written against `HostRunner` (SSH or lab).
 *
 *   maglev   — its drain file makes the announce process withdraw every VIP: the routes leave
 *              both gateways, traffic moves to the other maglevs. Complete when no gateway has a
 *              next hop via this maglev.
 *   haproxy  — the health API answers 503 (hactl drain), so every maglev's keepalived sets the
 *              node to weight 0: no new connections, existing ones finish. Complete when every
 *              maglev shows weight 0 and no active connection to it.
 *   site     — the site's gateways announce the VIPs less preferred (to iBGP upstreams
 *              LOCAL_PREF 10, to eBGP upstreams a longer AS path than any site's) or not at
 *              all (--withdraw), kept in a file on each gateway that the apply re-applies
 *              after its FRR reload; undrain removes it and reloads the rendered frr.conf.
 *
 * Refuses to drain the last announcing maglev or the last serving member of a group unless forced.
 */
import { Topology, HostFacts } from "../topology";
import { HostPlan } from "../plan/types";
import { APPLY_DRAIN_MARK, DRAIN_FILE } from "../tiers/maglev";
import { HAPROXY_DRAIN_COMMAND, HAPROXY_UNDRAIN_COMMAND } from "../tiers/haproxy";
import { HostRunner } from "./runner";
import { drainStates } from "./check";
import { IPVS_LIST_COMMAND, ipvsServiceKey, parseIpvs } from "../daemons/keepalived/probes";
import { parseVipRoutes, vipRoutesScript } from "../daemons/frr/probes";
import { ipvsServices } from "../tiers/maglev";
import {
  DRAIN_SITE_EXTRA_PREPEND,
  DRAIN_SITE_LOCAL_PREF,
  SITE_DRAIN_FILE,
  SitePolicy,
  UPSTREAM_ROUTE_MAP_IBGP,
  asPathPrepend,
  drainedSitePolicy,
  siteDrainMarker,
  upstreamRouteMapsInUse,
} from "../tiers/gateway";
import { CURRENT_LINK } from "../bundle";

export { DRAIN_SITE_EXTRA_PREPEND, DRAIN_SITE_LOCAL_PREF, drainedSitePolicy };
export type { SitePolicy };

/** The apply program's lock (scripts/maglev-apply LOCK_FILE). */
export const APPLY_LOCK = "/run/maglev-infra/apply.lock";
const APPLY_LOCK_DIR = "/run/maglev-infra";

/**
 * Re-run the host's committed apply (the program and bundle of its `current` generation):
 * with the drain file present or gone, the apply chooses the matching frr.conf, checks it,
 * reloads FRR and waits for the gateway's health gate — so a site drain is also in the file
 * FRR starts from (it survives a restart and a reboot). `otherwise` runs on a host that has
 * no generation yet.
 */
export function reapplyCurrent(otherwise: string): string {
  return `if [ -x ${CURRENT_LINK}/maglev-apply ]; then ${CURRENT_LINK}/maglev-apply --bundle ${CURRENT_LINK}/bundle.json; else ${otherwise}; fi`;
}
import { isEbgpUpstream } from "../config/schema";
import { shellWord } from "../escape";

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(
  timeoutMs: number,
  probe: () => Promise<{ done: boolean; detail: string }>,
  everyMs = 250,
): Promise<{ done: boolean; detail: string }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const last = await probe();
    if (last.done || Date.now() >= end) return last;
    await sleep(everyMs);
  }
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

/** Weight and active connections of `member` on every maglev. */
async function memberOnMaglevs(
  topo: Topology,
  runner: HostRunner,
  member: HostFacts,
): Promise<{ weight: number; active: number }> {
  let weight = 0;
  let active = 0;
  const services = ipvsServices(topo).filter((s) =>
    s.realServers.some((r) => r.host.name === member.name),
  );
  for (const m of topo.maglevs) {
    const ipvs = parseIpvs((await runner.run(m.hostname, IPVS_LIST_COMMAND)).stdout);
    for (const s of services) {
      const rs = s.realServers.find((r) => r.host.name === member.name)!;
      const e = ipvs.get(ipvsServiceKey(s.family, s.fwmark.fwmark))?.get(rs.address);
      if (e) {
        weight += e.weight;
        active += e.active;
      }
    }
  }
  return { weight, active };
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
  if (h.role !== "maglev" && h.role !== "haproxy")
    throw new Error(`drain of a ${h.role} is not supported (maglev and haproxy nodes are)`);
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? 60000;
  const drained = await drainStates(topo, runner);
  if (h.role === "maglev") {
    const others = topo.maglevs.filter((m) => m.name !== h.name && !drained.get(m.name));
    if (others.length === 0 && !opts.force)
      throw new Error(
        `${h.name} is the last announcing maglev: draining it takes every VIP offline (use --force)`,
      );
    // An operator's drain: the file alone (no apply mark), so a later apply keeps it drained.
    const r = await runner.run(
      h.hostname,
      `install -d ${DRAIN_FILE.replace(/\/[^/]+$/, "")} && touch ${DRAIN_FILE}`,
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
  if (h.role === "haproxy") {
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
    const w = await waitFor(Math.max(0, timeoutMs - weightZeroMs), async () => {
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
        ? `weight 0 on every maglev after ${weightZeroMs} ms, no active connection`
        : `weight 0 on every maglev after ${weightZeroMs} ms; timed out after ${timeoutMs} ms waiting for ${w.detail} to finish`,
      ms: Date.now() - t0,
      weightZeroMs,
    };
  }
  throw new Error(`drain of a ${h.role} is not supported (maglev and haproxy nodes are)`);
}

export async function undrainHost(
  topo: Topology,
  plans: HostPlan[],
  runner: HostRunner,
  name: string,
  opts: DrainOptions = {},
): Promise<DrainResult> {
  const h = find(topo, name);
  if (h.role !== "maglev" && h.role !== "haproxy")
    throw new Error(`undrain of a ${h.role} is not supported (maglev and haproxy nodes are)`);
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? 60000;
  if (h.role === "maglev") {
    const r = await runner.run(h.hostname, `rm -f ${DRAIN_FILE} ${APPLY_DRAIN_MARK}`, timeoutMs);
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
  if (h.role === "haproxy") {
    const r = await runner.run(h.hostname, HAPROXY_UNDRAIN_COMMAND);
    if (r.code !== 0)
      throw new Error(`undrain of ${h.name} failed: ${(r.stderr || r.stdout).trim()}`);
    const w = await waitFor(timeoutMs, async () => {
      const s = await memberOnMaglevs(topo, runner, h);
      return { done: s.weight > 0, detail: `weight ${s.weight} (summed over the maglevs)` };
    });
    return {
      host: h.hostname,
      action: "undrain",
      complete: w.done,
      detail: w.detail,
      ms: Date.now() - t0,
    };
  }
  throw new Error(`undrain of a ${h.role} is not supported (maglev and haproxy nodes are)`);
}

/**
 * The config lines that make a site's gateways announce less preferred, or nothing — what
 * drain-site applies and keeps in SITE_DRAIN_FILE on each of the site's gateways (`vtysh -f`),
 * so that an apply's FRR reload re-applies them.
 */
export function drainSiteConfig(topo: Topology, site: string, withdraw: boolean): string[] {
  const env = topo.env;
  const s = env.sites[site];
  if (!s)
    throw new Error(
      `no site "${site}" in stack ${env.name} (sites: ${Object.keys(env.sites).join(", ") || "none"})`,
    );
  const want = drainedSitePolicy(topo, withdraw);
  const cmds: string[] = [];
  for (const map of upstreamRouteMapsInUse(env.bgp)) {
    if (withdraw) cmds.push(`route-map ${map} deny 5`, "exit");
    else if (map === UPSTREAM_ROUTE_MAP_IBGP)
      // An iBGP upstream compares LOCAL_PREF first; a prepend of its own AS would be a loop to it.
      cmds.push(`route-map ${map} permit 10`, `set local-preference ${want.localPref}`, "exit");
    // Longer than any site's rendered prepend, so every other site wins at the eBGP upstream.
    else
      cmds.push(
        `route-map ${map} permit 10`,
        `set as-path prepend ${asPathPrepend(env.bgp.asn, want.prepend)}`,
        "exit",
      );
  }
  return cmds;
}

/** The drain file's text: a header naming the site and how to undo it, then the config lines. */
export function siteDrainFile(topo: Topology, site: string, withdraw: boolean): string {
  return [
    // The first line is the marker the apply chooses this gateway's frr.conf by.
    `! Site ${site} of stack "${topo.env.name}" ${siteDrainMarker(withdraw ? "withdrawn" : "drained")}.`,
    `! While this file exists every apply installs the frr.conf with this policy; \`npm run ops -- undrain-site ${topo.env.name} ${site}\` removes it.`,
    ...drainSiteConfig(topo, site, withdraw),
    "",
  ].join("\n");
}

/** Our AS's copies in an advertised AS path as `show … advertised-routes` prints it (the eBGP hop's own copy is added on the wire). */
function asCopies(path: string | undefined, asn: number): number {
  return (path ?? "").split(/\s+/).filter((x) => x === String(asn)).length;
}

/**
 * The gateway's side of a site drain: poll `advertised-routes` towards every upstream session
 * until every VIP leaves with the wanted policy (FRR applies a route-map edit after its
 * route-map delay timer, 5 s by default, so a drain is not done when vtysh returns).
 * Returns the first mismatch when the timeout passes.
 */
async function waitAdvertised(
  topo: Topology,
  runner: HostRunner,
  gw: HostFacts,
  want: SitePolicy,
  timeoutMs: number,
): Promise<{ done: boolean; detail: string }> {
  const bgp = topo.env.bgp;
  const sessions: { addr: string; af: "ipv4" | "ipv6"; vips: string[]; ebgp: boolean }[] = [];
  for (const u of bgp.upstream) {
    const ebgp = isEbgpUpstream(bgp, u);
    sessions.push({ addr: u.ipv4, af: "ipv4", vips: topo.vips.ipv4, ebgp });
    if (gw.ingress?.ipv6 && topo.vips.ipv6.length)
      sessions.push({ addr: u.ipv6 ?? u.ipv4, af: "ipv6", vips: topo.vips.ipv6, ebgp });
  }
  const cmd = sessions
    .map(
      (x) =>
        `vtysh -c 'show bgp ${x.af} unicast neighbors ${x.addr} advertised-routes json' | tr -d '\\n'; echo`,
    )
    .join("; ");
  // Once a second: each probe is a vtysh JSON dump per session on a gateway that is routing
  // (the FRR delay timer makes the change take ~5 s anyway).
  return waitFor(
    timeoutMs,
    async () => {
      const r = await runner.run(gw.hostname, cmd);
      const docs = r.stdout.split("\n");
      for (const [i, x] of sessions.entries()) {
        let adv: Record<string, { locPrf?: number; path?: string }>;
        try {
          adv = JSON.parse(docs[i] || "{}").advertisedRoutes ?? {};
        } catch {
          return { done: false, detail: `${gw.name} → ${x.addr}: no answer from vtysh` };
        }
        for (const vip of x.vips) {
          const a = adv[`${vip}/${x.af === "ipv4" ? 32 : 128}`];
          if (want.withdrawn) {
            if (a)
              return { done: false, detail: `${gw.name} still advertises ${vip} to ${x.addr}` };
            continue;
          }
          if (!a)
            return { done: false, detail: `${gw.name} does not advertise ${vip} to ${x.addr}` };
          if (x.ebgp && asCopies(a.path, bgp.asn) !== want.prepend)
            return {
              done: false,
              detail: `${gw.name} → ${x.addr} ${vip}: AS path "${a.path ?? ""}", want ${want.prepend} prepended`,
            };
          if (!x.ebgp && (a.locPrf ?? 100) !== want.localPref)
            return {
              done: false,
              detail: `${gw.name} → ${x.addr} ${vip}: LOCAL_PREF ${a.locPrf ?? 100}, want ${want.localPref}`,
            };
        }
      }
      return { done: true, detail: "" };
    },
    1000,
  );
}

/** The policy the stack renders for a site. */
export function renderedSitePolicy(topo: Topology, site: string): SitePolicy {
  const s = topo.env.sites[site];
  return { withdrawn: false, localPref: s?.localPreference ?? 100, prepend: s?.prepend ?? 0 };
}

/**
 * Make a site's gateways announce less preferred (or withdraw, `--withdraw`), then wait until
 * each advertises that to every upstream session (or report the timeout).
 */
export async function drainSite(
  topo: Topology,
  runner: HostRunner,
  site: string,
  opts: DrainOptions & { withdraw?: boolean } = {},
): Promise<DrainResult[]> {
  const cmds = drainSiteConfig(topo, site, !!opts.withdraw);
  const gws = topo.gateways.filter((g) => g.site === site);
  const others = Object.keys(topo.env.sites).filter((x) => x !== site);
  if (opts.withdraw && others.length === 0 && !opts.force)
    throw new Error(
      `${site} is the only site: withdrawing it takes every VIP offline (use --force)`,
    );
  const want = drainedSitePolicy(topo, !!opts.withdraw);
  const file = siteDrainFile(topo, site, !!opts.withdraw);
  const dir = SITE_DRAIN_FILE.replace(/\/[^/]+$/, "");
  // Applied from a temporary copy; only once FRR took it does it become the drain file (a
  // failed vtysh leaves the gateway as it was).
  const script =
    // Under the apply's lock (flock(1) and the program's fcntl.flock are the same lock): an
    // apply that already chose its frr.conf must not reload FRR over the new drain.
    `set -e; install -d ${dir} ${APPLY_LOCK_DIR}; t=$(mktemp ${dir}/.site-drain.XXXXXX); trap 'rm -f "$t"' EXIT; ` +
    `exec 9>${APPLY_LOCK}; flock -w 600 9; ` +
    `printf '%s' ${shellWord(file)} > "$t"; vtysh -f "$t"; chmod 0644 "$t"; mv "$t" ${SITE_DRAIN_FILE}; vtysh -c 'clear bgp * soft out'; exec 9>&-; ` +
    // Then the file FRR starts from: the committed apply again, which now installs the drained frr.conf.
    reapplyCurrent("true");
  const out: DrainResult[] = [];
  for (const gw of gws) {
    const t0 = Date.now();
    const r = await runner.run(gw.hostname, script, 300000);
    const w =
      r.code === 0
        ? await waitAdvertised(topo, runner, gw, want, opts.timeoutMs ?? 30000)
        : { done: false, detail: (r.stderr || r.stdout).trim() };
    out.push({
      host: gw.hostname,
      action: opts.withdraw ? "withdraw-site" : "drain-site",
      complete: w.done,
      detail: w.done
        ? `advertised to every upstream: ${cmds.filter((c) => c !== "exit").join("; ")}`
        : w.detail,
      ms: Date.now() - t0,
    });
  }
  return out;
}

/** Back to the rendered policy: remove the drain file, re-run the committed apply (rendered frr.conf, frr-reload.py) on the site's gateways, wait until advertised. */
export async function undrainSite(
  topo: Topology,
  runner: HostRunner,
  site: string,
  opts: DrainOptions = {},
): Promise<DrainResult[]> {
  if (!topo.env.sites[site]) throw new Error(`no site "${site}" in stack ${topo.env.name}`);
  const want = renderedSitePolicy(topo, site);
  const out: DrainResult[] = [];
  for (const gw of topo.gateways.filter((g) => g.site === site)) {
    const t0 = Date.now();
    // The committed apply with the drain file gone: the rendered frr.conf, checked, reloaded, health-gated.
    // The marker goes under the apply's lock, so a running apply cannot re-install the drained frr.conf after it.
    const r = await runner.run(
      gw.hostname,
      `install -d ${APPLY_LOCK_DIR} && { flock -w 600 ${APPLY_LOCK} rm -f ${SITE_DRAIN_FILE}; } && { ${reapplyCurrent(runner.services.reload("frr"))}; } && vtysh -c 'clear bgp * soft out'`,
      300000,
    );
    const w =
      r.code === 0
        ? await waitAdvertised(topo, runner, gw, want, opts.timeoutMs ?? 30000)
        : { done: false, detail: (r.stderr || r.stdout).trim() };
    out.push({
      host: gw.hostname,
      action: "undrain-site",
      complete: w.done,
      detail: w.done ? "frr.conf policy restored and advertised" : w.detail,
      ms: Date.now() - t0,
    });
  }
  return out;
}
