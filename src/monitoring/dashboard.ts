/**
 * A Grafana dashboard for one environment, rendered from the stack as the alert rules are:
 * `grafana-dashboard.json` in `npm run render`'s folder and the stack output
 * `grafanaDashboard` (import it in Grafana, or drop it into a provisioned dashboards folder).
 *
 * Its queries read the metrics scripts/host/maglev-metrics writes (node_exporter's textfile
 * collector), node_exporter's own and HAProxy's built-in exporter's (`/metrics` on the stats
 * port): test/monitoring/dashboard.test.ts fails on a name none of them exports. Expected
 * counts (sessions per gateway, next hops per VIP, real servers per service) come from the
 * topology and show as the panels' thresholds, the same numbers the alert rules use.
 *
 * Scoped to the stack: maglev and node_exporter series by `maglev_host_info{stack=…}` on the
 * same instance; HAProxy's exporter has no such series, so its panels select the stack's
 * HAProxy nodes by instance (`<mgmt address>:8404`, the scrape docs/operations.md shows).
 * Deterministic: panel ids and positions by order, no timestamps.
 *
 * One file (over 400 lines) on purpose: one dashboard document, its rows in display order.
 */
import { Topology } from "../topology";
import { jsonDocument, promqlString, re2Literal } from "../escape";
import { HAPROXY_STATS_PORT } from "../tiers/haproxy";
import { ipvsServices } from "../tiers/maglev";
import { expectedNextHops, gatewayBfdPeers, gatewayNeighbors } from "./metrics";

/** The file name in the render folder. */
export const DASHBOARD_FILE = "grafana-dashboard.json";

export interface DashboardTarget {
  expr: string;
  legendFormat: string;
}

export interface DashboardPanel {
  title: string;
  description: string;
  kind: "timeseries" | "stat";
  /** Grafana unit id. @default "none" */
  unit?: string;
  /** The value a healthy cluster has (drawn as a threshold line; below it is red). */
  expected?: number;
  targets: DashboardTarget[];
}

export interface DashboardRow {
  title: string;
  panels: DashboardPanel[];
}

const q = promqlString;

