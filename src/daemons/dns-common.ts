/**
 * What the DNS daemons (dnsdist, PowerDNS, LightningStream, PowerAdmin) share: the stack's
 * secrets they use, the served zones, and the DNS hosts by tier, sorted by name.
 */
import { Topology, HostFacts } from "../topology";

/** Secrets (pulumi config keys under maglev-infra:). */
export const SECRETS = {
  dnsdistConsoleKey: "dnsdistConsoleKey",
  dnsdistWebserverPassword: "dnsdistWebserverPassword",
  pdnsApiKey: "pdnsApiKey",
  s3AccessKeyId: "s3AccessKeyId",
  s3SecretAccessKey: "s3SecretAccessKey",
  poweradminSessionKey: "poweradminSessionKey",
} as const;
export const secret = (k: keyof typeof SECRETS) => `{{secret:${SECRETS[k]}}}`;

/** The served zones, without the trailing dot, sorted. */
export function servedZones(topo: Topology): string[] {
  return [...(topo.env.dns.servedZones ?? [topo.env.dns.zone])]
    .map((z) => z.replace(/\.$/, ""))
    .sort();
}
const byName = (a: HostFacts, b: HostFacts) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
export function secondaries(topo: Topology): HostFacts[] {
  return topo.hosts.filter((x) => x.tier === "powerdns").sort(byName);
}
export function dnsdists(topo: Topology): HostFacts[] {
  return topo.hosts.filter((x) => x.tier === "dnsdist").sort(byName);
}
export function primaries(topo: Topology): HostFacts[] {
  return topo.hosts.filter((x) => x.tier === "shadow-primary").sort(byName);
}
