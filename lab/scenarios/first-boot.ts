/**
 * Scenario `first-boot`, on the lab's systemd guests (lab/machine/): one guest (an HAProxy
 * node) stopped, its disk blank, booted with only what cloud-init would give it (user, key,
 * hostname, mgmt address), then converged by ONE apply over SSH: the lab is ready
 * again and a second apply is "unchanged".
 */
import { applyHost, waitReady } from "../cluster";
import { applyOne, Outcome, reviveNode, Scenario } from "./runner";

export const firstBoot: Scenario = {
  id: "first-boot",
  title:
    "A guest booted from a blank disk with only cloud-init's user, key and address converges with one apply over SSH",
  async run(c): Promise<Outcome> {
    const p = c.m.plans.find((x) => x.tier === "haproxy") ?? c.m.plans[0];
    c.restoreLater(`boot ${p.hostname} and apply its plan`, () => reviveNode(c, p.hostname, true));
    await c.lab.stop(p.hostname);
    c.lab.wipeDisk(p.hostname);
    const t0 = Date.now();
    const boot = await c.lab.start(p.hostname, { timeoutMs: 180_000 });
    const blank = await c.lab.exec(
      p.hostname,
      "ls /var/lib/maglev-infra 2>&1 | head -1; id -un 2>/dev/null",
      { timeoutMs: 15_000 },
    );
    const first = await applyHost(c.lab, c.m, p.hostname, c.secrets, () => undefined);
    const st = await waitReady(c.lab, c.m, 120_000);
    const second = await applyOne(c, p);
    const problems: string[] = [];
    if (!/No such file/.test(blank.stdout)) problems.push(`disk not blank: ${blank.stdout.trim()}`);
    if (first.unchanged) problems.push("first apply found nothing to do");
    if (!st.ok) problems.push(`not ready: ${st.detail}`);
    if (second.code !== 0 || !second.unchanged)
      problems.push(`second apply: exit ${second.code}, ${second.phases.slice(-1)[0] ?? ""}`);
    return {
      ok: problems.length === 0,
      detail: `${p.hostname}: blank disk booted in ${(boot.readyMs / 1000).toFixed(1)} s, one apply over SSH in ${(first.ms / 1000).toFixed(1)} s, ready after ${((Date.now() - t0) / 1000).toFixed(1)} s; second apply ${second.unchanged ? "unchanged" : "CHANGED"} in ${(second.ms / 1000).toFixed(1)} s${problems.length ? ` — ${problems.join("; ")}` : ""}`,
      figures: { bootMs: boot.readyMs, firstApplyMs: first.ms, secondApplyMs: second.ms },
    };
  },
};