/** The rows and panels, plain data (tests read them; `grafanaDashboard` lays them out). */
export function dashboardRows(topo: Topology): DashboardRow[] {
  const env = topo.env;
  // The info series carries the host's tier in its `role` label (a metrics label keeps its
  // name: a rename would split every stored series and break the users' own queries).
  const info = (tier?: string) =>
    `maglev_host_info{stack=${q(env.name)}${tier ? `,role=${q(tier)}` : ""}}`;
  // A host label from the info series (the textfile's own series carry none).
  const byHost = (expr: string, tier?: string) =>
    `(${expr}) * on(instance) group_left(host) ${info(tier)}`;
  // For series that have a `host` label of their own (a real server's): only a filter.
  const ours = (expr: string, tier?: string) => `(${expr}) and on(instance) ${info(tier)}`;
  const rows: DashboardRow[] = [];

  rows.push({
    title: "Every host",
    panels: [
      {
        title: "Hosts reporting",
        description: `Hosts whose maglev-infra metrics Prometheus has (the stack has ${topo.hosts.length}).`,
        kind: "stat",
        expected: topo.hosts.length,
        targets: [{ expr: `count(${info()})`, legendFormat: "hosts" }],
      },
      {
        title: "Files differing from the apply",
        description:
          "Live files whose bytes differ from what the apply program wrote (edited on the host): `npm run check -- <stack> --diff` shows how.",
        kind: "timeseries",
        targets: [{ expr: byHost("maglev_apply_files_drifted"), legendFormat: "{{host}}" }],
      },
      {
        title: "Applied generation",
        description: "The bundle generation each host committed last.",
        kind: "timeseries",
        targets: [{ expr: byHost("maglev_apply_generation"), legendFormat: "{{host}}" }],
      },
      {
        title: "Collector sources failing",
        description:
          "Sources maglev-metrics could not read in its last pass (a daemon down, a command missing).",
        kind: "timeseries",
        targets: [
          {
            expr: byHost("maglev_metrics_source_up == 0"),
            legendFormat: "{{host}} {{source}}",
          },
        ],
      },
      {
        title: "Metrics file age",
        description:
          "Seconds since maglev-metrics wrote its file (every 5 s; the alert fires past 60 s).",
        kind: "timeseries",
        unit: "s",
        targets: [
          {
            expr: byHost(`time() - node_textfile_mtime_seconds{file=~".*maglev-infra\\\\.prom"}`),
            legendFormat: "{{host}}",
          },
        ],
      },
    ],
  });

  if (topo.gateways.length) {
    const v4 = topo.vips.ipv4.length ? expectedNextHops(topo, "ipv4") : undefined;
    const v6 = topo.vips.ipv6.length ? expectedNextHops(topo, "ipv6") : undefined;
    const want = [v4, v6].filter((x): x is number => x !== undefined);
    rows.push({
      title: "Gateways",
      panels: [
        {
          title: "BGP sessions Established",
          description: `Per gateway (each has ${gatewayNeighbors(topo).length}: the upstream routers and every maglev).`,
          kind: "timeseries",
          expected: gatewayNeighbors(topo).length,
          targets: [
            {
              expr: `sum by (host) (${byHost("maglev_bgp_neighbor_up", "gateway")})`,
              legendFormat: "{{host}}",
            },
          ],
        },
        {
          title: "BFD peers up",
          description: `Per gateway (each has ${gatewayBfdPeers(topo).length}).`,
          kind: "timeseries",
          expected: gatewayBfdPeers(topo).length,
          targets: [
            {
              expr: `sum by (host) (${byHost("maglev_bfd_peer_up", "gateway")})`,
              legendFormat: "{{host}}",
            },
          ],
        },
        {
          title: "ECMP next hops per VIP",
          description: `Maglevs each VIP's route leads to on each gateway (IPv4: ${v4 ?? "none"}, IPv6: ${v6 ?? "none"} expected).`,
          kind: "timeseries",
          ...(want.length ? { expected: Math.min(...want) } : {}),
          targets: [
            {
              expr: byHost("maglev_vip_nexthops", "gateway"),
              legendFormat: "{{host}} {{vip}}",
            },
          ],
        },
        {
          title: "Prefixes received",
          description: "Per BGP neighbour and address family.",
          kind: "timeseries",
          targets: [
            {
              expr: byHost("maglev_bgp_neighbor_prefixes_received", "gateway"),
              legendFormat: "{{host}} ← {{name}} {{afi}}",
            },
          ],
        },
        {
          title: "Site drained",
          description: "1 while an operator's `ops drain-site` holds the gateway's site.",
          kind: "timeseries",
          targets: [{ expr: byHost("maglev_site_drained", "gateway"), legendFormat: "{{host}}" }],
        },
      ],
    });
  }

  if (topo.maglevs.length) {
    const services = ipvsServices(topo);
    rows.push({
      title: "Maglevs",
      panels: [
        {
          title: "VIPs announced",
          description: `Per maglev (each announces ${topo.vips.ipv4.length + topo.vips.ipv6.length} when healthy and not drained); maglev_vip_state says why one is not.`,
          kind: "timeseries",
          expected: topo.vips.ipv4.length + topo.vips.ipv6.length,
          targets: [
            {
              expr: `sum by (host) (${byHost("maglev_vip_announced", "maglev")})`,
              legendFormat: "{{host}}",
            },
          ],
        },
        {
          title: "Drained",
          description: "1 while the maglev's drain file exists (it announces no VIP).",
          kind: "timeseries",
          targets: [{ expr: byHost("maglev_drained", "maglev"), legendFormat: "{{host}}" }],
        },
        {
          title: "Healthy real servers per IPVS service",
          description: `Weight > 0 (keepalived's check passes); members per service: ${services.map((s) => `fwmark ${s.fwmark.fwmark} ${s.family} ${s.realServers.length}`).join(", ") || "none"}.`,
          kind: "timeseries",
          ...(services.length
            ? { expected: Math.min(...services.map((s) => s.realServers.length)) }
            : {}),
          targets: [
            {
              expr: byHost("maglev_ipvs_service_healthy_real_servers", "maglev"),
              legendFormat: "{{host}} fwmark {{fwmark}} {{family}}",
            },
          ],
        },
        {
          title: "New connections per second",
          description: "The kernel's estimate per IPVS service.",
          kind: "timeseries",
          unit: "cps",
          targets: [
            {
              expr: byHost("maglev_ipvs_service_connections_per_second", "maglev"),
              legendFormat: "{{host}} fwmark {{fwmark}} {{family}}",
            },
          ],
        },
        {
          title: "Bytes per second in",
          description:
            "The kernel's estimate per IPVS service (direct server return: replies bypass the maglev).",
          kind: "timeseries",
          unit: "Bps",
          targets: [
            {
              expr: byHost(`maglev_ipvs_service_bytes_per_second{direction="in"}`, "maglev"),
              legendFormat: "{{host}} fwmark {{fwmark}} {{family}}",
            },
          ],
        },
        {
          title: "Active connections per real server",
          description: "IPVS connection table entries in state active, per maglev and real server.",
          kind: "timeseries",
          targets: [
            {
              expr: ours(
                `sum by (instance, host) (maglev_ipvs_real_server_connections{state="active"})`,
                "maglev",
              ),
              legendFormat: "{{host}} via {{instance}}",
            },
          ],
        },
        {
          title: "Real server weight",
          description:
            "0: its health check fails, or the HAProxy node is drained (see the HAProxy row).",
          kind: "timeseries",
          targets: [
            {
              expr: ours("maglev_ipvs_real_server_weight", "maglev"),
              legendFormat: "{{host}} fwmark {{fwmark}} {{family}} via {{instance}}",
            },
          ],
        },
      ],
    });
  }

  const haproxyHosts = topo.hosts.filter((h) => h.tier === "haproxy");
  if (haproxyHosts.length) {
    const instances = haproxyHosts
      .flatMap((h) => [h.mgmt.ipv4, `[${h.mgmt.ipv6}]`])
      .map((a) => re2Literal(`${a}:${HAPROXY_STATS_PORT}`));
    const exporter = `instance=~${q(`(${instances.join("|")})`)}`;
    rows.push({
      title: "HAProxy nodes",
      panels: [
        {
          title: "Drained (hactl drain)",
          description:
            "1 while an operator drained the node: the maglevs set it to weight 0 on purpose.",
          kind: "timeseries",
          targets: [
            { expr: byHost("maglev_haproxy_drained", "haproxy"), legendFormat: "{{host}}" },
          ],
        },
        {
          title: "Current sessions per frontend",
          description: `HAProxy's exporter (${HAPROXY_STATS_PORT}/metrics) on the stack's HAProxy nodes.`,
          kind: "timeseries",
          targets: [
            {
              expr: `haproxy_frontend_current_sessions{${exporter},proxy=~"fe_.*"}`,
              legendFormat: "{{instance}} {{proxy}}",
            },
          ],
        },
        {
          title: "New connections per second per frontend",
          description: "Rate over 5 minutes.",
          kind: "timeseries",
          unit: "cps",
          targets: [
            {
              expr: `rate(haproxy_frontend_connections_total{${exporter},proxy=~"fe_.*"}[5m])`,
              legendFormat: "{{instance}} {{proxy}}",
            },
          ],
        },
        {
          title: "Application servers up per backend",
          description: "Servers of each backend whose check passes.",
          kind: "timeseries",
          targets: [
            {
              expr: `haproxy_backend_active_servers{${exporter},proxy=~"be_[0-9]+"}`,
              legendFormat: "{{instance}} {{proxy}}",
            },
          ],
        },
      ],
    });
  }

  rows.push({
    title: "Host resources (node_exporter)",
    panels: [
      {
        title: "CPU busy",
        description: "Share of CPU time not idle, 5 minute rate.",
        kind: "timeseries",
        unit: "percentunit",
        targets: [
          {
            expr: byHost(`1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))`),
            legendFormat: "{{host}}",
          },
        ],
      },
      {
        title: "Memory available",
        description: "MemAvailable of /proc/meminfo.",
        kind: "timeseries",
        unit: "bytes",
        targets: [{ expr: byHost("node_memory_MemAvailable_bytes"), legendFormat: "{{host}}" }],
      },
      {
        title: "Network received",
        description: "Bytes per second per interface (lo left out).",
        kind: "timeseries",
        unit: "Bps",
        targets: [
          {
            expr: byHost(
              `sum by (instance, device) (rate(node_network_receive_bytes_total{device!="lo"}[5m]))`,
            ),
            legendFormat: "{{host}} {{device}}",
          },
        ],
      },
    ],
  });
  return rows;
}

