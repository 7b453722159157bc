/**
 * An HAProxy (`mlb`) node of an L7 backend group, answering clients directly (DSR).
 * Its files, packages and health gate come from the tier's planner (`src/tiers/`); this
 * class only owns the VM and applies the plan (see `ManagedHost`).
 */
import * as pulumi from "@pulumi/pulumi";
import { ManagedHost, ManagedHostArgs, TIER_TYPES } from "./host";

/** Arguments of a HaproxyNode: those of every managed host. */
export interface HaproxyNodeArgs extends ManagedHostArgs {}

export class HaproxyNode extends ManagedHost {
  constructor(name: string, args: HaproxyNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TIER_TYPES["haproxy"], "haproxy", name, args, opts);
    this.registerOutputs(this.hostOutputs());
  }
}
