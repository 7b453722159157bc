/**
 * The maglev-infra policy pack's rules, as plain @pulumi/policy policies (policy/index.ts
 * serves them to the Pulumi CLI; test/policy runs them on the program under mocks).
 *
 * What a policy sees: the inputs with secrets already unwrapped (the analyzer deserializes
 * them as plain values), and the options, among them `additionalSecretOutputs`. So "is this
 * input secret" is read from what the program declares (a command that declares its stdin or
 * stdout a secret output carries a secret), and a credential is recognised by its shape.
 */
import { gunzipSync } from "zlib";
import { EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";

const VM = "proxmoxve:index/vmLegacy:VmLegacy";
const COMMAND = "command:remote:Command";
const PROXMOX_PROVIDER = "pulumi:providers:proxmoxve";

/** Shapes of the credentials this stack handles: an OpenSSH/PEM private key, a Proxmox API token. */
const CREDENTIAL_SHAPES: { what: string; re: RegExp }[] = [
  { what: "a private key", re: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
  {
    what: "a Proxmox API token",
    re: /[A-Za-z0-9._-]+@[A-Za-z0-9._-]+![A-Za-z0-9._-]+=[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/,
  },
];

/** Input paths whose schema makes them secret (the provider encrypts them whatever the program does). */
const SECRET_BY_SCHEMA: Record<string, RegExp> = {
  [PROXMOX_PROVIDER]: /^(apiToken|password|otp|ssh\.password)$/,
  [COMMAND]: /^connection(\.|$)/,
};

/** Every string leaf of `v` with its dotted path. */
function leaves(v: unknown, at = ""): { path: string; value: string }[] {
  if (typeof v === "string") return [{ path: at, value: v }];
  if (Array.isArray(v)) return v.flatMap((e, i) => leaves(e, `${at}[${i}]`));
  if (v && typeof v === "object")
    return Object.entries(v).flatMap(([k, e]) => leaves(e, at ? `${at}.${k}` : k));
  return [];
}

/**
 * The members (name, size) of a command's stdin when it is an apply archive (base64 of a
 * gzipped ustar, src/bundle's bundleArchive); [] for any other stdin. An archive with a non-empty `secrets.json` carries the stack's secret values (every
 * key a host's plan names, whatever its shape): the structural twin of CREDENTIAL_SHAPES.
 */
export function archiveMembers(stdin: unknown): { name: string; size: number }[] {
  if (typeof stdin !== "string" || !/^[A-Za-z0-9+/=\n]+$/.test(stdin)) return [];
  let tar: Buffer;
  try {
    tar = gunzipSync(Buffer.from(stdin.replace(/\n/g, ""), "base64"));
  } catch {
    return [];
  }
  const field = (off: number, len: number) =>
    tar
      .subarray(off, off + len)
      .toString("latin1")
      .replace(/\0.*$/s, "");
  const out: { name: string; size: number }[] = [];
  // ustar headers: name at 0 (100 bytes), size at 124 (12, octal); data in 512-byte blocks.
  for (let off = 0; off + 512 <= tar.length && field(off, 100);) {
    const size = parseInt(field(off + 124, 12).trim(), 8) || 0;
    out.push({ name: field(off, 100), size });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** Whether a command's stdin is an apply archive that holds secret values (a non-empty secrets.json). */
export function stdinHoldsSecrets(stdin: unknown): boolean {
  return archiveMembers(stdin).some((m) => m.name === "secrets.json" && m.size > 0);
}

/** Whether a command declares that it carries a secret (its stdin or stdout a secret output). */
export function carriesSecret(opts: { additionalSecretOutputs?: string[] }): boolean {
  return (opts.additionalSecretOutputs ?? []).some((o) => o === "stdin" || o === "stdout");
}

/** Where an input of a resource may hold a credential: schema-secret paths, and a command's stdin it declares secret. */
function secretPath(
  type: string,
  path: string,
  opts: { additionalSecretOutputs?: string[] },
): boolean {
  if (SECRET_BY_SCHEMA[type]?.test(path)) return true;
  return (
    type === COMMAND && path === "stdin" && (opts.additionalSecretOutputs ?? []).includes("stdin")
  );
}

export const vmGuestAgentOn: ResourceValidationPolicy = {
  name: "vm-guest-agent-on",
  description:
    "Every Proxmox VM has the qemu guest agent on: the provider learns the VM's addresses from it, and a create without it hangs until the agent timeout.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== VM) return;
    if (args.props.agent?.enabled !== true)
      report(`VM ${args.name}: agent.enabled must be true (the template needs qemu-guest-agent)`);
  },
};

export const noSecretInPlainInput: ResourceValidationPolicy = {
  name: "no-secret-in-plain-input",
  description:
    "A credential (private key, Proxmox API token) appears only in an input that is secret: a provider's credential, a command's connection, or a stdin the command declares secret; an apply archive that carries the stack's secret values (secrets.json) only on a stdin declared secret.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (
      args.type === COMMAND &&
      stdinHoldsSecrets(args.props.stdin) &&
      !secretPath(args.type, "stdin", args.opts)
    )
      report(
        `${args.name}: stdin is an apply archive with secret values (secrets.json), but it is not a secret input`,
      );
    for (const leaf of leaves(args.props)) {
      const shape = CREDENTIAL_SHAPES.find((c) => c.re.test(leaf.value));
      // The message names the input, never the value.
      if (shape && !secretPath(args.type, leaf.path, args.opts))
        report(`${args.name}: ${leaf.path} holds ${shape.what}, but it is not a secret input`);
    }
  },
};

export const secretCommandsLogNothing: ResourceValidationPolicy = {
  name: "secret-commands-log-nothing",
  description:
    "A command that carries a secret (a secret stdin or stdout, or a credential on its stdin) logs nothing: logging: none.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== COMMAND) return;
    const credentialOnStdin =
      (typeof args.props.stdin === "string" &&
        CREDENTIAL_SHAPES.some((c) => c.re.test(args.props.stdin))) ||
      stdinHoldsSecrets(args.props.stdin);
    if ((carriesSecret(args.opts) || credentialOnStdin) && args.props.logging !== "none") {
      report(
        `${args.name}: carries a secret but logs (logging: ${args.props.logging ?? "stdoutAndStderr (the default)"}); set logging: none`,
      );
    }
  },
};

/** Stacks whose VMs must be protected (`pulumi destroy` refuses them): the pack's `productionStacks` config. */
export const DEFAULT_PRODUCTION_STACKS = ["mgmt02"];

export const productionVmsProtected: StackValidationPolicy = {
  name: "production-vms-protected",
  description:
    "On a production stack (policy config productionStacks) every Proxmox VM is protected (proxmox.defaults.protect / hosts[].vm.protect).",
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      productionStacks: {
        type: "array",
        items: { type: "string" },
        default: DEFAULT_PRODUCTION_STACKS,
      },
    },
  },
  validateStack: (args, report) => {
    const production = new Set<string>(
      args.getConfig<{ productionStacks?: string[] }>().productionStacks ??
        DEFAULT_PRODUCTION_STACKS,
    );
    for (const r of args.resources) {
      if (r.type !== VM) continue;
      const stack = r.urn.split("::")[0].replace(/^urn:pulumi:/, "");
      if (production.has(stack) && r.opts.protect !== true)
        report(`VM ${r.name} of production stack ${stack} is not protected (protect: true)`, r.urn);
    }
  },
};

export const POLICIES: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  vmGuestAgentOn,
  noSecretInPlainInput,
  secretCommandsLogNothing,
  productionVmsProtected,
];
export const ENFORCEMENT: EnforcementLevel = "mandatory";
