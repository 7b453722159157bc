/**
 * ManagedHost: the building block every tier component is made of. It
 *   1. creates the host's Proxmox VM (clone of the cloud-init template, NICs with the
 *      topology's MACs so netplan names them mgmt0/ingress0, cloud-init, guest agent with a
 *      bounded timeout), or adopts an existing host by its mgmt address (no VM), and
 *   2. turns the host's HostPlan into @pulumi/command resources, one per step of
 *      `applySteps` — the one implementation of stage → validate → activate. Nothing here
 *      decides what a step does; it only transports the step to the host over SSH.
 *
 * Per file the resources are
 *   `<name>-prepare-<slug>` (staging dir, old staged copy removed) → `<name>-upload-<slug>`
 *   (CopyToRemote of the content) → `<name>-stage-<slug>` (owner/mode) →
 *   `<name>-validate-<slug>` (the daemon's checker on the staged copy) →
 *   `<name>-activate-<slug>` (atomic rename, reload/restart).
 * A file built from secrets has no CopyToRemote: its content is a secret Output and goes
 * over the stage command's stdin (secret, never logged), see `stageSecretFile`.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as proxmoxve from "@muhlba91/pulumi-proxmoxve";
import { createHash } from "crypto";
import { Environment } from "../src/config/schema";
import { HostFacts } from "../src/topology";
import { HostPlan, PlannedFile, Tier } from "../src/plan/types";
import { applySteps, fileSlug, ServiceManager, STAGING_DIR, Step, systemd } from "../src/apply/steps";

/** How the components reach a host over SSH. */
export interface SshSettings {
  /** Login user (the cloud-init user); scripts run through `sudo -n sh -c` unless it is root. */
  readonly user: string;
  /** OpenSSH private key, a secret Output from `config.requireSecret("sshPrivateKey")`. */
  readonly privateKey: pulumi.Input<string>;
  /** Seconds one SSH dial may take. @default 10 */
  readonly perDialTimeout?: number;
  /** Failed dials before a step gives up, so an unreachable host fails in bounded time. @default 30 (≈ 5 min: a fresh VM's first boot) */
  readonly dialErrorLimit?: number;
}

export interface ManagedHostArgs {
  /** The host's derived facts: addresses, MACs, resolved VM placement. */
  readonly host: HostFacts;
  /** What to apply: the host's plan from `buildPlans`. */
  readonly plan: HostPlan;
  /** The validated environment (networks, Proxmox defaults, DNS). */
  readonly env: Environment;
  /** SSH settings for every command on this host. */
  readonly ssh: SshSettings;
  /** Proxmox provider; required when `host.provider` is `proxmox`. @default none (adopted host) */
  readonly proxmoxProvider?: pulumi.ProviderResource;
  /** Secret values by key, for files whose `secretKeys` name them. @default {} */
  readonly secrets?: Record<string, pulumi.Output<string>>;
  /** Resources the host's first apply step waits for (the previous host's health gate). @default [] */
  readonly after?: pulumi.Resource[];
  /** Service manager the step scripts are rendered for. @default systemd */
  readonly serviceManager?: ServiceManager;
}

/** What a hook that adds resources before or after the plan's steps gets. */
export interface HostContext {
  readonly parent: pulumi.ComponentResource;
  readonly name: string;
  readonly connection: command.types.input.remote.ConnectionArgs;
  /** The VM, or undefined for an adopted host. */
  readonly vm?: proxmoxve.VmLegacy;
  /** Wrap a script so it runs as root. */
  asRoot(script: string): string;
}

/** Extension points for the tier classes (k0s worker token, kubeconfig). */
export interface ManagedHostHooks {
  /** Resources the first apply step must also wait for (e.g. the worker's join token). */
  beforeApply?(ctx: HostContext): pulumi.Resource[];
}

export const DEFAULT_PER_DIAL_TIMEOUT = 10;
export const DEFAULT_DIAL_ERROR_LIMIT = 30;

/** Single-quote for sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `sudo -n sh -c '<script>'`: non-interactive, so a missing sudo rule fails instead of hanging. */
export function asRootFor(user: string): (script: string) => string {
  return (script) => (user === "root" ? script : `sudo -n sh -c ${shq(script)}`);
}

const PLACEHOLDER = /\{\{secret:([A-Za-z0-9_.-]+)\}\}/g;

