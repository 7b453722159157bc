/**
 * The policy pack (policy/rules.ts) run on the program under Pulumi's mock runtime: each
 * resource presented as the analyzer presents it (secrets unwrapped, options with
 * additionalSecretOutputs and protect). It passes on mgmt02 and fails, rule by rule, on a
 * fixture program that breaks each rule once.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as proxmoxve from "@muhlba91/pulumi-proxmoxve";
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { gzipSync } from "zlib";
import { archiveMembers, POLICIES, stdinHoldsSecrets } from "../../policy/rules";
import { ustar } from "../../src/bundle";
import { RecordedResource, synthesize } from "../../src/program/offline";
import { mgmt02Raw } from "../helpers";
import { stackConfig, synth, synthEnv } from "../program/harness";

/** Realistic shapes for the secrets, so a credential that leaks into a plain input is recognisable. */
const FAKE_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n";
const FAKE_TOKEN = "pulumi@pve!ci=12345678-1234-1234-1234-123456789abc";
const secretValue = (k: string) =>
  k === "sshPrivateKey" ? FAKE_KEY : k === "proxmoxApiToken" ? FAKE_TOKEN : `value-of-${k}`;

interface Violation {
  policy: string;
  message: string;
}

/** Run every policy on the recorded resources as the analyzer would; the violations found. */
function runPolicies(
  resources: RecordedResource[],
  config: Record<string, unknown> = {},
): Violation[] {
  const out: Violation[] = [];
  const asPolicy = (r: RecordedResource): PolicyResource =>
    ({
      type: r.type,
      name: r.name,
      urn: r.urn,
      props: r.rawInputs ?? {},
      opts: {
        protect: !!r.protect,
        additionalSecretOutputs: r.additionalSecretOutputs ?? [],
        ignoreChanges: [],
        aliases: [],
        customTimeouts: {} as any,
        parent: undefined,
        dependencies: [],
        propertyDependencies: {},
      } as any,
      isType: () => false,
      asType: () => undefined,
      dependencies: [],
      propertyDependencies: {},
    }) as any;
  for (const p of POLICIES) {
    const report = (message: string) => out.push({ policy: p.name, message });
    const getConfig = <T>() => (config[p.name] ?? {}) as T;
    if ("validateResource" in p) {
      const v = (p as ResourceValidationPolicy).validateResource as any;
      for (const r of resources)
        v({ ...asPolicy(r), getConfig, notApplicable: () => undefined }, report);
    }
    if ("validateStack" in p) {
      ((p as StackValidationPolicy).validateStack as any)(
        { resources: resources.map(asPolicy), getConfig, notApplicable: () => undefined },
        report,
      );
    }
  }
  return out;
}

describe("GIVEN the mgmt02 stack under mocks, with secrets shaped like real ones", () => {
  test("WHEN the policy pack runs THEN it finds nothing", async () => {
    const r = await synth("mgmt02", { unwrapSecrets: true, secretValue });
    // The credentials are really there, where they belong (or the rule would be checking nothing).
    expect(JSON.stringify(r.resources.map((x) => x.rawInputs))).toContain(
      "BEGIN OPENSSH PRIVATE KEY",
    );
    expect(JSON.stringify(r.resources.map((x) => x.rawInputs))).toContain(FAKE_TOKEN);
    expect(runPolicies(r.resources)).toEqual([]);
    // The apply archives that carry the stack's other secrets (passwords, API keys: no shape to
    // recognise) are found by their structure, and each is a secret input.
    const applies = r.resources.filter((x) => x.name.endsWith("-apply"));
    const withValues = applies.filter((x) => stdinHoldsSecrets(x.rawInputs?.stdin));
    expect(withValues.length).toBeGreaterThanOrEqual(8); // 6 k0s workers, HAProxy, dnsdist, PowerDNS
    for (const x of withValues) expect(x.secretInputs).toContain("stdin");
    expect(
      archiveMembers(applies.find((x) => !x.secretInputs.includes("stdin"))!.rawInputs!.stdin),
    ).toEqual([
      { name: "maglev-apply", size: expect.any(Number) },
      { name: "bundle.json", size: expect.any(Number) },
      { name: "secrets.sha256", size: 0 },
    ]);
    // … and nothing of them reaches the recorded (printable) inputs.
    expect(JSON.stringify(r.resources.map((x) => x.inputs))).not.toContain("PRIVATE KEY");
  });

  test("WHEN mgmt02's VMs are not protected THEN production-vms-protected names each VM; on a stack not marked production it passes", async () => {
    const raw = mgmt02Raw();
    raw.proxmox.defaults.protect = false;
    const r = await synthEnv(raw, { stack: "mgmt02", unwrapSecrets: true, secretValue });
    const v = runPolicies(r.resources);
    expect(v.map((x) => x.policy)).toEqual(Array(20).fill("production-vms-protected"));
    expect(v[0].message).toMatch(
      /^VM \S+ of production stack mgmt02 is not protected \(protect: true\)$/,
    );
    expect(
      runPolicies(r.resources, { "production-vms-protected": { productionStacks: ["prod"] } }),
    ).toEqual([]);
  });
});

