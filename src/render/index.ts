/**
 * Offline render: everything a `pulumi up` would put on the hosts, as a folder, with no
 * Pulumi CLI and no credentials. Pure part (`renderEnvironment`) and writer (`writeRender`)
 * are separate so tests and the lab use the content without touching disk.
 */
import * as fs from "fs";
import * as path from "path";
import { Environment } from "../config/schema";
import { deriveTopology, Topology } from "../topology";
import { buildPlans, HostPlan } from "../plan";
import { contentSha256 } from "../apply/steps";
import { zoneFile } from "../dns/zone";

export interface Rendered {
  topology: Topology;
  plans: HostPlan[];
  /** Relative path inside the output folder → content. Sorted by path. */
  files: Map<string, string>;
}

/** plan.json: every host with its files summarised (content hashed, not repeated). */
export function planSummary(topo: Topology, plans: HostPlan[]) {
  return {
    environment: topo.env.name,
    hosts: plans.map((p) => ({
      name: p.name,
      hostname: p.hostname,
      tier: p.tier,
      addresses: p.addresses,
      packages: p.packages,
      downloads: p.downloads,
      sysctls: p.sysctls,
      services: p.services,
      files: p.files.map((f) => ({
        path: f.path,
        mode: f.mode,
        owner: f.owner,
        sha256: contentSha256(f.content),
        validate: f.validate ?? null,
        activate: f.activate,
        ...(f.secretKeys?.length ? { secretKeys: f.secretKeys } : {}),
      })),
      ...(p.drain ? { drain: p.drain } : {}),
      ...(p.health ? { health: p.health } : {}),
    })),
  };
}

export function renderEnvironment(env: Environment): Rendered {
  const topology = deriveTopology(env);
  const plans = buildPlans(topology);
  const files = new Map<string, string>();
  for (const p of plans) for (const f of p.files) files.set(path.posix.join(p.hostname, f.path), f.content);
  files.set("plan.json", JSON.stringify(planSummary(topology, plans), null, 2) + "\n");
  files.set("dns-records.json", JSON.stringify(topology.dnsRecords, null, 2) + "\n");
  files.set("zone.db", zoneFile(env.name, env.dns.zone, topology.dnsRecords));
  const sorted = new Map([...files.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { topology, plans, files: sorted };
}

/**
 * Write into `out`: first into a sibling temp folder, then swap it in, so `out` is either
 * the previous render or the complete new one — never half of one.
 */
export function writeRender(out: string, rendered: Rendered): void {
  const abs = path.resolve(out);
  const tmp = `${abs}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    for (const [rel, content] of rendered.files) {
      const p = path.join(tmp, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content);
    }
    const old = `${abs}.old-${process.pid}`;
    if (fs.existsSync(abs)) fs.renameSync(abs, old);
    fs.renameSync(tmp, abs);
    fs.rmSync(old, { recursive: true, force: true });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
