/** DNS tier planners (filled in by its issue). */
import { Topology, HostFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";

export function planDnsdist(_topo: Topology, _h: HostFacts, _b: PlanBuilder): void {}
export function planPowerDns(_topo: Topology, _h: HostFacts, _b: PlanBuilder): void {}
export function planShadowPrimary(_topo: Topology, _h: HostFacts, _b: PlanBuilder): void {}
