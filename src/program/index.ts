/**
 * The Pulumi program. `index.ts` at the repo root only calls `main()`; tests and
 * `npm run preview:offline` call it under Pulumi's mock runtime.
 *
 * Order matters: the environment is read and validated, and every secret config value is
 * requested, before the first resource is registered — a bad stack fails with the full list
 * of problems and creates nothing.
 *
 * One file (just over 400 lines) on purpose: the program's whole resource graph — which tier
 * waits for which gate (GATE_NEEDS, TIER_ORDER) and which secret reaches which resource — read
 * top to bottom in one place; the resources themselves are the components'.
 */
import * as pulumi from "@pulumi/pulumi";
import * as proxmoxve from "@muhlba91/pulumi-proxmoxve";
import { ConfigValidationError, CONFIG_NAMESPACE, validateEnvironment } from "../config/load";
import { Environment } from "../config/schema";
import { deriveTopology, DnsRecord, HostFacts, Topology, VipPort } from "../topology";
import { buildPlans, HostPlan, Tier } from "../plan";
import { K0S_JOIN_TOKEN_SECRET } from "../tiers/k0s";
import { alertRules } from "../monitoring/rules";
import { grafanaDashboard } from "../monitoring/dashboard";
import {
  DnsdistNode,
  Gateway,
  HaproxyNode,
  K0sController,
  K0sWorker,
  MaglevNode,
  ManagedHost,
  ManagedHostArgs,
  PowerDnsNode,
  ShadowPrimary,
  SshSettings,
} from "../../components";

/**
 * The `up` credentials as config keys (`pulumi config set --secret maglev-infra:<key>`), both
 * optional: left out, they never enter the program's inputs, so a `pulumi preview` (a pull
 * request's job) needs neither and the stack file holds neither. Then the SSH key comes from an
 * ssh-agent (SSH_AUTH_SOCK, which the command provider dials when a connection has no key:
 * pulumi-command v1.2.1 provider/pkg/provider/remote/connection.go, SSHConfig) and the
 * Proxmox token from PROXMOX_VE_API_TOKEN (which the bpg provider reads when its apiToken is
 * unset: bpg/terraform-provider-proxmox fwprovider/provider.go and proxmoxtf/provider/
 * provider.go, Configure). Environment variables are not inputs: a preview with a read-only
 * Proxmox token and no agent registers exactly what `up` does.
 */
export const BASE_SECRET_KEYS = ["sshPrivateKey", "proxmoxApiToken"] as const;
/** Where the program finds the Proxmox token when `proxmoxApiToken` is not set. */
export const PROXMOX_TOKEN_ENV = "PROXMOX_VE_API_TOKEN";
/** The agent socket the commands authenticate through when `sshPrivateKey` is not set. */
export const SSH_AGENT_ENV = "SSH_AUTH_SOCK";
/** Secrets a plan may reference through a file's `secretKeys`; only those referenced are read. */
export const PLAN_SECRET_KEYS = [
  "haproxyStatsPassword",
  "dnsdistConsoleKey",
  "dnsdistWebserverPassword",
  "pdnsApiKey",
  "s3AccessKeyId",
  "s3SecretAccessKey",
  "poweradminSessionKey",
] as const;
/** Every secret config key the program may read. */
export const SECRET_KEYS: readonly string[] = [...BASE_SECRET_KEYS, ...PLAN_SECRET_KEYS];
/**
 * Secrets a plan references that are not stack config: the program makes them itself, per
 * host (a k0s worker's join token is the stdout of its `<worker>-join-token`, components/k0s.ts).
 * Never asked of `pulumi config`; offline tools fill them like any other key (a placeholder).
 */
export const PROGRAM_SECRET_KEYS: readonly string[] = [K0S_JOIN_TOKEN_SECRET];

/** Plain config keys besides the environment. */
export const PROXMOX_ENDPOINT_KEY = "proxmoxEndpoint";
/** Set to true only for a Proxmox API with a self-signed certificate. @default false */
export const PROXMOX_INSECURE_KEY = "proxmoxInsecure";
/**
 * Hosts whose existing Proxmox VM (`vm.id` on `vm.node`) the next `pulumi up` adopts instead
 * of cloning a new one: a JSON list of host names, e.g. `["mgw01"]`. Remove it once imported.
 * @default []
 */
