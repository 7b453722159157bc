/**
 * maglev-infra: the Pulumi program. All logic lives in `src/program` (so tests and
 * `npm run preview:offline` run exactly this under Pulumi's mock runtime).
 */
import { main } from "./src/program";

const out = main();

/** Host records for your DNS automation: `pulumi stack output dnsRecords --json`. */
export const dnsRecords = out.dnsRecords;
/** Host name → tier, mgmt/ingress addresses, Proxmox VM id. */
export const hosts = out.hosts;
/** `VIP:port` → backend group, fwmark, protocols. */
export const vips = out.vips;
/** Prometheus alert rules for this environment: `pulumi stack output alertRules > maglev.rules.yml`. */
export const alertRules = out.alertRules;
/** Grafana dashboard JSON for this environment: `pulumi stack output grafanaDashboard > maglev.json`. */
export const grafanaDashboard = out.grafanaDashboard;
/** The hosts' pinned SSH host keys as known_hosts lines (recorded on first contact). */
export const knownHosts = out.knownHosts;
/** Admin kubeconfig of the k0s cluster (secret); absent without a k0s controller. */
export const kubeconfig = out.kubeconfig;
