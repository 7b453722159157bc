/**
 * The names of a host's two NICs: the stack's `networks.<network>.interface`, else these
 * defaults. One place for them: netplan, the firewall, keepalived, the checks and the config
 * rules all name the same interface. (A module of its own so that src/config/rules.ts can use
 * it without importing the topology, which imports the rules.)
 */
export const DEFAULT_INTERFACES = { mgmt: "mgmt0", ingress: "ingress0" } as const;

export type HostNetwork = keyof typeof DEFAULT_INTERFACES;

/** The interface name of `network` on every host of the stack. */
export function interfaceName(
  networks: { [N in HostNetwork]?: { interface?: string } } | undefined,
  network: HostNetwork,
): string {
  return networks?.[network]?.interface ?? DEFAULT_INTERFACES[network];
}
