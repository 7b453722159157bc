/**
 * Scenario `metrics`: node_exporter on a maglev and on every gateway, scraped the way Prometheus
 * would (HTTP from another machine to the host's mgmt address, port 9100), shows the
 * load-balancing state, and the series move as the routes do: a drain of maglev01 (its VIPs
 * withdrawn "drained", one next hop less on every gateway), its undrain, then its power cut (the
 * gateways' BFD peer and next hops go, and come back when it is booted and re-applied).
 * Each wait is bounded; the figures are how long each series took to show the change.
 */
import { Lab } from "../guest";
import { drainHost, undrainHost } from "../../src/ops/drain";
import { waitFor } from "../../src/ops/runner";
import { reviveNode, Scenario } from "./runner";

/** One sample of a Prometheus text exposition: metric name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parse the text exposition format (what node_exporter serves): comments skipped. */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, ch: string) => (ch === "n" ? "\n" : ch));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the first sample of `name` whose labels include `labels`, or undefined. */
export function valueOf(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;
}

/** Scrape a host's node_exporter from the lab's client guest (lab addresses only). */
async function scrape(lab: Lab, address: string): Promise<Sample[]> {
  const r = await lab.exec("client", `curl -s -m 5 http://${address}:9100/metrics`, {
    timeoutMs: 15_000,
  });
  return r.code === 0 ? parseExposition(r.stdout) : [];
}

export const metrics: Scenario = {
  id: "metrics",
  title:
    "node_exporter on the maglevs and gateways: the load-balancer series move as the routes do (drain, undrain, power cut)",
  async run(c) {
    const { lab, m, runner } = c;
    const mg = m.topo.maglevs[0];
    const vip = m.topo.vips.ipv4[0];
    const all = m.topo.maglevs.length;
    const gws = m.topo.gateways.map((g) => g.mgmt.ipv4);
    // The collector refreshes every few seconds and node_exporter reads its file per scrape.
    const bound = 30_000;
    const announced = (v: number) => (s: Sample[]) =>
      valueOf(s, "maglev_vip_announced", { vip }) === v;
    const hops = (n: number) => (s: Sample[]) => valueOf(s, "maglev_vip_nexthops", { vip }) === n;
    const bfd = (v: number) => (s: Sample[]) =>
      valueOf(s, "maglev_bfd_peer_up", { name: mg.hostname }) === v;
    const problems: string[] = [];
    const figures: Record<string, number> = {};
    const seen = (address: string, s: Sample[]) =>
      s.length
        ? `${address}: announced ${valueOf(s, "maglev_vip_announced", { vip })}, next hops ${valueOf(s, "maglev_vip_nexthops", { vip })}, BFD ${valueOf(s, "maglev_bfd_peer_up", { name: mg.hostname })}`
        : `${address}: no answer on :9100`;
    /** Scrape `addresses` every second until `ok` holds for all (bounded): the ms it took, or a problem. */
    const step = async (
      what: string,
      key: string,
      addresses: string[],
      ok: (s: Sample[]) => boolean,
    ) => {
      const t0 = Date.now();
      const r = await waitFor(
        bound,
        async () => {
          const last = await Promise.all(addresses.map((a) => scrape(lab, a)));
          return {
            done: last.every(ok),
            detail: last.map((x, i) => seen(addresses[i], x)).join("; "),
          };
        },
        1000,
      );
      if (r.done) figures[key] = Date.now() - t0;
      else problems.push(`${what}: not within ${bound / 1000} s (${r.detail})`);
    };

    // GIVEN the lab as `up` left it: the VIP announced by the maglev, ECMP over all maglevs.
    await step("before", "baselineMs", [mg.mgmt.ipv4], announced(1));
    await step("before (gateways)", "baselineGatewaysMs", gws, (s) => hops(all)(s) && bfd(1)(s));
    const series = (await scrape(lab, mg.mgmt.ipv4)).filter((s) =>
      s.name.startsWith("maglev_"),
    ).length;
    if (series === 0) problems.push(`${mg.hostname}: no maglev_* series on :9100`);
    if (problems.length) return { ok: false, detail: problems.join("; "), figures };

    // WHEN maglev01 is drained THEN it says so and why, and every gateway has one next hop less.
    const d = await drainHost(m.topo, m.plans, runner, mg.name, { timeoutMs: 15_000 });
    if (!d.complete) problems.push(`drain: ${d.detail}`);
    await step("drained", "drainedMs", [mg.mgmt.ipv4], (s) => {
      return (
        announced(0)(s) &&
        valueOf(s, "maglev_drained") === 1 &&
        valueOf(s, "maglev_vip_state", { vip, reason: "drained" }) === 1
      );
    });
    await step("drained (gateways)", "drainedGatewaysMs", gws, hops(all - 1));
    // WHEN undrained THEN back.
    const u = await undrainHost(m.topo, m.plans, runner, mg.name, { timeoutMs: 15_000 });
    if (!u.complete) problems.push(`undrain: ${u.detail}`);
    await step("undrained", "undrainedMs", [mg.mgmt.ipv4], announced(1));
    await step("undrained (gateways)", "undrainedGatewaysMs", gws, hops(all));

    // WHEN maglev01 loses power THEN the gateways' BFD peer and next hop go with its routes.
    await lab.stop(mg.hostname);
    await step(
      "power cut (gateways)",
      "powerCutGatewaysMs",
      gws,
      (s) => hops(all - 1)(s) && bfd(0)(s),
    );
    // THEN booted and re-applied, it is back.
    await reviveNode(c, mg.hostname);
    await step("revived (gateways)", "revivedGatewaysMs", gws, (s) => hops(all)(s) && bfd(1)(s));

    const f = (k: string) =>
      figures[k] === undefined ? "–" : `${(figures[k] / 1000).toFixed(1)} s`;
    const detail = problems.length
      ? problems.join("; ")
      : `${series} maglev_* series on ${mg.hostname}; drained: ${mg.hostname} said so after ${f("drainedMs")}, gateways 1 next hop less after ${f("drainedGatewaysMs")}; undrained ${f("undrainedMs")} / ${f("undrainedGatewaysMs")}; power cut: BFD peer and next hop gone on the gateways after ${f("powerCutGatewaysMs")}, back ${f("revivedGatewaysMs")} after the re-apply`;
    return { ok: problems.length === 0, detail, figures: { ...figures, series } };
  },
};
