/**
 * ManagedHost: the building block every tier component is made of. It
 *   1. creates the host's Proxmox VM (clone of the cloud-init template, NICs with the
 *      topology's MACs so netplan names them mgmt0/ingress0, cloud-init, guest agent with a
 *      bounded timeout), or adopts an existing host by its mgmt address (no VM), and
 *   2. pins the host's SSH host key: `<name>-host-key` reads it on first contact and records
 *      it in state; every later command verifies it (the provider's `connection.hostKey`),
 *   3. applies its HostPlan as one transaction, `<name>-apply`: the host's bundle over stdin
 *      (with the secret values its plan needs, when it has any) to scripts/maglev-apply, the
 *      on-host program that stages, checks, drains, activates, gates on health and rolls back.
 *      The lab runs the same command with the same stdin (lab/transport.ts),
 *   4. tears it down when it leaves the stack or the stack is destroyed: `<name>-teardown`
 *      has only a delete step (scripts/host/teardown.sh: drain, stop the services, and on an
 *      adopted host put back what was there before), which runs before the VM is deleted and,
 *      across hosts, in the reverse order of the rollout.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as proxmoxve from "@muhlba91/pulumi-proxmoxve";
import { Environment } from "../src/config/schema";
import { HostFacts } from "../src/topology";
import { HostPlan, Tier } from "../src/plan/types";
import {
  applyCommand,
  applyStdin,
  asRootFor,
  bundleArchive,
  bundleSecretKeys,
  compileBundle,
  CompiledBundle,
  teardownCommand,
} from "../src/bundle";

/** How the components reach a host over SSH. */
export interface SshSettings {
  /** Login user (the cloud-init user); scripts run through `sudo -n sh -c` unless it is root. */
  readonly user: string;
  /**
   * OpenSSH private key, a secret Output from `config.getSecret("sshPrivateKey")`. Left out,
   * the connection carries no key and the command provider authenticates through the
   * ssh-agent at SSH_AUTH_SOCK of the environment Pulumi runs in. @default none (ssh-agent)
   */
  readonly privateKey?: pulumi.Input<string>;
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
  readonly secrets?: Record<string, pulumi.Input<string>>;
  /** Resources the host's apply waits for (the previous host's health gate). @default [] */
  readonly after?: pulumi.Resource[];
  /**
   * The teardowns of the hosts in `after`: this host's teardown depends on them, so Pulumi
   * (which deletes dependents first) tears this host down before them: reverse rollout order.
   * @default []
   */
  readonly teardownAfter?: pulumi.Resource[];
  /** Adopt the existing Proxmox VM `host.vm.id` on `host.vm.node` into the stack instead of cloning one (`pulumi up` imports it). @default false */
  readonly importVm?: boolean;
}

/** What a hook that adds resources before or after the plan's steps gets. */
export interface HostContext {
  readonly parent: pulumi.ComponentResource;
  readonly name: string;
  readonly connection: command.types.input.remote.ConnectionArgs;
  /** The VM, or undefined for an adopted host. */
  readonly vm?: proxmoxve.VmLegacy;
  /** The SSH host key read on first contact: who the host is (a rebuilt VM has a new one). */
  readonly hostKey: pulumi.Output<string>;
  /** Wrap a script so it runs as root. */
  asRoot(script: string): string;
  /** Aliases every child of the host takes (a tier change keeps its URN). */
  readonly aliases: pulumi.Alias[];
  /** The host's compiled bundle (its sha256 changes with any change of the host's plan). */
  readonly bundle: CompiledBundle;
}

/** What a tier class adds to the host's apply (the k0s worker's join token). */
export interface BeforeApply {
  /** Resources the apply also waits for. @default [] */
  after?: pulumi.Resource[];
  /** Secret values the tier makes itself (not stack config), merged into the host's secrets. @default {} */
  secrets?: Record<string, pulumi.Input<string>>;
  /**
   * A command the apply's SSH session runs right after the apply program, only when that
   * succeeded (`&&`), with no stdin: the apply resource then ends only when it has (a k0s
   * worker joining again after its controller was rebuilt). @default none
   */
  then?: string;
}

/** Extension points for the tier classes (k0s worker token). */
export interface ManagedHostHooks {
  /** Resources that must exist before the host's apply, and secrets they produce for it. */
  beforeApply?(ctx: HostContext): BeforeApply;
}

