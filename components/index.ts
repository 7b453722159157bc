/**
 * The Pulumi components of maglev-infra: one class per tier, each a `ManagedHost` (VM or
 * adopted host + its HostPlan applied with stage → validate → activate).
 */
export * from "./host";
export * from "./gateway";
export * from "./maglev";
export * from "./haproxy";
export * from "./k0s";
export * from "./dns";
