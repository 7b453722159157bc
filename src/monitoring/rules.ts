/**
 * Prometheus alert rules for one environment, rendered from the stack: the seed's monitoring
 * table (BGP neighbours < 3, BFD peer down, ECMP paths < 2, IPVS backends < 3, HAProxy health
 * != 200) with every expected count derived from the topology (sessions per gateway, maglevs
 * per family, real servers per IPVS service), on the metrics scripts/host/maglev-metrics
 * writes. Plus: a host whose metrics vanished, a VIP withdrawn while its maglev is not drained,
 * files edited on a host.
 *
 * Not a host file: the stack has no Prometheus server (operators bring theirs). It is an output
 * of `npm run render` (`alert-rules.yml`, reviewed in the pull request with everything else and
 * checked by `promtool check rules` in `npm run validate`) and the stack output `alertRules`
 * (`pulumi stack output alertRules > /etc/prometheus/rules/maglev-<env>.yml`), as the DNS
 * records are for the DNS automation.
 *
 * Every stack value reaches the file through an escaper: label values in PromQL matchers
 * (promqlString), texts Prometheus expands as Go templates (goTemplateText), the whole YAML
 * document (yamlDocument).
 */
import { Topology } from "../topology";
import { goTemplateText, promqlString, re2Literal, yamlDocument } from "../escape";
import { header } from "../plan/header";
import { ipvsServices } from "../tiers/maglev";
import { expectedNextHops, gatewayNeighbors } from "./metrics";

/** The file name in the render folder. */
export const ALERT_RULES_FILE = "alert-rules.yml";

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: { summary: string; description: string };
}

const q = promqlString;

/** `host="a"` or `host=~"a|b"` for the hosts given. */
function oneOf(label: string, values: string[]): string {
  return values.length === 1
    ? `${label}=${q(values[0])}`
    : `${label}=~${q(values.map((v) => re2Literal(v)).join("|"))}`;
}

