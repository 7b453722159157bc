/**
 * The Pulumi lifecycle under mocks (issue 14): what `pulumi up` refuses before it registers
 * anything, what keeps a VM's URN across a tier change or a node move, host key pinning,
 * the k0s join token (one resource per worker), removal and destroy, `pulumi import`.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { gzipSync } from "zlib";
import * as pulumi from "@pulumi/pulumi";
import * as proxmoxve from "@muhlba91/pulumi-proxmoxve";
import { mgmt02Raw, mustValidate, hostIndex, ROOT } from "../helpers";
import { COMMAND, Graph, stackConfig, synth, synthEnv, SynthResult, VM } from "./harness";
import {
  offlineHostKey,
  RecordedResource,
  SECRET_MARK,
  synthesize,
  urnOf,
} from "../../src/program/offline";
import { buildPlans, planHost } from "../../src/plan";
import { deriveTopology } from "../../src/topology";
import { compileBundle, k0sJoinTokenCommand, teardownCommand } from "../../src/bundle";
import {
  aliasTypesOf,
  Gateway,
  ManagedHost,
  ManagedHostArgs,
  parseHostKey,
  TIER_TYPES,
} from "../../components";

describe("GIVEN mgmt02 with the all-zero placeholder as its k0s sha256 (its k0s hosts download k0s)", () => {
  test("WHEN the program runs as `pulumi preview`/`up` run it (index.ts: main() with no options) THEN it fails naming the file, the path and the value, and registers nothing", async () => {
    const seen: string[] = [];
    await pulumi.runtime.setMocks(
      { newResource: (a) => (seen.push(a.name), { id: a.name, state: {} }), call: () => ({}) },
      "maglev-infra",
      "mgmt02",
    );
    const config = stackConfig("mgmt02");
    (config["maglev-infra:environment"] as any).k0s.sha256 = "0".repeat(64);
    pulumi.runtime.setAllConfig(
      Object.fromEntries(
        Object.entries(config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
      ),
      [],
    );
    let err: Error | undefined;
    try {
      require("../../src/program").main();
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toContain(
      "stacks/Pulumi.mgmt02.yaml (stack mgmt02): 1 problem in the environment",
    );
    expect(err?.message).toContain(
      `maglev-infra:environment.k0s.sha256: is a placeholder digest, but a host of this stack downloads the k0s binary`,
    );
    expect(err?.message).toContain(`(value: "${"0".repeat(64)}")`);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([]);
  });

  test("WHEN the digest is a real one THEN the program registers the stack", async () => {
    const raw = mgmt02Raw();
    raw.k0s.sha256 = "3".repeat(64);
    const r = await synthEnv(raw, { placeholderDigests: "reject" });
    expect(r.resources.length).toBeGreaterThan(20);
  });

  test("WHEN no host downloads k0s (no k0s host) THEN the placeholder is no problem", async () => {
    const raw = mgmt02Raw();
    raw.k0s.sha256 = "0".repeat(64);
    raw.hosts = raw.hosts.filter((h: any) => !h.tier.startsWith("k0s"));
    raw.backendGroups = { mlb: raw.backendGroups.mlb, dns: raw.backendGroups.dns };
    raw.vips = raw.vips.filter((v: any) => v.group !== "k0s");
    const r = await synthEnv(raw, { placeholderDigests: "reject" });
    expect(r.resources.some((x) => x.name.startsWith("k0s"))).toBe(false);
  });

  test("WHEN `npm run preview:offline` runs THEN it fails the same way; with --allow-placeholder-digests it warns and prints the graph", () => {
    const cli = path.join(ROOT, "src", "cli", "preview-offline.ts");
    const tsx = path.join(ROOT, "node_modules", ".bin", "tsx");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-digest-"));
    const file = path.join(dir, "Pulumi.mgmt02.yaml");
    fs.writeFileSync(
      file,
      fs
        .readFileSync(path.join(ROOT, "stacks", "Pulumi.mgmt02.yaml"), "utf8")
        .replace(/sha256: "[0-9a-f]{64}"/, `sha256: "${"0".repeat(64)}"`),
    );
    const strict = spawnSync(tsx, [cli, file], { cwd: ROOT, encoding: "utf8" });
    expect(strict.status).toBe(1);
    expect(strict.stderr).toMatch(
      /Pulumi\.mgmt02\.yaml \(stack mgmt02\).*\n.*k0s\.sha256: is a placeholder digest.*value: "0{64}"/,
    );
    expect(strict.stdout).toBe("");
    const lenient = spawnSync(tsx, [cli, file, "--allow-placeholder-digests"], {
      cwd: ROOT,
      encoding: "utf8",
      maxBuffer: 1 << 28,
    });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(lenient.status).toBe(0);
    expect(lenient.stderr).toMatch(
      /^warning: .*Pulumi\.mgmt02\.yaml .*\n.*k0s\.sha256: is a placeholder digest/,
    );
    expect(lenient.stderr).toContain("`pulumi preview` and `pulumi up` reject these");
    expect(lenient.stdout).toMatch(/^# offline preview of stack mgmt02: \d+ resources/);
  });
});

// ------------------------------------------------------------------------------------------

let base: SynthResult;
let g: Graph;
beforeAll(async () => {
  base = await synth("mgmt02");
  g = new Graph(base);
});

/** The URNs a resource answers to: its own and its aliases'. */
const answersTo = (r: RecordedResource) => new Set([r.urn, ...(r.aliases ?? [])]);

/** Every resource of `before` whose name is also in `after` keeps its identity: its URN is the new one or one of the new one's aliases. */
function keptUrns(before: Graph, after: Graph, names: string[]): { name: string; kept: boolean }[] {
  return names.map((name) => {
    const old = before.result.resources.filter((r) => r.name === name);
    const now = after.result.resources.filter((r) => r.name === name);
    return {
      name,
      kept: old.length > 0 && old.every((o) => now.some((n) => answersTo(n).has(o.urn))),
    };
  });
}

describe("GIVEN mgmt02 WHEN a host's tier changes (mlb03: haproxy → k0s-worker)", () => {
  let after: Graph;
  beforeAll(async () => {
    const raw = mgmt02Raw();
    raw.hosts[hostIndex(raw, "mlb03")].tier = "k0s-worker";
    raw.backendGroups.mlb.members = ["mlb01", "mlb02"];
    after = new Graph(await synthEnv(raw, { stack: "mgmt02" }));
  });

  test("THEN its component, VM, host key, apply and teardown keep their URNs through aliases, so Pulumi updates them instead of replacing the VM", () => {
    expect(after.get(VM, "mlb03").urn).not.toBe(g.get(VM, "mlb03").urn); // the URN string did change …
    const names = ["mlb03", "mlb03-host-key", "mlb03-apply", "mlb03-teardown"];
    expect(keptUrns(g, after, names)).toEqual(names.map((name) => ({ name, kept: true }))); // … and the alias carries the old one
    expect(after.get(TIER_TYPES["k0s-worker"], "mlb03").aliases).toContain(
      urnOf("mgmt02", "maglev-infra", TIER_TYPES.haproxy, "mlb03"),
    );
  });

  test("THEN the VM's replacement-forcing inputs are unchanged (id, node, clone source): only its description and tags follow the tier", () => {
    const a = g.get(VM, "mlb03").inputs;
    const b = after.get(VM, "mlb03").inputs;
    for (const k of ["vmId", "nodeName", "clone", "name", "networkDevices", "disks"])
      expect({ k, v: b[k] }).toEqual({ k, v: a[k] });
    expect(b.tags).toEqual(["maglev-infra", "mgmt02", "k0s-worker"]);
  });
});