export const IMPORT_VMS_KEY = "importVms";

/** The hosts of `importVms`, checked against the topology (a name that is no Proxmox host fails, naming it). */
export function importVmHosts(raw: unknown, topo: Topology): Set<string> {
  if (raw === undefined) return new Set();
  const where = `${CONFIG_NAMESPACE}:${IMPORT_VMS_KEY}`;
  if (!Array.isArray(raw) || raw.some((x) => typeof x !== "string"))
    throw new Error(`${where}: must be a list of host names (value: ${JSON.stringify(raw)})`);
  const bad = (raw as string[]).filter((n) => topo.byName.get(n)?.provider !== "proxmox");
  if (bad.length)
    throw new Error(
      `${where}: not hosts of this stack with provider: proxmox: ${bad.map((b) => JSON.stringify(b)).join(", ")}`,
    );
  return new Set(raw as string[]);
}

/**
 * The tiers that must have converged before a tier's first host applies, so that its health
 * gate (or a gate that waits on it) can pass on a fresh environment in one `up`:
 *   - maglev: its gate waits for every VIP announced, and a VIP is announced only while its
 *     IPVS services have live real servers (keepalived's checks): the gateways (BGP), the
 *     HAProxy nodes (their health API), the k0s workers (the ingress), the dnsdist nodes, and
 *     behind them what their checks need — keepalived's DNS_CHECK asks dnsdist for the served
 *     zone's SOA, dnsdist answers only through a PowerDNS secondary that has the zone
 *     (`mustResolve`), and a secondary has it once it transferred it from the shadow primary;
 *   - powerdns: a secondary asks the shadow primary for each zone while it applies
 *     (scripts/host/pdns-secondary-zones); applied before the primary, its transfer fails and
 *     PowerDNS backs off, so the zone (and the maglevs' DNS VIPs) could arrive after every gate;
 *   - k0s-worker: joins through the (primary) controller, which mints its join token.
 * The program orders tiers by this map (TIER_ORDER). A test derives what each gate needs from
 * the rendered files (keepalived's real servers, dnsdist's servers, the secondaries'
 * primaries, the probes' addresses), independently of this map, and checks on the mgmt02
 * graph that all of it is applied before the gate.
 */
export const GATE_NEEDS: Partial<Record<Tier, Tier[]>> = {
  maglev: ["gateway", "haproxy", "k0s-worker", "dnsdist", "powerdns", "shadow-primary"],
  powerdns: ["shadow-primary"],
  "k0s-worker": ["k0s-controller"],
};

/** Every tier, after the tiers its gate needs (GATE_NEEDS); ties in this listing's order. */
const TIERS: Tier[] = [
  "gateway",
  "haproxy",
  "dnsdist",
  "shadow-primary",
  "powerdns",
  "k0s-controller",
  "k0s-worker",
  "maglev",
];

/** Tiers in rollout order (each after what its gate needs); tiers that need nothing of each other apply in parallel. */
export const TIER_ORDER: Tier[] = (() => {
  const out: Tier[] = [];
  const visit = (t: Tier, path: Tier[]) => {
    if (out.includes(t)) return;
    if (path.includes(t)) throw new Error(`GATE_NEEDS has a cycle: ${[...path, t].join(" → ")}`);
    for (const n of GATE_NEEDS[t] ?? []) visit(n, [...path, t]);
    out.push(t);
  };
  for (const t of TIERS) visit(t, []);
  return out;
})();

export interface HostOutput {
  tier: Tier;
  hostname: string;
  mgmt: { ipv4: string; ipv6: string };
  ingress?: { ipv4: string; ipv6?: string };
  /** Proxmox VM id; absent for an adopted host. */
  vmId?: number;
}

export interface VipOutput {
  group: string;
  fwmark: number;
  protocols: ("tcp" | "udp")[];
}