/**
 * The tier classes' type tokens. A component's URN contains its token and its children's URNs
 * contain their parent's, so a host whose tier changes would get new URNs — its VM replaced.
 * Every host therefore aliases every other tier's token and FORMER_TYPES: a tier change (or a
 * renamed token) updates the host in place, its VM keeps its URN.
 */
export const TIER_TYPES: Record<Tier, string> = {
  gateway: "maglev-infra:gateway:Gateway",
  maglev: "maglev-infra:maglev:MaglevNode",
  haproxy: "maglev-infra:haproxy:HaproxyNode",
  "k0s-controller": "maglev-infra:k0s:K0sController",
  "k0s-worker": "maglev-infra:k0s:K0sWorker",
  dnsdist: "maglev-infra:dns:DnsdistNode",
  powerdns: "maglev-infra:dns:PowerDnsNode",
  "shadow-primary": "maglev-infra:dns:ShadowPrimary",
};
/** Tokens tier classes had before a rename: add the old token here when you change one above. */
export const FORMER_TYPES: readonly string[] = [];

/** The type tokens a host of type `type` may have had before: every other tier's and the former ones, sorted. */
export function aliasTypesOf(type: string): string[] {
  return [...new Set([...Object.values(TIER_TYPES), ...FORMER_TYPES])]
    .filter((t) => t !== type)
    .sort();
}

/**
 * The aliases of a host's child: the same child under each former parent. (The engine also
 * derives children's aliases from their parent's; spelled out so the URNs a host keeps do not
 * rest on that, and so a test can check them.)
 */
export function childAliases(hostName: string, hostType: string): pulumi.Alias[] {
  return aliasTypesOf(hostType).map((t) => ({ parent: pulumi.createUrn(hostName, t) }));
}

export const DEFAULT_PER_DIAL_TIMEOUT = 10;
/** Proxmox retries of a clone that timed out on the template's lock. */
export const CLONE_RETRIES = 5;
export const DEFAULT_DIAL_ERROR_LIMIT = 30;
/** The host key every later command verifies: the one sshd offers first on Debian 12. */
export const HOST_KEY_FILE = "/etc/ssh/ssh_host_ed25519_key.pub";

/**
 * The host key as `connection.hostKey` takes it ("ssh-ed25519 <base64>", the provider parses
 * it with ssh.ParseAuthorizedKey and accepts only that key: pulumi/pulumi-command#755, #794).
 * Anything else read on first contact fails the update here, naming the host.
 */
export function parseHostKey(hostname: string, text: string): string {
  const m = /^(ssh-ed25519) ([A-Za-z0-9+/]{68})(?: \S.*)?$/.exec(text.trim());
  if (!m)
    throw new Error(
      `${hostname}: ${HOST_KEY_FILE} does not hold an ed25519 host key (read on first contact): cannot pin it`,
    );
  return `${m[1]} ${m[2]}`;
}

export { asRootFor };

/** The secret keys a plan needs, sorted. */
export function planSecretKeys(plan: HostPlan): string[] {
  return [...new Set(plan.files.flatMap((f) => f.secretKeys ?? []))].sort();
}

function prefixLen(cidr: string): string {
  return cidr.split("/")[1];
}

/** The ID `pulumi import` and the `import` option take for a host's VM: `<node>/<vmid>`. */
export function vmImportId(host: HostFacts): string {
  if (!host.vm)
    throw new Error(`${host.name}: an adopted host (provider: existing) has no VM to import`);
  return `${host.vm.node}/${host.vm.id}`;
}

