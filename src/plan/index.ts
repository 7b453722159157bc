/**
 * HostPlans for every host: the base plan plus its tier's planner. Pure and deterministic.
 */
import { Topology, HostFacts } from "../topology";
import { HostPlan, Tier } from "./types";
import { PlanBuilder } from "./builder";
import { basePlan, persistSysctls } from "./base";
import { planGateway } from "../tiers/gateway";
import { planMaglev } from "../tiers/maglev";
import { planHaproxy } from "../tiers/haproxy";
import { planK0sController, planK0sWorker } from "../tiers/k0s";
import { planDnsdist, planPowerDns, planShadowPrimary } from "../tiers/dns";
import { planMetrics } from "../monitoring/metrics";

export * from "./types";
export { PlanBuilder } from "./builder";

export type TierPlanner = (topo: Topology, host: HostFacts, b: PlanBuilder) => void;

const PLANNERS: Record<Tier, TierPlanner> = {
  gateway: planGateway,
  maglev: planMaglev,
  haproxy: planHaproxy,
  "k0s-controller": planK0sController,
  "k0s-worker": planK0sWorker,
  dnsdist: planDnsdist,
  powerdns: planPowerDns,
  "shadow-primary": planShadowPrimary,
};

export function planHost(topo: Topology, h: HostFacts): HostPlan {
  const b = new PlanBuilder(h.name, h.hostname, h.tier, {
    mgmt: h.mgmt,
    ...(h.ingress ? { ingress: h.ingress } : {}),
  });
  basePlan(topo, h, b);
  PLANNERS[h.tier](topo, h, b);
  // Every host exports its load-balancing state (and its drift) to node_exporter.
  planMetrics(topo, h, b);
  // Last: the boot-time files hold every sysctl any planner asked for.
  persistSysctls(topo, b);
  return b.finish();
}

/** Every host's plan, sorted by hostname. */
export function buildPlans(topo: Topology): HostPlan[] {
  return topo.hosts
    .map((h) => planHost(topo, h))
    .sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
}