export interface ProgramOutputs {
  /** The host records for the DNS automation (`pulumi stack output dnsRecords --json`). */
  dnsRecords: DnsRecord[];
  /** Host name → tier, addresses, VM id. */
  hosts: Record<string, HostOutput>;
  /** `VIP:port` (IPv6 as `[VIP]:port`) → backend group, fwmark, protocols. */
  vips: Record<string, VipOutput>;
  /**
   * Prometheus alert rules for this environment (src/monitoring/rules.ts), the same file as
   * `npm run render`'s alert-rules.yml: `pulumi stack output alertRules > maglev-<env>.rules.yml`.
   */
  alertRules: string;
  /**
   * Grafana dashboard JSON on the same metrics (src/monitoring/dashboard.ts), the same file as
   * `npm run render`'s grafana-dashboard.json: `pulumi stack output grafanaDashboard > maglev-<env>.json`.
   */
  grafanaDashboard: string;
  /** Admin kubeconfig of the k0s cluster (secret); only when the stack has a k0s controller. */
  kubeconfig?: pulumi.Output<string>;
  /**
   * The pinned SSH host keys as known_hosts lines (`<mgmt IPv4> ssh-ed25519 <base64>`), in
   * host order: `pulumi stack output knownHosts > known_hosts` for the day-2 commands.
   */
  knownHosts: pulumi.Output<string>;
}

/** known_hosts lines for the hosts' pinned keys, one per host, in the order given. */
export function knownHostsOutput(
  hosts: { address: string; hostKey: pulumi.Input<string> }[],
): pulumi.Output<string> {
  return pulumi
    .all(hosts.map((h) => pulumi.output(h.hostKey).apply((k) => `${h.address} ${k}`)))
    .apply((lines) => lines.map((l) => `${l}\n`).join(""));
}

/** How the program treats a placeholder (all-zero, all-f) sha256 of a download some host needs. */
export type PlaceholderDigests = "reject" | "allow";

export interface ProgramOptions {
  /**
   * `pulumi preview` / `pulumi up` (index.ts) reject them: the host's download step would
   * refuse the binary, so the update would fail late, at k0s00, with every worker waiting.
   * Only the mock-runtime tools (tests, benches) pass "allow", so a stack whose releases are
   * not pinned yet can still be synthesized for review. @default "reject"
   */
  readonly placeholderDigests?: PlaceholderDigests;
}

/** The stack's file, as Pulumi finds it (Pulumi.yaml: `stackConfigDir: stacks`). */
export function stackFileOf(stack: string): string {
  return `stacks/Pulumi.${stack}.yaml`;
}

/** Read and validate the environment; throws a ConfigValidationError listing every problem (file, path, value). */
export function readEnvironment(config: pulumi.Config, opts: ProgramOptions = {}): Environment {
  const raw = config.requireObject<unknown>("environment");
  const r = validateEnvironment(raw, {
    requirePinnedDigests: (opts.placeholderDigests ?? "reject") === "reject",
  });
  if (!r.ok)
    throw new ConfigValidationError(
      `${stackFileOf(pulumi.getStack())} (stack ${pulumi.getStack()})`,
      r.errors,
    );
  return r.env;
}

/**
 * Secret config keys the plans reference, sorted; each is read with `requireSecret`, so a
 * missing one fails before anything is registered. PROGRAM_SECRET_KEYS are not config keys:
 * left out.
 */
export function referencedSecretKeys(plans: HostPlan[]): string[] {
  const keys = new Set(plans.flatMap((p) => p.files.flatMap((f) => f.secretKeys ?? [])));
  const bad = [...keys].filter((k) => !/^[A-Za-z][A-Za-z0-9]*$/.test(k));
  if (bad.length)
    throw new Error(
      `plans reference secret keys that are not config key names: ${bad.sort().join(", ")}`,
    );
  return [...keys].filter((k) => !PROGRAM_SECRET_KEYS.includes(k)).sort();
}

export function vipKey(vip: string, port: number): string {
  return vip.includes(":") ? `[${vip}]:${port}` : `${vip}:${port}`;
}