describe("GIVEN a fixture program that breaks each rule once", () => {
  let violations: Violation[];
  beforeAll(async () => {
    const r = await synthesize({
      stack: "mgmt02",
      config: { "maglev-infra:environment": stackConfig("mgmt02")["maglev-infra:environment"] },
      secretValue,
      unwrapSecrets: true,
      program: () => {
        const config = new pulumi.Config("maglev-infra");
        const key = config.requireSecret("sshPrivateKey");
        const provider = new proxmoxve.Provider("proxmox", {
          endpoint: "https://pve.invalid:8006/",
          apiToken: config.requireSecret("proxmoxApiToken"),
        });
        // 1. A VM without the guest agent, and (2.) not protected on a production stack.
        new proxmoxve.VmLegacy(
          "bad-vm",
          { nodeName: "pve01", agent: { enabled: false } },
          { provider },
        );
        // 3. The SSH key pasted into a script (a plain input).
        new command.remote.Command("bad-script", {
          connection: { host: "10.1.7.4", privateKey: key },
          create: pulumi.interpolate`echo '${key}' > /root/key`,
        });
        // 4. A secret on stdin, declared secret, but logged.
        new command.remote.Command(
          "bad-logging",
          { connection: { host: "10.1.7.4", privateKey: key }, create: "cat > /etc/x", stdin: key },
          { additionalSecretOutputs: ["stdin"] },
        );
        // 5. An apply archive with the stack's secret values on a plain stdin (silent, so only
        //    the plain-input rule applies).
        const archive = gzipSync(
          ustar([
            { name: "bundle.json", mode: 0o600, data: Buffer.from("{}") },
            { name: "secrets.json", mode: 0o600, data: Buffer.from('{"pdnsApiKey":"value"}\n') },
          ]),
        ).toString("base64");
        new command.remote.Command("bad-archive", {
          connection: { host: "10.1.7.4", privateKey: key },
          create: "apply",
          stdin: archive,
          logging: "none",
        });
        return {};
      },
    });
    violations = runPolicies(r.resources);
  });

  test("WHEN the policy pack runs THEN each rule reports its resource, and no message carries a secret", () => {
    expect(violations.map((v) => `${v.policy}: ${v.message}`).sort()).toEqual(
      [
        "no-secret-in-plain-input: bad-script: create holds a private key, but it is not a secret input",
        "no-secret-in-plain-input: bad-archive: stdin is an apply archive with secret values (secrets.json), but it is not a secret input",
        "production-vms-protected: VM bad-vm of production stack mgmt02 is not protected (protect: true)",
        "secret-commands-log-nothing: bad-logging: carries a secret but logs (logging: stdoutAndStderr (the default)); set logging: none",
        "vm-guest-agent-on: VM bad-vm: agent.enabled must be true (the template needs qemu-guest-agent)",
      ].sort(),
    );
    expect(JSON.stringify(violations)).not.toContain("PRIVATE KEY-----\nb3");
  });
});