/** Grafana's dashboard JSON model (schemaVersion 39), one row per tier, two panels a line. */
export function grafanaDashboard(topo: Topology): string {
  const env = topo.env;
  const datasource = { type: "prometheus", uid: "${datasource}" };
  const panels: unknown[] = [];
  let id = 1;
  let y = 0;
  for (const row of dashboardRows(topo)) {
    panels.push({
      id: id++,
      type: "row",
      title: row.title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    row.panels.forEach((p, i) => {
      const thresholds =
        p.expected === undefined
          ? { mode: "absolute", steps: [{ color: "green", value: null }] }
          : {
              mode: "absolute",
              steps: [
                { color: "red", value: null },
                { color: "green", value: p.expected },
              ],
            };
      panels.push({
        id: id++,
        type: p.kind,
        title: p.title,
        description: p.description,
        datasource,
        gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: y + Math.floor(i / 2) * 8 },
        fieldConfig: {
          defaults: {
            unit: p.unit ?? "none",
            ...(p.kind === "timeseries"
              ? {
                  custom: {
                    drawStyle: "line",
                    lineInterpolation: "stepAfter",
                    showPoints: "never",
                    ...(p.expected !== undefined ? { thresholdsStyle: { mode: "line" } } : {}),
                  },
                }
              : {}),
            thresholds,
          },
          overrides: [],
        },
        options:
          p.kind === "stat"
            ? {
                reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
                colorMode: "value",
              }
            : { legend: { displayMode: "list", placement: "bottom" }, tooltip: { mode: "multi" } },
        targets: p.targets.map((t, k) => ({
          refId: String.fromCharCode(65 + k),
          datasource,
          expr: t.expr,
          legendFormat: t.legendFormat,
        })),
      });
    });
    y += Math.ceil(row.panels.length / 2) * 8;
  }
  return jsonDocument(
    {
      title: `maglev-infra ${env.name}`,
      // Grafana's uid: at most 40 characters of [A-Za-z0-9_-].
      uid: `maglev-infra-${env.name}`.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40),
      description: `Load-balancer state of stack ${env.name}, generated by maglev-infra (npm run render); edits are overwritten by the next render.`,
      tags: ["maglev-infra", env.name],
      editable: false,
      schemaVersion: 39,
      version: 1,
      time: { from: "now-1h", to: "now" },
      refresh: "30s",
      timezone: "browser",
      templating: {
        list: [
          {
            name: "datasource",
            label: "Prometheus",
            type: "datasource",
            query: "prometheus",
            current: {},
            hide: 0,
          },
        ],
      },
      annotations: { list: [] },
      panels,
    },
    "Grafana dashboard",
  );
}