export function vipsOutput(rows: VipPort[]): Record<string, VipOutput> {
  const out: Record<string, VipOutput> = {};
  for (const r of rows) {
    const k = vipKey(r.vip, r.port);
    const e = out[k];
    if (!e) out[k] = { group: r.group, fwmark: r.fwmark, protocols: [r.protocol] };
    else {
      if (e.group !== r.group) throw new Error(`${k}: mapped to groups ${e.group} and ${r.group}`);
      if (!e.protocols.includes(r.protocol)) e.protocols = [...e.protocols, r.protocol].sort();
    }
  }
  return out;
}

export function hostsOutput(topo: Topology): Record<string, HostOutput> {
  return Object.fromEntries(
    topo.hosts.map((h) => [
      h.name,
      {
        tier: h.tier,
        hostname: h.hostname,
        mgmt: { ...h.mgmt },
        ...(h.ingress ? { ingress: { ...h.ingress } } : {}),
        ...(h.vm ? { vmId: h.vm.id } : {}),
      },
    ]),
  );
}

/**
 * The `up` credentials from the config, when they are there (see BASE_SECRET_KEYS); when not,
 * checks that the environment will supply them: the Proxmox token for any run that needs the
 * provider (a preview configures it too), the ssh-agent for an update (a preview connects to
 * no host). Fails before anything is registered, naming both ways.
 */
export function upCredentials(
  config: pulumi.Config,
  needsProxmox: boolean,
  environ: Record<string, string | undefined>,
  dryRun: boolean,
): { sshPrivateKey?: pulumi.Output<string>; proxmoxApiToken?: pulumi.Output<string> } {
  const key = config.getSecret("sshPrivateKey");
  const token = needsProxmox ? config.getSecret("proxmoxApiToken") : undefined;
  const missing: string[] = [];
  if (needsProxmox && !token && !environ[PROXMOX_TOKEN_ENV])
    missing.push(
      `the Proxmox API token (export ${PROXMOX_TOKEN_ENV}, or pulumi config set --secret ${CONFIG_NAMESPACE}:proxmoxApiToken)`,
    );
  if (!dryRun && !key && !environ[SSH_AGENT_ENV])
    missing.push(
      `the hosts' SSH key (an ssh-agent at ${SSH_AGENT_ENV} that holds it: eval "$(ssh-agent)" && ssh-add <key>; or pulumi config set --secret ${CONFIG_NAMESPACE}:sshPrivateKey)`,
    );
  if (missing.length)
    throw new Error(`stack ${pulumi.getStack()}: missing ${missing.join("; missing ")}`);
  return { ...(key ? { sshPrivateKey: key } : {}), ...(token ? { proxmoxApiToken: token } : {}) };
}

type TierClass = new (
  name: string,
  args: ManagedHostArgs,
  opts?: pulumi.ComponentResourceOptions,
) => ManagedHost;
const TIER_CLASS: Record<Exclude<Tier, "k0s-controller" | "k0s-worker">, TierClass> = {
  gateway: Gateway,
  maglev: MaglevNode,
  haproxy: HaproxyNode,
  dnsdist: DnsdistNode,
  powerdns: PowerDnsNode,
  "shadow-primary": ShadowPrimary,
};

