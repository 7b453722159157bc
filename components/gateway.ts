/**
 * A gateway: FRR route reflector between the upstream router and the maglevs (BGP, BFD, ECMP).
 * Its files, packages and health gate come from the tier's planner (`src/tiers/`); this
 * class only owns the VM and applies the plan (see `ManagedHost`).
 */
import * as pulumi from "@pulumi/pulumi";
import { ManagedHost, ManagedHostArgs, TIER_TYPES } from "./host";

/** Arguments of a Gateway: those of every managed host. */
export interface GatewayArgs extends ManagedHostArgs {}

export class Gateway extends ManagedHost {
  constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TIER_TYPES["gateway"], "gateway", name, args, opts);
    this.registerOutputs(this.hostOutputs());
  }
}
