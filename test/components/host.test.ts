/**
 * ManagedHost and the tier classes, on hand-made plans (a secret file, a drained maglev),
 * under Pulumi's mock runtime.
 */
import * as pulumi from "@pulumi/pulumi";
import * as proxmoxve from "@muhlba91/pulumi-proxmoxve";
import { applySteps, fileSlug } from "../../src/apply/steps";
import { planHost, HostPlan } from "../../src/plan";
import { deriveTopology } from "../../src/topology";
import { Environment } from "../../src/config/schema";
import { Gateway, HaproxyNode, MaglevNode, ManagedHost, fillSecrets, terminalSteps, asRootFor, planSecretKeys } from "../../components";
import { synthesize, SECRET_MARK, OFFLINE_SECRET_PREFIX } from "../../src/program/offline";
import { mgmt02Raw, mustValidate } from "../helpers";
import { COMMAND, COPY, Graph, VM } from "../program/harness";

const env: Environment = mustValidate(mgmt02Raw());
const topo = deriveTopology(env);
const host = (name: string) => topo.byName.get(name)!;

const SECRET_FILE = {
  path: "/etc/haproxy/conf.d/stats.cfg",
  mode: "0640",
  owner: "root:haproxy",
  content: "listen stats\n  stats auth admin:{{secret:haproxyStatsPassword}}\n",
  validate: { checker: "haproxy", command: "haproxy -c -f {file}" },
  activate: { kind: "reload" as const, service: "haproxy" },
  secretKeys: ["haproxyStatsPassword"],
};

function haproxyPlan(): HostPlan {
  const p = planHost(topo, host("mlb01"));
  return { ...p, files: [...p.files, SECRET_FILE].sort((a, b) => (a.path < b.path ? -1 : 1)) };
}

function maglevPlan(): HostPlan {
  return {
    ...planHost(topo, host("maglev01")),
    drain: { drain: "exabgpcli withdraw-all", undrain: "exabgpcli announce-all" },
    health: { command: "ipvsadm -Ln | grep -q FWM", timeoutSeconds: 60, description: "IPVS services present" },
  };
}

/** Run `build` as the program, with the offline placeholder secrets in config. */
async function run<T>(build: (ctx: { provider: proxmoxve.Provider; secret: (k: string) => pulumi.Output<string> }) => T) {
  let made: T | undefined;
  const result = await synthesize({
    stack: "unit",
    config: {},
    program: () => {
      const config = new pulumi.Config("maglev-infra");
      const provider = new proxmoxve.Provider("proxmox", { endpoint: "https://pve.invalid:8006/", apiToken: config.requireSecret("proxmoxApiToken") });
      made = build({ provider, secret: (k) => config.requireSecret(k) });
      return {};
    },
  });
  return { g: new Graph(result), made: made! };
}