/** Register every resource of the stack and return its outputs. */
export function main(opts: ProgramOptions = {}): ProgramOutputs {
  const config = new pulumi.Config(CONFIG_NAMESPACE);

  // 1. Everything that can fail on the user's input, before any resource exists.
  const env = readEnvironment(config, opts);
  const topo = deriveTopology(env);
  const plans = buildPlans(topo);
  const planOf = new Map(plans.map((p) => [p.name, p]));
  const needsProxmox = topo.hosts.some((h) => h.provider === "proxmox");
  const imports = importVmHosts(config.getObject<unknown>(IMPORT_VMS_KEY), topo);
  const credentials = upCredentials(config, needsProxmox, process.env, pulumi.runtime.isDryRun());
  const ssh: SshSettings = {
    user: env.proxmox.user,
    ...(credentials.sshPrivateKey ? { privateKey: credentials.sshPrivateKey } : {}),
  };
  const secrets = Object.fromEntries(
    referencedSecretKeys(plans).map((k) => [k, config.requireSecret(k)]),
  );
  const proxmoxArgs = needsProxmox
    ? {
        endpoint: config.require(PROXMOX_ENDPOINT_KEY),
        ...(credentials.proxmoxApiToken ? { apiToken: credentials.proxmoxApiToken } : {}),
        insecure: config.getBoolean(PROXMOX_INSECURE_KEY) ?? false,
      }
    : undefined;

  // 2. Resources. One explicit provider: no ambient PROXMOX_VE_* environment is used.
  const proxmoxProvider = proxmoxArgs ? new proxmoxve.Provider("proxmox", proxmoxArgs) : undefined;
  /** Where a host sits in the rollout: what its apply waits for, and the teardowns of those hosts. */
  interface Slot {
    after: pulumi.Resource[];
    teardownAfter: pulumi.Resource[];
  }
  const base = (h: HostFacts, slot: Slot): ManagedHostArgs => ({
    host: h,
    plan: planOf.get(h.name)!,
    env,
    ssh,
    proxmoxProvider,
    secrets,
    after: slot.after,
    teardownAfter: slot.teardownAfter,
    importVm: imports.has(h.name),
  });

  // Hosts of a tier in name order (the topology's); each starts after the previous one's
  // health gate, and is torn down before it (its teardown depends on the previous one's).
  const byTier = (t: Tier) => topo.hosts.filter((h) => h.tier === t);
  const made = new Map<string, ManagedHost>();
  const serial = <T extends ManagedHost>(
    t: Tier,
    start: Slot,
    make: (h: HostFacts, slot: Slot, i: number) => T,
  ): T[] => {
    const out: T[] = [];
    let slot = start;
    byTier(t).forEach((h, i) => {
      const c = make(h, slot, i);
      out.push(c);
      made.set(h.name, c);
      slot = { after: c.gate, teardownAfter: [c.teardown] };
    });
    return out;
  };
  const simple = (t: keyof typeof TIER_CLASS, start: Slot = { after: [], teardownAfter: [] }) =>
    serial(t, start, (h, slot) => new TIER_CLASS[t](h.name, base(h, slot)));

  // Every tier before the tiers whose health gates need it (GATE_NEEDS): on a fresh
  // environment one `up` converges, no gate waits for a host that is not ordered before it.
  // `pulumi destroy` runs the same graph backwards: the maglevs are torn down first.
  const last = new Map<Tier, ManagedHost>();
  const record = <T extends ManagedHost>(t: Tier, hosts: T[]) => {
    if (hosts.length) last.set(t, hosts[hosts.length - 1]);
    return hosts;
  };
  const needs = (t: Tier): Slot => {
    const hosts = (GATE_NEEDS[t] ?? []).flatMap((n) => (last.has(n) ? [last.get(n)!] : []));
    return { after: hosts.flatMap((x) => x.gate), teardownAfter: hosts.map((x) => x.teardown) };
  };
  let primary: K0sController | undefined;
  for (const t of TIER_ORDER) {
    if (t === "k0s-controller") {
      const controllers = serial(
        t,
        needs(t),
        (h, slot, i) => new K0sController(h.name, { ...base(h, slot), primary: i === 0 }),
      );
      primary = controllers[0];
      record(t, controllers);
    } else if (t === "k0s-worker") {
      // Each worker's join token is minted on the primary controller right before its apply
      // and travels in that apply as the secret k0sJoinToken of its plan (components/k0s.ts).
      const controller = primary;
      record(
        t,
        serial(
          t,
          needs(t),
          (h, slot) =>
            new K0sWorker(h.name, { ...base(h, slot), ...(controller ? { controller } : {}) }),
        ),
      );
    } else record(t, simple(t, needs(t)));
  }

  return {
    dnsRecords: topo.dnsRecords,
    hosts: hostsOutput(topo),
    vips: vipsOutput(topo.vipPorts),
    alertRules: alertRules(topo),
    grafanaDashboard: grafanaDashboard(topo),
    knownHosts: knownHostsOutput(
      topo.hosts.map((h) => ({ address: h.mgmt.ipv4, hostKey: made.get(h.name)!.hostKey })),
    ),
    ...(primary?.kubeconfig ? { kubeconfig: primary.kubeconfig } : {}),
  };
}
