/**
 * Scenario `f`: a haproxy.cfg that fails `haproxy -c`. The apply stops at the checker with
 * HAProxy's own message; the live file, the PID and the health answer are unchanged, and the
 * traffic flows (0 failed requests).
 */
import { sleep } from "../cluster";
import { startLoad } from "../load";
import { HAPROXY_CFG } from "../../src/tiers/haproxy";
import { applyOne, Scenario, withFileContent } from "./runner";
import { haproxyMembers } from "./probes";
import { loadMix, loadSummary } from "./load-mix";

export const badFile: Scenario = {
  id: "f",
  title: "A file that fails its checker: live file and service unchanged, traffic flows",
  async run(c) {
    const { lab, m } = c;
    const h = haproxyMembers(m)[0];
    const plan = m.planOf.get(h.hostname)!;
    const file = HAPROXY_CFG;
    const bad = withFileContent(plan, file, (content) =>
      content.replace("defaults\n", "defaults\n    bogus-keyword-from-a-typo on\n"),
    );
    const snap = `sha256sum ${file} | cut -c1-64; { systemctl show -p MainPID --value haproxy 2>/dev/null | grep -vx 0 || pgrep -o -x haproxy; }; ls /etc/maglev-infra/drained 2>/dev/null; curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9300/haproxy-health`;
    const before = await lab.run(h.hostname, snap);
    const load = startLoad(lab, loadMix(m), 8);
    await sleep(1000);
    const res = await applyOne(c, bad, 120_000);
    const after = await lab.run(h.hostname, snap);
    const l = loadSummary(await load);
    const msg = (res.stdout + res.stderr).trim();
    const problems: string[] = [];
    if (res.code === 0) problems.push("the apply succeeded with a bad file");
    else if (res.code !== 1 || !/bogus-keyword-from-a-typo/.test(msg))
      problems.push(`failed with exit ${res.code}, not at the checker: ${msg.slice(-300)}`);
    if (res.phases.some((x) => /^maglev-apply: (drain|activate)/.test(x)))
      problems.push("phases past the checkers ran (drain/activate)");
    if (before !== after)
      problems.push(
        `live state changed: before ${JSON.stringify(before)} after ${JSON.stringify(after)}`,
      );
    if (l.failed > 0) problems.push(l.text);
    const line = msg.split("\n").find((x) => /bogus-keyword/.test(x)) ?? "";
    return {
      ok: problems.length === 0,
      detail: problems.length
        ? problems.join("; ")
        : `${h.hostname}: apply refused (exit ${res.code}) with HAProxy's message (${line.trim().slice(0, 120)}); live file, PID and health unchanged; ${l.text}`,
      figures: { failed: l.failed, requests: l.requests },
    };
  },
};