describe("GIVEN mgmt02 after `hosts[].role` became `hosts[].tier` (issue 18)", () => {
  // Every host's VM URN as the program registered it before the rename (main at c9ed925,
  // stack key `role`): a changed URN would be a new VM for Pulumi, the old one deleted.
  const BEFORE: Record<string, string> = {
    dnsdist01: "dns:DnsdistNode",
    dnsdist02: "dns:DnsdistNode",
    dns01: "dns:PowerDnsNode",
    dns02: "dns:PowerDnsNode",
    dns03: "dns:PowerDnsNode",
    dns00: "dns:ShadowPrimary",
    mgw01: "gateway:Gateway",
    mgw02: "gateway:Gateway",
    mlb01: "haproxy:HaproxyNode",
    mlb02: "haproxy:HaproxyNode",
    mlb03: "haproxy:HaproxyNode",
    k0s00: "k0s:K0sController",
    k0s01: "k0s:K0sWorker",
    k0s02: "k0s:K0sWorker",
    k0s03: "k0s:K0sWorker",
    k0s04: "k0s:K0sWorker",
    k0s05: "k0s:K0sWorker",
    k0s06: "k0s:K0sWorker",
    maglev01: "maglev:MaglevNode",
    maglev02: "maglev:MaglevNode",
  };
  const vmUrn = (name: string) =>
    `urn:pulumi:mgmt02::maglev-infra::maglev-infra:${BEFORE[name]}$proxmoxve:index/vmLegacy:VmLegacy::${name}`;

  test("THEN every host's VM has the URN it had before the rename, under the same component", () => {
    const vms = g.ofType(VM);
    expect(vms.map((v) => v.name).sort()).toEqual(Object.keys(BEFORE).sort());
    for (const v of vms) {
      expect({ name: v.name, urn: v.urn }).toEqual({ name: v.name, urn: vmUrn(v.name) });
      expect(g.get(`maglev-infra:${BEFORE[v.name]}`, v.name).urn).toBe(
        `urn:pulumi:mgmt02::maglev-infra::maglev-infra:${BEFORE[v.name]}::${v.name}`,
      );
    }
  });

  test("THEN each host's tier picks the same tier class as its role did", () => {
    for (const h of deriveTopology(mustValidate(mgmt02Raw())).hosts)
      expect({ name: h.name, type: TIER_TYPES[h.tier] }).toEqual({
        name: h.name,
        type: `maglev-infra:${BEFORE[h.name]}`,
      });
  });
});

describe("GIVEN the tier classes' type tokens", () => {
  test("THEN every host aliases every other tier's token (and the former ones), never its own", () => {
    for (const t of Object.values(TIER_TYPES)) {
      expect(aliasTypesOf(t)).not.toContain(t);
      expect(aliasTypesOf(t)).toHaveLength(Object.keys(TIER_TYPES).length - 1);
    }
    for (const h of deriveTopology(mustValidate(mgmt02Raw())).hosts) {
      const c = g.get(TIER_TYPES[h.tier], h.name);
      expect(c.aliases).toEqual(
        aliasTypesOf(TIER_TYPES[h.tier])
          .map((t) => urnOf("mgmt02", "maglev-infra", t, h.name))
          .sort(),
      );
      const vm = g.get(VM, h.name);
      expect(vm.aliases).toContain(
        `urn:pulumi:mgmt02::maglev-infra::${aliasTypesOf(TIER_TYPES[h.tier])[0]}$${VM}::${h.name}`,
      );
    }
  });

  test("WHEN a tier class is given a new token (a rename) THEN its hosts' VMs answer to the URNs they had under the old one", async () => {
    const env = mustValidate(mgmt02Raw());
    const topo = deriveTopology(env);
    class RouteReflector extends ManagedHost {
      constructor(name: string, args: ManagedHostArgs) {
        super("maglev-infra:gateway:RouteReflector", "gateway", name, args);
        this.registerOutputs(this.hostOutputs());
      }
    }
    const build = (make: (args: ManagedHostArgs) => ManagedHost) =>
      synthesize({
        stack: "mgmt02",
        config: {},
        program: () => {
          const config = new pulumi.Config("maglev-infra");
          const provider = new proxmoxve.Provider("proxmox", {
            endpoint: "https://pve.invalid:8006/",
            apiToken: config.requireSecret("proxmoxApiToken"),
          });
          const h = topo.byName.get("mgw01")!;
          make({
            host: h,
            plan: planHost(topo, h),
            env,
            ssh: { user: "debian", privateKey: config.requireSecret("sshPrivateKey") },
            proxmoxProvider: provider,
          });
          return {};
        },
      });
    const before = new Graph(await build((a) => new Gateway("mgw01", a)));
    const renamed = new Graph(await build((a) => new RouteReflector("mgw01", a)));
    const names = ["mgw01", "mgw01-host-key", "mgw01-apply", "mgw01-teardown"];
    expect(keptUrns(before, renamed, names)).toEqual(names.map((name) => ({ name, kept: true })));
  });
});

describe("GIVEN mgmt02 WHEN a VM moves to another Proxmox node (mgw01: pve01 → pve03)", () => {
  test("THEN its URN stays, only nodeName changes, and the provider migrates it (migrate: true) rather than replacing it; a replacement would delete first (fixed vmId)", async () => {
    const raw = mgmt02Raw();
    raw.hosts[hostIndex(raw, "mgw01")].vm.node = "pve03";
    const moved = new Graph(await synthEnv(raw, { stack: "mgmt02" }));
    const a = g.get(VM, "mgw01");
    const b = moved.get(VM, "mgw01");
    expect(b.urn).toBe(a.urn);
    const changed = Object.keys(b.inputs).filter(
      (k) => JSON.stringify(b.inputs[k]) !== JSON.stringify(a.inputs[k]),
    );
    expect(changed).toEqual(["nodeName"]);
    expect(b.inputs).toMatchObject({ nodeName: "pve03", migrate: true });
    expect(b.deleteBeforeReplace).toBe(true);
    // Nothing else of the host re-runs: its commands' inputs are the same.
    for (const n of ["mgw01-apply", "mgw01-host-key", "mgw01-teardown"])
      expect(moved.get(COMMAND, n).inputs).toEqual(g.get(COMMAND, n).inputs);
  });
});

