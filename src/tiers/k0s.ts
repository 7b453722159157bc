/** k0s tier planners (filled in by its issue). */
import { Topology, HostFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";

export function planK0sController(_topo: Topology, _h: HostFacts, _b: PlanBuilder): void {}
export function planK0sWorker(_topo: Topology, _h: HostFacts, _b: PlanBuilder): void {}
