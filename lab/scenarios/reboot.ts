/**
 * Scenario `reboot`: what a host's disk and its init make of it (systemd guests, lab/machine/).
 * Every managed guest in turn, under load, rebooted cleanly (reboot.target, same disk) with no
 * apply in between. A maglev or an HAProxy node is drained first and undrained after (`ops
 * drain`, as an operator does before planned work); the others are not (no drain). After each boot: the plan's sysctls hold their values, its services
 * are active, the VIPs are on `vip`, a maglev's mark table is loaded, and the lab is ready again
 * (BGP, BFD, ECMP). Per guest: failed requests and the time from the reboot to ready. Goal: 0
 * failed for maglevs and HAProxy nodes. In the quick set (a bare `lab test`) only the first
 * maglev and the first HAProxy node of the rollout order: the two tiers with that goal.
 */
import * as path from "path";
import { sumFailed } from "../load";
import { rolloutOrder, waitReady } from "../cluster";
import { drainHost, undrainHost } from "../../src/ops/drain";
import { HostPlan } from "../../src/plan";
import { scriptCommand } from "../../src/plan/scripts";
import { Ctx, Outcome, Scenario } from "./runner";
import { loadChain } from "./load-mix";

const DRAINABLE = new Set(["maglev", "haproxy"]);

/** lab/boot-state.sh: a booted guest's sysctls, units, VIPs and mark table, one line each. */
export const BOOT_STATE = path.join(__dirname, "..", "boot-state.sh");

/** The command that asks a booted host for what its plan says it must have without an apply. */
export function bootStateCommand(p: HostPlan): string {
  return scriptCommand(BOOT_STATE, [...p.sysctls.map((s) => s.key), "--", ...p.services], "bash");
}

/** What lab/boot-state.sh's output lacks of the plan's sysctls, services, VIPs and marks. */
export function bootStateProblems(p: HostPlan, out: string): string[] {
  const probs: string[] = [];
  const got = new Map<string, string>();
  for (const l of out.split("\n")) {
    const m = /^([SUVM]) (\S*) ?(.*)$/.exec(l);
    if (m)
      got.set(
        `${m[1]} ${m[1] === "V" || m[1] === "M" ? "" : m[2]}`,
        m[1] === "V" || m[1] === "M" ? `${m[2]} ${m[3]}` : m[3],
      );
  }
  for (const s of p.sysctls) {
    const v = got.get(`S ${s.key}`)?.trim();
    if (v !== String(s.value).trim().replace(/\s+/g, " "))
      probs.push(`${s.key}=${v ?? "?"} (plan ${s.value})`);
  }
  for (const u of p.services)
    if (got.get(`U ${u}`) !== "active") probs.push(`${u} ${got.get(`U ${u}`) ?? "?"}`);
  const vips = p.tier === "maglev" || p.tier === "haproxy" || p.tier === "dnsdist";
  if (vips && !/\d+\.\d+\.\d+\.\d+\/32/.test(got.get("V ") ?? ""))
    probs.push(`no VIPs on vip (${got.get("V ") ?? "?"})`);
  if (p.tier === "maglev" && !/maglev_infra/.test(got.get("M ") ?? ""))
    probs.push(`no mark table (${got.get("M ") ?? "?"})`);
  return probs;
}

/** What a booted host must have without an apply: the plan's sysctls, services, VIPs and marks. */
async function stateAfterBoot(c: Ctx, p: HostPlan): Promise<string[]> {
  const r = await c.lab.exec(p.hostname, bootStateCommand(p), { timeoutMs: 30_000 });
  return bootStateProblems(p, r.stdout);
}

/** Every managed guest in rollout order; the quick set's short form: one maglev, one HAProxy node. */
export function rebootedHosts(c: Pick<Ctx, "m" | "quick">): HostPlan[] {
  const order = rolloutOrder(c.m);
  if (!c.quick) return order;
  return order.filter((p) => DRAINABLE.has(p.tier) && order.find((q) => q.tier === p.tier) === p);
}

export const reboot: Scenario = {
  id: "reboot",
  title:
    "Each managed guest rebooted in turn under load comes back with its sysctls, services, VIPs, marks and sessions, no apply in between",
  async run(c): Promise<Outcome> {
    const figures: Record<string, number | string> = {};
    const lines: string[] = [];
    const problems: string[] = [];
    for (const p of rebootedHosts(c)) {
      const name = c.m.topo.hosts.find((h) => h.hostname === p.hostname)!.name;
      const drain = DRAINABLE.has(p.tier);
      const chain = loadChain(c.lab, c.m);
      const t0 = Date.now();
      let rejoinMs = NaN;
      const probs: string[] = [];
      try {
        if (drain) await drainHost(c.m.topo, c.m.plans, c.runner, name, { timeoutMs: 60_000 });
        await c.lab.reboot(p.hostname, { timeoutMs: 180_000 });
        probs.push(...(await stateAfterBoot(c, p)));
        if (drain) await undrainHost(c.m.topo, c.m.plans, c.runner, name);
        const st = await waitReady(c.lab, c.m, 120_000);
        rejoinMs = Date.now() - t0;
        if (!st.ok) probs.push(`not ready: ${st.detail}`);
      } catch (e) {
        probs.push((e as Error).message.split("\n")[0]);
      }
      const s = sumFailed(await chain.stop());
      figures[`${name}RejoinMs`] = rejoinMs;
      figures[`${name}Failed`] = s.failed;
      figures[`${name}Requests`] = s.requests;
      const l7 = p.tier === "maglev" || p.tier === "haproxy";
      if (l7 && s.failed !== 0) probs.push(`${s.failed} failed requests`);
      lines.push(
        `${name} ${(rejoinMs / 1000).toFixed(0)} s ${s.failed}/${s.requests}${drain ? " (drained)" : ""}`,
      );
      if (probs.length) problems.push(`${name}: ${probs.join(", ")}`);
    }
    return {
      ok: problems.length === 0,
      detail: `${problems.length ? `${problems.join("; ")} — ` : ""}${c.quick ? "quick set, one guest per tier with the 0-failed goal (every guest: `lab test reboot` or --all); " : ""}per guest (rejoin, failed/requests): ${lines.join("; ")}`,
      figures,
    };
  },
};