/**
 * Put the secret values into a file's `{{secret:<key>}}` placeholders. Pure; fails if the
 * content has a placeholder the file does not declare or a value is missing, so a literal
 * placeholder never reaches a host.
 */
export function fillSecrets(f: Pick<PlannedFile, "path" | "content" | "secretKeys">, values: Record<string, string>): string {
  const declared = new Set(f.secretKeys ?? []);
  return f.content.replace(PLACEHOLDER, (_m, key: string) => {
    if (!declared.has(key)) throw new Error(`${f.path}: placeholder {{secret:${key}}} is not in the file's secretKeys`);
    const v = values[key];
    if (v === undefined) throw new Error(`${f.path}: no value for secret ${key}`);
    return v;
  });
}

/** The secret keys a plan needs, sorted. */
export function planSecretKeys(plan: HostPlan): string[] {
  return [...new Set(plan.files.flatMap((f) => f.secretKeys ?? []))].sort();
}

function prefixLen(cidr: string): string {
  return cidr.split("/")[1];
}

/** The Proxmox VM of a host: a full clone of the template with the topology's MACs and cloud-init. */
export function provisionVm(
  parent: pulumi.Resource,
  name: string,
  host: HostFacts,
  env: Environment,
  provider: pulumi.ProviderResource,
): proxmoxve.VmLegacy {
  const vm = host.vm!;
  const n = env.networks;
  const nic = (net: Environment["networks"]["mgmt"], mac: string) => ({
    model: "virtio",
    bridge: net.bridge,
    ...(net.vlan !== undefined ? { vlanId: net.vlan } : {}),
    macAddress: mac,
    mtu: net.mtu,
    firewall: false,
  });
  return new proxmoxve.VmLegacy(
    name,
    {
      name: host.hostname,
      nodeName: vm.node,
      vmId: vm.id,
      description: `${env.name} ${host.role} ${host.hostname} (managed by maglev-infra)`,
      tags: ["maglev-infra", env.name, host.role],
      // Templates live on the default node; a full clone may land on another node.
      clone: { vmId: vm.template, nodeName: env.proxmox.defaults.node, full: true, datastoreId: vm.datastore },
      cpu: { cores: vm.cores, type: "host" },
      memory: { dedicated: vm.memoryMb },
      disks: [{ interface: "scsi0", datastoreId: vm.datastore, size: vm.diskGb, discard: "on", iothread: true }],
      scsiHardware: "virtio-scsi-single",
      networkDevices: [nic(n.mgmt, host.macs.mgmt), ...(host.ingress ? [nic(n.ingress, host.macs.ingress)] : [])],
      operatingSystem: { type: "l26" },
      // The provider waits for the agent to report addresses; bounded so a VM without a
      // working agent fails the create instead of hanging it.
      agent: { enabled: true, trim: true, timeout: `${env.proxmox.agentTimeoutSeconds}s` },
      initialization: {
        datastoreId: vm.datastore,
        userAccount: { username: env.proxmox.user, keys: [env.proxmox.sshPublicKey] },
        dns: { domain: env.dns.zone, servers: env.dns.resolvers },
        // Only the mgmt NIC gets an address from cloud-init: enough to reach SSH. The base
        // plan's netplan file then owns both NICs (named by MAC).
        ipConfigs: [
          {
            ipv4: { address: `${host.mgmt.ipv4}/${prefixLen(n.mgmt.ipv4)}`, ...(n.mgmt.gateway4 ? { gateway: n.mgmt.gateway4 } : {}) },
            ipv6: { address: `${host.mgmt.ipv6}/${prefixLen(n.mgmt.ipv6)}`, ...(n.mgmt.gateway6 ? { gateway: n.mgmt.gateway6 } : {}) },
          },
        ],
      },
      onBoot: true,
      started: true,
      stopOnDestroy: true,
    },
    {
      parent,
      provider,
      protect: vm.protect,
      // Cloud-init only acts on first boot and the clone source only at create: changing
      // them later must not replace a running VM. The disk's file format and path are
      // filled in by Proxmox after the clone and would otherwise show as drift.
      ignoreChanges: ["clone", "initialization", "disks[0].fileFormat", "disks[0].pathInDatastore", "disks[0].speed"],
    },
  );
}

