/**
 * The Pulumi program under Pulumi's mock runtime: VMs, apply chains, rollout order,
 * secrets, determinism, validation before registration. Counts are derived from the plans
 * (the tier planners grow independently), never hard-coded per file.
 */
import { alertRules } from "../../src/monitoring/rules";
import { grafanaDashboard } from "../../src/monitoring/dashboard";
import * as pulumi from "@pulumi/pulumi";
import {
  applyCommand,
  applyStdin,
  bundleArchive,
  bundleSecretKeys,
  compileBundle,
  k0sRejoinCommand,
  k0sJoinTokenCommand,
} from "../../src/bundle";
import { K0S_JOIN_TOKEN_SECRET, k0sJoinTokenUrn } from "../../src/tiers/k0s";
import { K0S_WORKER_TOKEN_FILE } from "../../src/daemons/k0s/render";
import { KEEPALIVED_CONF } from "../../src/daemons/keepalived/render";
import { DNSDIST_CONF } from "../../src/daemons/dnsdist/render";
import { PDNS_ZONES_ENV } from "../../src/daemons/powerdns/render";
import { K0sWorker, ManagedHost, parseHostKey } from "../../components";
import { buildPlans, HostPlan } from "../../src/plan";
import { deriveTopology, Topology } from "../../src/topology";
import {
  SECRET_MARK,
  OFFLINE_SECRET_PREFIX,
  offlineHostKey,
  synthesize,
  readStackConfig,
} from "../../src/program/offline";
import {
  GATE_NEEDS,
  main,
  TIER_ORDER,
  PROGRAM_SECRET_KEYS,
  referencedSecretKeys,
  vipKey,
} from "../../src/program";
import { mgmt02Raw, mustValidate, hostIndex } from "../helpers";
import { COMMAND, COPY, Graph, synth, synthEnv, SynthResult, VM } from "./harness";

let result: SynthResult;
let g: Graph;
let topo: Topology;
let plans: HostPlan[];

beforeAll(async () => {
  result = await synth("mgmt02");
  g = new Graph(result);
  topo = deriveTopology(mustValidate(mgmt02Raw()));
  plans = buildPlans(topo);
});

