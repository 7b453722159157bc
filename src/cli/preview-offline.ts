/**
 * npm run preview:offline -- <stack> [--json]
 *
 * Runs the real Pulumi program (src/program) under Pulumi's mock runtime with the stack
 * file's config, and prints the resource graph: type, name, parent, dependsOn and every
 * input, secrets as `[secret]` (secret config keys get the placeholder
 * `offline-secret-<key>`, which never appears in clear). Then per host the VM and, per file,
 * the stage → validate → activate chain. No Pulumi CLI, plugins, Proxmox or SSH needed.
 * Bad config: every problem on stderr, exit 1. A placeholder sha256 of a download a host
 * needs is such a problem, as it is for `pulumi preview`/`up`; `--allow-placeholder-digests`
 * reports it on stderr and carries on (a review of a stack whose releases are not pinned yet).
 */
import { Command } from "commander";
import { ConfigValidationError, formatErrors, validateEnvironment } from "../config/load";
import { placeholderDigestErrors } from "../config/rules";
import { stackFileOf } from "../program";
import {
  readStackConfig,
  RecordedResource,
  synthesizeStack,
  SynthResult,
} from "../program/offline";
import { ENVIRONMENT_KEY } from "../config/load";

/** `type::name` of a URN, the readable handle used in the output. */
export function shortUrn(urn: string): string {
  const parts = urn.split("::");
  const type = parts[2]?.split("$").pop() ?? urn;
  return `${type}::${parts[3] ?? ""}`;
}

export interface FileChain {
  file: string;
  stage: string;
  validate: string;
  activate: string;
}

export interface HostSummary {
  component: string;
  vm?: string;
  files: FileChain[];
  steps: string[];
}

/** Per component: its VM and the stage → validate → activate resources of each file. */
export function summarize(r: SynthResult): { vms: number; hosts: HostSummary[] } {
  const byParent = new Map<string, RecordedResource[]>();
  for (const x of r.resources)
    if (x.parent) byParent.set(x.parent, [...(byParent.get(x.parent) ?? []), x]);
  const hosts: HostSummary[] = [];
  for (const c of r.resources.filter((x) => x.type.startsWith("maglev-infra:"))) {
    const kids = byParent.get(c.urn) ?? [];
    const vm = kids.find((k) => k.type.startsWith("proxmoxve:"));
    const stages = kids.filter(
      (k) => k.type === "command:remote:Command" && k.name.startsWith(`${c.name}-stage-`),
    );
    const files = stages.map((s) => {
      const slug = s.name.slice(`${c.name}-stage-`.length);
      const find = (kind: string) =>
        kids.find((k) => k.name === `${c.name}-${kind}-${slug}`)?.name ?? "(missing)";
      return { file: slug, stage: s.name, validate: find("validate"), activate: find("activate") };
    });
    hosts.push({
      component: `${c.type}::${c.name}`,
      ...(vm ? { vm: `${vm.type}::${vm.name}` } : {}),
      files,
      steps: kids.filter((k) => k.type.startsWith("command:")).map((k) => k.name),
    });
  }
  return {
    vms: r.resources.filter((x) => x.type === "proxmoxve:index/vmLegacy:VmLegacy").length,
    hosts,
  };
}

export function renderText(r: SynthResult): string {
  const out: string[] = [
    `# offline preview of stack ${r.stack}: ${r.resources.length} resources`,
    "",
  ];
  for (const x of r.resources) {
    out.push(`${x.type}::${x.name}`);
    if (x.parent) out.push(`  parent:    ${shortUrn(x.parent)}`);
    if (x.provider)
      out.push(`  provider:  ${shortUrn(x.provider.split("::").slice(0, 4).join("::"))}`);
    if (x.dependsOn.length) out.push(`  dependsOn: ${x.dependsOn.map(shortUrn).join(", ")}`);
    for (const [k, v] of Object.entries(x.inputs)) {
      const text = typeof v === "string" ? v : JSON.stringify(v);
      out.push(`  ${k}: ${text.includes("\n") ? "|\n" + text.replace(/^/gm, "      ") : text}`);
    }
    out.push("");
  }
  const s = summarize(r);
  out.push(`# ${s.vms} VMs; per host: VM, then per file stage → validate → activate`);
  for (const h of s.hosts) {
    out.push(`${h.component}${h.vm ? `  (VM ${h.vm})` : "  (adopted host)"}`);
    for (const f of h.files) out.push(`  ${f.stage} → ${f.validate} → ${f.activate}`);
  }
  out.push("", "# stack outputs", JSON.stringify(r.outputs, null, 2));
  return out.join("\n") + "\n";
}

const program = new Command()
  .name("preview:offline")
  .description(
    "Run the Pulumi program under Pulumi's mock runtime and print the resource graph (no Pulumi CLI, no Proxmox)",
  )
  .argument("<stack>", "stack name (stacks/Pulumi.<stack>.yaml) or path to a stack file")
  .option("--json", "print JSON: {stack, resources, summary, outputs}")
  .option(
    "--allow-placeholder-digests",
    "report a placeholder sha256 of a needed download on stderr instead of failing (`pulumi up` still fails on it)",
  )
  .action(async (stack: string, opts: { json?: boolean; allowPlaceholderDigests?: boolean }) => {
    let r: SynthResult;
    try {
      r = await synthesizeStack(stack, {
        placeholderDigests: opts.allowPlaceholderDigests ? "allow" : "reject",
      });
      if (opts.allowPlaceholderDigests) {
        const env = validateEnvironment(readStackConfig(stack)[ENVIRONMENT_KEY]);
        const found = env.ok ? placeholderDigestErrors(env.env) : [];
        if (found.length)
          process.stderr.write(
            `warning: ${formatErrors(`${stackFileOf(r.stack)} (stack ${r.stack})`, found)}\n  (\`pulumi preview\` and \`pulumi up\` reject these)\n`,
          );
      }
    } catch (e) {
      process.stderr.write(
        `${e instanceof ConfigValidationError ? e.message : (e as Error).message}\n`,
      );
      process.exit(1);
    }
    if (opts.json) {
      process.stdout.write(
        JSON.stringify(
          { stack: r.stack, resources: r.resources, summary: summarize(r), outputs: r.outputs },
          null,
          2,
        ) + "\n",
      );
    } else {
      process.stdout.write(renderText(r));
    }
  });

if (require.main === module) {
  program.parseAsync(process.argv).catch((e) => {
    process.stderr.write(`preview:offline: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
