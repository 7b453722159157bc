/**
 * The Pulumi lifecycle under mocks (issue 14): what `pulumi up` refuses before it registers
 * anything, what keeps a VM's URN across a role change or a node move, host key pinning,
 * the k0s join token, removal and destroy, `pulumi import`.
 */
import * as path from "path";
import { spawnSync } from "child_process";
import * as pulumi from "@pulumi/pulumi";
import { mgmt02Raw, ROOT } from "../helpers";
import { stackConfig, synthEnv } from "./harness";

describe("GIVEN mgmt02, whose k0s sha256 is the all-zero placeholder and whose k0s hosts download k0s", () => {
  test("WHEN the program runs as `pulumi preview`/`up` run it (index.ts: main() with no options) THEN it fails naming the file, the path and the value, and registers nothing", async () => {
    const seen: string[] = [];
    await pulumi.runtime.setMocks({ newResource: (a) => (seen.push(a.name), { id: a.name, state: {} }), call: () => ({}) }, "maglev-infra", "mgmt02");
    const config = stackConfig("mgmt02");
    pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])), []);
    let err: Error | undefined;
    try {
      require("../../src/program").main();
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toContain("stacks/Pulumi.mgmt02.yaml (stack mgmt02): 1 problem in the environment");
    expect(err?.message).toContain(`maglev-infra:environment.k0s.sha256: is a placeholder digest, but a host of this stack downloads the k0s binary`);
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
    raw.hosts = raw.hosts.filter((h: any) => !h.role.startsWith("k0s"));
    raw.backendGroups = { mlb: raw.backendGroups.mlb, dns: raw.backendGroups.dns };
    raw.vips = raw.vips.filter((v: any) => v.group !== "k0s");
    const r = await synthEnv(raw, { placeholderDigests: "reject" });
    expect(r.resources.some((x) => x.name.startsWith("k0s"))).toBe(false);
  });

  test("WHEN `npm run preview:offline` runs THEN it fails the same way; with --allow-placeholder-digests it warns and prints the graph", () => {
    const cli = path.join(ROOT, "src", "cli", "preview-offline.ts");
    const tsx = path.join(ROOT, "node_modules", ".bin", "tsx");
    const strict = spawnSync(tsx, [cli, "mgmt02"], { cwd: ROOT, encoding: "utf8" });
    expect(strict.status).toBe(1);
    expect(strict.stderr).toMatch(/stacks\/Pulumi\.mgmt02\.yaml \(stack mgmt02\).*\n.*k0s\.sha256: is a placeholder digest.*value: "0{64}"/);
    expect(strict.stdout).toBe("");
    const lenient = spawnSync(tsx, [cli, "mgmt02", "--allow-placeholder-digests"], { cwd: ROOT, encoding: "utf8", maxBuffer: 1 << 28 });
    expect(lenient.status).toBe(0);
    expect(lenient.stderr).toMatch(/^warning: stacks\/Pulumi\.mgmt02\.yaml .*\n.*k0s\.sha256: is a placeholder digest/);
    expect(lenient.stderr).toContain("`pulumi preview` and `pulumi up` reject these");
    expect(lenient.stdout).toMatch(/^# offline preview of stack mgmt02: \d+ resources/);
  });
});