/**
 * The apply chain of one host: one resource per step (plus prepare/upload for each staged
 * file). Returns the resources by step id. `first` are the dependencies of the steps that
 * have none in the plan (VM, previous host's gate, hooks).
 */
export function applyPlan(
  parent: pulumi.Resource,
  name: string,
  args: {
    plan: HostPlan;
    steps: Step[];
    connection: command.types.input.remote.ConnectionArgs;
    user: string;
    secrets: Record<string, pulumi.Output<string>>;
    first: pulumi.Resource[];
  },
): Map<string, pulumi.Resource> {
  const { plan, steps, connection, user, secrets, first } = args;
  const asRoot = asRootFor(user);
  const byId = new Map<string, pulumi.Resource>();
  const filesByPath = new Map(plan.files.map((f) => [f.path, f]));

  // Per secret file: its filled content and a hash of it, both secret Outputs. The hash goes
  // into the triggers of the file's validate/activate steps, so rotating a secret re-runs
  // them although the planned content (with placeholders) is unchanged.
  const secretContent = new Map<string, pulumi.Output<string>>();
  const secretHash = new Map<string, pulumi.Output<string>>();
  for (const f of plan.files) {
    if (!f.secretKeys?.length) continue;
    const values = Object.fromEntries(
      f.secretKeys.map((k) => {
        const v = secrets[k];
        if (!v) throw new Error(`${plan.hostname}: ${f.path} needs secret "${k}", which the program did not read`);
        return [k, v];
      }),
    );
    const content = pulumi.secret(pulumi.all(values).apply((vals) => fillSecrets(f, vals as Record<string, string>)));
    secretContent.set(f.path, content);
    secretHash.set(
      f.path,
      pulumi.secret(content.apply((c) => createHash("sha256").update(plan.hostname).update("\0").update(f.path).update("\0").update(c).digest("hex"))),
    );
  }

  for (const step of steps) {
    const deps = step.dependsOn.map((id) => {
      const r = byId.get(id);
      if (!r) throw new Error(`${plan.hostname}: step ${step.id} depends on unknown step ${id}`);
      return r;
    });
    if (step.dependsOn.length === 0) deps.push(...first);
    const file = step.file ? filesByPath.get(step.file) : undefined;
    const isSecret = !!file?.secretKeys?.length;
    const rname = `${name}-${step.id}`;

    if (step.kind === "stage") {
      const f = step.planned ?? file!;
      const slug = fileSlug(f.path);
      if (isSecret) {
        byId.set(
          step.id,
          new command.remote.Command(
            rname,
            {
              connection,
              // The content arrives on stdin, never in the script, the triggers or a log.
              create: asRoot(
                `set -e; install -d -m 0700 -o ${shq(user)} ${shq(STAGING_DIR)}; umask 077; rm -f ${shq(step.stagedPath!)}; ` +
                  `cat > ${shq(step.stagedPath!)}; ${step.script}`,
              ),
              stdin: secretContent.get(f.path)!,
              triggers: [step.hash, secretHash.get(f.path)!],
              logging: command.types.enums.remote.Logging.None,
            },
            { parent, dependsOn: deps, additionalSecretOutputs: ["stdin", "stdout", "stderr"] },
          ),
        );
        continue;
      }
      // The SSH user writes the staged copy (CopyToRemote has no sudo): the staging dir is
      // the user's, and the previous staged copy (chowned to its owner by the stage script)
      // is removed first, or SFTP could not overwrite it.
      const prepare = new command.remote.Command(
        `${name}-prepare-${slug}`,
        {
          connection,
          create: asRoot(`set -e; install -d -m 0700 -o ${shq(user)} ${shq(STAGING_DIR)}; rm -f ${shq(step.stagedPath!)}`),
          triggers: [step.hash],
        },
        { parent, dependsOn: deps },
      );
      const upload = new command.remote.CopyToRemote(
        `${name}-upload-${slug}`,
        { connection, source: new pulumi.asset.StringAsset(f.content), remotePath: step.stagedPath!, triggers: [step.hash] },
        { parent, dependsOn: [prepare] },
      );
      byId.set(
        step.id,
        new command.remote.Command(rname, { connection, create: asRoot(step.script), triggers: [step.hash] }, { parent, dependsOn: [upload] }),
      );
      continue;
    }

    // Every other step: its script, re-run exactly when its hash changes.
    byId.set(
      step.id,
      new command.remote.Command(
        rname,
        {
          connection,
          create: asRoot(step.script),
          triggers: isSecret && step.file ? [step.hash, secretHash.get(step.file)!] : [step.hash],
          // A checker or an activation may echo a line of a secret file: not logged, output secret.
          ...(isSecret ? { logging: command.types.enums.remote.Logging.None } : {}),
        },
        { parent, dependsOn: deps, ...(isSecret ? { additionalSecretOutputs: ["stdout", "stderr"] } : {}) },
      ),
    );
  }
  return byId;
}

