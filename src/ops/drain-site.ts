/**
 * Drain and undrain a site: its gateways announce the VIPs less preferred (to iBGP upstreams
 * LOCAL_PREF 10, to eBGP upstreams a longer AS path than any site's) or not at all
 * (--withdraw), kept in a file on each gateway that the apply re-applies after its FRR reload;
 * undrain removes it and reloads the rendered frr.conf. Written against `HostRunner`.
 */
import { Topology, HostFacts } from "../topology";
import { isEbgpUpstream } from "../config/schema";
import { CURRENT_LINK } from "../bundle";
import { hostScriptCommand } from "../plan/scripts";
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
import { HostRunner, waitFor } from "./runner";
import type { DrainOptions, DrainResult } from "./drain";

export { DRAIN_SITE_EXTRA_PREPEND, DRAIN_SITE_LOCAL_PREF, drainedSitePolicy };
export type { SitePolicy };

/** The apply program's lock (scripts/maglev-apply LOCK_FILE). */
export const APPLY_LOCK = "/run/maglev-infra/apply.lock";

/**
 * The gateway's side of drain-site (`drain`, the drain file's text last) and undrain-site
 * (`undrain`, the command that reloads FRR last): scripts/host/site-drain.sh, under the apply's
 * lock, then the host's committed apply again (the program and bundle of its `current`
 * generation), which with the drain file present or gone chooses the matching frr.conf,
 * checks it, reloads FRR and waits for the gateway's health gate — so a site drain is also in
 * the file FRR starts from (it survives a restart and a reboot).
 */
export function siteDrainCommand(action: "drain" | "undrain", last: string): string {
  return hostScriptCommand("site-drain.sh", [
    action,
    SITE_DRAIN_FILE,
    APPLY_LOCK,
    CURRENT_LINK,
    last,
  ]);
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
  // Applied from a temporary copy; only once FRR took it does it become the drain file.
  const script = siteDrainCommand("drain", siteDrainFile(topo, site, !!opts.withdraw));
  return onGateways(topo, runner, gws, script, want, opts, {
    action: opts.withdraw ? "withdraw-site" : "drain-site",
    done: `advertised to every upstream: ${cmds.filter((c) => c !== "exit").join("; ")}`,
  });
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
  // The committed apply with the drain file gone: the rendered frr.conf, checked, reloaded, health-gated.
  // The marker goes under the apply's lock, so a running apply cannot re-install the drained frr.conf after it.
  const script = siteDrainCommand("undrain", runner.services.reload("frr"));
  const gws = topo.gateways.filter((g) => g.site === site);
  return onGateways(topo, runner, gws, script, want, opts, {
    action: "undrain-site",
    done: "frr.conf policy restored and advertised",
  });
}

/** Run `script` on each gateway in turn, then wait until it advertises `want` to every upstream. */
async function onGateways(
  topo: Topology,
  runner: HostRunner,
  gws: HostFacts[],
  script: string,
  want: SitePolicy,
  opts: DrainOptions,
  says: { action: string; done: string },
): Promise<DrainResult[]> {
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
      action: says.action,
      complete: w.done,
      detail: w.done ? says.done : w.detail,
      ms: Date.now() - t0,
    });
  }
  return out;
}