/** The Proxmox VM of a host: a full clone of the template with the topology's MACs and cloud-init. */
export function provisionVm(
  parent: pulumi.Resource,
  name: string,
  host: HostFacts,
  env: Environment,
  provider: pulumi.ProviderResource,
  aliases: pulumi.Alias[] = [],
  importVm = false,
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
      description: `${env.name} ${host.tier} ${host.hostname} (managed by maglev-infra)`,
      tags: ["maglev-infra", env.name, host.tier],
      // Templates live on the default node; a full clone may land on another node. Several
      // clones of one template at once time out on its lock ("can't lock file … got timeout":
      // bpg/terraform-provider-proxmox #995, #1521, #2145): Proxmox retries the clone.
      clone: {
        vmId: vm.template,
        nodeName: env.proxmox.defaults.node,
        full: true,
        datastoreId: vm.datastore,
        retries: CLONE_RETRIES,
      },
      // A new `vm.node` moves the VM (live migration) instead of replacing it: the provider
      // forces a new VM on a node_name change only while migrate is false
      // (bpg/terraform-provider-proxmox, proxmoxtf/resource/vm/vm.go, CustomizeDiff:
      // `customdiff.ForceNewIf(mkNodeName, … return !d.Get(mkMigrate).(bool))`).
      migrate: true,
      cpu: { cores: vm.cores, type: "host" },
      memory: { dedicated: vm.memoryMb },
      disks: [
        {
          interface: "scsi0",
          datastoreId: vm.datastore,
          size: vm.diskGb,
          discard: "on",
          iothread: true,
        },
      ],
      scsiHardware: "virtio-scsi-single",
      networkDevices: [
        nic(n.mgmt, host.macs.mgmt),
        ...(host.ingress ? [nic(n.ingress, host.macs.ingress)] : []),
      ],
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
            ipv4: {
              address: `${host.mgmt.ipv4}/${prefixLen(n.mgmt.ipv4)}`,
              ...(n.mgmt.gateway4 ? { gateway: n.mgmt.gateway4 } : {}),
            },
            ipv6: {
              address: `${host.mgmt.ipv6}/${prefixLen(n.mgmt.ipv6)}`,
              ...(n.mgmt.gateway6 ? { gateway: n.mgmt.gateway6 } : {}),
            },
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
      // A tier change keeps the VM (see TIER_TYPES).
      aliases,
      // The bpg provider's import ID of a VM is "<node>/<vmid>" (vm.go's Importer,
      // parseImportIDWithNodeName; the SDK's example: `pulumi import … first-node/4321`).
      // Pulumi imports it only if the VM matches these inputs (clone, cloud-init and the
      // disk's path are ignored below).
      ...(importVm ? { import: vmImportId(host) } : {}),
      protect: vm.protect,
      // The VM id is fixed by the stack: a replacement (e.g. a new template) must delete the old
      // VM before it creates the new one, or the create collides on the id.
      deleteBeforeReplace: true,
      // Cloud-init only acts on first boot and the clone source only at create: changing
      // them later must not replace a running VM. The disk's file format and path are
      // filled in by Proxmox after the clone and would otherwise show as drift.
      ignoreChanges: [
        "clone",
        "initialization",
        "disks[0].fileFormat",
        "disks[0].pathInDatastore",
        "disks[0].speed",
      ],
    },
  );
}

/**
 * One transaction per host: the bundle goes over the apply command's stdin and the on-host
 * program (scripts/maglev-apply) stages, checks, drains, activates, gates on health and
 * rolls back by itself. Triggers: the bundle's and the program's sha256 and the manifest
 * (visible: `pulumi preview --diff` lists which file changes on which host).
 *
 * Secrets travel inside the apply: for a host with secrets the stdin archive carries
 * `secrets.json` (the values its placeholders need) and its hash, so stdin is a secret input;
 * scripts/host/apply-bootstrap.py installs it as /etc/maglev-infra/secrets.json (root-only,
 * atomically, only when it differs) and the program verifies the hash. Why not a command of
 * their own: one SSH session per host apply, and the values and the bundle that needs them
 * arrive together, so no run can leave new secrets next to an old bundle. A rotation changes
 * stdin, so the host re-applies (through the tier's serial chain and its health gates) while
 * the manifest stays readable. (A `<host>-secrets` resource left in an existing stack's state
 * has no delete step: removing it runs nothing on the host, and the file stays where the apply
 * now installs it.) A change of the connection (key rotation, user) is an Update, which re-runs
 * `create`: the same apply, which then finds "unchanged".
 */
