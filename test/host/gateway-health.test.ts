/**
 * The gateway's health gate (scripts/host/gateway-health), run for real with the arguments
 * mgmt02's plan gives it and FRR's `show bgp neighbors json` answers as files. It is what lets
 * the gateways converge before the maglevs on a fresh environment (issue 14: no gate waits for
 * what is applied after it) while a later change of mgw02 still waits for mgw01's sessions.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildPlans } from "../../src/plan";
import { deriveTopology } from "../../src/topology";
import { GATEWAY_HEALTH } from "../../src/tiers/gateway";
import { mgmt02Raw, mustValidate, ROOT } from "../helpers";

const SCRIPT = path.join(ROOT, "scripts", "host", "gateway-health");
const topo = deriveTopology(mustValidate(mgmt02Raw()));
const mgw01 = buildPlans(topo).find((p) => p.name === "mgw01")!;
const UPSTREAM = "10.1.7.2";
const MAGLEVS = topo.maglevs.map((m) => m.mgmt.ipv4);

/** The gate's own arguments, from the plan's health command. */
function planArgs(): string[] {
  const cmd = mgw01.health!.command;
  expect(cmd.startsWith(`${GATEWAY_HEALTH} `)).toBe(true);
  return cmd.slice(GATEWAY_HEALTH.length + 1).split(" ");
}

type Neighbour = { bgpState: string; connectionsEstablished?: number };

function gate(neighbours: Record<string, Neighbour>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-health-"));
  const json = path.join(dir, "neighbors.json");
  fs.writeFileSync(json, JSON.stringify(neighbours));
  const r = spawnSync("python3", [SCRIPT, ...planArgs(), "--json", json], { encoding: "utf8" });
  fs.rmSync(dir, { recursive: true, force: true });
  return { rc: r.status, out: r.stdout.trim().split("\n").filter(Boolean), err: r.stderr };
}

const established = (n = 1): Neighbour => ({ bgpState: "Established", connectionsEstablished: n });

describe("GIVEN mgw01's health gate with mgmt02's upstream and maglevs", () => {
  test("THEN the plan asks for the upstream session and every maglev's", () => {
    expect(planArgs()).toEqual(["--upstream", UPSTREAM, "--maglev", MAGLEVS.join(",")]);
  });

  test("WHEN the upstream is Established and the maglevs have never connected (a fresh environment: they are applied after the gateways) THEN it passes", () => {
    const r = gate({
      [UPSTREAM]: established(),
      ...Object.fromEntries(
        MAGLEVS.map((m) => [m, { bgpState: "Active", connectionsEstablished: 0 }]),
      ),
    });
    expect(r).toEqual({ rc: 0, out: [], err: "" });
  });

  test("WHEN a maglev that was connected is down (a later change of the tier) THEN it fails naming it, so the next gateway waits", () => {
    const r = gate({
      [UPSTREAM]: established(),
      [MAGLEVS[0]]: established(2),
      [MAGLEVS[1]]: { bgpState: "Connect", connectionsEstablished: 1 },
    });
    expect(r.rc).toBe(1);
    expect(r.out).toEqual([`maglev ${MAGLEVS[1]}: Connect`]);
  });

  test("WHEN the upstream session is not Established, or a peer is not configured in bgpd at all THEN it fails naming each", () => {
    let r = gate({
      [UPSTREAM]: { bgpState: "OpenSent" },
      ...Object.fromEntries(MAGLEVS.map((m) => [m, established()])),
    });
    expect({ rc: r.rc, out: r.out }).toEqual({ rc: 1, out: [`upstream ${UPSTREAM}: OpenSent`] });
    r = gate({ [MAGLEVS[0]]: established() });
    expect(r.rc).toBe(1);
    expect(r.out).toEqual([
      `upstream ${UPSTREAM}: not configured`,
      `maglev ${MAGLEVS[1]}: not configured`,
    ]);
  });
});
