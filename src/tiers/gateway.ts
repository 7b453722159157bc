/** Gateway tier planner (filled in by its issue). */
import { Topology, HostFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";

export function planGateway(_topo: Topology, _h: HostFacts, _b: PlanBuilder): void {}