/** Step ids no other step depends on: the end of the host's chain (its health gate, when it has one). */
export function terminalSteps(steps: Step[]): string[] {
  const needed = new Set(steps.flatMap((s) => s.dependsOn));
  return steps.filter((s) => !needed.has(s.id)).map((s) => s.id);
}

/**
 * One host of a tier: its VM (or the adopted host) and its plan applied. Tier classes
 * extend it with their type token; see `components/gateway.ts` and siblings.
 */
export abstract class ManagedHost extends pulumi.ComponentResource {
  /** Full hostname. */
  public readonly hostname: string;
  /** The tier the host belongs to. */
  public readonly tier: Tier;
  /** Address every command connects to. */
  public readonly mgmtAddress: string;
  /** The Proxmox VM, or undefined for an adopted (`provider: existing`) host. */
  public readonly vm?: proxmoxve.VmLegacy;
  /** Proxmox VM id, or undefined for an adopted host. */
  public readonly vmId?: number;
  /** The apply resources by step id (`stage-…`, `validate-…`, `activate-…`, `health`, …). */
  public readonly steps: ReadonlyMap<string, pulumi.Resource>;
  /** The last resources of the chain: the next host of the tier starts after them (the health gate). */
  public readonly gate: pulumi.Resource[];
  /** The SSH connection the host's commands use (the private key inside is secret). */
  public readonly connection: command.types.input.remote.ConnectionArgs;

  protected constructor(type: string, tier: Tier, name: string, args: ManagedHostArgs, opts?: pulumi.ComponentResourceOptions, hooks: ManagedHostHooks = {}) {
    super(type, name, {}, opts);
    const { host, plan, env, ssh } = args;
    if (plan.tier !== tier || host.role !== tier) throw new Error(`${type} ${name}: expected a ${tier} host, got ${host.role} (plan ${plan.tier})`);
    if (plan.name !== host.name) throw new Error(`${type} ${name}: plan of ${plan.name} given for host ${host.name}`);

    this.hostname = host.hostname;
    this.tier = tier;
    this.mgmtAddress = host.mgmt.ipv4;
    this.connection = {
      host: host.mgmt.ipv4,
      user: ssh.user,
      privateKey: ssh.privateKey,
      perDialTimeout: ssh.perDialTimeout ?? DEFAULT_PER_DIAL_TIMEOUT,
      dialErrorLimit: ssh.dialErrorLimit ?? DEFAULT_DIAL_ERROR_LIMIT,
    };

    if (host.provider === "proxmox") {
      if (!host.vm) throw new Error(`${type} ${name}: a proxmox host needs a VM placement`);
      if (!args.proxmoxProvider) throw new Error(`${type} ${name}: a proxmox host needs the Proxmox provider`);
      this.vm = provisionVm(this, name, host, env, args.proxmoxProvider);
      this.vmId = host.vm.id;
    }

    const ctx: HostContext = { parent: this, name, connection: this.connection, vm: this.vm, asRoot: asRootFor(ssh.user) };
    const extra = hooks.beforeApply?.(ctx) ?? [];
    const steps = applySteps(plan, args.serviceManager ?? systemd);
    this.steps = applyPlan(this, name, {
      plan,
      steps,
      connection: this.connection,
      user: ssh.user,
      secrets: args.secrets ?? {},
      first: [...(this.vm ? [this.vm] : []), ...(args.after ?? []), ...extra],
    });
    this.gate = terminalSteps(steps).map((id) => this.steps.get(id)!);
  }

  /** The outputs every host registers; tier classes add theirs. */
  protected hostOutputs(): pulumi.Inputs {
    return { hostname: this.hostname, tier: this.tier, mgmtAddress: this.mgmtAddress, vmId: this.vmId };
  }
}
