/**
 * ManagedHost and the tier classes, on hand-made plans (a secret file, a drained maglev),
 * under Pulumi's mock runtime.
 */
import * as pulumi from "@pulumi/pulumi";
import * as proxmoxve from "@muhlba91/pulumi-proxmoxve";
import { gunzipSync } from "zlib";
import { createHash } from "crypto";
import { compileBundle } from "../../src/bundle";
import { planHost, HostPlan } from "../../src/plan";
import { deriveTopology } from "../../src/topology";
import { Environment } from "../../src/config/schema";
import {
  Gateway,
  HaproxyNode,
  MaglevNode,
  ManagedHost,
  asRootFor,
  planSecretKeys,
} from "../../components";
import { synthesize, SECRET_MARK, OFFLINE_SECRET_PREFIX } from "../../src/program/offline";
import { mgmt02Raw, mustValidate } from "../helpers";
import { COMMAND, Graph, VM } from "../program/harness";

const env: Environment = mustValidate(mgmt02Raw());

/** The regular files of a ustar archive by name: mode and text. */
function ustarEntries(tar: Buffer): Record<string, { mode: number; text: string }> {
  const out: Record<string, { mode: number; text: string }> = {};
  for (let off = 0; off + 512 <= tar.length;) {
    const name = tar.toString("ascii", off, off + 100).replace(/\0.*$/s, "");
    if (!name) break;
    const size = parseInt(tar.toString("ascii", off + 124, off + 136), 8);
    out[name] = {
      mode: parseInt(tar.toString("ascii", off + 100, off + 108), 8),
      text: tar.toString("utf8", off + 512, off + 512 + size),
    };
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}
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
  secretSyntax: "line" as const,
};

function haproxyPlan(): HostPlan {
  const p = planHost(topo, host("mlb01"));
  return { ...p, files: [...p.files, SECRET_FILE].sort((a, b) => (a.path < b.path ? -1 : 1)) };
}

function maglevPlan(): HostPlan {
  return {
    ...planHost(topo, host("maglev01")),
    drain: { drain: "exabgpcli withdraw-all", undrain: "exabgpcli announce-all" },
    health: {
      command: "ipvsadm -Ln | grep -q FWM",
      timeoutSeconds: 60,
      description: "IPVS services present",
    },
  };
}

/** Run `build` as the program, with the offline placeholder secrets in config. */
async function run<T>(
  build: (ctx: { provider: proxmoxve.Provider; secret: (k: string) => pulumi.Output<string> }) => T,
) {
  let made: T | undefined;
  const result = await synthesize({
    stack: "unit",
    config: {},
    program: () => {
      const config = new pulumi.Config("maglev-infra");
      const provider = new proxmoxve.Provider("proxmox", {
        endpoint: "https://pve.invalid:8006/",
        apiToken: config.requireSecret("proxmoxApiToken"),
      });
      made = build({ provider, secret: (k) => config.requireSecret(k) });
      return {};
    },
  });
  return { g: new Graph(result), made: made! };
}

describe("planSecretKeys", () => {
  test("GIVEN a plan with a secret file THEN it lists the keys the plan needs", () => {
    expect(planSecretKeys(haproxyPlan())).toEqual(["haproxyStatsPassword"]);
  });
});