describe("GIVEN mgmt02 WHEN synthesized THEN each host's SSH host key is pinned", () => {
  test("THEN `<host>-host-key` reads the ed25519 key on first contact (no hostKey: nothing to verify yet), after the VM, and again for a rebuilt VM", () => {
    for (const h of deriveTopology(mustValidate(mgmt02Raw())).hosts) {
      const r = g.get(COMMAND, `${h.name}-host-key`);
      expect(r.inputs.create).toBe("cat /etc/ssh/ssh_host_ed25519_key.pub");
      expect(g.deps(r)).toEqual([h.name]);
      expect(r.replaceWith).toEqual([g.get(VM, h.name).urn]);
    }
  });

  test("THEN every other command of a host waits for the recorded key (it is in its connection), and a rebuilt VM re-runs the host's apply", () => {
    const hostKeys = new Set(
      g
        .ofType(COMMAND)
        .filter((r) => r.name.endsWith("-host-key"))
        .map((r) => r.name),
    );
    for (const r of g.ofType(COMMAND).filter((x) => !x.name.endsWith("-host-key"))) {
      expect({ name: r.name, pinned: g.deps(r).some((d) => hostKeys.has(d)) }).toEqual({
        name: r.name,
        pinned: true,
      });
    }
    for (const r of g.ofType(COMMAND).filter((x) => x.name.endsWith("-apply")))
      expect(r.replaceWith).toEqual([g.get(VM, r.name.slice(0, -"-apply".length)).urn]);
  });

  test("THEN the connection of the host's commands carries exactly the key read on first contact; the first contact none", async () => {
    const env = mustValidate(mgmt02Raw());
    const topo = deriveTopology(env);
    let gw: Gateway | undefined;
    const r = new Graph(
      await synthesize({
        stack: "unit",
        config: {},
        program: () => {
          const config = new pulumi.Config("maglev-infra");
          const h = topo.byName.get("mgw01")!;
          gw = new Gateway("mgw01", {
            host: { ...h, provider: "existing", vm: undefined },
            plan: planHost(topo, h),
            env,
            ssh: { user: "debian", privateKey: config.requireSecret("sshPrivateKey") },
          });
          return {};
        },
      }),
    );
    expect(r.has(COMMAND, "mgw01-host-key")).toBe(true);
    const key = await new Promise<string>((res) =>
      pulumi.output(gw!.connection.hostKey!).apply(res),
    );
    expect(key).toBe(parseHostKey("mgw01", offlineHostKey("mgw01")));
    expect(key).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}$/);
    expect((gw!.hostKeyCommand as any).connection as pulumi.Output<any>).toBeDefined();
    const first = await new Promise<any>((res) =>
      ((gw!.hostKeyCommand as any).connection as pulumi.Output<any>).apply(res),
    );
    expect(first.hostKey).toBeUndefined();
    const later = await new Promise<any>((res) =>
      ((gw!.apply as any).connection as pulumi.Output<any>).apply(res),
    );
    expect(later.hostKey).toBe(key);
  });

  test("THEN a later change of the connection (a rotated private key, another user) never reads the key again over the unverified connection: the first contact ignores connection changes", () => {
    for (const r of g.ofType(COMMAND).filter((x) => x.name.endsWith("-host-key")))
      expect({ name: r.name, ignoreChanges: r.ignoreChanges }).toEqual({
        name: r.name,
        ignoreChanges: ["connection"],
      });
    // Every other command follows the connection (it verifies the pinned key).
    for (const r of g.ofType(COMMAND).filter((x) => !/-(host-key|join-token)$/.test(x.name)))
      expect({ name: r.name, ignoreChanges: r.ignoreChanges }).toEqual({
        name: r.name,
        ignoreChanges: undefined,
      });
  });

  test("THEN a first contact that reads anything but an ed25519 key fails, naming the host", () => {
    expect(() =>
      parseHostKey(
        "mgmt02-vm-mgw01",
        "cat: /etc/ssh/ssh_host_ed25519_key.pub: No such file or directory",
      ),
    ).toThrow(
      /^mgmt02-vm-mgw01: \/etc\/ssh\/ssh_host_ed25519_key\.pub does not hold an ed25519 host key/,
    );
    expect(() => parseHostKey("h", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ root@h")).toThrow(
      /cannot pin it/,
    );
    expect(parseHostKey("h", `${offlineHostKey("h")}\n`)).toBe(
      offlineHostKey("h").split(" ").slice(0, 2).join(" "),
    );
  });

  test("THEN the stack output knownHosts has one known_hosts line per host (mgmt IPv4 and key), plain", async () => {
    const topo = deriveTopology(mustValidate(mgmt02Raw()));
    expect(base.outputs.knownHosts).toBe(
      topo.hosts
        .map((h) => `${h.mgmt.ipv4} ${parseHostKey(h.name, offlineHostKey(h.name))}\n`)
        .join(""),
    );
    expect(await (base.rawOutputs.knownHosts as any).isSecret).toBe(false);
  });
});

