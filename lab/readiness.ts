/**
 * Reading the running lab cluster: is it ready (router sessions, one next hop per maglev for
 * every VIP on every gateway, BFD up), the evidence to print when it is not, the one-screen
 * summary, and the scripts that read what a managed guest's daemons did (their journal this
 * boot, their main PIDs). `sleep` is the lab's poll pause.
 */
import { Lab } from "./guest";
import { LabModel, ROUTER } from "./topology";
import { parseVipRoutes, vipRoutesScript } from "../src/daemons/frr/probes";
import { IPVS_LIST_COMMAND, parseIpvs } from "../src/daemons/keepalived/probes";
import { sleep } from "../src/ops/runner";

export { sleep };

/** A script printing what a unit logged this boot (its journal). Pipe it on. */
export function daemonLog(unit: string): string {
  return `journalctl -b -q -u ${unit} --no-pager 2>/dev/null`;
}

/** A script printing the main PID of every running service (sorted): what a restart changes. */
export const SERVICE_PIDS =
  "systemctl show -p MainPID --value $(systemctl list-units --type=service --state=running --no-legend --plain | cut -d' ' -f1) | grep -vx 0 | sort | tr '\\n' ' '";

/** A script printing the last lines each service logged this boot (its journal). */
export function serviceLogTail(services: string[], lines: number): string {
  return (
    services
      .map(
        (svc) => `echo "--- journal of ${svc}"; journalctl -b -q -u ${svc} -n ${lines} --no-pager`,
      )
      .join("; ") + "; true"
  );
}

export interface ReadyState {
  ok: boolean;
  router: { peer: string; state: string; pfx: number }[];
  gatewayRoutes: Record<string, Record<string, number>>;
  detail: string;
}

/** One probe: router sessions + next hops per VIP on every gateway. */
export async function readyState(lab: Lab, m: LabModel): Promise<ReadyState> {
  const vips = [...m.topo.vips.ipv4, ...m.topo.vips.ipv6];
  const want = m.topo.maglevs.length;
  const router: ReadyState["router"] = [];
  await Promise.all(
    m.routers.map(async (lr) => {
      const r = await lab.exec(lr.name, "vtysh -c 'show bgp summary json'", { timeoutMs: 15_000 });
      try {
        const j = JSON.parse(r.stdout);
        for (const af of ["ipv4Unicast", "ipv6Unicast"]) {
          for (const [peer, v] of Object.entries(
            (j[af]?.peers ?? {}) as Record<string, { state: string; pfxRcd?: number }>,
          ))
            router.push({ peer: `${lr.name}:${peer}`, state: v.state, pfx: v.pfxRcd ?? 0 });
        }
      } catch {
        /* not up yet */
      }
    }),
  );
  const gatewayRoutes: ReadyState["gatewayRoutes"] = {};
  const bfdDown: string[] = [];
  await Promise.all(
    m.topo.gateways.map(async (g) => {
      const script =
        vipRoutesScript(vips) +
        `; echo "B $(vtysh -c 'show bfd peers json' 2>/dev/null | tr -d '\\n')"`;
      const x = await lab.exec(g.hostname, script, { timeoutMs: 15_000 });
      const per: Record<string, number> = {};
      try {
        const peers = JSON.parse(/^B (.*)$/m.exec(x.stdout)?.[1] || "[]") as {
          peer: string;
          status: string;
        }[];
        bfdDown.push(
          ...m.topo.maglevs
            .filter((mg) => !peers.some((p) => p.peer === mg.mgmt.ipv4 && p.status === "up"))
            .map((mg) => `${g.name}→${mg.name}`),
        );
      } catch {
        bfdDown.push(`${g.name}: no BFD answer`);
      }
      for (const [vip, hops] of parseVipRoutes(x.stdout)) per[vip] = hops.length;
      gatewayRoutes[g.hostname] = per;
    }),
  );
  // One session per gateway and address family on every lab router (IPv6 only where it has an address).
  const wantSessions = m.routers.reduce(
    (n, r) => n + m.topo.gateways.length * (r.mgmt6 ? 2 : 1),
    0,
  );
  const sessionsOk =
    router.length === wantSessions && router.every((p) => p.state === "Established");
  const routesOk = Object.values(gatewayRoutes).every((per) =>
    vips.every((v) => (per[v] ?? 0) === want),
  );
  const detail = `router sessions ${router.filter((p) => p.state === "Established").length}/${wantSessions}; gateway next hops ${Object.entries(
    gatewayRoutes,
  )
    .map(([g, per]) => `${g}: ${vips.map((v) => per[v] ?? 0).join("/")}`)
    .join(", ")} (want ${want})`;
  return {
    ok: sessionsOk && routesOk && bfdDown.length === 0,
    router,
    gatewayRoutes,
    detail: detail + (bfdDown.length ? `; BFD not up: ${bfdDown.join(", ")}` : ""),
  };
}

