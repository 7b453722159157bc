/**
 * A maglev: ExaBGP announcing the VIPs, keepalived/IPVS (`mh`, direct routing), nftables fwmarks.
 * Its plan drains the BGP announcement before any activation and undrains before the health gate.
 * Its files, packages and health gate come from the tier's planner (`src/tiers/`); this
 * class only owns the VM and applies the plan (see `ManagedHost`).
 */
import * as pulumi from "@pulumi/pulumi";
import { ManagedHost, ManagedHostArgs, TIER_TYPES } from "./host";

/** Arguments of a MaglevNode: those of every managed host. */
export interface MaglevNodeArgs extends ManagedHostArgs {}

export class MaglevNode extends ManagedHost {
  constructor(name: string, args: MaglevNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TIER_TYPES["maglev"], "maglev", name, args, opts);
    this.registerOutputs(this.hostOutputs());
  }
}