describe("GIVEN mgmt02 without the `up` credentials in its config (sshPrivateKey, proxmoxApiToken), as CI runs it", () => {
  const UP = ["sshPrivateKey", "proxmoxApiToken"];
  const withEnv = async <T>(env: Record<string, string | undefined>, run: () => Promise<T>) => {
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    for (const [k, v] of Object.entries(env))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    try {
      return await run();
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  };

  test("WHEN a preview runs with a read-only Proxmox token and no ssh-agent, and an update with the write token and an agent THEN both register exactly the same resources and inputs: no credential is an input", async () => {
    const preview = await withEnv(
      {
        PROXMOX_VE_API_TOKEN: "auditor@pve!preview=READ-ONLY-TOKEN-VALUE",
        SSH_AUTH_SOCK: undefined,
      },
      () => synth("mgmt02", { unsetSecrets: UP, unwrapSecrets: true }),
    );
    const up = await withEnv(
      {
        PROXMOX_VE_API_TOKEN: "pulumi@pve!maglev=WRITE-TOKEN-VALUE",
        SSH_AUTH_SOCK: "/run/agent.sock",
      },
      () => synth("mgmt02", { unsetSecrets: UP, unwrapSecrets: true, preview: false }),
    );
    expect(up.resources).toEqual(preview.resources);
    const text = JSON.stringify(up.resources.map((r) => r.rawInputs));
    for (const leak of [
      "READ-ONLY-TOKEN-VALUE",
      "WRITE-TOKEN-VALUE",
      "/run/agent.sock",
      "PRIVATE KEY",
      "offline-secret-ssh",
    ])
      expect({ leak, found: text.includes(leak) }).toEqual({ leak, found: false });
    const provider = up.resources.find((r) => r.type === "pulumi:providers:proxmoxve")!;
    expect(provider.rawInputs!.apiToken).toBeUndefined();
    for (const r of up.resources.filter((x) => x.type === COMMAND))
      expect({ name: r.name, key: (r.rawInputs!.connection as any).privateKey }).toEqual({
        name: r.name,
        key: undefined,
      });
  });

  test("WHEN neither the config nor the environment has them THEN a preview fails for the Proxmox token only, an update for both, before anything is registered", async () => {
    await withEnv({ PROXMOX_VE_API_TOKEN: undefined, SSH_AUTH_SOCK: undefined }, async () => {
      await expect(synth("mgmt02", { unsetSecrets: UP })).rejects.toThrow(
        /^stack mgmt02: missing the Proxmox API token \(export PROXMOX_VE_API_TOKEN, or pulumi config set --secret maglev-infra:proxmoxApiToken\)$/,
      );
      const err = await synth("mgmt02", { unsetSecrets: UP, preview: false }).catch((e) => e);
      expect(err.message).toContain("missing the Proxmox API token");
      expect(err.message).toContain(
        "; missing the hosts' SSH key (an ssh-agent at SSH_AUTH_SOCK that holds it:",
      );
      expect(err.message).not.toMatch(/resources were registered/);
    });
    // A preview needs no agent; the config's key still works without one.
    await withEnv({ PROXMOX_VE_API_TOKEN: "t", SSH_AUTH_SOCK: undefined }, async () => {
      expect((await synth("mgmt02", { unsetSecrets: UP })).resources.length).toBeGreaterThan(20);
      const r = await synth("mgmt02", { unsetSecrets: ["proxmoxApiToken"], preview: false });
      expect(r.resources.find((x) => x.name === "mgw01-apply")!.inputs.connection).toBe(
        SECRET_MARK,
      );
    });
  });
});

describe("GIVEN mgmt02 with a distinct value for every secret WHEN synthesized THEN secrets stay secret through every output", () => {
  test("THEN every stack output index.ts exports is plain but kubeconfig, which is secret, and no plain output carries a secret value (the join tokens' and the commands' mock stdout included)", async () => {
    const r = await synth("mgmt02", { secretValue: (k) => `SECRET-VALUE-OF-${k}` });
    const secretness = Object.fromEntries(
      await Promise.all(
        Object.entries(r.rawOutputs).map(async ([k, v]) => [
          k,
          pulumi.Output.isInstance(v) ? await (v as any).isSecret : false,
        ]),
      ),
    );
    expect(secretness).toEqual({
      dnsRecords: false,
      hosts: false,
      vips: false,
      alertRules: false,
      grafanaDashboard: false,
      knownHosts: false,
      kubeconfig: true,
    });
    // index.ts exports exactly these (a new output is covered by this test, or fails it).
    const exported = [
      ...fs
        .readFileSync(path.join(ROOT, "index.ts"), "utf8")
        .matchAll(/^export const (\w+) = out\.(\w+);$/gm),
    ].map((m) => (m[1] === m[2] ? m[1] : `${m[1]} != ${m[2]}`));
    expect(exported.sort()).toEqual(Object.keys(secretness).sort());
    expect(JSON.stringify(r.outputs)).not.toMatch(
      /SECRET-VALUE-OF-|offline-secret-|offline-stdout/,
    );
    expect(r.outputs.kubeconfig).toBe(SECRET_MARK);
    // The command outputs they come from: the kubeconfig and each join token are secret outputs.
    const readers = r.resources.filter((x) => /-(kubeconfig|join-token)$/.test(x.name));
    expect(readers).toHaveLength(7);
    for (const x of readers)
      expect({ name: x.name, secret: x.additionalSecretOutputs }).toEqual({
        name: x.name,
        secret: expect.arrayContaining(["stderr", "stdout"]),
      });
    // Nothing recorded of any resource carries a value in clear.
    expect(JSON.stringify(r.resources)).not.toMatch(/SECRET-VALUE-OF-|offline-secret-/);
  });
});

// ------------------------------------------------------------------------------------------

/** Names of every resource `name` depends on, transitively (what Pulumi deletes after it). */
function ancestorsOf(graph: Graph, type: string, name: string): Set<string> {
  const seen = new Set<string>();
  const todo = [...graph.get(type, name).dependsOn];
  while (todo.length) {
    const r = graph.byUrn.get(todo.pop()!);
    if (!r || seen.has(r.name)) continue;
    seen.add(r.name);
    todo.push(...r.dependsOn);
  }
  return seen;
}

describe("GIVEN mgmt02 WHEN a host leaves the stack or the stack is destroyed", () => {
  test("THEN each host's teardown has only a delete step (never run by a re-apply), the teardown script with the plan's drain, services and files", () => {
    const topo = deriveTopology(mustValidate(mgmt02Raw()));
    const plans = new Map(buildPlans(topo).map((p) => [p.name, p]));
    for (const h of topo.hosts) {
      const t = g.get(COMMAND, `${h.name}-teardown`);
      expect(Object.keys(t.inputs).sort()).toEqual(
        ["addPreviousOutputInEnv", "connection", "delete", "logging"]
          .filter((k) => k in t.inputs)
          .sort(),
      );
      expect(t.inputs.create).toBeUndefined();
      expect(t.inputs.triggers).toBeUndefined();
      expect(t.inputs.delete).toBe(teardownCommand("debian", plans.get(h.name)!, "vm"));
      expect(t.inputs.delete).toMatch(/^sudo -n 'sh' '-c' '# The delete step of a host/);
    }
    // A maglev's teardown withdraws its announcement first (the plan's drain).
    const m = plans.get("maglev01")!;
    expect(m.drain).toBeDefined();
    expect(g.get(COMMAND, "maglev01-teardown").inputs.delete).toContain(
      `'vm' '${m.drain!.drain.replace(/'/g, `'\\''`)}'`,
    );
  });

  test("THEN a host's teardown runs before its VM is deleted (Pulumi deletes dependents first: the VM is its ancestor)", () => {
    for (const vm of g.ofType(VM))
      expect(ancestorsOf(g, COMMAND, `${vm.name}-teardown`).has(vm.name)).toBe(true);
  });

  test("THEN hosts are torn down in the reverse order of the rollout: whenever host B's apply waits for host A's, A's teardown waits for B's", () => {
    const topo = deriveTopology(mustValidate(mgmt02Raw()));
    let pairs = 0;
    for (const b of topo.hosts) {
      const applyAnc = ancestorsOf(g, COMMAND, `${b.name}-apply`);
      const teardownAnc = ancestorsOf(g, COMMAND, `${b.name}-teardown`);
      for (const a of topo.hosts) {
        if (a === b || !applyAnc.has(`${a.name}-apply`)) continue;
        expect({
          first: b.name,
          then: a.name,
          ordered: teardownAnc.has(`${a.name}-teardown`),
        }).toEqual({ first: b.name, then: a.name, ordered: true });
        pairs++;
      }
    }
    // E.g. both maglevs are torn down before every gateway, HAProxy, k0s worker and dnsdist host.
    for (const x of ["mgw01", "mgw02", "mlb01", "mlb03", "k0s01", "k0s06", "dnsdist02"])
      expect(ancestorsOf(g, COMMAND, "maglev01-teardown").has(`${x}-teardown`)).toBe(true);
    expect(pairs).toBeGreaterThan(40);
  });

  test("THEN an adopted host's teardown puts the host back (mode adopted); a VM's only drains and stops (mode vm)", async () => {
    const raw = mgmt02Raw();
    const i = hostIndex(raw, "mlb03");
    raw.hosts[i].provider = "existing";
    delete raw.hosts[i].vm;
    const r = new Graph(await synthEnv(raw));
    expect(r.get(COMMAND, "mlb03-teardown").inputs.delete).toContain(
      `'maglev-teardown' 'adopted' `,
    );
    expect(r.get(COMMAND, "mlb02-teardown").inputs.delete).toContain(`'maglev-teardown' 'vm' `);
    expect(ancestorsOf(r, COMMAND, "mlb03-teardown").has("mlb03-apply")).toBe(true);
  });
});

/** A fake host: a root directory, and a bin directory whose systemctl/k0s record their calls. */
function fakeHost() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "teardown-"));
  const root = path.join(dir, "root");
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin, { recursive: true });
  const log = path.join(dir, "calls");
  const tool = (name: string, body = "") => {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> ${log}\n${body}\n`, {
      mode: 0o755,
    });
  };
  const put = (p: string, content: string, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), content, { mode });
  };
  const calls = () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "");
  return {
    dir,
    root,
    bin,
    tool,
    put,
    calls,
    exists: (p: string) => fs.existsSync(path.join(root, p)),
    read: (p: string) => fs.readFileSync(path.join(root, p), "utf8"),
  };
}

const TEARDOWN = path.join(ROOT, "scripts", "host", "teardown.sh");

describe("GIVEN scripts/host/teardown.sh on a host the apply program has configured", () => {
  const prepare = () => {
    const h = fakeHost();
    h.tool("systemctl");
    // haproxy.cfg came with the package: the apply program kept the original before replacing it.
    h.put("/etc/haproxy/haproxy.cfg", "ours\n");
    h.put("/var/lib/maglev-infra/originals/etc-haproxy-haproxy.cfg", "debian's own\n", 0o600);
    // As maglev-apply's keep_original() writes it (Python's json.dumps).
    h.put(
      "/var/lib/maglev-infra/originals/etc-haproxy-haproxy.cfg.json",
      '{"path": "/etc/haproxy/haproxy.cfg", "mode": "0640", "uid": 0, "gid": 0}',
      0o600,
    );
    // A file we created, one of our own bookkeeping files, a file that is not ours.
    h.put("/etc/haproxy/conf.d/stats.cfg", "ours\n");
    h.put("/etc/maglev-infra/secrets.json", "{}\n", 0o600);
    h.put("/etc/sysctl.d/60-maglev-infra.conf", "net.ipv4.ip_forward = 1\n");
    h.put("/etc/haproxy/errors/503.http", "not ours\n");
    h.put("/var/lib/maglev-infra/current/bundle.json", "{}\n");
    // maglev-apply's record that it created stats.cfg (nothing was there when it first wrote it).
    h.put(
      "/var/lib/maglev-infra/created/etc-haproxy-conf.d-stats.cfg",
      "/etc/haproxy/conf.d/stats.cfg\n",
      0o600,
    );
    return h;
  };
  const run = (h: ReturnType<typeof fakeHost>, mode: string, drain: string) =>
    spawnSync(
      "sh",
      [
        TEARDOWN,
        mode,
        drain,
        "haproxy frr",
        "/etc/haproxy/conf.d/stats.cfg",
        "/etc/haproxy/haproxy.cfg",
        "/etc/haproxy/missing.cfg",
      ],
      {
        encoding: "utf8",
        env: { PATH: `${h.bin}:/usr/bin:/bin`, MAGLEV_ROOT: h.root },
      },
    );

  test("WHEN it runs for an adopted host THEN it drains, stops and disables the services, puts the package's file back, removes only our files and records", () => {
    const h = prepare();
    const r = run(h, "adopted", `echo drained >> ${path.join(h.dir, "calls")}`);
    expect({ code: r.status, err: r.stderr }).toEqual({ code: 0, err: "" });
    expect(h.calls()).toBe(
      "drained\nsystemctl disable --now haproxy\nsystemctl disable --now frr\n",
    );
    expect(h.read("/etc/haproxy/haproxy.cfg")).toBe("debian's own\n");
    expect(
      (fs.statSync(path.join(h.root, "etc/haproxy/haproxy.cfg")).mode & 0o777).toString(8),
    ).toBe("640");
    expect(h.exists("/etc/haproxy/conf.d/stats.cfg")).toBe(false);
    expect(h.exists("/etc/maglev-infra/secrets.json")).toBe(false);
    expect(h.exists("/etc/sysctl.d/60-maglev-infra.conf")).toBe(false);
    expect(h.exists("/var/lib/maglev-infra")).toBe(false);
    expect(h.read("/etc/haproxy/errors/503.http")).toBe("not ours\n");
    expect(r.stdout).toContain("maglev-teardown: restored    /etc/haproxy/haproxy.cfg");
    expect(r.stdout).toContain("maglev-teardown: removed     /etc/haproxy/conf.d/stats.cfg");
    expect(r.stdout.trim().split("\n").pop()).toBe("maglev-teardown: done");
  });

  test("WHEN a path of the plan has no record that the apply program created it (the host had it with the planned content, a download) THEN an adopted host keeps it and the teardown says so", () => {
    const h = prepare();
    // stats.cfg was there before, identical: the program never wrote it, so it has no record.
    fs.rmSync(path.join(h.root, "var/lib/maglev-infra/created/etc-haproxy-conf.d-stats.cfg"));
    // Another path's record must not count for it.
    h.put(
      "/var/lib/maglev-infra/created/etc-haproxy-conf.d-stats.cfg.other",
      "/etc/haproxy/conf.d/stats.cfg.other\n",
      0o600,
    );
    h.put("/usr/local/bin/k0s", "the host's own k0s\n", 0o755);
    const r = spawnSync(
      "sh",
      [
        TEARDOWN,
        "adopted",
        "",
        "haproxy",
        "/etc/haproxy/conf.d/stats.cfg",
        "/etc/haproxy/haproxy.cfg",
        "/usr/local/bin/k0s",
      ],
      {
        encoding: "utf8",
        env: { PATH: `${h.bin}:/usr/bin:/bin`, MAGLEV_ROOT: h.root },
      },
    );
    expect({ code: r.status, err: r.stderr }).toEqual({ code: 0, err: "" });
    expect(h.read("/etc/haproxy/conf.d/stats.cfg")).toBe("ours\n");
    expect(h.read("/usr/local/bin/k0s")).toBe("the host's own k0s\n");
    expect(r.stdout).toContain(
      "maglev-teardown: kept        /etc/haproxy/conf.d/stats.cfg (no record that the apply program created it)",
    );
    expect(r.stdout).toContain("maglev-teardown: kept        /usr/local/bin/k0s");
    expect(r.stdout).not.toContain("removed     /etc/haproxy/conf.d/stats.cfg");
    // The package's file still comes back from its original.
    expect(h.read("/etc/haproxy/haproxy.cfg")).toBe("debian's own\n");
  });

  test("WHEN it runs for a VM THEN it drains and stops, and leaves the files (the VM goes next)", () => {
    const h = prepare();
    const r = run(h, "vm", "");
    expect(r.status).toBe(0);
    expect(h.calls()).toBe("systemctl disable --now haproxy\nsystemctl disable --now frr\n");
    expect(h.read("/etc/haproxy/haproxy.cfg")).toBe("ours\n");
    expect(h.exists("/var/lib/maglev-infra/current/bundle.json")).toBe(true);
    expect(r.stdout).toContain("maglev-teardown: drain       none");
  });

  test("WHEN the drain fails on a VM THEN the services are stopped anyway and the delete goes on; on an adopted host whose service will not stop THEN it fails and keeps the records", () => {
    let h = prepare();
    let r = run(h, "vm", "exit 3");
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(
      "maglev-teardown: drain failed (exit 3); stopping the services anyway",
    );
    expect(h.calls()).toContain("systemctl disable --now haproxy");
    h = prepare();
    h.tool("systemctl", '[ "$1" = is-active ] && echo active; exit 1');
    r = run(h, "adopted", "");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("maglev-teardown: could not stop haproxy");
    expect(h.exists("/var/lib/maglev-infra/originals/etc-haproxy-haproxy.cfg.json")).toBe(true);
    expect(r.stdout).toContain("FAILED");
  });
});

describe("GIVEN mgmt02 WHEN a k0s worker leaves the stack (or the stack is destroyed, or its token is replaced), joined or not", () => {
  test("THEN `<worker>-join-token`'s delete invalidates its token on the controller, by the id stored there (no token on stdin), before the controller's teardown stops k0s", () => {
    const topo = deriveTopology(mustValidate(mgmt02Raw()));
    const controller = topo.hosts.find((x) => x.tier === "k0s-controller")!;
    const workers = topo.hosts.filter((x) => x.tier === "k0s-worker");
    expect(workers.length).toBeGreaterThan(0);
    for (const w of workers) {
      const r = g.get(COMMAND, `${w.name}-join-token`);
      expect(r.inputs.create).toBe(
        k0sJoinTokenCommand("debian", "create", w.name, "/usr/local/bin/k0s"),
      );
      expect(r.inputs.delete).toBe(
        k0sJoinTokenCommand("debian", "revoke", w.name, "/usr/local/bin/k0s"),
      );
      expect(r.inputs.delete).toMatch(/^sudo -n 'sh' '-c' '# A k0s worker'\\''s join token/);
      expect(r.inputs.delete).toContain(
        ` 'k0s-join-token' 'revoke' '${w.name}' '/usr/local/bin/k0s'`,
      );
      expect(r.inputs.stdin).toBeUndefined();
      expect(r.inputs.logging).toBe("none");
      // On the controller (its pinned key).
      expect(r.inputs.connection).toBe(SECRET_MARK);
      expect(g.deps(r)).toEqual(expect.arrayContaining([`${controller.name}-host-key`]));
      // A replacement revokes the old token (delete) before the new one is minted and stored.
      expect(r.deleteBeforeReplace).toBe(true);
      // Deleted before the controller's teardown stops k0s (Pulumi deletes dependents first).
      expect(
        ancestorsOf(g, COMMAND, `${w.name}-join-token`).has(`${controller.name}-teardown`),
      ).toBe(true);
      // Its name carries no token.
      expect(r.name).toBe(`${w.name}-join-token`);
    }
  });

  test("THEN a changed connection of the controller (a rotated key) does not mint another token: the mint ignores connection changes", () => {
    for (const w of deriveTopology(mustValidate(mgmt02Raw())).hosts.filter(
      (x) => x.tier === "k0s-worker",
    ))
      expect(g.get(COMMAND, `${w.name}-join-token`).ignoreChanges).toEqual(["connection"]);
  });

  test("WHEN the workers' plans change (a new k0s release) THEN each join token's triggers change with its worker's bundle: a fresh token right before each apply", async () => {
    const raw = mgmt02Raw();
    raw.k0s.version = "v1.31.3+k0s.0";
    raw.k0s.sha256 = "4".repeat(64);
    const after = new Graph(await synthEnv(raw, { stack: "mgmt02" }));
    const env = mustValidate(raw);
    const plans = buildPlans(deriveTopology(env));
    for (const w of plans.filter((p) => p.tier === "k0s-worker")) {
      const t = after.get(COMMAND, `${w.name}-join-token`);
      expect(t.inputs.triggers).toEqual([
        compileBundle(env.name, w).sha256,
        parseHostKey(w.hostname, offlineHostKey(w.name)),
      ]);
      expect(t.inputs.triggers).not.toEqual(g.get(COMMAND, `${w.name}-join-token`).inputs.triggers);
      expect(t.urn).toBe(g.get(COMMAND, `${w.name}-join-token`).urn);
    }
  });
});

describe("GIVEN mgmt02 WHEN a k0s worker's VM is replaced (rebuilt, a new template) or its host key read again", () => {
  test("THEN its join token is replaced with it: replaceWith names the worker's VM, and the worker's pinned host key (new on a new VM) is one of its triggers, so the new node is handed a token of its own, minted after the VM and its first contact", () => {
    const workers = deriveTopology(mustValidate(mgmt02Raw())).hosts.filter(
      (x) => x.tier === "k0s-worker",
    );
    const keys = new Set<string>();
    for (const w of workers) {
      const t = g.get(COMMAND, `${w.name}-join-token`);
      // Pulumi replaces the token whenever it replaces this VM (delete before replace: the
      // old token is revoked first).
      expect(t.replaceWith).toEqual(expect.arrayContaining([g.get(VM, w.name).urn]));
      expect(t.deleteBeforeReplace).toBe(true);
      // The host key is the worker's own (not the controller's): a changed one changes the
      // triggers, which pulumi-command replaces on.
      const key = parseHostKey(w.hostname, offlineHostKey(w.name));
      expect(t.inputs.triggers).toContain(key);
      keys.add(key);
      expect(g.deps(t)).toEqual(expect.arrayContaining([w.name, `${w.name}-host-key`]));
      // Still a secret of the worker's apply, never a plain value.
      expect(t.additionalSecretOutputs).toEqual(expect.arrayContaining(["stdout"]));
    }
    expect(keys.size).toBe(workers.length);
  });
});

describe("GIVEN mgmt02 WHEN the k0s controller's VM is rebuilt: a new cluster, a new CA", () => {
  const topo = deriveTopology(mustValidate(mgmt02Raw()));
  const controller = topo.hosts.find((x) => x.tier === "k0s-controller")!;
  const workers = topo.hosts.filter((x) => x.tier === "k0s-worker");

  test("THEN every worker's join token is replaced with it (replaceWith its VM), the old one revoked on the old controller first: the token depends on that controller's VM, host key and teardown, and is deleted before it is replaced; the controller's host key alone replaces no token (its revoke would dial the new machine pinned to the old key)", () => {
    expect(workers.length).toBe(6);
    for (const w of workers) {
      const t = g.get(COMMAND, `${w.name}-join-token`);
      expect(t.replaceWith).toContain(g.get(VM, controller.name).urn);
      expect(t.replaceWith).not.toContain(g.get(COMMAND, `${controller.name}-host-key`).urn);
      expect(t.deleteBeforeReplace).toBe(true);
      const anc = ancestorsOf(g, COMMAND, `${w.name}-join-token`);
      for (const n of [
        controller.name,
        `${controller.name}-host-key`,
        `${controller.name}-teardown`,
      ])
        expect({ n, ancestor: anc.has(n) }).toEqual({ n, ancestor: true });
    }
  });

  test("THEN each worker's apply session ends with scripts/host/k0s-rejoin.sh, only after the apply passed and with no stdin of its own, so the next worker waits until this one joined the new cluster", () => {
    for (const w of workers) {
      const create = g.get(COMMAND, `${w.name}-apply`).inputs.create as string;
      const [apply, rejoin] = create.split(" && sudo -n 'sh' '-c' ");
      expect(apply).toMatch(/^sudo -n '\/usr\/bin\/python3' '-I' '-S' '-c' '/);
      expect(rejoin).toMatch(/^'# A k0s worker, as root, right after its apply/);
      expect(rejoin).toMatch(
        / 'k0s-rejoin' 'k0sworker\.service' '\/etc\/k0s\/worker-token' '\/var\/lib\/k0s' '300' <\/dev\/null$/,
      );
    }
    // Only the workers: no other host's apply runs anything after the program.
    for (const h of topo.hosts.filter((x) => x.tier !== "k0s-worker"))
      expect(g.get(COMMAND, `${h.name}-apply`).inputs.create).not.toContain("&&");
  });
});

describe("GIVEN scripts/host/k0s-rejoin.sh on a k0s worker, after its apply installed a join token", () => {
  const SCRIPT = path.join(ROOT, "scripts", "host", "k0s-rejoin.sh");
  const pem = (name: string) =>
    `-----BEGIN CERTIFICATE-----\n${Buffer.from(`the ${name} cluster CA`).toString("base64")}\n-----END CERTIFICATE-----\n`;
  /** A join token as `k0s token create` prints it: base64 of a gzip'd kubeconfig with the cluster's CA. */
  const token = (caPem: string | undefined) =>
    gzipSync(
      `apiVersion: v1\nclusters:\n- cluster:\n${caPem === undefined ? "" : `    certificate-authority-data: ${Buffer.from(caPem).toString("base64")}\n`}    server: https://10.1.7.60:6443\n  name: k0s\nusers:\n- name: kubelet-bootstrap\n  user:\n    token: abc123.0123456789abcdef\n`,
    ).toString("base64");
  const TOKEN = "/etc/k0s/worker-token";
  const DATA = "/var/lib/k0s";
  /** A worker joined to the cluster of `joined` (or not joined), with a token of `tokenCa`'s; a systemctl whose start joins it. */
  const worker = (joined: string | undefined, tokenCa: string | undefined) => {
    const h = fakeHost();
    h.put(TOKEN, token(tokenCa) + "\n", 0o600);
    if (joined !== undefined) {
      h.put(`${DATA}/kubelet.conf`, "apiVersion: v1 # the old cluster's\n");
      h.put(`${DATA}/pki/ca.crt`, joined);
      h.put(`${DATA}/kubelet/pki/kubelet-client-current.pem`, "old client certificate\n");
    }
    h.tool(
      "systemctl",
      `[ "$1" = start ] && printf 'apiVersion: v1 # the new cluster\\n' > ${h.root}${DATA}/kubelet.conf; exit 0`,
    );
    h.tool("curl", "exit 0");
    return h;
  };
  const run = (h: ReturnType<typeof fakeHost>, timeout = "300") =>
    spawnSync("sh", [SCRIPT, "k0sworker.service", TOKEN, DATA, timeout], {
      encoding: "utf8",
      env: { PATH: `${h.bin}:/usr/bin:/bin`, MAGLEV_ROOT: h.root },
    });
  const STAMP = "/run/maglev-infra/k0s-rejoin-checked";

  test("WHEN the worker is joined to another cluster than the token's (the controller was rebuilt) THEN it stops k0s, removes kubelet.conf, the kubelet's client certificates and ca.crt, starts k0s (which joins with the token) and waits until it has credentials and kubelet is healthy", () => {
    const h = worker(pem("old"), pem("new"));
    const r = run(h);
    expect({ code: r.status, err: r.stderr }).toEqual({ code: 0, err: "" });
    expect(h.calls()).toBe(
      "systemctl stop k0sworker.service\nsystemctl start k0sworker.service\ncurl -fsS -o /dev/null http://127.0.0.1:10248/healthz\n",
    );
    expect(h.exists(`${DATA}/pki/ca.crt`)).toBe(false); // k0s writes the new one from the token
    expect(h.exists(`${DATA}/kubelet/pki`)).toBe(false);
    expect(h.read(`${DATA}/kubelet.conf`)).toContain("the new cluster");
    expect(r.stdout).toMatch(
      /joining again with the new join token\n.*joined the controller's cluster after 0 s\n$/s,
    );
    expect(r.stdout + r.stderr).not.toContain("0123456789abcdef");
    expect(h.exists(STAMP)).toBe(true);
  });

  test("WHEN it is joined to the token's cluster (a new token of the same controller: the worker changed) THEN nothing is touched", () => {
    const h = worker(pem("same"), pem("same"));
    const r = run(h);
    expect({ code: r.status, out: r.stdout, err: r.stderr, calls: h.calls() }).toEqual({
      code: 0,
      out: "",
      err: "",
      calls: "",
    });
    expect(h.exists(`${DATA}/kubelet.conf`)).toBe(true);
    expect(h.read(`${DATA}/pki/ca.crt`)).toBe(pem("same"));
  });

  test("WHEN it has not joined yet THEN nothing is touched (the apply's token file restarted it with the token)", () => {
    const h = worker(undefined, pem("new"));
    const r = run(h);
    expect({ code: r.status, calls: h.calls() }).toEqual({ code: 0, calls: "" });
  });

  test("WHEN the token file is no newer than the last check (a no-op apply) THEN it reads nothing, whatever the CA; a token installed after the check is checked again", () => {
    const h = worker(pem("old"), pem("new"));
    h.put(STAMP, "");
    const past = new Date(Date.now() - 60_000);
    fs.utimesSync(path.join(h.root, TOKEN), past, past);
    expect({ code: run(h).status, calls: h.calls() }).toEqual({ code: 0, calls: "" });
    const future = new Date(Date.now() + 60_000);
    fs.utimesSync(path.join(h.root, TOKEN), future, future);
    expect(run(h).status).toBe(0);
    expect(h.calls()).toContain("systemctl start k0sworker.service");
  });

  test("WHEN it does not join again within the bound, or the token carries no CA THEN it fails saying so and leaves no stamp (the next apply checks again)", () => {
    const h = worker(pem("old"), pem("new"));
    h.tool("curl", "exit 7");
    const r = run(h, "0");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /k0s-rejoin: not joined again after 0 s .*journalctl -u k0sworker\.service/,
    );
    expect(h.exists(STAMP)).toBe(false);
    const n = worker(pem("old"), undefined);
    const r2 = run(n);
    expect(r2.status).toBe(1);
    expect(r2.stderr).toContain("carries no certificate-authority-data");
    expect(n.calls()).toBe("");
  });
});

describe("GIVEN scripts/host/k0s-join-token.sh on the controller", () => {
  const SCRIPT = path.join(ROOT, "scripts", "host", "k0s-join-token.sh");
  const kubeconfig = (id: string) =>
    `\napiVersion: v1\nclusters:\n- cluster:\n    server: https://10.1.7.60:6443\n  name: k0s\nusers:\n- name: kubelet-bootstrap\n  user:\n    token: ${id}.0123456789abcdef\n`;
  const token = (id: string) => gzipSync(kubeconfig(id)).toString("base64");
  /** A fake k0s: `token create` prints a token with id `mint`, `token list` lists `listed` as `k0s token list` prints them (tab-separated, ID first). */
  const k0s = (h: ReturnType<typeof fakeHost>, mint: string, listed: string[]) => {
    const rows = listed.map((id) => `${id}\\tworker\\t2030-01-01T00:00:00Z\\n`).join("");
    h.tool(
      "k0s",
      `[ "$1 $2" = "token create" ] && echo '${token(mint)}'; [ "$1 $2" = "token list" ] && printf '${listed.length ? `ID\\tROLE\\tEXPIRES AT\\n${rows}` : "No k0s join tokens found\\n"}'; exit 0`,
    );
    return path.join(h.bin, "k0s");
  };
  const run = (h: ReturnType<typeof fakeHost>, args: string[]) =>
    spawnSync("sh", [SCRIPT, ...args], {
      encoding: "utf8",
      env: { PATH: `/usr/bin:/bin`, MAGLEV_ROOT: h.root },
    });
  const stored = (h: ReturnType<typeof fakeHost>, w: string) =>
    path.join(h.root, "var/lib/maglev-infra/k0s-join-tokens", w);

  test("WHEN it mints for a worker with no token stored THEN it asks k0s for a worker token without an expiry, stores only its id (0600, dir 0700) and prints the token", () => {
    const h = fakeHost();
    const r = run(h, ["create", "k0s01", k0s(h, "abc123", [])]);
    expect({ code: r.status, err: r.stderr }).toEqual({ code: 0, err: "" });
    expect(r.stdout).toBe(`${token("abc123")}\n`);
    // No --expiry (k0s's default "0s": no expiration), so the copy in Pulumi's state still
    // works when the worker's first apply is retried, however late.
    expect(h.calls()).toBe("k0s token create --role=worker\n");
    expect(h.calls()).not.toContain("expiry");
    expect(fs.readFileSync(stored(h, "k0s01"), "utf8")).toBe("abc123\n");
    expect(fs.statSync(stored(h, "k0s01")).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(stored(h, "k0s01"))).mode & 0o777).toBe(0o700);
    expect(fs.readFileSync(stored(h, "k0s01"), "utf8")).not.toContain("0123456789abcdef");
  });

  test("WHEN it mints again (a replacement that lost its delete, an update) THEN it first invalidates the worker's previous token if still listed, and stores the new id; other workers' tokens are left alone", () => {
    const h = fakeHost();
    fs.mkdirSync(path.dirname(stored(h, "k0s01")), { recursive: true, mode: 0o700 });
    fs.writeFileSync(stored(h, "k0s01"), "old111\n", { mode: 0o600 });
    fs.writeFileSync(stored(h, "k0s02"), "oth222\n", { mode: 0o600 });
    const r = run(h, ["create", "k0s01", k0s(h, "new333", ["old111", "oth222"])]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${token("new333")}\n`);
    expect(h.calls()).toBe(
      "k0s token list --role=worker\nk0s token invalidate old111\nk0s token create --role=worker\n",
    );
    expect(r.stderr).toBe("k0s-join-token: invalidated k0s01's worker token old111\n");
    expect(fs.readFileSync(stored(h, "k0s01"), "utf8")).toBe("new333\n");
    expect(fs.readFileSync(stored(h, "k0s02"), "utf8")).toBe("oth222\n");
  });

  test("WHEN it revokes THEN it invalidates exactly the stored token, by its id, and forgets it, without printing any token; already gone or none stored THEN it succeeds", () => {
    let h = fakeHost();
    fs.mkdirSync(path.dirname(stored(h, "k0s01")), { recursive: true });
    fs.writeFileSync(stored(h, "k0s01"), "abc123\n");
    let r = run(h, ["revoke", "k0s01", k0s(h, "zzz999", ["abc123", "abc1234"])]);
    expect({ code: r.status, out: r.stdout, err: r.stderr }).toEqual({
      code: 0,
      out: "",
      err: "k0s-join-token: invalidated k0s01's worker token abc123\n",
    });
    expect(h.calls()).toBe("k0s token list --role=worker\nk0s token invalidate abc123\n");
    expect(fs.existsSync(stored(h, "k0s01"))).toBe(false);
    // Expired and cleaned up, or invalidated by hand: not listed.
    h = fakeHost();
    fs.mkdirSync(path.dirname(stored(h, "k0s01")), { recursive: true });
    fs.writeFileSync(stored(h, "k0s01"), "abc123\n");
    r = run(h, ["revoke", "k0s01", k0s(h, "zzz999", ["abc12", "xabc123"])]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("k0s01's worker token abc123 is already gone");
    expect(h.calls()).not.toContain("invalidate");
    expect(fs.existsSync(stored(h, "k0s01"))).toBe(false);
    // Nothing stored (never minted, or revoked already): nothing to do, k0s not even asked.
    h = fakeHost();
    r = run(h, ["revoke", "k0s01", k0s(h, "zzz999", [])]);
    expect({ code: r.status, calls: h.calls() }).toEqual({ code: 0, calls: "" });
  });

  test("WHEN a minted token is revoked (the worker leaves, or a replacement deletes it first) THEN the revoke invalidates exactly the id the create stored, and a create after it mints afresh with nothing to invalidate", () => {
    const h = fakeHost();
    let r = run(h, ["create", "k0s01", k0s(h, "tok456", [])]);
    expect(r.status).toBe(0);
    expect(fs.readFileSync(stored(h, "k0s01"), "utf8")).toBe("tok456\n");
    fs.writeFileSync(path.join(h.dir, "calls"), "");
    r = run(h, ["revoke", "k0s01", k0s(h, "new789", ["tok456"])]);
    expect({ code: r.status, out: r.stdout }).toEqual({ code: 0, out: "" });
    expect(h.calls()).toBe("k0s token list --role=worker\nk0s token invalidate tok456\n");
    expect(fs.existsSync(stored(h, "k0s01"))).toBe(false);
    fs.writeFileSync(path.join(h.dir, "calls"), "");
    r = run(h, ["create", "k0s01", k0s(h, "new789", [])]);
    expect(r.stdout).toBe(`${token("new789")}\n`);
    expect(h.calls()).toBe("k0s token create --role=worker\n");
    expect(fs.readFileSync(stored(h, "k0s01"), "utf8")).toBe("new789\n");
  });

  test("WHEN k0s prints no token, the stored id is not one, or the worker name is not a name THEN it fails, stores and prints nothing", () => {
    let h = fakeHost();
    h.tool("k0s", `echo 'not a token'`);
    let r = run(h, ["create", "k0s01", path.join(h.bin, "k0s")]);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("k0s printed no join token for k0s01");
    expect(fs.existsSync(stored(h, "k0s01"))).toBe(false);
    h = fakeHost();
    fs.mkdirSync(path.dirname(stored(h, "k0s01")), { recursive: true });
    fs.writeFileSync(stored(h, "k0s01"), "../../etc\n");
    r = run(h, ["revoke", "k0s01", k0s(h, "abc123", ["abc123"])]);
    expect(r.status).not.toBe(0);
    expect(h.calls()).not.toContain("invalidate");
    for (const bad of ["../x", "", ".hidden", "a b"]) {
      r = run(fakeHost(), ["create", bad, "/bin/false"]);
      expect({ bad, code: r.status }).toEqual({ bad, code: 1 });
    }
  });
});

describe("GIVEN an existing Proxmox VM to bring under the stack (pulumi import)", () => {
  test("WHEN importVms names mgw01 THEN its VM is registered with import ID <node>/<vmid> and the options that let the import match (clone, cloud-init, disk paths ignored), the others are created as usual", async () => {
    const r = new Graph(
      await synth("mgmt02", {
        config: { ...stackConfig("mgmt02"), "maglev-infra:importVms": ["mgw01"] },
      }),
    );
    const vm = r.get(VM, "mgw01");
    expect(vm.importId).toBe("pve01/2004");
    expect(vm.protect).toBe(true);
    expect(vm.deleteBeforeReplace).toBe(true);
    expect(vm.urn).toBe(g.get(VM, "mgw01").urn);
    expect(r.ofType(VM).filter((x) => x.importId)).toHaveLength(1);
    expect(g.ofType(VM).filter((x) => x.importId)).toHaveLength(0);
  });

  test("WHEN importVms names an adopted host or an unknown one THEN the program fails naming the key and the names, before any resource", async () => {
    const raw = mgmt02Raw();
    const i = hostIndex(raw, "mlb03");
    raw.hosts[i].provider = "existing";
    delete raw.hosts[i].vm;
    await expect(
      synthEnv(raw, {
        config: {
          ...stackConfig("mgmt02"),
          "maglev-infra:environment": raw,
          "maglev-infra:importVms": ["mlb03", "nope"],
        },
      }),
    ).rejects.toThrow(
      /^maglev-infra:importVms: not hosts of this stack with provider: proxmox: "mlb03", "nope"$/m,
    );
    await expect(
      synth("mgmt02", { config: { ...stackConfig("mgmt02"), "maglev-infra:importVms": "mgw01" } }),
    ).rejects.toThrow(/maglev-infra:importVms.*mgw01/);
  });
});
