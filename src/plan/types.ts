/**
 * HostPlan: everything one host needs, as plain data. Produced by pure functions
 * from the validated environment; consumed by the offline renderer, the validators,
 * the Pulumi components (over SSH) and the lab (over its own exec). Nothing here
 * knows about Pulumi or does I/O.
 */

/** The tiers of the cluster, in the users' words. */
export type Tier =
  | "gateway"
  | "maglev"
  | "haproxy"
  | "k0s-controller"
  | "k0s-worker"
  | "dnsdist"
  | "powerdns"
  | "shadow-primary";

/** How a changed file becomes effective. */
export type Activate =
  | { kind: "none" }
  /** `systemctl reload <service>` (or the lab's equivalent): no dropped connections. `then` runs after a successful reload. */
  | { kind: "reload"; service: string; then?: string }
  /** `systemctl restart <service>`: only where the daemon cannot reload. `then` runs after a successful restart. */
  | { kind: "restart"; service: string; then?: string }
  /** An explicit command, e.g. `networkctl reload` or `sysctl --system`. */
  | { kind: "command"; command: string };

/**
 * The daemon's own checker. `command` contains the literal `{file}`, replaced by the
 * path of the staged copy. `checker` is the program name, reported by `validate`.
 */
export interface Validate {
  /** Program name of the checker, e.g. `haproxy`, `keepalived`, `nft`, `vtysh`. */
  checker: string;
  /** Shell command with `{file}` standing for the staged file. */
  command: string;
  /**
   * The checker `npm run validate` runs instead, where the on-host checker cannot exist on a
   * Debian machine (k0s is not packaged): same `{file}` convention, run from the repo root
   * with node_modules/.bin on PATH.
   */
  offline?: { checker: string; command: string };
}

export interface PlannedFile {
  /** Absolute path on the host. */
  path: string;
  /** Octal mode as a string, e.g. `0644`. */
  mode: string;
  /** `user:group`. */
  owner: string;
  /** Full content. Deterministic: no timestamps, stable order. */
  content: string;
  /** Checker run against the staged copy before it may replace the live file. */
  validate?: Validate;
  /** What to do after the file is moved into place. */
  activate: Activate;
  /**
   * True when the content is built from secret values. Renderers put a placeholder
   * (`{{secret:<key>}}`) in `content`; the apply step substitutes the secret on the host side.
   */
  secretKeys?: string[];
  /**
   * The syntax the placeholders sit in, so the apply program escapes each value for it on the
   * host (see scripts/maglev-apply): inside a HAProxy "…" word, a Lua "…" literal, a PHP '…'
   * literal, a YAML "…" scalar, or the rest of a `key=value` line. Required with `secretKeys`.
   */
  secretSyntax?: SecretSyntax;
  /**
   * Other contents of the same file, chosen on the host by an operator's state there: the
   * first whose marker file exists and contains `contains` is the one checked and activated
   * (a drained site's frr.conf carries the drained policy, so an apply, a restart or a reboot
   * never advertises the normal one). None matching: `content`.
   */
  variants?: FileVariant[];
}

export interface FileVariant {
  /** The marker: a file on the host and a text it contains. */
  when: { path: string; contains: string };
  content: string;
}

/** Where a secret placeholder sits in its file; the apply program escapes the value for it. */
export type SecretSyntax = "haproxy-dq" | "lua-dq" | "php-sq" | "yaml-dq" | "line";

export interface Sysctl {
  key: string;
  value: string;
  /** Kernel module that provides the key (e.g. `ip_vs` for net.ipv4.vs.*). */
  module?: string;
}

/** A probe that tells whether the host is healthy after its change: used as the rollout gate. */
export interface HealthProbe {
  /** Shell command run on the host; exit 0 means healthy. */
  command: string;
  /** How long to keep trying, in seconds. */
  timeoutSeconds: number;
  /** What it proves, for messages. */
  description: string;
  /**
   * Shell command the apply program runs right before the change (after the checkers passed,
   * before the drain; not at all when nothing changes): it records what `command` compares the
   * host with afterwards (a gateway: its BGP sessions, whose counters an FRR restart resets).
   * @default none
   */
  before?: string;
}

/** Commands around activation for tiers that must be drained first (maglev: withdraw BGP). */
export interface DrainHooks {
  /** Run before any activation of this host. */
  drain: string;
  /** Run after all activations, before the health probe. */
  undrain: string;
}

/** A pinned binary that is not packaged in Debian (k0s, LightningStream, PowerAdmin). */
export interface PinnedDownload {
  name: string;
  url: string;
  sha256: string;
  /** Where it is installed. */
  path: string;
  mode: string;
}

export interface HostAddresses {
  mgmt: { ipv4: string; ipv6: string };
  ingress?: { ipv4: string; ipv6?: string };
}

export interface HostPlan {
  /** Short name from the stack (`mgw01`). */
  name: string;
  /** Full hostname (`mgmt02-vm-mgw01`). */
  hostname: string;
  tier: Tier;
  addresses: HostAddresses;
  /** Debian packages, sorted. */
  packages: string[];
  /** Pinned downloads, sorted by name. */
  downloads: PinnedDownload[];
  /** Sysctls, sorted by key. */
  sysctls: Sysctl[];
  /** systemd units that must be enabled and running, sorted. */
  services: string[];
  /** Files, sorted by path. */
  files: PlannedFile[];
  drain?: DrainHooks;
  health?: HealthProbe;
}
