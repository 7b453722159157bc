/**
 * `npm run lab -- test [names…] [--keep]`: the lab scenarios, one result line each, all results
 * in ./lab-results.json, exit status 1 on any failure. Brings the lab up first when none is
 * running (and takes it down afterwards unless --keep); a lab that was already up is left up.
 *
 * Order matters: the read-only scenarios first, then the ones that change state (drains, a bad
 * file, a rollout), then the destructive ones (power cuts); each restores what it changed.
 * Every load is bounded (wrk -d, exec timeouts) and targets lab VIPs only.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import YAML from "yaml";
import * as ipaddr from "ipaddr.js";
import { DEFAULT_STATE_DIR, Lab } from "../guest";
import { ensureKernel, requirePrerequisites } from "../prereqs";
import {
  applyHost,
  daemonLog,
  SERVICE_PIDS,
  notReadyEvidence,
  readCluster,
  readyState,
  rollout,
  setupRouter,
  sleep,
  up,
  waitReady,
} from "../cluster";
import { applyBundleInLab } from "../transport";
import { portScan } from "./port-scan";
import { buildLabModel, CLIENT, LabModel, LabRouter, TRANSIT } from "../topology";
import { labRunner } from "../runner";
import { LoadFigures, startLoad, sumFailed, url } from "../load";
import { HostRunner } from "../../src/ops/runner";
import {
  drainHost,
  undrainHost,
  drainSite,
  undrainSite,
  DRAIN_SITE_EXTRA_PREPEND,
  DRAIN_SITE_LOCAL_PREF,
} from "../../src/ops/drain";
import { checkEnvironment, drainStates } from "../../src/ops/check";
import { HostFacts } from "../../src/topology";
import { HostPlan } from "../../src/plan/types";
import { bfdDetectMs } from "../../src/tiers/frr-common";
import { maintainAll } from "./maintain-all";
import { dnsPublish } from "./dns-publish";
import { firstBoot, reboot } from "./reboot";
import { clockOffset, TimelineRecorder } from "../timeline-capture";

export interface Ctx {
  lab: Lab;
  m: LabModel;
  secrets: Record<string, string>;
  runner: HostRunner;
  log: (s: string) => void;
  /**
   * Put back what a scenario broke (a halted node, a changed stack): run before the next
   * scenario, or at the end when the lab stays up — skipped when the lab goes down anyway.
   */
  restoreLater(what: string, fn: () => Promise<void>): void;
}

export interface ScenarioResult {
  id: string;
  title: string;
  ok: boolean;
  detail: string;
  figures: Record<string, number | string | boolean>;
  ms: number;
}

export type Outcome = Omit<ScenarioResult, "id" | "title" | "ms">;

export interface Scenario {
  id: string;
  title: string;
  /**
   * A timing bound measured on a time-shared 2-core machine: a failure is run once more (after
   * the restore) and both attempts are reported — the line says so, lab-results.json keeps both.
   */
  retryOnce?: boolean;
  run(c: Ctx): Promise<Outcome>;
}

// ---------------------------------------------------------------------------------------------
// Small probes

function webVipPorts(m: LabModel) {
  return m.topo.vipPorts.filter(
    (v) => v.protocol === "tcp" && m.topo.groups.get(v.group)?.kind === "haproxy",
  );
}

function haproxyMembers(m: LabModel): HostFacts[] {
  return [...new Set(webVipPorts(m).flatMap((v) => m.topo.groups.get(v.group)!.members))];
}

/** Sum of a byte counter (rx or tx) over every interface but lo. */
async function ifBytes(lab: Lab, host: string, dir: "rx" | "tx"): Promise<number> {
  const out = await lab.run(
    host,
    `for f in /sys/class/net/*/statistics/${dir}_bytes; do case $f in */lo/*) ;; *) cat $f;; esac; done`,
    { timeoutMs: 15_000 },
  );
  return out
    .trim()
    .split("\n")
    .filter(Boolean)
    .reduce((a, b) => a + Number(b), 0);
}

/** Total IPVS connections (sum of Conns) on a maglev. */
async function ipvsConns(lab: Lab, host: string): Promise<number> {
  const out = await lab.run(
    host,
    "ipvsadm -Ln --stats --exact | awk '/^(FWM|TCP|UDP)/ {n += $3} END {print n+0}'",
    { timeoutMs: 15_000 },
  );
  return Number(out.trim());
}

/** Per VIP: next hops on each gateway. */
async function nextHopCount(lab: Lab, gw: string, vip: string): Promise<number> {
  const six = vip.includes(":");
  const out = await lab.run(gw, `ip ${six ? "-6" : "-4"} -o route show ${vip}/${six ? 128 : 32}`, {
    timeoutMs: 15_000,
  });
  return (out.match(/ via /g) ?? []).length;
}

/** Bash: the number of " via " in $r ($x is $r without them). */
const VIA_COUNT = `( ${"$"}{#r} - ${"$"}{#x} ) / 5`;

/**
 * A watch inside a gateway, armed before an event: prints $EPOCHREALTIME the first time the
 * route to `vip` has fewer than `want` next hops. Event-driven: `ip monitor route nexthop`
 * wakes it on every route or nexthop-group change (and once a second without one), and only
 * then does it fork to count next hops. A polling loop here forked ~50 times a second: two
 * gateways watching kept both host cores busy, and the maglevs' health checks and announce
 * loops — the very thing being timed — starved (a watchdog run timed out at 20 s that way).
 * The time is the moment the event was read. Bounded by `seconds`. Resolves to epoch ms (UML
 * guests read the host's clock, see clockOffset), or undefined if it never happened.
 */
function watchRaw(
  lab: Lab,
  gw: string,
  vip: string,
  want: number,
  seconds: number,
): Promise<number | undefined> {
  const fam = vip.includes(":") ? "-6" : "-4";
  const count = `r=$(ip ${fam} -o route show ${vip}/${vip.includes(":") ? 128 : 32}); x=\${r// via /}; n=$(( ${VIA_COUNT} ))`;
  const script = [
    `coproc MON { exec ip ${fam} monitor route nexthop; }`,
    `end=$((SECONDS+${seconds}))`,
    `${count}; if [ "$n" -lt ${want} ]; then echo "$EPOCHREALTIME"; kill $MON_PID; exit 0; fi`,
    `while [ $SECONDS -lt $end ]; do`,
    `  t=""; if IFS= read -r -t 1 -u "\${MON[0]}" _; then t=$EPOCHREALTIME; fi`,
    `  ${count}; if [ "$n" -lt ${want} ]; then echo "\${t:-$EPOCHREALTIME}"; kill $MON_PID; exit 0; fi`,
    `done`,
    `kill $MON_PID; exit 3`,
  ].join("\n");
  return lab
    .exec(gw, script, { timeoutMs: (seconds + 15) * 1000 })
    .then((r) => (r.code === 0 ? Math.round(Number(r.stdout.trim()) * 1000) : undefined));
}

/** A real server's address as /proc/net/ip_vs writes it: `C6120A21` (IPv4), `[fd00:000a:…:0021]` (IPv6). */
export function procIpvsAddress(addr: string): string {
  const ip = ipaddr.parse(addr);
  if (ip.kind() === "ipv4")
    return ip
      .toByteArray()
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("")
      .toUpperCase();
  return `[${(ip as ipaddr.IPv6).parts.map((p) => p.toString(16).padStart(4, "0")).join(":")}]`;
}

/**
 * IPVS weight of real servers, summed over every service that lists them, on one maglev; loop
 * until 0. It reads /proc/net/ip_vs with bash builtins every 50 ms: no fork (ipvsadm + awk
 * every 250 ms competed with keepalived, the daemon being timed, for the guest's one vCPU).
 */
function weightZeroWatch(
  lab: Lab,
  maglev: string,
  rs: string[],
  seconds: number,
): Promise<number | undefined> {
  const arms = rs.map((a) => `"${procIpvsAddress(a)}"`).join("|");
  const script = [
    `end=$((SECONDS+${seconds}))`,
    `while [ $SECONDS -lt $end ]; do`,
    `  n=0`,
    `  while read -r a b c d _; do [ "$a" = "->" ] || continue; case \${b%:*} in ${arms}) n=$((n + d)) ;; esac; done < /proc/net/ip_vs`,
    `  if [ "$n" -eq 0 ]; then echo "$EPOCHREALTIME"; exit 0; fi`,
    `  read -r -t 0.05 _ <>/run/lab-agent.fifo 2>/dev/null || true`,
    `done`,
    `exit 3`,
  ].join("\n");
  return lab
    .exec(maglev, script, { timeoutMs: (seconds + 15) * 1000 })
    .then((r) => (r.code === 0 ? Math.round(Number(r.stdout.trim()) * 1000) : undefined));
}

/** curl from the client with fixed source ports: port → "app via <haproxy ingress address>". */
async function servedBy(lab: Lab, target: string, ports: number[]): Promise<Map<number, string>> {
  const script = ports
    .map(
      (p) =>
        `echo "$(curl -0 -sS -m 3 --local-port ${p} '${target}' 2>&1 | tr -d '\\n' || true) P${p}"`,
    )
    .join("\n");
  const out = await lab.run(CLIENT.name, script, { timeoutMs: 120_000 });
  const res = new Map<number, string>();
  for (const line of out.split("\n")) {
    const mm = /^(.*) P(\d+)$/.exec(line.trim());
    if (mm) res.set(Number(mm[2]), mm[1].replace(/^app\d+ /, ""));
  }
  return res;
}