describe("GIVEN an HAProxy node whose plan has a file built from a secret", () => {
  let g: Graph;
  let node: HaproxyNode;
  beforeAll(async () => {
    const r = await run(
      ({ provider, secret }) =>
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

  test("WHEN synthesized THEN the values travel inside the one apply (stdin secret, unlogged): no command of their own", () => {
    expect(g.has(COMMAND, "mlb01-secrets")).toBe(false);
    const r = g.get(COMMAND, "mlb01-apply");
    expect(r.inputs.stdin).toBe(SECRET_MARK);
    expect(r.inputs.logging).toBe("none");
    expect(r.additionalSecretOutputs).toEqual(expect.arrayContaining(["stdin"]));
    expect(r.inputs.create).toContain("/etc/maglev-infra");
  });

  test("THEN the apply's archive holds the values of exactly the plan's keys as secrets.json (0600) and their hash; bundle.json only the placeholders", async () => {
    const archive: pulumi.Output<string> = (node.apply as any).stdin;
    expect(await (archive as any).isSecret).toBe(true);
    const a = await new Promise<string>((res) => archive.apply(res));
    const tar = gunzipSync(Buffer.from(a, "base64"));
    const entries = ustarEntries(tar);
    expect(Object.keys(entries).sort()).toEqual([
      "bundle.json",
      "maglev-apply",
      "secrets.json",
      "secrets.sha256",
    ]);
    expect(entries["secrets.json"].mode).toBe(0o600);
    expect(JSON.parse(entries["secrets.json"].text)).toEqual({
      haproxyStatsPassword: `${OFFLINE_SECRET_PREFIX}haproxyStatsPassword`,
    });
    expect(entries["secrets.sha256"].text).toBe(
      `${createHash("sha256").update(entries["secrets.json"].text).digest("hex")}\n`,
    );
    expect(entries["bundle.json"].text).not.toContain(OFFLINE_SECRET_PREFIX);
    expect(entries["bundle.json"].text).toContain("{{secret:haproxyStatsPassword}}");
  });

  test("THEN no secret value appears in any recorded input, and the manifest names the secret file", () => {
    expect(JSON.stringify(g.result.resources)).not.toContain(OFFLINE_SECRET_PREFIX);
    expect(g.get(COMMAND, "mlb01-apply").inputs.triggers).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^\/etc\/haproxy\/conf\.d\/stats\.cfg 0640 root:haproxy [0-9a-f]{64} reload haproxy$/,
        ),
      ]),
    );
  });

  test("THEN the SSH connection is bounded: per-dial timeout and dial error limit, key secret", async () => {
    expect(node.connection).toMatchObject({
      host: "10.1.7.33",
      user: "debian",
      perDialTimeout: 10,
      dialErrorLimit: 30,
    });
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
      const gw = new Gateway("mgw01", {
        host: host("mgw01"),
        plan: planHost(topo, host("mgw01")),
        env,
        ssh,
        proxmoxProvider: provider,
      });
      const m = new MaglevNode("maglev01", {
        host: host("maglev01"),
        plan: maglevPlan(),
        env,
        ssh,
        proxmoxProvider: provider,
        after: gw.gate,
      });
      return { gw, m };
    });
    g = r.g;
    m = r.made.m;
    gw = r.made.gw;
  });

  test("WHEN synthesized THEN the maglev's one apply waits for its VM and the gateway's apply (which ends with the gateway's health gate)", () => {
    expect(g.deps(g.get(COMMAND, "maglev01-apply"))).toEqual(
      ["maglev01", "maglev01-host-key", "mgw01-apply"].sort(),
    );
    expect(m.gate).toEqual([m.apply]);
    expect(gw.gate).toEqual([gw.apply]);
    // Drain, health and every checker are in the bundle the apply program runs.
    const b = compileBundle(env.name, maglevPlan()).bundle;
    expect(b.drain).toEqual(maglevPlan().drain);
    expect(b.health).toMatchObject({ description: "IPVS services present" });
  });

  test("THEN the VM is a clone with both NICs on their VLANs and the protect option from the stack", () => {
    const vm = g.get(VM, "maglev01");
    expect(vm.inputs.networkDevices).toEqual([
      {
        bridge: "vmbr0",
        firewall: false,
        macAddress: "02:4d:00:00:07:e1",
        model: "virtio",
        mtu: 1500,
        vlanId: 7,
      },
      {
        bridge: "vmbr0",
        firewall: false,
        macAddress: "02:4d:01:00:07:e1",
        model: "virtio",
        mtu: 1500,
        vlanId: 10,
      },
    ]);
    expect(vm.inputs.initialization).toMatchObject({
      userAccount: { username: "debian" },
      dns: { domain: "infra.example.net" },
    });
  });
});

describe("tier checks", () => {
  test("GIVEN a gateway plan WHEN given to a MaglevNode THEN it refuses", async () => {
    await expect(
      run(
        ({ provider, secret }) =>
          new MaglevNode("mgw01", {
            host: host("mgw01"),
            plan: planHost(topo, host("mgw01")),
            env,
            ssh: { user: "debian", privateKey: secret("sshPrivateKey") },
            proxmoxProvider: provider,
          }),
      ),
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
