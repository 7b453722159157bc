/**
 * drain-site / undrain-site against simulated gateways: a fake HostRunner keeps each gateway's
 * route-map state and answers `advertised-routes` as FRR does — the new policy only after a few
 * polls (FRR's route-map delay timer), or never (a gateway that did not take the change).
 */
import * as path from "path";
import { deriveTopology, Topology } from "../../src/topology";
import { drainSite, undrainSite } from "../../src/ops/drain";
import { HostRunner } from "../../src/ops/runner";
import { systemd } from "../../src/apply/steps";
import { readStackEnvironment } from "../../src/config/load";
import { mustValidate, ROOT } from "../helpers";

/** The lab stack as scenario s makes it: router (iBGP) and transit (eBGP AS 64500), sites dc1 (mgw01) and dc2 (mgw02). */
function labTopology(mutate: (env: any) => void = () => undefined): Topology {
  const env: any = readStackEnvironment(path.join(ROOT, "stacks/Pulumi.lab.yaml"));
  env.bgp.upstream.push({ name: "transit", ipv4: "198.18.7.3", ipv6: "fd00:7::3", asn: 64500 });
  mutate(env);
  return deriveTopology(mustValidate(env));
}

/** Gateways whose advertised policy follows the last vtysh change after `lagPolls` polls (never when Infinity). */
function fakeGateways(topo: Topology, lagPolls: number) {
  const asn = topo.env.bgp.asn;
  const state = new Map<
    string,
    {
      lp: number;
      prepend: number;
      withdrawn: boolean;
      pending?: { lp: number; prepend: number; withdrawn: boolean };
      polls: number;
    }
  >();
  for (const g of topo.gateways)
    state.set(g.hostname, { lp: 100, prepend: 0, withdrawn: false, polls: 0 });
  const scripts: string[] = [];
  const runner: HostRunner = {
    kind: "fake",
    services: systemd,
    async run(hostname, script) {
      scripts.push(`${hostname}: ${script}`);
      const st = state.get(hostname)!;
      const ok = (stdout: string) => ({ stdout, stderr: "", code: 0 });
      if (script.includes(" 'site-drain' 'drain' ")) {
        // drain-site: the drain file's lines (site-drain.sh's last argument), applied with vtysh -f.
        const prepend =
          /set as-path prepend ([\d ]+)\n/.exec(script)?.[1].trim().split(" ").length ?? st.prepend;
        const lp = Number(/set local-preference (\d+)/.exec(script)?.[1] ?? st.lp);
        st.pending = { lp, prepend, withdrawn: script.includes("deny 5") };
        st.polls = 0;
        return ok("");
      }
      if (script.includes(" 'site-drain' 'undrain' ")) {
        st.pending = { lp: 100, prepend: 0, withdrawn: false };
        st.polls = 0;
        return ok("");
      }
      if (script.includes("advertised-routes json")) {
        if (st.pending && ++st.polls > lagPolls)
          Object.assign(st, st.pending, { pending: undefined });
        const docs = [
          ...script.matchAll(/show bgp (ipv4|ipv6) unicast neighbors (\S+) advertised-routes/g),
        ].map(([, af, addr]) => {
          const ebgp = topo.env.bgp.upstream.some(
            (u) => (u.ipv4 === addr || u.ipv6 === addr) && u.asn !== undefined && u.asn !== asn,
          );
          const routes: Record<string, unknown> = {};
          if (!st.withdrawn)
            for (const v of af === "ipv4" ? topo.vips.ipv4 : topo.vips.ipv6)
              routes[`${v}/${af === "ipv4" ? 32 : 128}`] = ebgp
                ? { path: Array(st.prepend).fill(asn).join(" ") }
                : { locPrf: st.lp, path: "" };
          return JSON.stringify({ advertisedRoutes: routes });
        });
        return ok(docs.join("\n") + "\n");
      }
      return { stdout: "", stderr: `unexpected: ${script}`, code: 1 };
    },
  };
  return { runner, scripts };
}

describe("drain-site / undrain-site wait for what the gateways advertise", () => {
  test("GIVEN FRR applies the route-map edit a few polls later WHEN dc1 is drained THEN drain-site waits for it: LOCAL_PREF 10 to router, 3 more copies of the AS to transit", async () => {
    const topo = labTopology();
    const { runner, scripts } = fakeGateways(topo, 3);
    const [r] = await drainSite(topo, runner, "dc1", { timeoutMs: 5000 });
    expect(r).toMatchObject({ host: "lab-vm-mgw01", action: "drain-site", complete: true });
    expect(r.detail).toBe(
      "advertised to every upstream: route-map NH-INGRESS permit 10; set local-preference 10; route-map NH-INGRESS-EBGP permit 10; set as-path prepend 64516 64516 64516",
    );
    expect(scripts.filter((s) => s.includes("advertised-routes")).length).toBeGreaterThanOrEqual(4);
    expect(scripts.some((s) => s.startsWith("lab-vm-mgw02"))).toBe(false);
    // Kept on the gateway, where the apply re-applies it after its FRR reload.
    expect(scripts[0]).toContain(
      " 'site-drain' 'drain' '/etc/maglev-infra/site-drain.vtysh' '/run/maglev-infra/apply.lock' ",
    );
  });

  test("GIVEN a gateway that never takes the change WHEN the site is drained THEN it is reported not complete, naming the upstream and VIP", async () => {
    const topo = labTopology();
    const { runner } = fakeGateways(topo, Infinity);
    const [r] = await drainSite(topo, runner, "dc2", { timeoutMs: 600 });
    expect(r.complete).toBe(false);
    expect(r.detail).toBe("mgw02 → 198.18.7.2 198.18.7.15: LOCAL_PREF 100, want 10");
  });

  test("GIVEN --withdraw WHEN the site is drained THEN it completes only when no VIP is advertised", async () => {
    const topo = labTopology();
    const { runner } = fakeGateways(topo, 1);
    const [r] = await drainSite(topo, runner, "dc1", { withdraw: true, timeoutMs: 5000 });
    expect(r).toMatchObject({ action: "withdraw-site", complete: true });
  });

  test("GIVEN dc2 renders prepend 2 WHEN dc2 is undrained THEN undrain-site waits until 2 copies are advertised to transit again", async () => {
    const topo = labTopology((env) => (env.sites.dc2 = { prepend: 2 }));
    const { runner } = fakeGateways(topo, 0);
    // The fake's reload restores prepend 0: the stack wants 2, so this cannot complete.
    const [r] = await undrainSite(topo, runner, "dc2", { timeoutMs: 600 });
    expect(r.complete).toBe(false);
    expect(r.detail).toBe('mgw02 → 198.18.7.3 198.18.7.15: AS path "", want 2 prepended');
  });
});