/**
 * The scenarios' load: keep-alive and new connections, v4 and v6, each connection pausing
 * 20 ms between requests — about 400 requests/s in all, well under what the lab's chain
 * carries, so a failover is measured on a system that is not itself saturated.
 */
function loadMix(m: LabModel, connections = 4) {
  const web = webVipPorts(m).filter((v) => v.port === 80);
  const v4 = web.find((v) => v.family === "ipv4")!;
  const v6 = web.find((v) => v.family === "ipv6");
  const pauseMs = 20;
  const targets = [
    { url: url(v4.vip, v4.port), connections, pauseMs },
    {
      url: url(v4.vip, v4.port),
      newConnections: true,
      connections: Math.max(2, connections / 2),
      pauseMs,
    },
  ];
  if (v6)
    targets.push(
      { url: url(v6.vip, v6.port), connections: Math.max(2, connections / 2), pauseMs },
      { url: url(v6.vip, v6.port), newConnections: true, connections: 2, pauseMs },
    );
  return targets;
}

function loadSummary(figs: LoadFigures[]): { failed: number; requests: number; text: string } {
  const s = sumFailed(figs);
  const why = figs
    .filter((f) => Number.isNaN(f.failed) || f.failed > 0)
    .map((f) => `${f.url}${f.newConnections ? " new-conn" : ""}: ${f.detail}`);
  return {
    ...s,
    text: `${s.failed} failed of ${s.requests} requests (keep-alive + new connections, v4 + v6)${why.length ? ` [${why.join("; ")}]` : ""}`,
  };
}

/**
 * BGP sessions the gateways dropped because BFD went down (their bgpd log), summed. In a
 * healthy lab this stays put during a scenario; when it moves, a guest missed 3 BFD intervals
 * (100 ms) — on this 2-core machine, CPU starvation during an apply — and every flow of that
 * maglev moved at once, which a failed request may come from.
 */
async function gatewayBfdDrops(lab: Lab, m: LabModel): Promise<number> {
  const n = await Promise.all(
    m.topo.gateways.map((g) =>
      lab.exec(g.hostname, daemonLog("frr", "frr-bgpd") + " | grep -c 'BFD Down'", {
        timeoutMs: 15_000,
      }),
    ),
  );
  return n.reduce((a, x) => a + (Number(x.stdout.trim()) || 0), 0);
}