describe("GIVEN the mgmt02 stack WHEN the program runs under mocks", () => {
  test("THEN there is one VM per Proxmox host (20), cloned from the template with the topology's MACs, protected", () => {
    const vms = g.ofType(VM);
    expect(vms).toHaveLength(topo.hosts.filter((h) => h.provider === "proxmox").length);
    expect(vms).toHaveLength(20);
    for (const h of topo.hosts) {
      const vm = g.get(VM, h.name);
      expect(vm.inputs).toMatchObject({
        name: h.hostname,
        nodeName: h.vm!.node,
        vmId: h.vm!.id,
        clone: { vmId: h.vm!.template, full: true, retries: 5 },
        migrate: true,
        cpu: { cores: h.vm!.cores },
        memory: { dedicated: h.vm!.memoryMb },
        agent: { enabled: true, timeout: "300s" },
      });
      const nics = vm.inputs.networkDevices as any[];
      expect(nics[0]).toMatchObject({ macAddress: h.macs.mgmt, bridge: "vmbr0", vlanId: 7 });
      if (h.ingress)
        expect(nics[1]).toMatchObject({ macAddress: h.macs.ingress, bridge: "vmbr0", vlanId: 10 });
      else expect(nics).toHaveLength(1);
      expect((vm.inputs.initialization as any).ipConfigs[0].ipv4.address).toBe(`${h.mgmt.ipv4}/24`);
      expect(vm.provider).toMatch(/pulumi:providers:proxmoxve::proxmox::/);
    }
  });

  test("THEN there is exactly one explicit Proxmox provider and its token is secret", () => {
    const providers = g.ofType("pulumi:providers:proxmoxve");
    expect(providers).toHaveLength(1);
    expect(providers[0].inputs.apiToken).toBe(SECRET_MARK);
  });

  test("THEN each tier has its component class with its type token", () => {
    const expected: Record<string, string> = {
      gateway: "maglev-infra:gateway:Gateway",
      maglev: "maglev-infra:maglev:MaglevNode",
      haproxy: "maglev-infra:haproxy:HaproxyNode",
      "k0s-controller": "maglev-infra:k0s:K0sController",
      "k0s-worker": "maglev-infra:k0s:K0sWorker",
      dnsdist: "maglev-infra:dns:DnsdistNode",
      powerdns: "maglev-infra:dns:PowerDnsNode",
      "shadow-primary": "maglev-infra:dns:ShadowPrimary",
    };
    for (const h of topo.hosts) {
      const c = g.get(expected[h.tier], h.name);
      expect(g.get(VM, h.name).parent).toBe(c.urn);
    }
  });

  test("THEN each host is at most 5 resources: its VM, its host key, its apply and its teardown; the k0s controller its kubeconfig; a worker its join token", () => {
    for (const h of topo.hosts) {
      const own = result.resources
        .filter((r) => r.custom && (r.name === h.name || r.name.startsWith(`${h.name}-`)))
        .map((r) => r.name.slice(h.name.length) || "(VM)");
      const extra =
        h.tier === "k0s-controller"
          ? ["-kubeconfig"]
          : h.tier === "k0s-worker"
            ? ["-join-token"]
            : [];
      expect({ host: h.name, own: own.sort() }).toEqual({
        host: h.name,
        own: ["(VM)", "-apply", "-host-key", "-teardown", ...extra].sort(),
      });
      // Issue 12's bound, counted as preview:offline's summary does: the custom children of the host's component.
      const component = result.resources.find(
        (r) => !r.custom && r.name === h.name && r.type.startsWith("maglev-infra:"),
      )!;
      const children = result.resources.filter((r) => r.custom && r.parent === component.urn);
      expect({ host: h.name, n: children.length, atMost5: children.length <= 5 }).toEqual({
        host: h.name,
        n: own.length,
        atMost5: true,
      });
    }
    expect(g.ofType(COPY)).toHaveLength(0);
    expect(
      result.resources.some((r) =>
        /-(secrets|worker-token|join-token-spent|join-token-revoke)$/.test(r.name),
      ),
    ).toBe(false);
  });

  test("THEN every apply runs the one bootstrap as root with the host's bundle on stdin, the manifest visible in its triggers", () => {
    for (const p of plans) {
      const c = compileBundle(topo.env.name, p);
      const r = g.get(COMMAND, `${p.name}-apply`);
      // A k0s worker's session then checks that it is joined to its controller's cluster
      // (components/k0s.ts: it joins again after a controller rebuild), only if the apply passed.
      expect(r.inputs.create).toBe(
        p.tier === "k0s-worker"
          ? `${applyCommand(topo.env.proxmox.user)} && ${k0sRejoinCommand("debian", "k0sworker.service", K0S_WORKER_TOKEN_FILE, "/var/lib/k0s", 300)}`
          : applyCommand(topo.env.proxmox.user),
      );
      expect(r.inputs.create).toMatch(/^sudo -n '\/usr\/bin\/python3' '-I' '-S' '-c' '/);
      expect(r.inputs.triggers).toEqual([c.sha256, c.programSha256, ...c.manifest]);
      for (const f of p.files)
        expect(
          (r.inputs.triggers as string[]).some((t) =>
            t.startsWith(`${f.path} ${f.mode} ${f.owner} `),
          ),
        ).toBe(true);
      if (bundleSecretKeys(c.bundle).length) {
        // The archive carries the secrets' values: secret, so a rotation re-applies without a value in the diff.
        expect(r.inputs.stdin).toBe(SECRET_MARK);
        expect(r.secretInputs).toContain("stdin");
        expect(r.inputs.logging).toBe("none");
      } else {
        expect(r.inputs.stdin).toBe(bundleArchive(c, ""));
      }
    }
  });

  test("THEN the lab sends what the program registers: each apply's stdin is, byte for byte, applyStdin(bundle, secrets) as lab/transport.ts builds it, with the worker's own join token", async () => {
    // The components themselves, to read each apply's stdin in clear (the recorder only sees [secret]).
    const made: ManagedHost[] = [];
    const orig = (ManagedHost.prototype as any).hostOutputs;
    (ManagedHost.prototype as any).hostOutputs = function (this: ManagedHost) {
      made.push(this);
      return orig.call(this);
    };
    try {
      await synthesize({
        stack: "mgmt02",
        config: readStackConfig("mgmt02"),
        program: () => main({ placeholderDigests: "allow" }),
      });
    } finally {
      (ManagedHost.prototype as any).hostOutputs = orig;
    }
    const values = (keys: string[]) =>
      Object.fromEntries(keys.map((k) => [k, `${OFFLINE_SECRET_PREFIX}${k}`]));
    let withSecrets = 0;
    for (const p of plans) {
      const host = made.find((m) => m.hostname === p.hostname)!;
      const stdin = await new Promise<string>((res) =>
        pulumi
          .output((host.apply as any).stdin as pulumi.Input<string>)
          .apply((v) => res(v as string)),
      );
      const c = compileBundle(topo.env.name, p);
      const keys = bundleSecretKeys(c.bundle);
      expect({ host: p.name, same: stdin === applyStdin(c, values(keys)) }).toEqual({
        host: p.name,
        same: true,
      });
      if (keys.length) withSecrets++;
      if (p.tier === "k0s-worker") expect(keys).toContain(K0S_JOIN_TOKEN_SECRET);
    }
    expect(withSecrets).toBeGreaterThanOrEqual(
      topo.hosts.filter((h) => h.tier === "k0s-worker").length + 2,
    );
  });

  test("THEN within each tier host N applies after host N-1's apply (which ends with its health gate), gateways before maglevs", () => {
    const tiers = [...new Set(topo.hosts.map((h) => h.tier))];
    for (const t of tiers) {
      const hosts = topo.hosts.filter((h) => h.tier === t);
      hosts.forEach((h, i) => {
        const first = g.get(COMMAND, `${h.name}-apply`);
        const deps = g.deps(first);
        expect(deps).toContain(h.name); // its VM
        expect(deps).toContain(`${h.name}-host-key`); // the pinned key, read on first contact
        if (i > 0) expect(deps).toContain(`${hosts[i - 1].name}-apply`);
        if (i === 0 && t === "maglev")
          expect(deps).toContain(`${topo.gateways[topo.gateways.length - 1].name}-apply`);
        if (i === 0 && !GATE_NEEDS[t]) expect(deps).toEqual([h.name, `${h.name}-host-key`].sort());
      });
    }
  });

  test("THEN no health gate waits for a host that is not applied before it: what each gate needs, read from the rendered files, is an ancestor of its apply", () => {
    // Derived from the plans, not from GATE_NEEDS. A gate needs the hosts its probe names (its
    // command's addresses), the hosts its host pulls from while it applies (a secondary asks its
    // primaries for the zones, a k0s worker joins through the controller), and behind a
    // maglev's "every VIP announced" the real servers keepalived checks; and each of those, in
    // turn, what it needs to serve: what it pulls from, and what its own checks go through
    // (dnsdist answers keepalived's DNS_CHECK only through a secondary that has the zone).
    const byAddr = new Map<string, string>();
    for (const h of topo.hosts)
      for (const a of [h.mgmt.ipv4, h.mgmt.ipv6, h.ingress?.ipv4, h.ingress?.ipv6])
        if (a) byAddr.set(a, h.name);
    const planOf = new Map(plans.map((p) => [p.name, p]));
    const file = (p: HostPlan, path: string) => p.files.find((f) => f.path === path)?.content ?? "";
    const hostsIn = (text: string, re: RegExp) =>
      [...text.matchAll(re)].flatMap((m) => (byAddr.has(m[1]) ? [byAddr.get(m[1])!] : []));
    const ADDR =
      /(?<![\w.:])(\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,7})(?![\w.:])/g;
    /** Hosts whose service this host's own checks go through. */
    const behind = (p: HostPlan): string[] =>
      p.tier === "maglev"
        ? hostsIn(file(p, KEEPALIVED_CONF), /real_server (\S+) \{/g)
        : p.tier === "dnsdist"
          ? hostsIn(file(p, DNSDIST_CONF), /newServer\(\{ address = "([^"]+):53"/g)
          : [];
    /** Hosts this host pulls from while it applies. */
    const pulls = (p: HostPlan): string[] => {
      if (p.tier === "powerdns") {
        const primaries = /PDNS_PRIMARIES=\(([^)]*)\)/.exec(file(p, PDNS_ZONES_ENV))?.[1] ?? "";
        return hostsIn(primaries.replace(/'/g, " "), ADDR);
      }
      // A worker's join token (a secret of its plan) is minted on the controller.
      if (p.files.some((f) => f.secretKeys?.includes(K0S_JOIN_TOKEN_SECRET)))
        return topo.hosts.filter((h) => h.tier === "k0s-controller").map((h) => h.name);
      return [];
    };
    /** The probe's own addresses; a gateway's --maglev list counts only maglevs that ever connected or were Established right before the change, i.e. already running (scripts/host/gateway-health, tested in test/host): left out. */
    const probed = (p: HostPlan) =>
      hostsIn((p.health?.command ?? "").replace(/--maglev \S+/, ""), ADDR);
    const needsOf = (p: HostPlan): Set<string> => {
      const out = new Set<string>();
      const todo = [...probed(p), ...pulls(p), ...(p.tier === "maglev" ? behind(p) : [])];
      while (todo.length) {
        const n = todo.pop()!;
        if (n === p.name || out.has(n)) continue;
        out.add(n);
        todo.push(...pulls(planOf.get(n)!), ...behind(planOf.get(n)!));
      }
      return out;
    };
    const ancestors = (name: string): Set<string> => {
      const seen = new Set<string>();
      const todo = [...g.get(COMMAND, name).dependsOn];
      while (todo.length) {
        const r = g.byUrn.get(todo.pop()!);
        if (!r || seen.has(r.name)) continue;
        seen.add(r.name);
        todo.push(...r.dependsOn);
      }
      return seen;
    };
    let checked = 0;
    for (const p of plans.filter((x) => x.health)) {
      const a = ancestors(`${p.name}-apply`);
      for (const n of needsOf(p)) {
        expect({ gate: p.name, needs: n, appliedBefore: a.has(`${n}-apply`) }).toEqual({
          gate: p.name,
          needs: n,
          appliedBefore: true,
        });
        checked++;
      }
    }
    // A maglev's gate reaches every L7 host behind a VIP, the gateways it dials, and through
    // dnsdist the secondaries and the shadow primary.
    expect([...needsOf(planOf.get("maglev01")!)].sort()).toEqual(
      ["mgw01", "mgw02", "mlb01", "mlb02", "mlb03", "k0s00", "k0s01", "k0s02", "k0s03"]
        .concat(["dnsdist01", "dnsdist02", "dns01", "dns02", "dns03", "dns00"])
        .sort(),
    );
    expect(checked).toBeGreaterThan(2 * 17);
  });

  test("THEN the program wires exactly GATE_NEEDS: every host of a needed tier is applied before the tier's first host", () => {
    let checked = 0;
    for (const [tier, needs] of Object.entries(GATE_NEEDS)) {
      const first = topo.hosts.find((x) => x.tier === tier)!;
      const deps = new Set<string>();
      const todo = [...g.get(COMMAND, `${first.name}-apply`).dependsOn];
      while (todo.length) {
        const r = g.byUrn.get(todo.pop()!);
        if (!r || deps.has(r.name)) continue;
        deps.add(r.name);
        todo.push(...r.dependsOn);
      }
      for (const need of needs!)
        for (const n of topo.hosts.filter((x) => x.tier === need)) {
          expect({ tier, needs: n.name, before: deps.has(`${n.name}-apply`) }).toEqual({
            tier,
            needs: n.name,
            before: true,
          });
          checked++;
        }
    }
    // mgmt02: maglev ← 2 gateways + 3 HAProxy + 6 k0s workers + 2 dnsdist + 3 PowerDNS + 1
    // shadow primary; PowerDNS ← the shadow primary; k0s workers ← the controller.
    expect(checked).toBe(2 + 3 + 6 + 2 + 3 + 1 + 1 + 1);
    expect(TIER_ORDER.indexOf("maglev")).toBe(TIER_ORDER.length - 1);
  });

  test("THEN each k0s worker's own join token is one resource on the controller: minted after the controller converged and right before the worker's apply, revoked by its delete, a secret of the worker's plan, unlogged", () => {
    const controller = topo.hosts.find((x) => x.tier === "k0s-controller")!;
    const mints = new Set<string>();
    for (const h of topo.hosts.filter((x) => x.tier === "k0s-worker")) {
      const mint = g.get(COMMAND, `${h.name}-join-token`);
      expect(mint.inputs.create).toBe(
        k0sJoinTokenCommand("debian", "create", h.name, "/usr/local/bin/k0s"),
      );
      expect(mint.inputs.delete).toBe(
        k0sJoinTokenCommand("debian", "revoke", h.name, "/usr/local/bin/k0s"),
      );
      // No expiry: the copy in state is valid until this resource revokes it.
      expect(mint.inputs.create).toContain('token=$("$k0s" token create --role=worker)');
      expect(mint.inputs.create).not.toMatch(/token create[^\n]*--expiry/);
      expect(mint.inputs.stdin).toBeUndefined();
      // Any change of the worker's bundle, or a new host key, mints a fresh token right before its apply.
      expect(mint.inputs.triggers).toEqual([
        compileBundle(
          topo.env.name,
          plans.find((p) => p.name === h.name)!,
        ).sha256,
        parseHostKey(h.hostname, offlineHostKey(h.name)),
      ]);
      expect(mint.inputs.logging).toBe("none");
      expect(mint.additionalSecretOutputs).toEqual(expect.arrayContaining(["stdout", "stderr"]));
      expect(mint.deleteBeforeReplace).toBe(true);
      expect(mint.ignoreChanges).toEqual(["connection"]);
      // A rebuilt worker VM, or a rebuilt controller VM (a new cluster).
      expect([...(mint.replaceWith ?? [])].sort()).toEqual(
        [g.get(VM, h.name).urn, g.get(VM, controller.name).urn].sort(),
      );
      expect(mint.parent).toBe(g.get("maglev-infra:k0s:K0sWorker", h.name).urn);
      expect(g.deps(mint)).toEqual(
        expect.arrayContaining([
          `${controller.name}-apply`,
          `${controller.name}-host-key`,
          `${controller.name}-teardown`,
          h.name,
        ]),
      );
      expect(g.deps(g.get(COMMAND, `${h.name}-apply`))).toContain(`${h.name}-join-token`);
      // The URN the worker's health gate names for `pulumi up --replace`.
      expect(mint.urn).toBe(k0sJoinTokenUrn("mgmt02", h.name));
      const plan = plans.find((p) => p.name === h.name)!;
      expect(plan.health!.command).toContain(`pulumi up --replace '\\''${mint.urn}'\\''`);
      expect(plan.files.find((f) => f.path === K0S_WORKER_TOKEN_FILE)).toMatchObject({
        mode: "0600",
        owner: "root:root",
        content: `{{secret:${K0S_JOIN_TOKEN_SECRET}}}`,
        secretKeys: [K0S_JOIN_TOKEN_SECRET],
        secretSyntax: "line",
        activate: {
          kind: "command",
          command: "test -s /var/lib/k0s/kubelet.conf || systemctl try-restart k0sworker.service",
        },
      });
      mints.add(mint.urn);
    }
    expect(mints.size).toBe(6);
    // No token shared by the workers, none on the controller.
    expect(g.has(COMMAND, `${controller.name}-join-token`)).toBe(false);
    // Not a stack config secret: never asked of `pulumi config`.
    expect(PROGRAM_SECRET_KEYS).toEqual([K0S_JOIN_TOKEN_SECRET]);
    expect(referencedSecretKeys(plans)).not.toContain(K0S_JOIN_TOKEN_SECRET);
    expect(K0sWorker).toBeDefined();
  });

  test("THEN the stack outputs are dnsRecords, hosts, vips, alertRules, grafanaDashboard and a secret kubeconfig", async () => {
    expect(result.outputs.dnsRecords).toEqual(topo.dnsRecords);
    // The same rule file as the render's alert-rules.yml, the same dashboard as its grafana-dashboard.json.
    expect(result.outputs.alertRules).toBe(alertRules(topo));
    expect(result.outputs.grafanaDashboard).toBe(grafanaDashboard(topo));
    const hosts = result.outputs.hosts as Record<string, any>;
    expect(Object.keys(hosts)).toEqual(topo.hosts.map((h) => h.name));
    expect(hosts.mgw01).toEqual({
      tier: "gateway",
      hostname: "mgmt02-vm-mgw01",
      mgmt: { ipv4: "10.1.7.4", ipv6: "2a0a:7180:81:7::4" },
      ingress: { ipv4: "10.1.10.4", ipv6: "2a0a:7180:81:a::4" },
      vmId: 2004,
    });
    const vips = result.outputs.vips as Record<string, any>;
    for (const r of topo.vipPorts)
      expect(vips[vipKey(r.vip, r.port)]).toMatchObject({
        group: r.group,
        fwmark: r.fwmark,
        protocols: expect.arrayContaining([r.protocol]),
      });
    expect(vips["[2a0a:7180:81:7::35]:53"]).toEqual({
      group: "dns",
      fwmark: 300053,
      protocols: ["tcp", "udp"],
    });
    expect(result.outputs.kubeconfig).toBe(SECRET_MARK);
    expect(await (result.rawOutputs.kubeconfig as any).isSecret).toBe(true);
  });

  test("THEN no placeholder secret appears anywhere outside [secret]", () => {
    const text = JSON.stringify({ resources: result.resources, outputs: result.outputs });
    expect(text).not.toContain(OFFLINE_SECRET_PREFIX); // the join tokens' mock stdout included
    expect(text).not.toContain("offline-stdout"); // the mock's command stdout, secret by construction
  });

  test("THEN every command carrying a secret (its stdin or triggers; an apply's stdin holds the secrets' hash) does not log", () => {
    const carrying = g
      .ofType(COMMAND)
      .filter((r) => r.secretInputs.some((k) => k !== "connection"));
    for (const r of carrying)
      expect({ name: r.name, logging: r.inputs.logging }).toEqual({
        name: r.name,
        logging: "none",
      });
    // Every worker's apply (its join token) and the HAProxy and DNS hosts' (their stack secrets).
    expect(carrying.length).toBeGreaterThanOrEqual(
      topo.hosts.filter((h) => h.tier === "k0s-worker").length + 2,
    );
    // An apply without secrets logs its phase lines.
    for (const r of g
      .ofType(COMMAND)
      .filter((x) => x.name.endsWith("-apply") && !x.secretInputs.includes("stdin")))
      expect(r.inputs.logging).toBe("stdoutAndStderr");
  });

  test("THEN every command connects with a bounded dial (SSH key secret)", () => {
    for (const r of [...g.ofType(COMMAND), ...g.ofType(COPY)])
      expect(r.inputs.connection).toBe(SECRET_MARK);
  });

  test("AND WHEN it runs a second time THEN it registers the same resources with the same inputs", async () => {
    const again = await synth("mgmt02");
    expect(again.resources).toEqual(result.resources);
    expect(again.outputs).toEqual(result.outputs);
  });
});

describe("GIVEN a stack with problems", () => {
  test("WHEN the program runs THEN it throws every problem and registers nothing", async () => {
    const raw = mgmt02Raw();
    raw.hosts[hostIndex(raw, "mlb02")].mgmt.ipv4 = "10.9.9.9"; // outside mgmt
    raw.vips.push({ vip: "10.1.7.99", ports: [80], group: "nope" });
    raw.proxmox.sshPublicKey = "not a key";
    let err: Error | undefined;
    try {
      await synthEnv(raw);
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeDefined();
    expect(err!.message).toMatch(/problems? in the environment/);
    expect(err!.message).toContain("hosts[5].mgmt.ipv4");
    expect(err!.message).toContain("proxmox.sshPublicKey");
    expect(err!.message).toMatch(/vips\[5\]\.group/);
    expect(err!.message).not.toMatch(/resources were registered/);
    // And explicitly: a recorder sees no registration.
    const seen: string[] = [];
    await pulumi.runtime.setMocks(
      { newResource: (a) => (seen.push(a.name), { id: a.name, state: {} }), call: () => ({}) },
      "maglev-infra",
      "bad",
    );
    pulumi.runtime.setAllConfig({ "maglev-infra:environment": JSON.stringify(raw) }, []);
    expect(() => require("../../src/program").main()).toThrow(/problems? in the environment/);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([]);
  });
});

describe("GIVEN a host adopted by address (provider: existing)", () => {
  test("WHEN synthesized THEN it has no VM and its commands still run (over its mgmt address)", async () => {
    const raw = mgmt02Raw();
    const i = hostIndex(raw, "mlb03");
    raw.hosts[i].provider = "existing";
    delete raw.hosts[i].vm;
    const r = new Graph(await synthEnv(raw));
    expect(r.ofType(VM)).toHaveLength(19);
    expect(r.has(VM, "mlb03")).toBe(false);
    const pk = r.get(COMMAND, "mlb03-apply");
    expect(r.deps(pk)).not.toContain("mlb03");
    expect((r.result.outputs.hosts as any).mlb03.vmId).toBeUndefined();
  });

  test("WHEN every host is adopted THEN no Proxmox provider is created and no Proxmox config is needed", async () => {
    const raw = mgmt02Raw();
    for (const h of raw.hosts) {
      h.provider = "existing";
      delete h.vm;
    }
    const r = new Graph(await synthEnv(raw));
    expect(r.ofType(VM)).toHaveLength(0);
    expect(r.ofType("pulumi:providers:proxmoxve")).toHaveLength(0);
  });
});

describe("referencedSecretKeys", () => {
  test("GIVEN plans with secret files THEN only the referenced keys are read, and an unknown key fails", () => {
    const p = (keys: string[]): HostPlan => ({
      ...plans[0],
      files: [{ ...plans[0].files[0], secretKeys: keys }],
    });
    expect(
      referencedSecretKeys([p(["pdnsApiKey"]), p(["haproxyStatsPassword", "pdnsApiKey"])]),
    ).toEqual(["haproxyStatsPassword", "pdnsApiKey"]);
    expect(() => referencedSecretKeys([p(["not a key"])])).toThrow(
      /not config key names: not a key/,
    );
    // The program's own secrets (a worker's join token) are not config keys.
    expect(referencedSecretKeys([p(["pdnsApiKey", K0S_JOIN_TOKEN_SECRET])])).toEqual([
      "pdnsApiKey",
    ]);
  });
});
