/**
 * The Grafana dashboard rendered from a stack (src/monitoring/dashboard.ts): every metric a
 * panel's query names is one an exporter writes — scripts/host/maglev-metrics' own (its
 * declared families), and what the real node_exporter and HAProxy's built-in exporter serve
 * when run here on loopback (Debian's prometheus-node-exporter and haproxy) — and every query
 * parses (promtool check rules, each as a recording rule). Deterministic, and the expected
 * counts are the topology's.
 */
import { spawn, ChildProcess, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { deriveTopology, Topology } from "../../src/topology";
import { loadStack } from "../../src/config/load";
import { dashboardRows, grafanaDashboard } from "../../src/monitoring/dashboard";
import { gatewayNeighbors } from "../../src/monitoring/metrics";
import { ROOT } from "../helpers";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dashboard-"));
const children: ChildProcess[] = [];
afterAll(() => {
  children.forEach((c) => c.kill());
  fs.rmSync(dir, { recursive: true, force: true });
});

const STACKS = fs
  .readdirSync(path.join(ROOT, "stacks"))
  .filter((f) => /^Pulumi\..+\.yaml$/.test(f))
  .map((f) => f.replace(/^Pulumi\.|\.yaml$/g, ""));

/** PromQL's keywords and the identifiers that are not metric names when no `(` follows. */
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan"]);

/**
 * The metric names in a PromQL expression: identifiers left once string literals, label
 * matchers, ranges and the label lists of by/without/on/ignoring/group_left/group_right are
 * taken out, except functions and aggregations (an identifier followed by `(`) and keywords.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const m of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = bare.slice(m.index! + m[0].length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names].sort();
}

/** Names a query uses that no exporter writes. */
function unknownIn(exprs: string[], known: Set<string>): string[] {
  return [...new Set(exprs.flatMap(metricNames))].filter((n) => !known.has(n)).sort();
}

/**
 * The families maglev-metrics declares: `m.declare("name", "gauge", …)` and the
 * `("name", "gauge", …)` tuples it declares in a loop — every name it can write.
 */
function maglevMetricNames(): Set<string> {
  const src = fs.readFileSync(path.join(ROOT, "scripts/host/maglev-metrics"), "utf8");
  return new Set(
    [...src.matchAll(/\(\s*"(maglev_[a-z0-9_]+)",\s*"(?:gauge|counter)"/g)].map((m) => m[1]),
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve(body));
      })
      .on("error", reject);
  });
}

/** Start an exporter and read its metric names from /metrics once it answers. */
async function scrape(argv: string[], url: string): Promise<Set<string>> {
  const child = spawn(argv[0], argv.slice(1), { stdio: "ignore" });
  children.push(child);
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      const body = await get(url);
      child.kill();
      return new Set([...body.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)].map((m) => m[1]));
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function nodeExporterNames(): Promise<Set<string>> {
  const textfiles = path.join(dir, "textfile");
  fs.mkdirSync(textfiles, { recursive: true });
  // A textfile like the collector's, so node_exporter serves its node_textfile_* series.
  fs.writeFileSync(path.join(textfiles, "maglev-infra.prom"), "maglev_host_info 1\n");
  const port = await freePort();
  return scrape(
    [
      "prometheus-node-exporter",
      `--web.listen-address=127.0.0.1:${port}`,
      `--collector.textfile.directory=${textfiles}`,
    ],
    `http://127.0.0.1:${port}/metrics`,
  );
}

async function haproxyExporterNames(): Promise<Set<string>> {
  const [fe, stats] = [await freePort(), await freePort()];
  // The shape of the plan's haproxy.cfg: a TCP frontend and backend per fwmark, the exporter
  // on the stats frontend.
  const cfg = [
    "defaults",
    "    mode tcp",
    "    timeout connect 1s",
    "    timeout client 5s",
    "    timeout server 5s",
    "frontend fe_100",
    `    bind 127.0.0.1:${fe}`,
    "    default_backend be_100",
    "backend be_100",
    "    server app01 127.0.0.1:9 check",
    "frontend stats",
    "    mode http",
    `    bind 127.0.0.1:${stats}`,
    "    http-request use-service prometheus-exporter if { path /metrics }",
    "",
  ].join("\n");
  fs.writeFileSync(path.join(dir, "haproxy.cfg"), cfg);
  return scrape(
    ["haproxy", "-db", "-f", path.join(dir, "haproxy.cfg")],
    `http://127.0.0.1:${stats}/metrics`,
  );
}