export function applyBundle(
  parent: pulumi.Resource,
  name: string,
  args: {
    plan: HostPlan;
    stack: string;
    connection: command.types.input.remote.ConnectionArgs;
    user: string;
    secrets: Record<string, pulumi.Input<string>>;
    first: pulumi.Resource[];
    /** Aliases of the host's children (a tier change keeps their URNs). @default [] */
    aliases?: pulumi.Alias[];
    /** The VM whose replacement re-runs these commands on the new VM. @default none */
    vm?: pulumi.Resource;
    /** The plan compiled already. @default compileBundle(stack, plan) */
    compiled?: CompiledBundle;
    /** Run after the apply program in the same session, only if it succeeded (BeforeApply.then). @default none */
    then?: string;
  },
): command.remote.Command {
  const { plan, connection, user, secrets, first } = args;
  // A rebuilt VM is a new host: without replaceWith the commands would keep their state
  // (their inputs did not change) and the new VM would stay unconfigured.
  const lifecycle: pulumi.CustomResourceOptions = {
    aliases: args.aliases ?? [],
    ...(args.vm ? { replaceWith: [args.vm] } : {}),
  };
  const compiled = args.compiled ?? compileBundle(args.stack, plan);
  const keys = bundleSecretKeys(compiled.bundle);
  let stdin: pulumi.Input<string>;
  if (keys.length) {
    const values = Object.fromEntries(
      keys.map((k) => {
        const v = secrets[k];
        if (v === undefined)
          throw new Error(
            `${plan.hostname}: its plan needs secret "${k}", which the program did not read`,
          );
        return [k, v];
      }),
    );
    // The values are in the archive: it is a secret, and so is the whole of stdin.
    stdin = pulumi.secret(
      pulumi.all(values).apply((vals) => applyStdin(compiled, vals as Record<string, string>)),
    );
  } else stdin = bundleArchive(compiled, "");
  return new command.remote.Command(
    `${name}-apply`,
    {
      connection,
      create: args.then ? `${applyCommand(user)} && ${args.then}` : applyCommand(user),
      stdin,
      triggers: [compiled.sha256, compiled.programSha256, ...compiled.manifest],
      // The program prints one line per phase and never a secret value (it prints the
      // placeholder). A command that carries a secret logs nothing (the policy pack checks
      // it): an apply whose archive holds secrets runs silently, and its failure still shows
      // every phase line, because the provider puts the command's output into the error of a
      // failed run whatever `logging` says (pulumi-command v1.2.1,
      // provider/pkg/provider/remote/commandOutputs.go: "running %q:\n%s").
      logging: keys.length
        ? command.types.enums.remote.Logging.None
        : command.types.enums.remote.Logging.StdoutAndStderr,
    },
    {
      parent,
      dependsOn: first,
      ...(keys.length ? { additionalSecretOutputs: ["stdin"] } : {}),
      ...lifecycle,
    },
  );
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
  /** The host's apply command (bundle and secrets → apply program → health gate). */
  public readonly apply: command.remote.Command;
  /** What the next host of the tier waits for: the apply, which ends with the host's health gate. */
  public readonly gate: pulumi.Resource[];
  /** The SSH connection the host's commands use: the private key inside is secret, the host key pinned. */
  public readonly connection: command.types.input.remote.ConnectionArgs;
  /** The host's SSH host key ("ssh-ed25519 <base64>"), recorded on first contact and verified by every later command. */
  public readonly hostKey: pulumi.Output<string>;
  /** The command that read the host key on first contact. */
  public readonly hostKeyCommand: command.remote.Command;
  /** The aliases each child of the host takes (a tier change keeps its URN). */
  public readonly childAliases: pulumi.Alias[];
  /** Has only a delete step: drains the host and stops its services before its VM goes (`pulumi destroy`, a host removed from the stack). */
  public readonly teardown: command.remote.Command;

  protected constructor(
    type: string,
    tier: Tier,
    name: string,
    args: ManagedHostArgs,
    opts?: pulumi.ComponentResourceOptions,
    hooks: ManagedHostHooks = {},
  ) {
    // A tier change or a renamed token keeps the host's URNs (see TIER_TYPES).
    super(
      type,
      name,
      {},
      {
        ...opts,
        aliases: [...(opts?.aliases ?? []), ...aliasTypesOf(type).map((t) => ({ type: t }))],
      },
    );
    const { host, plan, env, ssh } = args;
    if (plan.tier !== tier || host.tier !== tier)
      throw new Error(
        `${type} ${name}: expected a ${tier} host, got ${host.tier} (plan ${plan.tier})`,
      );
    if (plan.name !== host.name)
      throw new Error(`${type} ${name}: plan of ${plan.name} given for host ${host.name}`);

    this.hostname = host.hostname;
    this.tier = tier;
    this.mgmtAddress = host.mgmt.ipv4;
    const aliases = childAliases(name, type);
    this.childAliases = aliases;
    const firstContact: command.types.input.remote.ConnectionArgs = {
      host: host.mgmt.ipv4,
      user: ssh.user,
      ...(ssh.privateKey !== undefined ? { privateKey: ssh.privateKey } : {}),
      perDialTimeout: ssh.perDialTimeout ?? DEFAULT_PER_DIAL_TIMEOUT,
      dialErrorLimit: ssh.dialErrorLimit ?? DEFAULT_DIAL_ERROR_LIMIT,
    };

    if (host.provider === "proxmox") {
      if (!host.vm) throw new Error(`${type} ${name}: a proxmox host needs a VM placement`);
      if (!args.proxmoxProvider)
        throw new Error(`${type} ${name}: a proxmox host needs the Proxmox provider`);
      this.vm = provisionVm(
        this,
        name,
        host,
        env,
        args.proxmoxProvider,
        aliases,
        args.importVm ?? false,
      );
      this.vmId = host.vm.id;
    }
    const rebuilt: pulumi.CustomResourceOptions = this.vm ? { replaceWith: [this.vm] } : {};

    // SSH host key pinning, trust on first use: the provider accepts any host key when
    // `connection.hostKey` is unset (pulumi/pulumi-command#755: "collect the host key, save it
    // and then use it to verify the host's identity in future commands"; #794 added hostKey).
    // This command is the first contact, right after the VM is created (or, for an adopted
    // host, the first `up`); its stdout is kept in state and every other command of the host
    // connects with it as `hostKey`, so a different machine answering on the address later
    // fails the handshake ("ssh: host key mismatch") before anything is sent. A rebuilt VM
    // has new keys: replaceWith reads them again. A changed connection (a rotated private key,
    // another login user) must not read it again: an update of a Command re-runs its `create`
    // (pulumi-command v1.2.1, commandController.go Update: `create` when there is no `update`),
    // over this unverified connection, so whatever answered then would be trusted afresh.
    // ignoreChanges keeps the first contact the only one.
    this.hostKeyCommand = new command.remote.Command(
      `${name}-host-key`,
      {
        connection: firstContact,
        create: `cat ${HOST_KEY_FILE}`,
        logging: command.types.enums.remote.Logging.None,
      },
      {
        parent: this,
        dependsOn: this.vm ? [this.vm] : [],
        aliases,
        ignoreChanges: ["connection"],
        ...rebuilt,
      },
    );
    this.hostKey = this.hostKeyCommand.stdout.apply((text) => parseHostKey(host.hostname, text));
    this.connection = { ...firstContact, hostKey: this.hostKey };

    const compiled = compileBundle(env.name, plan);
    const ctx: HostContext = {
      parent: this,
      name,
      connection: this.connection,
      vm: this.vm,
      hostKey: this.hostKey,
      asRoot: asRootFor(ssh.user),
      aliases,
      bundle: compiled,
    };
    const extra = hooks.beforeApply?.(ctx) ?? {};
    this.apply = applyBundle(this, name, {
      plan,
      stack: env.name,
      connection: this.connection,
      user: ssh.user,
      secrets: { ...(args.secrets ?? {}), ...(extra.secrets ?? {}) },
      first: [...(this.vm ? [this.vm] : []), ...(args.after ?? []), ...(extra.after ?? [])],
      aliases,
      vm: this.vm,
      compiled,
      ...(extra.then ? { then: extra.then } : {}),
    });
    this.gate = [this.apply];

    // Removal and destroy. Only a delete step: its triggers never change, so it is never
    // replaced by a re-apply (a changed trigger replaces a Command, and a replaced resource's
    // delete runs: pulumi-command's triggers are replaceOnChanges). Its `delete` follows the
    // plan by an in-place update, which runs nothing (no create, no update command). It
    // depends on the host's apply and VM, and on the teardowns of the hosts rolled out before
    // this one; Pulumi deletes dependents first, so it runs before the VM is deleted and in
    // the reverse order of the rollout (maglevs first, gateways last).
    this.teardown = new command.remote.Command(
      `${name}-teardown`,
      {
        connection: this.connection,
        delete: teardownCommand(ssh.user, plan, host.provider === "proxmox" ? "vm" : "adopted"),
        logging: command.types.enums.remote.Logging.StdoutAndStderr,
      },
      {
        parent: this,
        dependsOn: [this.apply, ...(this.vm ? [this.vm] : []), ...(args.teardownAfter ?? [])],
        aliases,
        ...rebuilt,
      },
    );
  }

  /** The outputs every host registers; tier classes add theirs. */
  protected hostOutputs(): pulumi.Inputs {
    return {
      hostname: this.hostname,
      tier: this.tier,
      mgmtAddress: this.mgmtAddress,
      vmId: this.vmId,
      hostKey: this.hostKey,
    };
  }
}
