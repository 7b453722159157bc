/**
 * The alert rules rendered from a stack: `promtool check rules` on every stack's file, and
 * `promtool test rules` on synthetic series shaped as scripts/host/maglev-metrics writes them
 * (a gateway losing a maglev, a maglev losing real servers, a VIP withdrawn while not drained).
 * The expected counts come from the topology: a stack with one more session expects one more.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { deriveTopology, Topology } from "../../src/topology";
import { loadStack } from "../../src/config/load";
import { alertRuleList, alertRules } from "../../src/monitoring/rules";
import { gatewayNeighbors } from "../../src/monitoring/metrics";
import { ipvsServices } from "../../src/tiers/maglev";
import { promqlString } from "../../src/escape";
import { mgmt02Raw, mustValidate, ROOT } from "../helpers";

const lab: Topology = deriveTopology(loadStack("lab", ROOT));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rules-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function promtool(args: string[]) {
  const r = spawnSync("promtool", args, { encoding: "utf8", cwd: dir });
  return { status: r.status, out: (r.stdout + r.stderr).trim() };
}

/** A series in promtool's input notation; label values written as PromQL strings. */
const series = (name: string, labels: Record<string, string>, values: string) => ({
  series: `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}=${promqlString(v)}`)
    .join(",")}}`,
  values,
});

describe("alert rules", () => {
  test.each(
    fs
      .readdirSync(path.join(ROOT, "stacks"))
      .filter((f) => /^Pulumi\..+\.yaml$/.test(f))
      .map((f) => f.replace(/^Pulumi\.|\.yaml$/g, "")),
  )(
    "GIVEN stack %s WHEN its rules are rendered THEN promtool check rules accepts them",
    (stack) => {
      const file = path.join(dir, `${stack}.yml`);
      fs.writeFileSync(file, alertRules(deriveTopology(loadStack(stack, ROOT))));
      expect(promtool(["check", "rules", file])).toMatchObject({ status: 0 });
    },
  );

  test("GIVEN a stack with an IPv6 session to the upstream router WHEN rendered THEN each gateway expects one BGP session more", () => {
    const base = deriveTopology(mustValidate(mgmt02Raw()));
    const raw = mgmt02Raw();
    raw.bgp.upstream[0].ipv6 = "2a0a:7180:81:7::2";
    const more = deriveTopology(mustValidate(raw));
    const threshold = (t: Topology) =>
      Number(
        /< (\d+)$/.exec(
          alertRuleList(t).find((r) => r.alert === "MaglevBgpNeighborsDown")!.expr,
        )![1],
      );
    expect(threshold(base)).toBe(gatewayNeighbors(base).length);
    expect(threshold(more)).toBe(threshold(base) + 1);
    // The seed's "< 3": one upstream and two maglevs.
    expect(threshold(base)).toBe(3);
    // IPVS: one rule per service, its threshold its real servers.
    const ipvs = alertRuleList(base).filter((r) => r.alert === "MaglevIpvsBackendsMissing");
    expect(ipvs.map((r) => Number(/< (\d+)\)/.exec(r.expr)![1]))).toEqual(
      ipvsServices(base).map((s) => s.realServers.length),
    );
  });

  test("GIVEN synthetic series of a lab gateway and maglev WHEN promtool test rules runs THEN the seed's alerts fire where the state is wrong, and only there", () => {
    // Annotations left out of the copy under test: promtool compares them too, and their
    // templates are checked by `promtool check rules` above; here the expressions are tested.
    const doc = YAML.parse(alertRules(lab));
    for (const r of doc.groups[0].rules) delete r.annotations;
    fs.writeFileSync(path.join(dir, "lab-rules.yml"), YAML.stringify(doc));
    const gw = lab.gateways[0];
    const mg = lab.maglevs[0];
    const inst = (h: { mgmt: { ipv4: string } }) => `${h.mgmt.ipv4}:9100`;
    const job = "node";
    const info = (h: (typeof lab.hosts)[number]) =>
      series(
        "maglev_host_info",
        { job, instance: inst(h), stack: "lab", host: h.hostname, role: h.tier },
        "1+0x20",
      );
    const gone = lab.maglevs[1];
    const svc = ipvsServices(lab)[0];
    const haproxy = svc.group.kind === "haproxy";
    const input = [
      ...lab.hosts.filter((h) => h.name !== "mlb02").map(info),
      // mgw01 loses maglev02 at minute 5: BGP, BFD and one next hop.
      ...gatewayNeighbors(lab).map((n) =>
        series(
          "maglev_bgp_neighbor_up",
          { job, instance: inst(gw), neighbor: n.address, name: n.name, role: n.role },
          n.address === gone.mgmt.ipv4 ? "1x5 0x15" : "1+0x20",
        ),
      ),
      ...lab.maglevs.map((m) =>
        series(
          "maglev_bfd_peer_up",
          { job, instance: inst(gw), peer: m.mgmt.ipv4, name: m.hostname },
          m === gone ? "1x5 0x15" : "1+0x20",
        ),
      ),
      series(
        "maglev_vip_nexthops",
        { job, instance: inst(gw), vip: lab.vips.ipv4[0], family: "ipv4" },
        `${lab.maglevs.length}x5 ${lab.maglevs.length - 1}x15`,
      ),
      // maglev01: one real server of the first service fails its check at minute 5.
      series(
        "maglev_ipvs_service_healthy_real_servers",
        {
          job,
          instance: inst(mg),
          fwmark: String(svc.fwmark.fwmark),
          family: svc.family,
          group: svc.group.name,
        },
        `${svc.realServers.length}x5 ${svc.realServers.length - 1}x15`,
      ),
      series(
        "maglev_ipvs_real_server_weight",
        {
          job,
          instance: inst(mg),
          fwmark: String(svc.fwmark.fwmark),
          family: svc.family,
          group: svc.group.name,
          server: svc.realServers[0].address,
          host: svc.realServers[0].host.hostname,
        },
        "1x5 0x15",
      ),
      // maglev01 withdraws a VIP while not drained; maglev02 withdraws while drained (no alert).
      series(
        "maglev_vip_announced",
        { job, instance: inst(mg), vip: lab.vips.ipv4[0], family: "ipv4" },
        "1x5 0x15",
      ),
      series("maglev_drained", { job, instance: inst(mg) }, "0+0x20"),
      series(
        "maglev_vip_announced",
        { job, instance: inst(gone), vip: lab.vips.ipv4[0], family: "ipv4" },
        "0+0x20",
      ),
      series("maglev_drained", { job, instance: inst(gone) }, "1+0x20"),
    ];
    const at = (m: number, alertname: string, alerts: { labels: Record<string, string> }[]) => ({
      eval_time: `${m}m`,
      alertname,
      exp_alerts: alerts.map((a) => ({ exp_labels: a.labels })),
    });
    const gl = { job, instance: inst(gw), stack: "lab" };
    const ml = { job, instance: inst(mg), stack: "lab" };
    const alerts = [
      at(4, "MaglevBgpNeighborsDown", []),
      at(10, "MaglevBgpNeighborsDown", [
        { labels: { instance: inst(gw), host: gw.hostname, severity: "critical", stack: "lab" } },
      ]),
      at(10, "MaglevBfdPeerDown", [
        { labels: { ...gl, peer: gone.mgmt.ipv4, name: gone.hostname, severity: "critical" } },
      ]),
      at(10, "MaglevEcmpPathsMissing", [
        {
          labels: {
            ...gl,
            vip: lab.vips.ipv4[0],
            family: "ipv4",
            severity: lab.maglevs.length > 1 ? "warning" : "critical",
          },
        },
      ]),
      at(10, "MaglevIpvsBackendsMissing", [
        {
          labels: {
            ...ml,
            fwmark: String(svc.fwmark.fwmark),
            family: svc.family,
            group: svc.group.name,
            severity: "warning",
          },
        },
      ]),
      ...(haproxy
        ? [
            at(10, "MaglevHaproxyHealthFailing", [
              {
                labels: {
                  ...ml,
                  fwmark: String(svc.fwmark.fwmark),
                  family: svc.family,
                  group: svc.group.name,
                  server: svc.realServers[0].address,
                  host: svc.realServers[0].host.hostname,
                  severity: "warning",
                },
              },
            ]),
          ]
        : []),
      at(10, "MaglevVipWithdrawn", [
        { labels: { ...ml, vip: lab.vips.ipv4[0], family: "ipv4", severity: "warning" } },
      ]),
      at(10, "MaglevMetricsMissing", [
        { labels: { stack: "lab", host: lab.byName.get("mlb02")!.hostname, severity: "warning" } },
      ]),
    ];
    fs.writeFileSync(
      path.join(dir, "lab-test.yml"),
      YAML.stringify({
        rule_files: ["lab-rules.yml"],
        evaluation_interval: "1m",
        tests: [{ interval: "1m", input_series: input, alert_rule_test: alerts }],
      }),
    );
    expect(promtool(["test", "rules", "lab-test.yml"])).toEqual({
      status: 0,
      out: expect.stringContaining("SUCCESS"),
    });
  });

  test("GIVEN one HAProxy node drained with hactl and another down WHEN promtool test rules runs THEN MaglevHaproxyHealthFailing fires for the down one only", () => {
    // GIVEN: from minute 5 every maglev has weight 0 for both nodes' real servers of the first
    // haproxy service: the first node exports itself drained (hactl drain at minute 4), the
    // second is powered off at minute 5 (its metrics vanish with it).
    const doc = YAML.parse(alertRules(lab));
    doc.groups[0].rules = doc.groups[0].rules.filter(
      (r: any) => r.alert === "MaglevHaproxyHealthFailing",
    );
    for (const r of doc.groups[0].rules) delete r.annotations;
    fs.writeFileSync(path.join(dir, "drain-rules.yml"), YAML.stringify(doc));
    const svc = ipvsServices(lab).find((s) => s.group.kind === "haproxy")!;
    const [drained, down] = svc.realServers;
    expect(drained.host.hostname).not.toBe(down.host.hostname);
    const inst = (h: { mgmt: { ipv4: string } }) => `${h.mgmt.ipv4}:9100`;
    const job = "node";
    const info = (h: (typeof lab.hosts)[number], values: string) =>
      series(
        "maglev_host_info",
        { job, instance: inst(h), stack: "lab", host: h.hostname, role: h.tier },
        values,
      );
    const sl = { fwmark: String(svc.fwmark.fwmark), family: svc.family, group: svc.group.name };
    const input = [
      ...lab.maglevs.map((m) => info(m, "1+0x20")),
      info(drained.host, "1+0x20"),
      info(down.host, "1x5 _x15"),
      series("maglev_haproxy_drained", { job, instance: inst(drained.host) }, "0x4 1x16"),
      series("maglev_haproxy_drained", { job, instance: inst(down.host) }, "0x5 _x15"),
      ...lab.maglevs.flatMap((m) =>
        [drained, down].map((r) =>
          series(
            "maglev_ipvs_real_server_weight",
            { job, instance: inst(m), ...sl, server: r.address, host: r.host.hostname },
            "1x5 0x15",
          ),
        ),
      ),
    ];
    const firing = (r: typeof down) =>
      lab.maglevs.map((m) => ({
        exp_labels: {
          job,
          instance: inst(m),
          stack: "lab",
          severity: "warning",
          ...sl,
          server: r.address,
          host: r.host.hostname,
        },
      }));
    // WHEN
    fs.writeFileSync(
      path.join(dir, "drain-test.yml"),
      YAML.stringify({
        rule_files: ["drain-rules.yml"],
        evaluation_interval: "1m",
        tests: [
          {
            interval: "1m",
            input_series: input,
            alert_rule_test: [
              { eval_time: "4m", alertname: "MaglevHaproxyHealthFailing", exp_alerts: [] },
              {
                eval_time: "10m",
                alertname: "MaglevHaproxyHealthFailing",
                exp_alerts: firing(down),
              },
            ],
          },
        ],
      }),
    );
    // THEN: drained → no alert, down → alert (from every maglev).
    expect(promtool(["test", "rules", "drain-test.yml"])).toEqual({
      status: 0,
      out: expect.stringContaining("SUCCESS"),
    });
  });

  test("GIVEN label values with quotes, backslashes, line breaks and `{{` WHEN written with the escapers THEN promtool reads the matcher back as the value", () => {
    const hostile = 'a"b\\c\nd{{ .x }}';
    const rule = {
      alert: "T",
      expr: `t{v=${promqlString(hostile)}} == 1`,
      labels: { severity: "x" },
    };
    fs.writeFileSync(
      path.join(dir, "hostile-rules.yml"),
      YAML.stringify({ groups: [{ name: "t", rules: [rule] }] }),
    );
    fs.writeFileSync(
      path.join(dir, "hostile-test.yml"),
      YAML.stringify({
        rule_files: ["hostile-rules.yml"],
        tests: [
          {
            interval: "1m",
            input_series: [series("t", { v: hostile }, "1x3"), series("t", { v: "other" }, "1x3")],
            alert_rule_test: [
              {
                eval_time: "1m",
                alertname: "T",
                exp_alerts: [{ exp_labels: { v: hostile, severity: "x" } }],
              },
            ],
          },
        ],
      }),
    );
    expect(promtool(["check", "rules", "hostile-rules.yml"])).toMatchObject({ status: 0 });
    expect(promtool(["test", "rules", "hostile-test.yml"])).toEqual({
      status: 0,
      out: expect.stringContaining("SUCCESS"),
    });
  });
});