/** What a failed `up` leaves to read before the cleanup: each gateway's sessions and BFD peers, each maglev's ExaBGP log tail. */
export async function notReadyEvidence(lab: Lab, m: LabModel): Promise<string> {
  const parts = await Promise.all([
    ...m.topo.gateways.map(async (g) => {
      const r = await lab.exec(
        g.hostname,
        "vtysh -c 'show bgp summary' -c 'show bfd peers brief' | grep -E '^(198|fd00|[0-9]+ )'; " +
          daemonLog("frr") +
          " | grep -E 'ADJCHANGE|NOTIFICATION|BFD' | tail -n 8",
        { timeoutMs: 15_000 },
      );
      return `${g.hostname}:\n${r.stdout.trimEnd()}`;
    }),
    ...m.topo.maglevs.map(async (h) => {
      const r = await lab.exec(h.hostname, daemonLog("exabgp") + " | tail -n 8", {
        timeoutMs: 15_000,
      });
      return `${h.hostname} exabgp.log:\n${r.stdout.trimEnd()}`;
    }),
  ]);
  return parts.join("\n");
}

/**
 * Ready = router sessions up, every gateway with one next hop per maglev for every VIP and BFD
 * up to every maglev — twice, 3 s apart: FRR 8.4 resets a BGP session once when its BFD
 * session first comes up (LAB-NOTES), so a first "ready" can be followed by that reset.
 */
export async function waitReady(lab: Lab, m: LabModel, timeoutMs: number): Promise<ReadyState> {
  const end = Date.now() + timeoutMs;
  let okSince: number | undefined;
  for (;;) {
    const st = await readyState(lab, m);
    if (st.ok) {
      okSince ??= Date.now();
      if (Date.now() - okSince >= 3000) return st;
    } else okSince = undefined;
    if (Date.now() >= end) return st;
    await sleep(st.ok ? 1000 : 300);
  }
}

/** The one-screen summary: nodes, BGP sessions, routes, IPVS services. */
export async function summary(lab: Lab, m: LabModel): Promise<string> {
  const out: string[] = [];
  const st = lab.status();
  out.push(`nodes (${st.nodes.length}, state dir ${st.stateDir}):`);
  const row: string[] = [];
  for (const n of st.nodes) row.push(`${n.name}${n.alive ? "" : " [" + n.state + "]"}`);
  out.push("  " + row.join("  "));
  const [bgp, routes4, routes6, ...ipvs] = await Promise.all([
    lab.exec(
      ROUTER.name,
      "vtysh -c 'show bgp summary' | grep -E '^(fd00|198)'; vtysh -c 'show bfd peers brief' | grep -E 'up|down' | awk '{print \"  bfd\", $2, $4}'",
      { timeoutMs: 15_000 },
    ),
    lab.exec(ROUTER.name, "ip -4 route show proto bgp", { timeoutMs: 15_000 }),
    lab.exec(ROUTER.name, "ip -6 route show proto bgp", { timeoutMs: 15_000 }),
    ...m.topo.maglevs.map((h) => lab.exec(h.hostname, IPVS_LIST_COMMAND, { timeoutMs: 15_000 })),
  ]);
  out.push("router BGP (neighbor … state/pfx):");
  for (const l of bgp.stdout.trim().split("\n")) out.push("  " + l.replace(/\s+/g, " ").trim());
  out.push("router routes (bgp):");
  for (const l of (routes4.stdout + routes6.stdout).trim().split("\n").filter(Boolean))
    out.push("  " + l.trim());
  const gw = await Promise.all(
    m.topo.gateways.map((g) =>
      lab.exec(g.hostname, "ip -4 route show proto bgp; ip -6 route show proto bgp", {
        timeoutMs: 15_000,
      }),
    ),
  );
  m.topo.gateways.forEach((g, i) => {
    out.push(`${g.hostname} routes (bgp):`);
    out.push(
      "  " +
        gw[i].stdout
          .replace(/\n\s+nexthop/g, " nexthop")
          .trim()
          .split("\n")
          .map((l) =>
            l
              .replace(/\s+/g, " ")
              .replace(/ proto bgp metric \d+/g, "")
              .replace(/ weight 1/g, ""),
          )
          .join("\n  "),
    );
  });
  m.topo.maglevs.forEach((h, i) => {
    const svcs = parseIpvs(ipvs[i].stdout);
    const rs = [...svcs.values()].flatMap((svc) => [...svc].map(([a, r]) => `${a} w${r.weight}`));
    out.push(`${h.hostname} IPVS: ${svcs.size} services, real servers ${rs.join(", ")}`);
  });
  return out.join("\n");
}