/** The rules, plain data (tests read them; `alertRules` writes them). */
export function alertRuleList(topo: Topology): AlertRule[] {
  const env = topo.env;
  // A stack value inside a text Prometheus expands as a Go template.
  const v = (s: string | number) => goTemplateText(String(s), "alert text");
  const stack = { stack: v(env.name) };
  const rules: AlertRule[] = [];
  // One Prometheus may watch several environments: every rule looks at this stack's hosts only.
  const ours = `maglev_host_info{stack=${q(env.name)}}`;
  const inStack = (expr: string) => `(${expr}) and on(instance) ${ours}`;

  // Every host: its metrics file is there and fresh. One `absent` per host (absent() takes the
  // host's label from the equality matcher), and node_exporter's own mtime of the file.
  const hostnames = topo.hosts.map((h) => h.hostname).sort();
  rules.push({
    alert: "MaglevMetricsMissing",
    expr: hostnames
      .map((h) => `absent(maglev_host_info{stack=${q(env.name)},host=${q(h)}})`)
      .join(" or "),
    for: "5m",
    labels: { severity: "warning", ...stack },
    annotations: {
      summary: `No maglev-infra metrics from {{ $labels.host }}`,
      description: `None of the ${hostnames.length} hosts of stack ${v(env.name)} may be missing: node_exporter or ${"maglev-infra-metrics.service"} is down, or the host is.`,
    },
  });
  rules.push({
    alert: "MaglevMetricsStale",
    expr: inStack(`time() - node_textfile_mtime_seconds{file=~".*maglev-infra\\\\.prom"} > 60`),
    for: "2m",
    labels: { severity: "warning", ...stack },
    annotations: {
      summary:
        "maglev-infra metrics of {{ $labels.instance }} are {{ $value | humanizeDuration }} old",
      description:
        "maglev-infra-metrics.service writes the file every few seconds; it is stuck or failing.",
    },
  });

  if (topo.gateways.length) {
    const gateways = topo.gateways.map((g) => g.hostname).sort();
    const onGateways = `* on(instance) group_left(host) maglev_host_info{stack=${q(env.name)},role="gateway",${oneOf("host", gateways)}}`;
    const neighbors = gatewayNeighbors(topo);
    rules.push({
      alert: "MaglevBgpNeighborsDown",
      expr: `sum by (instance) (maglev_bgp_neighbor_up) ${onGateways} < ${neighbors.length}`,
      for: "1m",
      labels: { severity: "critical", ...stack },
      annotations: {
        summary: `{{ $labels.host }}: {{ $value }} of ${neighbors.length} BGP sessions Established`,
        description: `Each gateway has ${neighbors.length} sessions: ${v(neighbors.map((n) => `${n.name} (${n.address})`).join(", "))}. maglev_bgp_neighbor_state says which is not Established.`,
      },
    });
    rules.push({
      alert: "MaglevBfdPeerDown",
      expr: inStack(`maglev_bfd_peer_up == 0`),
      for: "30s",
      labels: { severity: "critical", ...stack },
      annotations: {
        summary:
          "{{ $labels.instance }}: BFD session to {{ $labels.name }} ({{ $labels.peer }}) is not up",
        description:
          "The gateway notices this maglev's (or router's) failure only through the BGP hold time now.",
      },
    });
    for (const family of ["ipv4", "ipv6"] as const) {
      if (!topo.vips[family].length) continue;
      const want = expectedNextHops(topo, family);
      rules.push({
        alert: "MaglevEcmpPathsMissing",
        expr: inStack(`maglev_vip_nexthops{family="${family}"} < ${want}`),
        for: "1m",
        labels: { severity: want > 1 ? "warning" : "critical", ...stack, family },
        annotations: {
          summary: `{{ $labels.instance }}: VIP {{ $labels.vip }} has {{ $value }} of ${want} next hops`,
          description: `Every ${family === "ipv4" ? "IPv4" : "IPv6"} VIP should lead to ${want} maglevs. A drained maglev (maglev_drained 1) accounts for one.`,
        },
      });
    }
  }

  if (topo.maglevs.length) {
    for (const s of ipvsServices(topo)) {
      const want = s.realServers.length;
      const sel = `fwmark="${s.fwmark.fwmark}",family="${s.family}"`;
      rules.push({
        alert: "MaglevIpvsBackendsMissing",
        expr: inStack(`maglev_ipvs_service_healthy_real_servers{${sel}} < ${want}`),
        for: "1m",
        // The series' own labels, so the rules of the services differ (promtool: no duplicate rules).
        labels: {
          severity: "warning",
          ...stack,
          fwmark: String(s.fwmark.fwmark),
          family: s.family,
        },
        annotations: {
          summary: `{{ $labels.instance }}: {{ $value }} of ${want} real servers of fwmark ${s.fwmark.fwmark} (${s.family}, group ${v(s.group.name)}) healthy`,
          description: `Members: ${v(s.realServers.map((r) => r.host.hostname).join(", "))}. Below ${env.maglev.minHealthyRealServers} (maglev.minHealthyRealServers) the maglev withdraws the group's VIPs.`,
        },
      });
    }
    // The seed's "HAProxy health != 200": keepalived's check is exactly that request (the
    // health API, status 200), and a failing one sets the real server's weight to 0. So does a
    // planned `hactl drain` (the health API answers 503 on purpose): a node that exports itself
    // drained (maglev_haproxy_drained, matched to the real server by its hostname) is left
    // out; one that exports nothing (down, HAProxy stopped) is not.
    const haproxy = [...topo.groups.values()]
      .filter((g) => g.kind === "haproxy")
      .map((g) => g.name)
      .sort();
    const drainedNodes = `(maglev_haproxy_drained == 1) * on(instance) group_left(host) maglev_host_info{stack=${q(env.name)},role="haproxy"}`;
    if (haproxy.length)
      rules.push({
        alert: "MaglevHaproxyHealthFailing",
        expr: inStack(
          `maglev_ipvs_real_server_weight{${oneOf("group", haproxy)}} == 0 unless on(host) (${drainedNodes})`,
        ),
        for: "1m",
        labels: { severity: "warning", ...stack },
        annotations: {
          summary:
            "{{ $labels.host }}: HAProxy health check from {{ $labels.instance }} does not answer 200",
          description:
            "keepalived's HTTP check of the health API failed, so the real server has weight 0; not while the node is drained with hactl (maglev_haproxy_drained 1).",
        },
      });
    rules.push({
      alert: "MaglevVipWithdrawn",
      expr: inStack(`maglev_vip_announced == 0 unless on(instance) maglev_drained == 1`),
      for: "1m",
      labels: { severity: "warning", ...stack },
      annotations: {
        summary: "{{ $labels.instance }} withdraws VIP {{ $labels.vip }} while not drained",
        description:
          "maglev_vip_state says why (below_min_healthy, marks_missing, no_next_hop, not_on_interface).",
      },
    });
  }

  rules.push({
    alert: "MaglevFilesDrifted",
    expr: inStack(`maglev_apply_files_drifted > 0`),
    for: "10m",
    labels: { severity: "info", ...stack },
    annotations: {
      summary: "{{ $labels.instance }}: {{ $value }} files differ from what the apply wrote",
      description: `Edited on the host: \`npm run check -- ${v(env.name)} --diff --host <host>\` shows how; the next \`pulumi up\` puts them back.`,
    },
  });
  return rules;
}

/** The rule file (Prometheus 2 `groups:` format), one group named after the stack. */
export function alertRules(topo: Topology): string {
  const rules = alertRuleList(topo);
  return (
    header(
      topo.env.name,
      "#",
      "Prometheus alert rules on the metrics of scripts/host/maglev-metrics",
    ) + yamlDocument({ groups: [{ name: `maglev-infra-${topo.env.name}`, rules }] }, "alert rules")
  );
}