describe("fillSecrets", () => {
  test("GIVEN a file with placeholders WHEN filled THEN every placeholder has its value", () => {
    expect(fillSecrets(SECRET_FILE, { haproxyStatsPassword: "pw'1" })).toBe("listen stats\n  stats auth admin:pw'1\n");
  });
  test("GIVEN a placeholder the file does not declare THEN it fails instead of writing a literal placeholder", () => {
    expect(() => fillSecrets({ ...SECRET_FILE, secretKeys: [] }, { haproxyStatsPassword: "x" })).toThrow(/not in the file's secretKeys/);
    expect(() => fillSecrets(SECRET_FILE, {})).toThrow(/no value for secret haproxyStatsPassword/);
  });
  test("planSecretKeys lists the keys a plan needs", () => {
    expect(planSecretKeys(haproxyPlan())).toEqual(["haproxyStatsPassword"]);
  });
});

describe("GIVEN an HAProxy node whose plan has a file built from a secret", () => {
  let g: Graph;
  let node: HaproxyNode;
  beforeAll(async () => {
    const r = await run(({ provider, secret }) =>
      new HaproxyNode("mlb01", {
        host: host("mlb01"),
        plan: haproxyPlan(),
        env,
        ssh: { user: "debian", privateKey: secret("sshPrivateKey") },
        proxmoxProvider: provider,
        secrets: { haproxyStatsPassword: secret("haproxyStatsPassword") },
      }),
    );
    g = r.g;
    node = r.made;
  });

  test("WHEN synthesized THEN the secret file is staged over stdin (secret), not with CopyToRemote, and does not log", () => {
    expect(g.has(COPY, "mlb01-upload-etc-haproxy-conf.d-stats.cfg")).toBe(false);
    const stage = g.get(COMMAND, "mlb01-stage-etc-haproxy-conf.d-stats.cfg");
    expect(stage.inputs.stdin).toBe(SECRET_MARK);
    expect(stage.inputs.logging).toBe("none");
    expect(stage.additionalSecretOutputs).toEqual(expect.arrayContaining(["stderr", "stdin", "stdout"]));
    expect(stage.inputs.create).toContain("cat > ");
    expect(stage.inputs.create).toContain("/etc/.maglev-infra-staging/etc-haproxy-conf.d-stats.cfg");
  });

  test("THEN its validate and activate steps carry a secret hash of the filled content and do not log", () => {
    for (const kind of ["validate", "activate"]) {
      const r = g.get(COMMAND, `mlb01-${kind}-etc-haproxy-conf.d-stats.cfg`);
      const step = applySteps(haproxyPlan()).find((s) => s.id === `${kind}-etc-haproxy-conf.d-stats.cfg`)!;
      expect(r.inputs.triggers).toEqual([step.hash, SECRET_MARK]);
      expect(r.inputs.logging).toBe("none");
      expect(r.additionalSecretOutputs).toEqual(expect.arrayContaining(["stderr", "stdout"]));
    }
    expect(g.get(COMMAND, "mlb01-validate-etc-haproxy-conf.d-stats.cfg").inputs.create).toContain("haproxy -c -f");
  });

  test("THEN the value reaches the host: stdin is the filled content, a secret Output", async () => {
    const stage = node.steps.get("stage-etc-haproxy-conf.d-stats.cfg") as any;
    const stdin: pulumi.Output<string> = stage.stdin;
    expect(await (stdin as any).isSecret).toBe(true);
    const text = await new Promise<string>((res) => stdin.apply(res));
    expect(text).toBe(`listen stats\n  stats auth admin:${OFFLINE_SECRET_PREFIX}haproxyStatsPassword\n`);
  });

  test("THEN no secret value or placeholder-value appears in any recorded input", () => {
    expect(JSON.stringify(g.result.resources)).not.toContain(OFFLINE_SECRET_PREFIX);
  });

  test("THEN the other files still go through CopyToRemote with their content and never log less than usual", () => {
    const up = g.get(COPY, "mlb01-upload-etc-hostname");
    expect(up.inputs.source).toEqual({ asset: "mgmt02-vm-mlb01\n" });
    expect(g.get(COMMAND, "mlb01-validate-etc-hostname").inputs.logging).toBeUndefined();
  });

  test("THEN the SSH connection is bounded: per-dial timeout and dial error limit, key secret", async () => {
    expect(node.connection).toMatchObject({ host: "10.1.7.33", user: "debian", perDialTimeout: 10, dialErrorLimit: 30 });
    expect(await (node.connection.privateKey as any).isSecret).toBe(true);
  });
});

describe("GIVEN a maglev whose plan drains before activation", () => {
  let g: Graph;
  let m: MaglevNode;
  let gw: Gateway;
  beforeAll(async () => {
    const r = await run(({ provider, secret }) => {
      const ssh = { user: "debian", privateKey: secret("sshPrivateKey") };
      const gw = new Gateway("mgw01", { host: host("mgw01"), plan: planHost(topo, host("mgw01")), env, ssh, proxmoxProvider: provider });
      const m = new MaglevNode("maglev01", { host: host("maglev01"), plan: maglevPlan(), env, ssh, proxmoxProvider: provider, after: gw.gate });
      return { gw, m };
    });
    g = r.g;
    m = r.made.m;
    gw = r.made.gw;
  });

  test("WHEN synthesized THEN packages come first (after its VM and the gateway's gate), the drain after every checker passed, undrain after the services, health last", () => {
    expect(g.deps(g.get(COMMAND, "maglev01-packages"))).toEqual(["maglev01", "mgw01-services"].sort());
    const validates = maglevPlan()
      .files.map((f) => `maglev01-validate-${fileSlug(f.path)}`)
      .sort();
    // A file that fails its checker leaves the maglev announcing, untouched.
    expect(g.deps(g.get(COMMAND, "maglev01-drain"))).toEqual(validates);
    expect(g.deps(g.get(COMMAND, "maglev01-sysctls"))).toEqual(["maglev01-drain"]);
    expect(g.deps(g.get(COMMAND, "maglev01-undrain"))).toEqual(["maglev01-services"]);
    expect(g.deps(g.get(COMMAND, "maglev01-health"))).toEqual(["maglev01-undrain"]);
    expect(m.gate).toEqual([m.steps.get("health")]);
    expect(terminalSteps(applySteps(maglevPlan()))).toEqual(["health"]);
    expect(gw.gate).toEqual([gw.steps.get("services")]);
  });

  test("THEN the VM is a clone with both NICs on their VLANs and the protect option from the stack", () => {
    const vm = g.get(VM, "maglev01");
    expect(vm.inputs.networkDevices).toEqual([
      { bridge: "vmbr0", firewall: false, macAddress: "02:4d:00:00:07:e1", model: "virtio", mtu: 1500, vlanId: 7 },
      { bridge: "vmbr0", firewall: false, macAddress: "02:4d:01:00:07:e1", model: "virtio", mtu: 1500, vlanId: 10 },
    ]);
    expect(vm.inputs.initialization).toMatchObject({ userAccount: { username: "debian" }, dns: { domain: "infra.example.net" } });
  });
});

describe("tier checks", () => {
  test("GIVEN a gateway plan WHEN given to a MaglevNode THEN it refuses", async () => {
    await expect(
      run(({ provider, secret }) => new MaglevNode("mgw01", { host: host("mgw01"), plan: planHost(topo, host("mgw01")), env, ssh: { user: "debian", privateKey: secret("sshPrivateKey") }, proxmoxProvider: provider })),
    ).rejects.toThrow(/expected a maglev host, got gateway/);
  });

  test("GIVEN the root user THEN scripts run as they are; otherwise through sudo -n", () => {
    expect(asRootFor("root")("id")).toBe("id");
    expect(asRootFor("debian")("echo 'x'")).toBe(`sudo -n sh -c 'echo '\\''x'\\'''`);
  });

  test("ManagedHost is abstract: every tier class is one", () => {
    expect(Object.getPrototypeOf(Gateway)).toBe(ManagedHost);
  });
});
