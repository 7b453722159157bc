/**
 * Scenario `g`: DNS over UDP and TCP through the DNS VIP, and PowerDNS counts the client's own
 * address (PROXY protocol from dnsdist), read from its API's "remotes" ring.
 */
import { CLIENT } from "../topology";
import type { Outcome, Scenario } from "./runner";
import { dnsVipPort, webVipPorts } from "./probes";

export const dns: Scenario = {
  id: "g",
  title: "DNS over UDP and TCP through the DNS VIP, client address via PROXY protocol",
  async run({ lab, m, secrets }): Promise<Outcome> {
    const vp = dnsVipPort(m);
    const zone = m.topo.env.dns?.zone;
    if (!vp || !zone) return { ok: false, detail: "the stack has no DNS VIP or zone", figures: {} };
    const web = webVipPorts(m).find((v) => v.port === 80);
    const secondaries = m.plans.filter((p) => p.tier === "powerdns");
    const probe = `lab-probe-${Date.now().toString(36)}`;
    // PowerDNS's own view of who asked: the "remotes" and "nxdomain-queries" rings of its API.
    const rings = async () =>
      (
        await Promise.all(
          secondaries.map(async (p) => {
            const conf = p.files.find((f) => f.path.endsWith("pdns.conf"))!.content;
            const key = secrets[/api-key=\{\{secret:([^}]+)\}\}/.exec(conf)?.[1] ?? ""];
            const addr = /webserver-address=(\S+)/.exec(conf)?.[1] ?? "127.0.0.1";
            const port = /webserver-port=(\d+)/.exec(conf)?.[1] ?? "8081";
            const r = await lab.exec(
              p.hostname,
              `curl -s -m 5 -H "X-API-Key: $(cat)" 'http://${addr}:${port}/api/v1/servers/localhost/statistics'`,
              { timeoutMs: 15_000, stdin: key },
            );
            try {
              return JSON.parse(r.stdout) as { name: string; type: string; value: unknown }[];
            } catch {
              return [];
            }
          }),
        )
      ).flat();
    const count = (st: { name: string; value: unknown }[], ring: string, name: string) =>
      st
        .filter((x) => x.name === ring)
        .flatMap((x) =>
          Array.isArray(x.value) ? (x.value as { name: string; value: string }[]) : [],
        )
        .filter((e) => e.name.startsWith(name))
        .reduce((a, e) => a + Number(e.value), 0);
    const before = await rings();
    const out = await lab.run(
      CLIENT.name,
      `echo "UDP $(dig +short +time=2 +tries=2 @${vp.vip} www.${zone} A | tr '\\n' ' ')"; echo "TCP $(dig +short +tcp +time=2 +tries=2 @${vp.vip} www.${zone} A | tr '\\n' ' ')"; ` +
        `dig +time=2 +tries=1 @${vp.vip} ${probe}-udp.${zone} A >/dev/null; dig +tcp +time=2 +tries=1 @${vp.vip} ${probe}-tcp.${zone} A >/dev/null; true`,
      { timeoutMs: 30_000 },
    );
    const after = await rings();
    const fromClient =
      count(after, "remotes", CLIENT.client4) - count(before, "remotes", CLIENT.client4);
    const probes = count(after, "nxdomain-queries", probe);
    const bad: string[] = [];
    const wantA = web?.vip ?? "";
    const udp = /^UDP (.*)$/m.exec(out)?.[1].trim() ?? "";
    const tcp = /^TCP (.*)$/m.exec(out)?.[1].trim() ?? "";
    if (udp !== wantA) bad.push(`UDP answer "${udp}" (want ${wantA})`);
    if (tcp !== wantA) bad.push(`TCP answer "${tcp}" (want ${wantA})`);
    if (probes < 2) bad.push(`PowerDNS saw ${probes} of the 2 probe queries`);
    // The two probes miss dnsdist's packet cache (the www answers may come from it).
    if (fromClient < 2)
      bad.push(
        `PowerDNS counted ${fromClient} queries from the client ${CLIENT.client4} (want the 2 probes: its address must arrive by PROXY protocol)`,
      );
    return {
      ok: bad.length === 0,
      detail: bad.length
        ? bad.join("; ")
        : `www.${zone} = ${udp} over UDP and TCP via ${vp.vip}; PowerDNS counted ${fromClient} queries from the client ${CLIENT.client4} itself (PROXY protocol)`,
      figures: { udp, tcp },
    };
  },
};