const exprsOf = (topo: Topology) =>
  dashboardRows(topo).flatMap((r) => r.panels.flatMap((p) => p.targets.map((t) => t.expr)));

describe("Grafana dashboard", () => {
  let known: Set<string>;
  beforeAll(async () => {
    known = new Set([
      ...maglevMetricNames(),
      ...(await nodeExporterNames()),
      ...(await haproxyExporterNames()),
    ]);
  });

  test("GIVEN the exporters THEN the names known include each one's own (the check below has something to check against)", () => {
    for (const n of [
      "maglev_ipvs_real_server_weight",
      "maglev_host_info",
      "maglev_haproxy_drained",
      "node_cpu_seconds_total",
      "node_textfile_mtime_seconds",
      "haproxy_frontend_current_sessions",
    ])
      expect(known.has(n)).toBe(true);
  });

  test.each(STACKS)(
    "GIVEN stack %s WHEN its dashboard is rendered THEN every metric a panel's query names is one an exporter writes",
    (stack) => {
      // GIVEN
      const topo = deriveTopology(loadStack(stack, ROOT));
      // WHEN
      const exprs = exprsOf(topo);
      // THEN
      expect(exprs.length).toBeGreaterThan(10);
      expect(unknownIn(exprs, known)).toEqual([]);
    },
  );

  test("GIVEN a panel naming a metric no exporter writes WHEN checked THEN the check names it", () => {
    // GIVEN
    const exprs = [
      'sum by (host) (maglev_bgp_sessions_up{role="gateway"}) * on(instance) group_left(host) maglev_host_info',
      "rate(haproxy_frontend_bytes_in_totl[5m])",
    ];
    // WHEN / THEN
    expect(unknownIn(exprs, known)).toEqual([
      "haproxy_frontend_bytes_in_totl",
      "maglev_bgp_sessions_up",
    ]);
    expect(
      metricNames(
        'time() - node_textfile_mtime_seconds{file=~"a.prom"} and on(instance) x_info == 1',
      ),
    ).toEqual(["node_textfile_mtime_seconds", "x_info"]);
  });

  test.each(STACKS)(
    "GIVEN stack %s WHEN each panel query is a recording rule THEN promtool check rules accepts them all",
    (stack) => {
      // GIVEN
      const exprs = exprsOf(deriveTopology(loadStack(stack, ROOT)));
      const file = path.join(dir, `${stack}-queries.yml`);
      fs.writeFileSync(
        file,
        YAML.stringify({
          groups: [
            {
              name: "dashboard",
              rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })),
            },
          ],
        }),
      );
      // WHEN
      const r = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" });
      // THEN
      expect({ status: r.status, out: r.stdout + r.stderr }).toMatchObject({ status: 0 });
    },
  );

  test("GIVEN the lab stack WHEN rendered twice THEN the same bytes, unique panel ids, the datasource variable, and the gateways' expected sessions from the topology", () => {
    // GIVEN
    const topo = deriveTopology(loadStack("lab", ROOT));
    // WHEN
    const text = grafanaDashboard(topo);
    // THEN
    expect(grafanaDashboard(deriveTopology(loadStack("lab", ROOT)))).toBe(text);
    const d = JSON.parse(text);
    const ids = d.panels.map((p: any) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(d.uid).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
    expect(d.templating.list[0]).toMatchObject({
      name: "datasource",
      type: "datasource",
      query: "prometheus",
    });
    const bgp = d.panels.find((p: any) => p.title === "BGP sessions Established");
    expect(bgp.fieldConfig.defaults.thresholds.steps[1].value).toBe(gatewayNeighbors(topo).length);
    expect(bgp.targets[0].datasource.uid).toBe("${datasource}");
    expect(text).not.toMatch(/20\d\d-\d\d-\d\dT/);
  });
});
