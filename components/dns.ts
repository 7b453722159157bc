/**
 * The DNS tier: dnsdist in front (the `dnsdist` backend group behind the DNS VIPs),
 * PowerDNS secondaries behind it, and the hidden shadow primary they transfer from.
 * Files, packages and health gates come from `src/tiers/dns.ts`; these classes only own the
 * VM and apply the plan (see `ManagedHost`).
 */
import * as pulumi from "@pulumi/pulumi";
import { ManagedHost, ManagedHostArgs, TIER_TYPES } from "./host";

/** Arguments of a DnsdistNode: those of every managed host. */
export interface DnsdistNodeArgs extends ManagedHostArgs {}

/** A dnsdist node: rate limiting and load balancing in front of the PowerDNS secondaries. */
export class DnsdistNode extends ManagedHost {
  constructor(name: string, args: DnsdistNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TIER_TYPES["dnsdist"], "dnsdist", name, args, opts);
    this.registerOutputs(this.hostOutputs());
  }
}

/** Arguments of a PowerDnsNode: those of every managed host. */
export interface PowerDnsNodeArgs extends ManagedHostArgs {}

/** A PowerDNS authoritative secondary. */
export class PowerDnsNode extends ManagedHost {
  constructor(name: string, args: PowerDnsNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TIER_TYPES["powerdns"], "powerdns", name, args, opts);
    this.registerOutputs(this.hostOutputs());
  }
}

/** Arguments of a ShadowPrimary: those of every managed host. */
export interface ShadowPrimaryArgs extends ManagedHostArgs {}

/** The hidden primary (zone management) the secondaries transfer from; never in the VIP pool. */
export class ShadowPrimary extends ManagedHost {
  constructor(name: string, args: ShadowPrimaryArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TIER_TYPES["shadow-primary"], "shadow-primary", name, args, opts);
    this.registerOutputs(this.hostOutputs());
  }
}