/** Boot a halted node again and re-apply its plan (a re-provisioned VM), then wait for ECMP. */
function restoreNodeLater(c: Ctx, node: string): void {
  c.restoreLater(`start ${node} and re-apply its plan`, async () => {
    const st = c.lab.status().nodes.find((n) => n.name === node);
    if (!st?.alive) {
      await c.lab.start(node);
      await applyHost(c.lab, c.m, node, c.secrets, () => undefined);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The scenarios

const http: Scenario = {
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

const ecmp: Scenario = {
  id: "b",
  title: "ECMP over both maglevs, Maglev consistency",
  async run(c) {
    const { lab, m, runner } = c;
    const want = m.topo.maglevs.length;
    const st = await readyState(lab, m);
    const bad: string[] = [];
    if (!st.ok) bad.push(`next hops: ${st.detail}`);
    // Spread: many new connections, counted by IPVS on each maglev.
    const before = await Promise.all(m.topo.maglevs.map((h) => ipvsConns(lab, h.hostname)));
    const v4 = webVipPorts(m).find((v) => v.family === "ipv4" && v.port === 80)!;
    const v6 = webVipPorts(m).find((v) => v.family === "ipv6" && v.port === 80);
    const figs = await startLoad(
      lab,
      [
        { url: url(v4.vip, 80), newConnections: true, connections: 8, pauseMs: 20 },
        ...(v6
          ? [{ url: url(v6.vip, 80), newConnections: true, connections: 4, pauseMs: 20 }]
          : []),
      ],
      3,
    );
    const after = await Promise.all(m.topo.maglevs.map((h) => ipvsConns(lab, h.hostname)));
    const per = after.map((a, i) => a - before[i]);
    const total = per.reduce((a, b) => a + b, 0);
    if (per.some((n) => n < total * 0.1))
      bad.push(`connections per maglev ${per.join("/")}: not spread`);
    // Consistency: the same 5-tuples through maglev A alone, then B alone, land on the same node.
    const ports = Array.from({ length: 24 }, (_, i) => 41001 + i);
    const targets = [url(v4.vip, 80), ...(v6 ? [url(v6.vip, 80)] : [])];
    const maps: Map<number, string>[][] = [];
    for (const only of m.topo.maglevs) {
      const others = m.topo.maglevs.filter((x) => x.name !== only.name);
      for (const o of others) {
        const r = await drainHost(m.topo, m.plans, runner, o.name, { timeoutMs: 20_000 });
        if (!r.complete) bad.push(`drain ${o.name}: ${r.detail}`);
      }
      // v4 and v6 one after the other: a v6 socket bound to a port holds it for v4 too.
      const run: Map<number, string>[] = [];
      for (const t of targets) run.push(await servedBy(lab, t, ports));
      maps.push(run);
      for (const o of others) {
        const r = await undrainHost(m.topo, m.plans, runner, o.name, { timeoutMs: 20_000 });
        if (!r.complete) bad.push(`undrain ${o.name}: ${r.detail}`);
      }
    }
    let compared = 0;
    let differ = 0;
    const nodesSeen = new Set<string>();
    targets.forEach((t, ti) => {
      for (const p of ports) {
        const seen = maps.map((mm) => mm[ti].get(p) ?? "none");
        seen.forEach((s) => nodesSeen.add(s));
        compared++;
        if (seen.some((s) => s !== seen[0] || !s.startsWith("via ") || s === "none")) {
          differ++;
          if (differ <= 3) bad.push(`${t} from port ${p}: ${seen.join(" vs ")}`);
        }
      }
    });
    if (nodesSeen.size < 2)
      bad.push(`every tuple landed on ${[...nodesSeen].join(",")}: consistency not shown`);
    const end = await waitReady(lab, m, 20_000);
    if (!end.ok) bad.push(`ECMP not restored: ${end.detail}`);
    return {
      ok: bad.length === 0,
      detail: bad.length
        ? bad.join("; ")
        : `${want} next hops per VIP on each gateway; ${total} new connections split ${per.join("/")}; ${compared} 5-tuples through each maglev alone: same HAProxy node every time`,
      figures: {
        nextHopsPerVip: want,
        connectionsPerMaglev: per.join("/"),
        tuplesCompared: compared,
        tuplesDiffering: differ,
        loadFailed: sumFailed(figs).failed,
      },
    };
  },
};

const dns: Scenario = {
  id: "g",
  title: "DNS over UDP and TCP through the DNS VIP, client address via PROXY protocol",
  async run({ lab, m, secrets }): Promise<Outcome> {
    const vp = m.topo.vipPorts.find(
      (v) => v.port === 53 && m.topo.groups.get(v.group)?.kind === "dnsdist",
    );
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

const check: Scenario = {
  id: "check",
  title: "npm run check: every check passes on the lab",
  async run({ m, runner }) {
    const rows = await checkEnvironment(m.topo, m.plans, runner);
    const bad = rows.filter((r) => !r.ok);
    return {
      ok: bad.length === 0 && rows.length > 0,
      detail: bad.length
        ? `${bad.length} of ${rows.length} failed: ${bad
            .slice(0, 5)
            .map((r) => `${r.host} ${r.check}: ${r.detail}`)
            .join("; ")}`
        : `${rows.length} checks ✓`,
      figures: { checks: rows.length, failed: bad.length },
    };
  },
};

const drift: Scenario = {
  id: "drift",
  title: "A hand-edited file shows as drift in npm run check",
  async run({ lab, m, runner }) {
    const h = haproxyMembers(m).at(-1)!;
    const file = "/etc/haproxy/haproxy.cfg";
    await lab.run(
      h.hostname,
      `cp -p ${file} /run/lab-drift.bak && echo '# hand edit during an incident' >> ${file}`,
    );
    try {
      const rows = await checkEnvironment(m.topo, m.plans, runner, [h.name]);
      const hit =
        rows.find((r) => !r.ok && r.detail.includes(file)) ??
        rows.find((r) => !r.ok && r.check.includes(file));
      const others = rows.filter((r) => !r.ok && r !== hit);
      return {
        ok: !!hit && others.length === 0,
        detail: hit
          ? `${h.hostname}: ✗ ${hit.check}: ${hit.detail}${others.length ? `; unexpected: ${others.map((r) => r.check).join(", ")}` : ""}`
          : `drift not reported (rows: ${
              rows
                .filter((r) => !r.ok)
                .map((r) => r.check)
                .join(", ") || "all ✓"
            })`,
        figures: {},
      };
    } finally {
      await lab.run(h.hostname, `mv -f /run/lab-drift.bak ${file}`);
    }
  },
};

const drainMaglev: Scenario = {
  id: "h",
  title: "Drain a maglev under load (drain file), undrain restores ECMP",
  async run(c) {
    const { lab, m, runner } = c;
    const mg = m.topo.maglevs[0];
    const rec = new TimelineRecorder(lab, "h", drainMaglev.title);
    await rec.sampleNextHops(
      m.topo.gateways.map((g) => g.hostname),
      [m.topo.vips.ipv4[0]],
      60,
    );
    const load = startLoad(lab, loadMix(m), 12, { perSecond: true });
    await sleep(2000);
    const tDrain = Date.now();
    const d = await drainHost(m.topo, m.plans, runner, mg.name, { timeoutMs: 15_000 });
    rec.mark(`drain ${mg.hostname}`, "halt", tDrain);
    rec.mark("routes gone from every gateway", "removal", tDrain + d.ms);
    const states = await drainStates(m.topo, runner);
    const hops = await Promise.all(
      m.topo.gateways.map((g) => nextHopCount(lab, g.hostname, m.topo.vips.ipv4[0])),
    );
    await sleep(2000);
    const tUndrain = Date.now();
    const u = await undrainHost(m.topo, m.plans, runner, mg.name, { timeoutMs: 15_000 });
    rec.mark(`undrain ${mg.hostname}`, "other", tUndrain);
    rec.mark("undrained: routes back", "other", tUndrain + u.ms);
    const figs = await load;
    rec.addLoad(figs);
    const l = loadSummary(figs);
    const end = await waitReady(lab, m, 15_000);
    const bad: string[] = [];
    if (!d.complete) bad.push(`drain: ${d.detail}`);
    if (!states.get(mg.name)) bad.push("check did not show the maglev drained");
    if (hops.some((n) => n !== m.topo.maglevs.length - 1))
      bad.push(`next hops while drained ${hops.join("/")}`);
    if (!u.complete || !end.ok) bad.push(`undrain: ${u.detail}; ${end.detail}`);
    if (l.failed > 0) bad.push(l.text);
    const detail = bad.length
      ? bad.join("; ")
      : `${mg.name}: routes gone from every gateway in ${d.ms} ms, back in ${u.ms} ms; ${l.text}`;
    return {
      ok: bad.length === 0,
      detail,
      figures: {
        drainMs: d.ms,
        undrainMs: u.ms,
        failed: l.failed,
        requests: l.requests,
        timeline: await rec.write(detail),
      },
    };
  },
};

const drainHaproxy: Scenario = {
  id: "h2",
  title: "Drain an HAProxy node under load (health API 503 → weight 0), undrain restores",
  async run(c) {
    const { lab, m, runner } = c;
    const h = haproxyMembers(m)[0];
    const rec = new TimelineRecorder(lab, "h2", drainHaproxy.title);
    await rec.sampleNextHops(
      m.topo.gateways.map((g) => g.hostname),
      [m.topo.vips.ipv4[0]],
      60,
    );
    const load = startLoad(lab, loadMix(m), 14, { perSecond: true });
    await sleep(2000);
    // Keep-alive clients (wrk) never close: the drain's second phase (connections finish)
    // times out by design here; what must hold is weight 0 everywhere and no failed request.
    const tDrain = Date.now();
    const d = await drainHost(m.topo, m.plans, runner, h.name, { timeoutMs: 6_000 });
    rec.mark(`drain ${h.hostname}`, "halt", tDrain);
    rec.mark(
      "weight 0 on every maglev",
      "removal",
      d.weightZeroMs === undefined ? undefined : tDrain + d.weightZeroMs,
    );
    const states = await drainStates(m.topo, runner);
    await sleep(2000);
    const tUndrain = Date.now();
    const u = await undrainHost(m.topo, m.plans, runner, h.name, { timeoutMs: 20_000 });
    rec.mark(`undrain ${h.hostname}`, "other", tUndrain);
    rec.mark("weight back", "other", tUndrain + u.ms);
    const figs = await load;
    rec.addLoad(figs);
    const l = loadSummary(figs);
    const bad: string[] = [];
    if (d.weightZeroMs === undefined) bad.push(`drain: ${d.detail}`);
    if (!states.get(h.name)) bad.push("check did not show the node drained");
    if (!u.complete) bad.push(`undrain: ${u.detail}`);
    if (l.failed > 0) bad.push(l.text);
    const detail = bad.length
      ? bad.join("; ")
      : `${h.name}: ${d.detail}; weight back after ${u.ms} ms; ${l.text}`;
    return {
      ok: bad.length === 0,
      detail,
      figures: {
        weightZeroMs: d.weightZeroMs ?? Number.NaN,
        undrainMs: u.ms,
        failed: l.failed,
        requests: l.requests,
        timeline: await rec.write(detail),
      },
    };
  },
};

const badFile: Scenario = {
  id: "f",
  title: "A file that fails its checker: live file and service unchanged, traffic flows",
  async run({ lab, m, secrets }) {
    const h = haproxyMembers(m)[0];
    const plan = m.planOf.get(h.hostname)!;
    const file = "/etc/haproxy/haproxy.cfg";
    const bad: HostPlan = {
      ...plan,
      files: plan.files.map((f) =>
        f.path === file
          ? {
              ...f,
              content: f.content.replace(
                "defaults\n",
                "defaults\n    bogus-keyword-from-a-typo on\n",
              ),
            }
          : f,
      ),
    };
    const snap = `sha256sum ${file} | cut -c1-64; { systemctl show -p MainPID --value haproxy 2>/dev/null | grep -vx 0 || cat /run/lab-svc/haproxy.pid 2>/dev/null || pgrep -o -x haproxy; }; ls /etc/maglev-infra/drained 2>/dev/null; curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9300/haproxy-health`;
    const before = await lab.run(h.hostname, snap);
    const load = startLoad(lab, loadMix(m), 8);
    await sleep(1000);
    const res = await applyBundleInLab(lab, h.hostname, bad, {
      user: m.topo.env.proxmox.user,
      stack: m.topo.env.name,
      secrets,
      timeoutMs: 120_000,
    });
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

/** The lab stack with one VIP added and one port moved to a new, one-node HAProxy group. */
/** The stack file's environment as plain data, to change and write back as a variant. */
function stackEnv(m: LabModel): any {
  const src = fs.readFileSync(path.join(m.root, "stacks", `Pulumi.${m.stack}.yaml`), "utf8");
  return YAML.parseDocument(src).toJS().config["maglev-infra:environment"];
}

/** Write a changed copy of the stack to a temporary project root (removed by the caller). */
function writeStackVariant(m: LabModel, env: unknown): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "maglev-lab-rollout-"));
  fs.mkdirSync(path.join(root, "stacks"));
  fs.writeFileSync(
    path.join(root, "stacks", `Pulumi.${m.stack}.yaml`),
    YAML.stringify({ config: { "maglev-infra:environment": env } }),
  );
  return root;
}

function changedStack(m: LabModel): {
  root: string;
  added: string;
  moved: { vip: string; port: number; group: string; node: HostFacts };
} {
  const env = stackEnv(m);
  const mlb = Object.entries(
    env.backendGroups as Record<
      string,
      { kind: string; id: number; members: string[]; servers?: unknown[]; healthCheck?: unknown }
    >,
  ).find(([, g]) => g.kind === "haproxy")!;
  const [gname, g] = mlb;
  const ids = Object.values(env.backendGroups as Record<string, { id: number }>).map((x) => x.id);
  const node = g.members[g.members.length - 1];
  const newGroup = `${gname}-b`;
  env.backendGroups[newGroup] = { ...g, id: Math.max(...ids) + 1, members: [node] };
  const vips = env.vips as { vip: string; ports: number[]; group: string; protocols?: string[] }[];
  const multi = vips.find((v) => v.group === gname && v.ports.length > 1 && !v.vip.includes(":"))!;
  const port = multi.ports[multi.ports.length - 1];
  multi.ports = multi.ports.filter((p) => p !== port);
  vips.push({ vip: multi.vip, ports: [port], group: newGroup });
  // A free address in the mgmt network next to the existing VIPs (no host, VIP or router has it).
  const base = multi.vip.split(".").slice(0, 3).join(".");
  const used = new Set([
    ...vips.map((v) => v.vip),
    ...m.topo.hosts.flatMap((h) => [h.mgmt.ipv4, h.ingress?.ipv4 ?? ""]),
    ...m.routers.map((r) => r.mgmt4),
  ]);
  let added = "";
  for (let i = 17; i < 30 && !added; i++) if (!used.has(`${base}.${i}`)) added = `${base}.${i}`;
  vips.push({ vip: added, ports: [80], group: gname });
  const root = writeStackVariant(m, env);
  const model = buildLabModel(m.stack, root);
  return {
    root,
    added,
    moved: {
      vip: multi.vip,
      port,
      group: newGroup,
      node: model.topo.hosts.find((h) => h.name === node)!,
    },
  };
}

const rollingChange: Scenario = {
  id: "e",
  title: "Rolling change under load: a VIP added, a port moved to another group",
  // Runs once more after a failure: on 2026-12-01 one run lost 1 new connection of 22,981 (v6,
  // a read reset while lab-vm-mlb02 applied, no BFD drop), the full run before it 0 of 27,467;
  // earlier sessions saw 1–2 of ~28,000 the same way. Not explained yet (an HAProxy reload
  // racing the drain's weight 0?); both attempts stay in the result line and lab-results.json.
  retryOnce: true,
  async run(c) {
    const { lab, m, log } = c;
    const ch = changedStack(m);
    const changed = buildLabModel(m.stack, ch.root);
    const problems: string[] = [];
    // Load on what does not change, in 10 s slices for as long as the rollouts run (bounded).
    let rolling = true;
    const slices: LoadFigures[] = [];
    // When each 10 s load slice and each host's apply started: a failed request is then
    // attributed to the hosts being applied during its slice.
    const sliceStarts: { t: number; figs: LoadFigures[] }[] = [];
    const applies: { t: number; host: string }[] = [];
    const rec = new TimelineRecorder(lab, "e", rollingChange.title);
    await rec.sampleNextHops(
      m.topo.gateways.map((g) => g.hostname),
      [m.topo.vips.ipv4[0]],
      420,
    );
    const loader = (async () => {
      for (let i = 0; i < 40 && rolling; i++) {
        const t = Date.now();
        const figs = await startLoad(lab, loadMix(m, 4), 10, { perSecond: true });
        rec.addLoad(figs);
        sliceStarts.push({ t, figs });
        slices.push(...figs);
      }
    })();
    let forward = { applied: [] as string[], ms: 0 };
    try {
      forward = await rollout(lab, changed, (s) => {
        const a = /apply (\S+) \(/.exec(s);
        if (a) applies.push({ t: Date.now(), host: a[1] });
        log(`    ${s.trim()}`);
      });
      const st = await waitReady(lab, changed, 30_000);
      if (!st.ok) problems.push(`after the change: ${st.detail}`);
      const ans = await lab.run(
        CLIENT.name,
        `echo "ADDED $(curl -s -m 3 -w ' %{http_code}' '${url(ch.added, 80)}' | tr -d '\\n')"; ` +
          `for i in 1 2 3 4 5 6; do echo "MOVED $(curl -s -m 3 '${url(ch.moved.vip, ch.moved.port)}' | tr -d '\\n')"; done`,
        { timeoutMs: 60_000 },
      );
      if (!/^ADDED app\d+ via \S+ 200$/m.test(ans))
        problems.push(`new VIP ${ch.added}:80: ${/^ADDED(.*)$/m.exec(ans)?.[1]}`);
      const moved = [...ans.matchAll(/^MOVED (.*)$/gm)].map((x) => x[1]);
      const wantVia = `via ${ch.moved.node.ingress?.ipv4}`;
      if (moved.length !== 6 || moved.some((x) => !x.endsWith(wantVia)))
        problems.push(
          `${ch.moved.vip}:${ch.moved.port} not served by group ${ch.moved.group} only (${wantVia}): ${moved.join(" | ")}`,
        );
    } finally {
      rolling = false;
      await loader;
      // Back to the stack as written (skipped when the lab goes down next).
      c.restoreLater(`roll the stack back to ${m.stack} as written`, async () => {
        try {
          await rollout(lab, m, (s) => log(`    ${s.trim()}`));
        } finally {
          fs.rmSync(ch.root, { recursive: true, force: true });
        }
      });
    }
    for (const a of applies) rec.mark(`apply ${a.host}`, "other", a.t);
    const l = loadSummary(slices);
    if (l.failed > 0) {
      const during = sliceStarts
        .filter((x) => x.figs.some((f) => Number.isNaN(f.failed) || f.failed > 0))
        .map((x) => {
          const hosts = applies
            .filter(
              (a, i) => a.t < x.t + 10_000 && (applies[i + 1]?.t ?? Number.POSITIVE_INFINITY) > x.t,
            )
            .map((a) => a.host);
          return `slice at +${((x.t - (sliceStarts[0]?.t ?? x.t)) / 1000).toFixed(0)} s while applying ${hosts.join(", ") || "nothing"}`;
        });
      problems.push(`${l.text} (${during.join("; ")})`);
    }
    const detail = problems.length
      ? problems.join("; ")
      : `added ${ch.added}:80, moved ${ch.moved.vip}:${ch.moved.port} to ${ch.moved.group}: serial rollout of ${forward.applied.length} hosts (${forward.applied.join(", ")}) in ${(forward.ms / 1000).toFixed(1)} s; ${l.text}`;
    return {
      ok: problems.length === 0,
      detail,
      figures: {
        rolloutMs: forward.ms,
        hostsApplied: forward.applied.length,
        failed: l.failed,
        requests: l.requests,
        timeline: await rec.write(detail),
      },
    };
  },
};

const haproxyFailure: Scenario = {
  id: "d",
  retryOnce: true,
  title: "HAProxy node power cut under load: weight 0 on every maglev within the check interval",
  async run(c) {
    const { lab, m } = c;
    const h = haproxyMembers(m)[0];
    const group = m.topo.groups.get(h.groups[0])!;
    const hc = group.healthCheck;
    // keepalived: a check every delay_loop, connect_timeout each, `retry 1` after delay_before_retry.
    const boundMs = (hc.intervalSeconds * 2 + hc.timeoutSeconds * 2 + 1) * 1000;
    const rec = new TimelineRecorder(lab, "d", haproxyFailure.title);
    await rec.sampleNextHops(
      m.topo.gateways.map((g) => g.hostname),
      [m.topo.vips.ipv4[0]],
      30,
    );
    const load = startLoad(lab, loadMix(m), 10, { perSecond: true });
    await sleep(2500);
    const rs = [h.ingress!.ipv4, ...(h.ingress?.ipv6 ? [h.ingress.ipv6] : [])];
    const offsets = await Promise.all(m.topo.maglevs.map((mg) => clockOffset(lab, mg.hostname)));
    const watches = m.topo.maglevs.map((mg) => weightZeroWatch(lab, mg.hostname, rs, 15));
    await sleep(800); // the loops are armed
    const t0 = Date.now();
    await lab.stop(h.hostname);
    rec.mark(`halt ${h.hostname}`, "halt", t0);
    const at = await Promise.all(watches);
    const figs = await load;
    rec.addLoad(figs);
    const l = loadSummary(figs);
    const ms = at.map((t, i) =>
      t === undefined ? Number.NaN : Math.round(t - offsets[i].offsetMs - t0),
    );
    ms.forEach((x, i) => rec.mark(`weight 0 on ${m.topo.maglevs[i].hostname}`, "removal", t0 + x));
    restoreNodeLater(c, h.hostname);
    const problems: string[] = [];
    if (ms.some((x) => !(x <= boundMs)))
      problems.push(`weight 0 after ${ms.join("/")} ms on the maglevs (bound ${boundMs} ms)`);
    // A maglev that never saw weight 0: what its IPVS and keepalived say now (the flake of
    // sessions 2–4, cause not found yet — this is the evidence for next time).
    for (const [i, mg] of m.topo.maglevs.entries()) {
      if (!Number.isNaN(ms[i])) continue;
      const pat = rs
        .map((a) => (a.includes(":") ? `\\[${a}\\]` : a.replace(/\./g, "\\.")) + ":")
        .join("|");
      const ev = await lab.exec(
        mg.hostname,
        `ipvsadm -Ln | grep -E '^FWM|${pat}' | tr -s ' ' | paste -sd ';'; ${daemonLog("keepalived", "keepalived")} | tail -n 6 | paste -sd ';'`,
        { timeoutMs: 15_000 },
      );
      problems.push(`${mg.name} now: ${ev.stdout.trim().replace(/\n/g, " | ")}`);
    }
    const detail = `${h.hostname} halted: weight 0 after ${ms.map((x) => x.toFixed(0)).join("/")} ms on ${m.topo.maglevs.map((x) => x.name).join("/")} (check interval bound ${boundMs} ms); ${l.text}${problems.length ? "; " + problems.join("; ") : ""}`;
    return {
      ok: problems.length === 0,
      detail,
      figures: {
        weightZeroMs: ms.join("/"),
        boundMs,
        failed: l.failed,
        requests: l.requests,
        timeline: await rec.write(detail),
      },
    };
  },
};

const watchdog: Scenario = {
  id: "watchdog",
  retryOnce: true,
  title: "Watchdog: a maglev withdraws the VIPs whose L7 group is below minHealthyRealServers",
  async run(c) {
    const { lab, m } = c;
    const members = haproxyMembers(m);
    const min = m.topo.env.maglev?.minHealthyRealServers ?? 1;
    const vip = webVipPorts(m)[0].vip;
    const dnsVip = m.topo.vipPorts.find((v) => v.port === 53)?.vip;
    const steps: string[] = [];
    const problems: string[] = [];
    const t0 = Date.now();
    try {
      for (let i = 0; i < members.length; i++) {
        const left = members.length - i - 1;
        const shouldWithdraw = left < min;
        const offsets = shouldWithdraw
          ? await Promise.all(m.topo.gateways.map((g) => clockOffset(lab, g.hostname)))
          : [];
        const watches = shouldWithdraw
          ? m.topo.gateways.map((g) => watchRaw(lab, g.hostname, vip, 1, 20))
          : [];
        await sleep(shouldWithdraw ? 800 : 0);
        const ts = Date.now();
        await lab.stop(members[i].hostname);
        if (shouldWithdraw) {
          const at = await Promise.all(watches);
          const ms = at.map((t, j) =>
            t === undefined ? Number.NaN : Math.round(t - offsets[j].offsetMs - ts),
          );
          steps.push(
            `${members[i].name} down (${left} healthy): ${vip} withdrawn from the gateways after ${ms.map((x) => x.toFixed(0)).join("/")} ms`,
          );
          if (ms.some((x) => Number.isNaN(x)))
            problems.push(`${vip} still routed with ${left} healthy members`);
          if (dnsVip) {
            const n = await Promise.all(
              m.topo.gateways.map((g) => nextHopCount(lab, g.hostname, dnsVip)),
            );
            if (n.some((x) => x !== m.topo.maglevs.length))
              problems.push(
                `the DNS VIP lost next hops too (${n.join("/")}): the watchdog is not per service`,
              );
            else steps.push(`${dnsVip} (other group) still ${n.join("/")} next hops`);
          }
        } else {
          await sleep(
            (m.topo.groups.get(members[i].groups[0])!.healthCheck.intervalSeconds + 3) * 1000,
          );
          const n = await Promise.all(
            m.topo.gateways.map((g) => nextHopCount(lab, g.hostname, vip)),
          );
          steps.push(
            `${members[i].name} down (${left} healthy): ${vip} keeps ${n.join("/")} next hops`,
          );
          if (n.some((x) => x !== m.topo.maglevs.length))
            problems.push(`withdrawn too early with ${left} healthy`);
        }
      }
    } finally {
      for (const h of members) restoreNodeLater(c, h.hostname);
    }
    return {
      ok: problems.length === 0,
      detail: steps.join("; ") + (problems.length ? "; " + problems.join("; ") : ""),
      figures: { minHealthyRealServers: min, ms: Date.now() - t0 },
    };
  },
};

/** Route removal bound of the maglev power cut (scenario c), see there: BFD's detection time plus 1.5 s. */
const removalBoundMs = (m: LabModel) => bfdDetectMs(m.topo.env.bgp.bfd) + 1500;

export const maglevFailure: Scenario = {
  id: "c",
  retryOnce: true,
  title: "Maglev power cut under load: failed requests, route removal time",
  async run(c) {
    const { lab, m } = c;
    const mg = m.topo.maglevs[0];
    const vips = [m.topo.vips.ipv4[0], ...(m.topo.vips.ipv6.length ? [m.topo.vips.ipv6[0]] : [])];
    const rec = new TimelineRecorder(lab, "c", maglevFailure.title);
    await rec.sampleNextHops(
      m.topo.gateways.map((g) => g.hostname),
      vips,
      30,
    );
    const load = startLoad(lab, loadMix(m, 8), 12, { perSecond: true });
    await sleep(3000);
    const want = m.topo.maglevs.length;
    const offsets = await Promise.all(m.topo.gateways.map((g) => clockOffset(lab, g.hostname)));
    const watches = m.topo.gateways.flatMap((g) =>
      vips.map((v) => watchRaw(lab, g.hostname, v, want, 15)),
    );
    await sleep(800);
    const t0 = Date.now();
    await lab.stop(mg.hostname);
    rec.mark(`halt ${mg.hostname}`, "halt", t0);
    const at = await Promise.all(watches);
    const figs = await load;
    rec.addLoad(figs);
    const l = loadSummary(figs);
    // Watches are per gateway × VIP, in that order: each on its gateway's clock.
    const ms = at.map((t, i) =>
      t === undefined
        ? Number.NaN
        : Math.round(t - offsets[Math.floor(i / vips.length)].offsetMs - t0),
    );
    ms.forEach((x, i) =>
      rec.mark(
        `route gone on ${m.topo.gateways[Math.floor(i / vips.length)].hostname} (${vips[i % vips.length]})`,
        "removal",
        t0 + x,
      ),
    );
    const clockErr = Math.max(...offsets.map((o) => o.errMs));
    const worst = Math.max(...ms);
    restoreNodeLater(c, mg.hostname);
    const problems: string[] = [];
    if (l.failed > 0) problems.push(`${l.failed} requests failed`);
    // BFD detects the halt after its detection time (the lab stack's 300 ms × 3: 900 ms); the
    // rest is the gateways' bgpd/zebra on a guest that shares 2 cores with 12 others. Measured
    // on 2026-12-01 at 100 ms × 3: 200–400 ms in most runs, 800–1300 ms in one (500–1000 ms
    // past detection). The bound, detection + 1.5 s, says "the BFD path, not BGP's hold timer
    // (9 s)"; the figures are in the result line.
    const bound = removalBoundMs(c.m);
    if (!(worst < bound && Math.min(...ms) >= -clockErr))
      problems.push(
        `route removal after ${ms.join("/")} ms (goal: 0–${bound} ms after the halt; before it: the route had flapped)`,
      );
    const detail = `${mg.hostname} halted: routes removed on the gateways after ${ms.map((x) => x.toFixed(0)).join("/")} ms (v4/v6 per gateway, ±${clockErr.toFixed(0)} ms); ${l.text}${problems.length ? "; " + problems.join("; ") : ""}`;
    return {
      ok: problems.length === 0,
      detail,
      figures: {
        removalMsWorst: worst,
        removalMs: ms.join("/"),
        clockErrorMs: Math.round(clockErr),
        failed: l.failed,
        requests: l.requests,
        timeline: await rec.write(detail),
      },
    };
  },
};

export const markFlush: Scenario = {
  id: "marks",
  retryOnce: true,
  title:
    "Mark table flushed on a maglev under load (`nft flush ruleset`): its routes leave both gateways within seconds",
  async run(c) {
    const { lab, m } = c;
    const mg = m.topo.maglevs[0];
    const vips = [m.topo.vips.ipv4[0], ...(m.topo.vips.ipv6.length ? [m.topo.vips.ipv6[0]] : [])];
    const bound = 15;
    const load = startLoad(lab, loadMix(m, 8), 14);
    await sleep(3000);
    const want = m.topo.maglevs.length;
    const offsets = await Promise.all(m.topo.gateways.map((g) => clockOffset(lab, g.hostname)));
    const watches = m.topo.gateways.flatMap((g) =>
      vips.map((v) => watchRaw(lab, g.hostname, v, want, bound)),
    );
    await sleep(800);
    const t0 = Date.now();
    // What an operator's `nft flush ruleset` or a stopped nftables.service does: the marks and
    // the host firewall are gone, IPVS and BGP/BFD are not.
    await lab.run(mg.hostname, "nft flush ruleset", { timeoutMs: 15_000 });
    c.restoreLater(`reload ${mg.hostname}'s nftables units`, async () => {
      await lab.run(mg.hostname, "systemctl restart maglev-infra-fwmarks maglev-firewall", {
        timeoutMs: 60_000,
      });
    });
    const at = await Promise.all(watches);
    const l = loadSummary(await load);
    const ms = at.map((t, i) =>
      t === undefined
        ? Number.NaN
        : Math.round(t - offsets[Math.floor(i / vips.length)].offsetMs - t0),
    );
    const clockErr = Math.max(...offsets.map((o) => o.errMs));
    const worst = Math.max(...ms);
    const problems: string[] = [];
    if (ms.some((x) => Number.isNaN(x)))
      problems.push(
        `a route to ${mg.hostname} was still on a gateway ${bound} s after the flush: the watchdog did not see the marks go`,
      );
    return {
      ok: problems.length === 0,
      detail: `${mg.hostname} mark table flushed: routes removed on the gateways after ${ms.map((x) => (Number.isNaN(x) ? "never" : x.toFixed(0))).join("/")} ms (v4/v6 per gateway, ±${clockErr.toFixed(0)} ms); ${l.text}${problems.length ? "; " + problems.join("; ") : ""}`,
      figures: {
        removalMsWorst: worst,
        removalMs: ms.join("/"),
        clockErrorMs: Math.round(clockErr),
        failed: l.failed,
        requests: l.requests,
      },
    };
  },
};

// `check` first (all ✓ on a fresh lab), read-only next, then state changes, then power cuts; the rollout last (its roll-back is the
// longest restore, skipped when the lab goes down next).
// ---------------------------------------------------------------------------------------------
// Sites: what the upstream routers see

/** One path of a VIP in a lab router's BGP table. */
interface RouterPath {
  gateway: string;
  asPath: string;
  localPref?: number;
  best: boolean;
}

/** Every VIP's paths in a lab router's BGP table, and the gateways its kernel forwards to. */
interface RouterView {
  paths: Record<string, RouterPath[]>;
  fib: Record<string, string[]>;
}

async function routerView(lab: Lab, m: LabModel, router: LabRouter): Promise<RouterView> {
  const vips = [...m.topo.vips.ipv4, ...m.topo.vips.ipv6];
  const out = await lab.run(
    router.name,
    `vtysh -c 'show bgp ipv4 unicast json' | tr -d '\\n'; echo; vtysh -c 'show bgp ipv6 unicast json' | tr -d '\\n'; echo; ` +
      vips
        .map(
          (v) =>
            `echo "R ${v} $(ip ${v.includes(":") ? "-6" : "-4"} -j route show ${v} 2>/dev/null)"`,
        )
        .join("; "),
    { timeoutMs: 15_000 },
  );
  const lines = out.split("\n");
  const gwOf = (peer: string) =>
    m.topo.gateways.find((g) => g.mgmt.ipv4 === peer || g.mgmt.ipv6 === peer)?.name ?? peer;
  const gwByIngress = (ip: string) =>
    m.topo.gateways.find((g) => g.ingress?.ipv4 === ip || g.ingress?.ipv6 === ip)?.name ?? ip;
  const paths: Record<string, RouterPath[]> = {};
  for (const doc of lines.slice(0, 2)) {
    let routes: Record<
      string,
      { peerId: string; path: string; locPrf?: number; bestpath?: boolean }[]
    > = {};
    try {
      routes = JSON.parse(doc).routes ?? {};
    } catch {
      /* empty table or not up: no paths */
    }
    for (const [prefix, ps] of Object.entries(routes))
      paths[prefix.replace(/\/(32|128)$/, "")] = ps.map((p) => ({
        gateway: gwOf(p.peerId),
        asPath: p.path,
        localPref: p.locPrf,
        best: !!p.bestpath,
      }));
  }
  const fib: Record<string, string[]> = {};
  for (const l of lines) {
    const mm = /^R (\S+) (.*)$/.exec(l);
    if (!mm) continue;
    try {
      const r = (
        JSON.parse(mm[2] || "[]") as { gateway?: string; nexthops?: { gateway: string }[] }[]
      )[0];
      fib[mm[1]] = (r?.nexthops?.map((n) => n.gateway) ?? (r?.gateway ? [r.gateway] : []))
        .map(gwByIngress)
        .sort();
    } catch {
      fib[mm[1]] = [];
    }
  }
  return { paths, fib };
}

/**
 * What both routers must show when `preferred` is the preferred site's gateway: both gateways'
 * paths present, the preferred one best; on the eBGP router the other's AS path `otherAsPath`
 * long, on the iBGP router its LOCAL_PREF `otherLocalPref`; the data-path router forwards to
 * the preferred gateway only. Returns the differences (none = as expected).
 */
function viewProblems(
  m: LabModel,
  views: Map<string, RouterView>,
  preferred: string,
  otherAsPathLen: number,
  otherLocalPref: number,
): string[] {
  const vips = [...m.topo.vips.ipv4, ...m.topo.vips.ipv6];
  const other = m.topo.gateways.find((g) => g.name !== preferred)!.name;
  const bad: string[] = [];
  for (const r of m.routers) {
    const v = views.get(r.name)!;
    for (const vip of vips) {
      const ps = v.paths[vip] ?? [];
      const best = ps.filter((p) => p.best).map((p) => p.gateway);
      const o = ps.find((p) => p.gateway === other);
      const want = r.ebgp
        ? o && o.asPath.split(" ").length === otherAsPathLen
        : o && (o.localPref ?? 100) === otherLocalPref;
      if (ps.length !== 2 || best.join() !== preferred || !want)
        bad.push(`${r.name} ${vip}: ${pathsText(v, vip, r.ebgp) || "no path"}`);
    }
    if (r.name === m.router.name)
      for (const vip of vips)
        if ((v.fib[vip] ?? []).join() !== preferred)
          bad.push(`${r.name} forwards ${vip} to ${(v.fib[vip] ?? []).join("+") || "nothing"}`);
  }
  return bad;
}

/** Poll both routers until `problems` is empty or the timeout; the time it took, host clock. */
/** Every lab router's view, by router name. */
async function routerViews(lab: Lab, m: LabModel): Promise<Map<string, RouterView>> {
  return new Map(
    await Promise.all(m.routers.map(async (r) => [r.name, await routerView(lab, m, r)] as const)),
  );
}

async function waitRouterView(
  lab: Lab,
  m: LabModel,
  problems: (views: Map<string, RouterView>) => string[],
  timeoutMs: number,
) {
  const t0 = Date.now();
  for (;;) {
    const views = await routerViews(lab, m);
    const bad = problems(views);
    if (bad.length === 0 || Date.now() - t0 > timeoutMs) return { ms: Date.now() - t0, bad, views };
    // Every 500 ms, not faster: the router forwards the load, and its BFD with the gateways
    // (100 ms × 3) must not wait behind our vtysh dumps.
    await sleep(500);
  }
}

/** One VIP's paths on a router, as `show bgp` would summarise them. */
function pathsText(v: RouterView, vip: string, ebgp: boolean): string {
  return (v.paths[vip] ?? [])
    .map(
      (p) =>
        `${p.gateway}${p.best ? "*" : ""} ${ebgp ? `AS path "${p.asPath}"` : `LP ${p.localPref ?? 100}`}`,
    )
    .join(", ");
}

const sites: Scenario = {
  id: "s",
  title:
    "Sites: dc2's prepend (transit, eBGP) and LOCAL_PREF (router, iBGP) in the routers' view; drain-site dc1, kept through an apply; undrain-site",
  async run(c) {
    const { lab, m, log, runner } = c;
    const [gw1, gw2] = m.topo.gateways;
    const [site1, site2] = [gw1.site!, gw2.site!];
    const asn = m.topo.env.bgp.asn;
    const prepend = 2;
    const localPref = 50;
    // A copy of the stack with an eBGP upstream (transit, AS 64500) and dc2's policy: prepend
    // towards transit, LOCAL_PREF towards router.
    const env = stackEnv(m);
    env.bgp.upstream.push({
      name: TRANSIT.name,
      ipv4: TRANSIT.ipv4,
      ipv6: TRANSIT.ipv6,
      asn: TRANSIT.asn,
    });
    env.sites[site2] = { prepend, localPreference: localPref };
    const root = writeStackVariant(m, env);
    const changed = buildLabModel(m.stack, root);
    const transit = changed.routers.find((r) => r.name === TRANSIT.name)!;
    const problems: string[] = [];
    const figures: Record<string, number | string> = {};
    const rendered = changed.planOf
      .get(gw2.hostname)!
      .files.find((f) => f.path === "/etc/frr/frr.conf")!.content;
    const wantLine = ` set as-path prepend ${Array(prepend).fill(asn).join(" ")}`;
    if (
      !rendered.includes(`\n${wantLine}\n`) ||
      !rendered.includes(`\n set local-preference ${localPref}\n`)
    )
      problems.push(
        `rendered ${gw2.hostname} frr.conf lacks "${wantLine.trim()}" or "set local-preference ${localPref}"`,
      );
    const vip4 = changed.topo.vips.ipv4[0];
    const vip6 = changed.topo.vips.ipv6[0] ?? vip4;
    const shown: string[] = [];
    const show = (label: string, views: Map<string, RouterView>) => {
      for (const r of changed.routers)
        shown.push(`${label} ${r.name} ${vip4}: ${pathsText(views.get(r.name)!, vip4, r.ebgp)}`);
      log(`    ${shown.slice(-changed.routers.length).join("\n    ")}`);
    };
    try {
      lab.define(changed.specs.find((x) => x.name === TRANSIT.name)!);
      await lab.start(TRANSIT.name);
      await setupRouter(lab, changed, transit);
      // 1. Rollout: both gateways get the transit sessions, mgw02 its site's policy.
      const ro = await rollout(lab, changed, (x) => log(`    ${x.trim()}`));
      figures.rolledOut = ro.applied.join(" ");
      const a = await waitRouterView(
        lab,
        changed,
        (v) => viewProblems(changed, v, gw1.name, prepend + 1, localPref),
        60_000,
      );
      show("rollout:", a.views);
      figures.policyMs = a.ms;
      if (a.bad.length) problems.push(`after the rollout (${a.ms} ms): ${a.bad.join("; ")}`);
      // 2. drain-site dc1 (against the stack as now deployed: its prepend must beat dc2's): dc1
      //    longer than dc2 at transit, LOCAL_PREF 10 < 50 at router.
      const t1 = Date.now();
      const d = await drainSite(changed.topo, runner, site1);
      figures.drainSiteCommandMs = Date.now() - t1;
      if (d.some((x) => !x.complete))
        problems.push(`drain-site ${site1}: ${d.map((x) => x.detail).join("; ")}`);
      const drainedLen = Math.min(10, prepend + DRAIN_SITE_EXTRA_PREPEND) + 1;
      const b = await waitRouterView(
        lab,
        changed,
        (v) => viewProblems(changed, v, gw2.name, drainedLen, DRAIN_SITE_LOCAL_PREF),
        30_000,
      );
      show(`drain-site ${site1}:`, b.views);
      figures.drainSiteMs = Date.now() - t1;
      if (b.bad.length)
        problems.push(`after drain-site ${site1} (${b.ms} ms): ${b.bad.join("; ")}`);
      // 3. An apply while dc1 is drained: mgw01 gets a changed frr.conf (dc1 MED 10), so the
      //    apply reloads its FRR to the rendered policy — which is not drained. The gateway
      //    re-applies the drain file right after; once the apply is done dc1 must be drained on
      //    both routers. Watched every 500 ms through the apply and 7 s after it: a view where
      //    mgw01's path carries the undrained policy (LOCAL_PREF / AS path) is counted and shown
      //    — a session that re-establishes (a BFD drop) in the second between FRR's reload and
      //    the re-apply gets the rendered policy until the re-apply's soft clear.
      const env2 = JSON.parse(JSON.stringify(env));
      env2.sites[site1] = { med: 10 };
      const root2 = writeStackVariant(m, env2);
      try {
        const changed2 = buildLabModel(m.stack, root2);
        const undrained: string[] = [];
        let undrainedViews = 0;
        let watching = true;
        let polls = 0;
        const watch = (async () => {
          while (watching) {
            const views = await routerViews(lab, changed);
            polls++;
            let seen = false;
            for (const r of changed.routers)
              for (const vip of [...changed.topo.vips.ipv4, ...changed.topo.vips.ipv6]) {
                const p1 = (views.get(r.name)!.paths[vip] ?? []).find(
                  (p) => p.gateway === gw1.name,
                );
                const drainedPath =
                  !p1 ||
                  (r.ebgp
                    ? p1.asPath.split(" ").length === drainedLen
                    : (p1.localPref ?? 100) === DRAIN_SITE_LOCAL_PREF);
                if (!drainedPath && !seen) {
                  seen = true;
                  if (undrained.length < 2)
                    undrained.push(
                      `${r.name} ${vip}: ${pathsText(views.get(r.name)!, vip, r.ebgp)}`,
                    );
                }
              }
            if (seen) undrainedViews++;
            await sleep(500);
          }
        })();
        const t3 = Date.now();
        try {
          const res = await applyHost(lab, changed2, gw1.hostname, c.secrets, (x) =>
            log(`    ${x.trim()}`),
          );
          if (!res.phases.some((x) => /^maglev-apply: applied/.test(x)))
            problems.push(
              `apply of ${gw1.hostname} while drained: frr.conf not applied: ${res.phases.slice(-2).join(" / ")}`,
            );
          figures.applyWhileDrainedMs = Date.now() - t3;
          await sleep(7000);
        } finally {
          watching = false;
          await watch;
        }
        const still = await waitRouterView(
          lab,
          changed,
          (v) => viewProblems(changed, v, gw2.name, drainedLen, DRAIN_SITE_LOCAL_PREF),
          30_000,
        );
        show(`apply ${gw1.name} (MED 10) while ${site1} drained:`, still.views);
        if (still.bad.length)
          problems.push(
            `after the apply of ${gw1.hostname} while ${site1} was drained: ${still.bad.join("; ")}`,
          );
        figures.applyWhileDrainedPolls = polls;
        figures.applyWhileDrainedUndrainedViews = undrainedViews;
        if (undrained.length) figures.applyWhileDrainedUndrainedSeen = undrained.join("; ");
      } finally {
        fs.rmSync(root2, { recursive: true, force: true });
      }
      // 4. undrain-site dc1: back to the rendered policy (frr-reload).
      const t2 = Date.now();
      const u = await undrainSite(changed.topo, runner, site1);
      figures.undrainSiteCommandMs = Date.now() - t2;
      if (u.some((x) => !x.complete))
        problems.push(`undrain-site ${site1}: ${u.map((x) => x.detail).join("; ")}`);
      const e = await waitRouterView(
        lab,
        changed,
        (v) => viewProblems(changed, v, gw1.name, prepend + 1, localPref),
        30_000,
      );
      show(`undrain-site ${site1}:`, e.views);
      figures.undrainSiteMs = Date.now() - t2;
      if (e.bad.length)
        problems.push(`after undrain-site ${site1} (${e.ms} ms): ${e.bad.join("; ")}`);
      shown.push(`${transit.name} ${vip6}: ${pathsText(e.views.get(transit.name)!, vip6, true)}`);
    } catch (err) {
      problems.push(String((err as Error).message ?? err));
    } finally {
      c.restoreLater(
        `roll the stack back to ${m.stack} as written (no transit, both sites equal), stop transit`,
        async () => {
          try {
            await rollout(lab, m, (x) => log(`    ${x.trim()}`));
            await lab.stop(TRANSIT.name);
          } finally {
            fs.rmSync(root, { recursive: true, force: true });
          }
        },
      );
    }
    figures.routerView = shown.join(" | ");
    return {
      ok: problems.length === 0,
      detail: problems.length
        ? problems.join("; ")
        : `${site2} prepend ${prepend} + LOCAL_PREF ${localPref} seen by both routers ${figures.policyMs} ms after the rollout of ${figures.rolledOut}; drain-site ${site1} moved every VIP's best path to ${gw2.name} on both routers in ${figures.drainSiteMs} ms (the command confirmed the advertisements after ${figures.drainSiteCommandMs} ms); an apply of ${gw1.hostname} with a changed frr.conf (${figures.applyWhileDrainedMs} ms) left ${site1} drained (${figures.applyWhileDrainedUndrainedViews} of ${figures.applyWhileDrainedPolls} router views meanwhile showed it undrained${figures.applyWhileDrainedUndrainedSeen ? `: ${figures.applyWhileDrainedUndrainedSeen}` : ""}); undrain-site back in ${figures.undrainSiteMs} ms (${figures.undrainSiteCommandMs} ms); ${shown[0]}; ${shown[1]}`,
      figures,
    };
  },
};

// ---------------------------------------------------------------------------------------------
// One transaction per host: the apply program's no-op, rollback and removed files.

/** Apply a (possibly changed) plan to one host the way `pulumi up` does. */
function applyOne(c: Ctx, plan: HostPlan, timeoutMs?: number) {
  return applyBundleInLab(c.lab, plan.hostname, plan, {
    user: c.m.topo.env.proxmox.user,
    stack: c.m.topo.env.name,
    secrets: c.secrets,
    timeoutMs,
  });
}

const noop: Scenario = {
  id: "noop",
  title:
    "A second apply of every host changes nothing: one command per host, no checker, no drain, no reload",
  async run(c) {
    const { lab, m } = c;
    const pids = async (h: string) => (await lab.run(h, SERVICE_PIDS)).trim();
    const problems: string[] = [];
    const figures: Record<string, number | string> = {};
    for (const p of m.plans) {
      const before = await pids(p.hostname);
      const r = await applyOne(c, p);
      const after = await pids(p.hostname);
      figures[`${p.name}Ms`] = r.ms;
      if (r.code !== 0 || !r.unchanged)
        problems.push(
          `${p.hostname}: exit ${r.code}, ${r.phases.slice(-1)[0] ?? r.stderr.trim().slice(-200)}`,
        );
      if (r.phases.some((l) => /^maglev-apply: (check|drain|activate)/.test(l)))
        problems.push(`${p.hostname}: ran ${r.phases.map((l) => l.split(":")[1]).join(",")}`);
      if (before !== after)
        problems.push(`${p.hostname}: daemons restarted (${before} → ${after})`);
    }
    const ms = m.plans.map((p) => figures[`${p.name}Ms`] as number);
    figures.maxMs = Math.max(...ms);
    figures.medianMs = [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)];
    return {
      ok: problems.length === 0,
      detail: problems.length
        ? problems.join("; ")
        : `${m.plans.length} hosts unchanged, no daemon restarted; per host ${(figures.medianMs as number) / 1000} s median, ${(figures.maxMs as number) / 1000} s max`,
      figures,
    };
  },
};

const rollback: Scenario = {
  id: "rollback",
  title:
    "A change that passes its checker but fails the health gate rolls back by itself, under load, 0 failed",
  async run(c) {
    const { lab, m } = c;
    const h = haproxyMembers(m)[0];
    const plan = m.planOf.get(h.hostname)!;
    const file = "/etc/haproxy/haproxy.cfg";
    const port = /bind 0\.0\.0\.0:(\d+)/.exec(plan.files.find((f) => f.path === file)!.content)![1];
    // The health API moved off the port the maglevs (and the health gate) check: HAProxy's own
    // checker is happy with it, the host is not healthy. A short gate keeps the scenario short.
    const bad: HostPlan = {
      ...plan,
      files: plan.files.map((f) =>
        f.path === file
          ? { ...f, content: f.content.split(`:${port}`).join(`:${Number(port) + 1}`) }
          : f,
      ),
      health: { ...plan.health!, timeoutSeconds: 15 },
    };
    const snap = `sha256sum ${file} | cut -c1-64; readlink /var/lib/maglev-infra/current; curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${port}/haproxy-health`;
    const before = await lab.run(h.hostname, snap);
    const load = startLoad(lab, loadMix(m), 40);
    await sleep(1000);
    const t0 = Date.now();
    const res = await applyOne(c, bad, 180_000);
    const applyMs = Date.now() - t0;
    // What the rollback left (read with `exec`: a failed curl must not end the scenario).
    const after = (await lab.exec(h.hostname, snap)).stdout;
    const l = loadSummary(await load);
    // Whatever happened, the host goes back to its plan before the next scenario.
    if (res.code !== 2 || before !== after)
      c.restoreLater(`${h.hostname} back on its plan`, async () => void (await applyOne(c, plan)));
    const msg = (res.stdout + res.stderr).trim();
    const problems: string[] = [];
    if (res.code !== 2) problems.push(`exit ${res.code}, want 2 (rolled back): ${msg.slice(-300)}`);
    if (!msg.includes(plan.health!.description))
      problems.push(`the failure does not carry the probe's words ("${plan.health!.description}")`);
    if (!/health after rollback: ok/.test(msg)) problems.push("not healthy after the rollback");
    if (before !== after)
      problems.push(
        `live state not restored: before ${JSON.stringify(before)} after ${JSON.stringify(after)}`,
      );
    if (l.failed > 0) problems.push(l.text);
    const line = res.phases.find((x) => /FAILED/.test(x)) ?? "";
    return {
      ok: problems.length === 0,
      detail: problems.length
        ? problems.join("; ")
        : `${h.hostname}: ${line.replace(/^maglev-apply: /, "").slice(0, 160)}; file, generation and health as before; ${l.text}`,
      figures: { applyMs, failed: l.failed, requests: l.requests },
    };
  },
};

const removedFile: Scenario = {
  id: "removed-file",
  title:
    "A file dropped from a plan is gone from the host after the next apply; a file the apply never made stays",
  async run(c) {
    const { lab, m } = c;
    const h = haproxyMembers(m).at(-1)!;
    const plan = m.planOf.get(h.hostname)!;
    const extra = "/etc/maglev-infra/lab-removed-file.conf";
    const foreign = "/etc/maglev-infra/operator-notes.txt";
    const withExtra: HostPlan = {
      ...plan,
      files: [
        ...plan.files,
        {
          path: extra,
          mode: "0644",
          owner: "root:root",
          content: "# lab: a file the next plan drops\n",
          activate: { kind: "none" as const },
        },
      ].sort((a, b) => (a.path < b.path ? -1 : 1)),
    };
    await lab.run(h.hostname, `echo 'not made by the apply' > ${foreign}`);
    const exists = async () =>
      (
        await lab.run(
          h.hostname,
          `for f in ${extra} ${foreign}; do [ -e $f ] && echo y || echo n; done | tr -d '\\n'`,
        )
      ).trim();
    const problems: string[] = [];
    try {
      const a = await applyOne(c, withExtra);
      if (a.code !== 0)
        problems.push(
          `apply with the file: exit ${a.code}: ${a.phases.slice(-1)[0] ?? a.stderr.slice(-200)}`,
        );
      const mid = await exists();
      const b = await applyOne(c, plan);
      if (b.code !== 0)
        problems.push(
          `apply without it: exit ${b.code}: ${b.phases.slice(-1)[0] ?? b.stderr.slice(-200)}`,
        );
      const end = await exists();
      if (mid !== "yy")
        problems.push(`after the first apply: ${extra} ${mid[0] === "y" ? "exists" : "missing"}`);
      if (end !== "ny")
        problems.push(
          `after the second apply: ${extra} ${end[0] === "y" ? "still there" : "gone"}, ${foreign} ${end[1] === "y" ? "kept" : "DELETED"}`,
        );
      const third = await applyOne(c, plan);
      if (!third.unchanged)
        problems.push(`a third apply is not a no-op: ${third.phases.slice(-1)[0]}`);
      return {
        ok: problems.length === 0,
        detail: problems.length
          ? problems.join("; ")
          : `${h.hostname}: ${extra} created, then removed (${b.phases.slice(-1)[0]?.replace(/^maglev-apply: /, "")}); ${foreign} kept; next apply unchanged`,
        figures: { withFileMs: a.ms, withoutFileMs: b.ms },
      };
    } finally {
      await lab.run(h.hostname, `rm -f ${foreign}`);
    }
  },
};

export const SCENARIOS: Scenario[] = [
  check,
  http,
  ecmp,
  dns,
  portScan,
  drift,
  noop,
  drainMaglev,
  drainHaproxy,
  sites,
  badFile,
  rollback,
  removedFile,
  haproxyFailure,
  watchdog,
  markFlush,
  maglevFailure,
  rollingChange,
  dnsPublish,
];
/**
 * Run only when named (`npm run lab -- test maintain-all`), not by a bare `lab test`:
 * maintain-all's maglev tier passes (0 failed, ECMP back), but its --all part stops at the
 * first HAProxy node, whose drain waits for the keep-alive connections of the load to end —
 * they never do while wrk runs, and the lab's "reboot" is a power cut that would reset them
 * (issue 21; a graceful close needs HAProxy's soft-stop, and a real reboot needs issue 13).
 * reboot and first-boot need systemd guests (MAGLEV_LAB_MACHINE=systemd), not yet the default.
 */
export const NAMED_ONLY: Scenario[] = [maintainAll, reboot, firstBoot];

// ---------------------------------------------------------------------------------------------

export async function runScenarios(args: string[], stateDir = DEFAULT_STATE_DIR): Promise<number> {
  const keep = args.includes("--keep");
  const names = args.filter((a) => !a.startsWith("--"));
  const known = [...SCENARIOS, ...NAMED_ONLY];
  const unknown = names.filter((n) => !known.some((s) => s.id === n));
  if (unknown.length)
    throw new Error(
      `unknown scenario(s) ${unknown.join(", ")} (known: ${known.map((s) => s.id).join(", ")})`,
    );
  const chosen = names.length ? known.filter((s) => names.includes(s.id)) : SCENARIOS;
  const log = (s: string) => console.log(s);
  // How long a scenario waits for a ready lab before it starts (sessions up, ECMP full, BFD up, held 3 s).
  const READY_BEFORE_MS = 90_000;
  let broughtUp = false;
  let upMs: number | undefined;
  if (!fs.existsSync(path.join(stateDir, "lab.json"))) {
    requirePrerequisites();
    ensureKernel(log);
    const r = await up({ stateDir, log });
    broughtUp = true;
    upMs = r.totalMs;
    log(`lab up in ${(r.totalMs / 1000).toFixed(1)} s`);
  }
  const lab = Lab.attach(stateDir);
  const cf = readCluster(stateDir);
  const m = buildLabModel(cf.stack, cf.root ?? process.cwd());
  const pending: { what: string; fn: () => Promise<void> }[] = [];
  const ctx: Ctx = {
    lab,
    m,
    secrets: cf.secrets,
    runner: labRunner(stateDir),
    log,
    restoreLater: (what, fn) => pending.push({ what, fn }),
  };
  const restore = async () => {
    if (!pending.length) return;
    const t0 = Date.now();
    const what = pending.map((p) => p.what);
    for (const p of pending.splice(0)) {
      try {
        await p.fn();
      } catch (e) {
        // Once more: a guest that lost a daemon under memory or CPU pressure during the restore
        // (seen: a gateway's bgpd after e) is usually fine on a second apply; twice is a failure.
        log(`     restore "${p.what}" failed once (${(e as Error).message.split("\n")[0]}); again`);
        await p.fn();
      }
    }
    const st = await waitReady(lab, m, 60_000);
    log(
      `     restored (${what.join("; ")}) in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${st.ok ? "ready" : `NOT ready: ${st.detail}`}`,
    );
    if (!st.ok)
      throw new Error(`the lab did not recover: ${st.detail}\n${await notReadyEvidence(lab, m)}`);
  };
  const results: ScenarioResult[] = [];
  try {
    for (const s of chosen) {
      await restore();
      const t0 = Date.now();
      const attempt = async (): Promise<Outcome> => {
        try {
          return await s.run(ctx);
        } catch (e) {
          return {
            ok: false,
            detail: `error: ${(e as Error).message.split("\n").slice(0, 4).join(" ")}`,
            figures: {},
          };
        }
      };
      // Every scenario starts from a ready lab (sessions up, ECMP full, BFD up, held 3 s): a
      // session dropped during the previous one must not be counted against this one.
      // 90 s: after a power cut's restore a starved guest can flap its sessions once more.
      const pre = await waitReady(lab, m, READY_BEFORE_MS);
      const drops0 = await gatewayBfdDrops(lab, m);
      let o: Outcome = pre.ok
        ? await attempt()
        : {
            ok: false,
            detail: `the lab was not ready before the scenario (${READY_BEFORE_MS / 1000} s): ${pre.detail}\n${await notReadyEvidence(lab, m)}`,
            figures: {},
          };
      // Run once more after a failure when the scenario measures a time bound on this shared
      // machine (retryOnce), or when the gateways dropped a BGP session by BFD during the failed
      // attempt: with one maglev drained, a starved guest's BFD drop on the other one is an
      // outage the lab made, not the design. A failure without a drop fails at once.
      const firstDrops = pre.ok && !o.ok ? (await gatewayBfdDrops(lab, m)) - drops0 : 0;
      if (!o.ok && pre.ok && (s.retryOnce || firstDrops > 0)) {
        log(
          `     ${s.id}: failed once (${o.detail}${firstDrops ? `; ${firstDrops} BGP session(s) dropped by BFD meanwhile` : ""}); restoring and running it again`,
        );
        await restore();
        const first = o;
        o = await attempt();
        o = {
          ...o,
          detail: `${o.detail} [2nd attempt; 1st failed${firstDrops ? ` with ${firstDrops} BFD drop(s)` : ""}: ${first.detail}]`,
          figures: {
            ...o.figures,
            attempts: 2,
            firstAttemptFailed: first.detail,
            firstAttemptBfdDrops: firstDrops,
          },
        };
      }
      // Printed with every result: a session drop the scenario did not cause (a power cut
      // does) means a guest was starved of CPU, which explains more than one odd figure.
      const drops = (await gatewayBfdDrops(lab, m)) - drops0;
      if (drops > 0)
        o = { ...o, detail: `${o.detail} [gateways: ${drops} BGP session(s) dropped by BFD]` };
      o = { ...o, figures: { ...o.figures, gatewayBfdDrops: drops } };
      const r: ScenarioResult = { id: s.id, title: s.title, ms: Date.now() - t0, ...o };
      results.push(r);
      log(
        `${r.ok ? "PASS" : "FAIL"} ${r.id.padEnd(8)} ${r.title} (${(r.ms / 1000).toFixed(1)} s): ${r.detail}`,
      );
    }
  } finally {
    const out = {
      stack: m.stack,
      nftables: true,
      upMs: upMs ?? cf.upMs,
      passed: results.filter((r) => r.ok).length,
      failed: results.filter((r) => !r.ok).length,
      results,
    };
    fs.writeFileSync("lab-results.json", JSON.stringify(out, null, 2) + "\n");
    log(`${out.passed} passed, ${out.failed} failed (lab-results.json)`);
    if (!(broughtUp && !keep)) await restore();
    else if (pending.length)
      log(`     not restored (the lab goes down): ${pending.map((p) => p.what).join("; ")}`);
    if (broughtUp && !keep) {
      const { leftovers } = await lab.down();
      log(`lab down${leftovers.length ? `; LEFTOVERS: ${leftovers.join("; ")}` : ""}`);
    }
  }
  return results.every((r) => r.ok) && results.length === chosen.length ? 0 : 1;
}
