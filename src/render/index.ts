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
import { ALERT_RULES_FILE, alertRules } from "../monitoring/rules";
import { DASHBOARD_FILE, grafanaDashboard } from "../monitoring/dashboard";

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
  for (const p of plans)
    for (const f of p.files) files.set(path.posix.join(p.hostname, f.path), f.content);
  files.set("plan.json", JSON.stringify(planSummary(topology, plans), null, 2) + "\n");
  files.set("dns-records.json", JSON.stringify(topology.dnsRecords, null, 2) + "\n");
  files.set("zone.db", zoneFile(env.name, env.dns.zone, topology.dnsRecords));
  // For the operators' Prometheus, not a host: `promtool check rules` in `npm run validate`.
  files.set(ALERT_RULES_FILE, alertRules(topology));
  // For the operators' Grafana, on the same metrics (test/monitoring/dashboard.test.ts).
  files.set(DASHBOARD_FILE, grafanaDashboard(topology));
  const sorted = new Map([...files.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { topology, plans, files: sorted };
}

/** The file a render leaves in its folder: only a folder holding it may be replaced by the next render. */
export const RENDER_MARKER = ".maglev-infra-render";

export class RenderOutError extends Error {}

/**
 * Whether `out` may receive a render: missing, an empty folder, or a folder a previous render
 * made (it holds RENDER_MARKER as a regular file). Anything else — a file, a symbolic link, a
 * folder with other content (`--out .` in the repository) — is refused, naming the folder.
 */
export function checkRenderOut(out: string): void {
  const abs = path.resolve(out);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  const refuse = (why: string) => {
    throw new RenderOutError(
      `refusing to write into ${abs}: ${why}; give --out a missing or empty folder, or one a previous render made (it holds ${RENDER_MARKER})`,
    );
  };
  if (st.isSymbolicLink()) refuse("it is a symbolic link");
  if (!st.isDirectory()) refuse("it is not a folder");
  if (abs === path.parse(abs).root) refuse("it is the root folder");
  const entries = fs.readdirSync(abs);
  if (entries.length === 0) return;
  const marker = path.join(abs, RENDER_MARKER);
  if (!entries.includes(RENDER_MARKER) || !fs.lstatSync(marker).isFile())
    refuse(`it is not empty and no render made it (no ${RENDER_MARKER})`);
}

/**
 * Write into `out` (see checkRenderOut for which folders may be written): first into a new
 * sibling temp folder, then swap it in, so `out` is either the previous render or the complete
 * new one — never half of one. Only `out`'s previous content and this call's own temp folders
 * are ever removed.
 */
export function writeRender(out: string, rendered: Rendered): void {
  const abs = path.resolve(out);
  checkRenderOut(abs);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  // mkdtemp: a folder nobody else has, never an existing sibling of the same name.
  const tmp = fs.mkdtempSync(`${abs}.tmp-`);
  let old: string | undefined;
  try {
    for (const [rel, content] of rendered.files) {
      const p = path.join(tmp, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content);
    }
    fs.writeFileSync(
      path.join(tmp, RENDER_MARKER),
      `maglev-infra render of stack "${rendered.topology.env.name}": the next render replaces this folder as a whole.\n`,
    );
    if (fs.existsSync(abs)) {
      // Renamed into a fresh temp folder of our own, so the rename cannot land on anything else.
      old = path.join(fs.mkdtempSync(`${abs}.old-`), "previous");
      fs.renameSync(abs, old);
    }
    fs.renameSync(tmp, abs);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (old && !fs.existsSync(abs) && fs.existsSync(old)) fs.renameSync(old, abs);
    if (old) fs.rmSync(path.dirname(old), { recursive: true, force: true });
    throw e;
  }
  if (old) fs.rmSync(path.dirname(old), { recursive: true, force: true });
}
