/**
 * Scenario `a`: HTTP 200 through every VIP:port, and the replies leave the HAProxy nodes
 * straight to the router (direct server return): the maglevs receive only the client's side.
 */
import { url } from "../load";
import { CLIENT } from "../topology";
import type { Scenario } from "./runner";
import { haproxyMembers, ifBytes, webVipPorts } from "./probes";

export const http: Scenario = {
  id: "a",
  title: "HTTP through every VIP, direct server return",
  async run({ lab, m }) {
    const targets = webVipPorts(m);
    const maglevs = m.topo.maglevs.map((h) => h.hostname);
    const l7 = haproxyMembers(m).map((h) => h.hostname);
    const before = await Promise.all([
      ...maglevs.map((h) => ifBytes(lab, h, "rx")),
      ...l7.map((h) => ifBytes(lab, h, "tx")),
    ]);
    const N = 10;
    const script = targets
      .map(
        (t) =>
          `echo "T ${t.vip} ${t.port} $(curl -s -m 5 -w ' %{http_code}' '${url(t.vip, t.port)}' | tr -d '\\n') $(for i in $(seq ${N}); do curl -s -m 5 -o /dev/null -w '%{size_download} ' '${url(t.vip, t.port, "/big")}'; done)"`,
      )
      .join("\n");
    const out = await lab.run(CLIENT.name, script, { timeoutMs: 120_000 });
    const after = await Promise.all([
      ...maglevs.map((h) => ifBytes(lab, h, "rx")),
      ...l7.map((h) => ifBytes(lab, h, "tx")),
    ]);
    const bad: string[] = [];
    let bigBytes = 0;
    const l7Addrs = new Set(
      haproxyMembers(m).flatMap(
        (h) => [h.ingress?.ipv4, h.ingress?.ipv6].filter(Boolean) as string[],
      ),
    );
    for (const line of out.trim().split("\n")) {
      const mm = /^T (\S+) (\d+) (app\d+) via (\S+) (\d+) (.*)$/.exec(line.trim());
      if (!mm) {
        bad.push(line.trim() || "(no answer)");
        continue;
      }
      if (mm[5] !== "200") bad.push(`${mm[1]}:${mm[2]} HTTP ${mm[5]}`);
      if (!l7Addrs.has(mm[4]))
        bad.push(`${mm[1]}:${mm[2]} reached the app from ${mm[4]}, not an HAProxy node`);
      const sizes = mm[6].trim().split(/\s+/).map(Number);
      if (sizes.length !== N || sizes.some((s) => s < 48_000))
        bad.push(`${mm[1]}:${mm[2]} /big sizes ${sizes.join(",")}`);
      bigBytes += sizes.reduce((a, b) => a + b, 0);
    }
    const d = after.map((a, i) => a - before[i]);
    const maglevRx = d.slice(0, maglevs.length).reduce((a, b) => a + b, 0);
    const l7Tx = d.slice(maglevs.length).reduce((a, b) => a + b, 0);
    // DSR: the replies (bigBytes) leave the HAProxy nodes straight to the router; the maglevs
    // receive only the client's side (requests, ACKs: a few % of the replies) and BGP/BFD.
    // Were the replies to pass a maglev (NAT), it would receive at least bigBytes.
    if (maglevRx > bigBytes * 0.25)
      bad.push(`maglevs received ${maglevRx} bytes for ${bigBytes} bytes of replies: not DSR`);
    if (l7Tx < bigBytes * 0.9)
      bad.push(`HAProxy nodes sent only ${l7Tx} bytes for ${bigBytes} bytes of replies`);
    return {
      ok: bad.length === 0 && targets.length > 0,
      detail: bad.length
        ? bad.join("; ")
        : `${targets.length} VIP:ports answer 200 via an HAProxy node; replies ${bigBytes} B: HAProxy nodes sent ${l7Tx} B, maglevs received ${maglevRx} B (client side only)`,
      figures: {
        vipPorts: targets.length,
        replyBytes: bigBytes,
        haproxyTxBytes: l7Tx,
        maglevRxBytes: maglevRx,
      },
    };
  },
};
