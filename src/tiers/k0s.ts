/**
 * K0sController (k0s00) and K0sWorker (k0s01-06).
 *
 * k0s is not packaged: every k0s host downloads the pinned release (version + sha256 from the
 * stack). The controller runs the control plane only (no kubelet, no ingress0) and deploys,
 * from k0s.yaml: Calico in BIRD mode (BGP routing over ingress0, no encapsulation — the only
 * Calico mode that carries IPv6 pods), kube-proxy in IPVS mode, dual-stack pod and service
 * networks, and the HAProxy ingress controller (Helm extension) as a hostNetwork DaemonSet on
 * the edge workers. The httpbin test application comes from k0s's manifest deployer.
 *
 * Edge workers are the members of k0s-ingress backend groups: they carry the group's VIPs on lo
 * (direct server return) and run the ingress DaemonSet (label + taint `maglev-infra/edge`).
 * Ordinary workers carry no VIP and run the applications.
 *
 * Secrets and outputs produced on the controller (the Pulumi component fetches them):
 *   - worker join token: minted per worker on the controller (components/k0s.ts,
 *     scripts/host/k0s-join-token.sh), valid 24 h. It reaches the worker as the secret
 *     K0S_JOIN_TOKEN_SECRET of the worker's own plan: the file K0S_WORKER_TOKEN_FILE (0600 root)
 *     is that placeholder alone, filled in on the host by the apply program like any secret.
 *   - admin kubeconfig: `k0s kubeconfig admin` on the controller (K0S_KUBECONFIG_COMMAND): it
 *     prints /var/lib/k0s/pki/admin.conf with the API address (mgmt IPv4) as server.
 */
import * as YAML from "yaml";
import { Topology, HostFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { header } from "../plan/header";
import { Environment } from "../config/schema";
import { dsrMember, groupsOf, ingressIf, mgmtIf, systemdVerify } from "./l7-common";
import { assertClusterConfig, ClusterConfig, k8sObjectSchema } from "./k0s-schema";
import { installFirewall } from "./firewall";
import { nftIdentifier, nftString, shellWord, systemdExecWord, yamlDocument } from "../escape";

export const K0S_BIN = "/usr/local/bin/k0s";
export const K0S_CONFIG = "/etc/k0s/k0s.yaml";
export const K0S_WORKER_TOKEN_FILE = "/etc/k0s/worker-token";
/**
 * The secret key of a worker's join token. Not a stack config secret: the program fills it per
 * worker from that worker's `<worker>-join-token` (src/program: PROGRAM_SECRET_KEYS).
 */
export const K0S_JOIN_TOKEN_SECRET = "k0sJoinToken";
/** Where a joined worker's kubelet keeps its client credentials (k0s: `<data dir>/kubelet.conf`). */
export const K0S_KUBELET_CONF = "/var/lib/k0s/kubelet.conf";
/**
 * The URN of a worker's join-token resource (components/k0s.ts: a child of the K0sWorker
 * component, itself a child of the stack), for the health gate's hint; a program test pins it
 * against the URN the program registers.
 */
export function k0sJoinTokenUrn(stack: string, worker: string): string {
  return `urn:pulumi:${stack}::maglev-infra::maglev-infra:k0s:K0sWorker$command:remote:Command::${worker}-join-token`;
}
export const K0S_KUBECONFIG_COMMAND = `${K0S_BIN} kubeconfig admin`;
export const K0S_ADMIN_KUBECONFIG = "/var/lib/k0s/pki/admin.conf";
export const K0S_MANIFESTS = "/var/lib/k0s/manifests";
/** Node label (and taint key) of edge workers. */
export const EDGE_LABEL = "maglev-infra/edge";
/** haproxy-ingress's healthz port: the controller's own status (200 even with no backend), kept for the kubelet. */
export const INGRESS_HEALTHZ_PORT = 10253;
/** The ingress's HTTP port on every edge worker (hostNetwork): VIP traffic and keepalived's check. */
export const INGRESS_HTTP_PORT = 80;
/**
 * What keepalived asks every edge worker (HTTP GET on its ingress address, port 80): an Ingress
 * rule of its own, routed by the ingress to the application's Service (httpbin `/status/200`).
 * It answers 200 only while this node's ingress reaches a ready endpoint over the pod network;
 * no endpoint, or none reachable (Calico down, pod traffic dropped), is a 503 or a timeout, and
 * the member gets weight 0 — unlike /healthz on 10253, which answers 200 with nothing behind it.
 */
export const INGRESS_HEALTH_PATH = "/maglev-infra/health";
/** The k0s nodes' own table (Calico keeps its own next to it): loaded like every tier's firewall. */
export const FIREWALL_TABLE = nftIdentifier("maglev_k0s");
/** Image of the httpbin test application (a small Go port of httpbin.org). */
export const HTTPBIN_IMAGE = "mccutchen/go-httpbin:v2.15.0";

/** The official release asset, as k0s's own installer (get.k0s.sh) fetches it. */
export function k0sDownloadUrl(version: string): string {
  return `https://github.com/k0sproject/k0s/releases/download/${version}/k0s-${version}-amd64`;
}

function k0sOf(topo: Topology, h: HostFacts): NonNullable<Environment["k0s"]> {
  const k = topo.env.k0s;
  if (!k) throw new Error(`${h.hostname}: k0s host but the stack has no k0s section`);
  return k;
}

function installK0s(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  const k = k0sOf(topo, h);
  b.download({
    name: "k0s",
    url: k0sDownloadUrl(k.version),
    sha256: k.sha256,
    path: K0S_BIN,
    mode: "0755",
  });
}

/** The (first) controller: API address of the cluster. */
function controllerOf(topo: Topology): HostFacts {
  const c = topo.hosts.find((x) => x.role === "k0s-controller");
  if (!c) throw new Error("k0s workers need a k0s-controller host in the stack");
  return c;
}

function isEdge(topo: Topology, h: HostFacts): boolean {
  return groupsOf(topo, h).some((g) => g.kind === "k0s-ingress");
}

/** Values of the haproxy-ingress chart: a hostNetwork DaemonSet on the edge workers only. */
export function ingressValues(): string {
  const values = {
    controller: {
      kind: "DaemonSet",
      // hostNetwork: HAProxy listens on the node itself, so it answers on the VIPs on lo
      // (direct server return) — no Service, no NodePort, no kube-proxy hop.
      hostNetwork: true,
      dnsPolicy: "ClusterFirstWithHostNet",
      ingressClass: "haproxy",
      ingressClassResource: { enabled: true, default: true },
      healthzPort: INGRESS_HEALTHZ_PORT,
      nodeSelector: { [EDGE_LABEL]: "true" },
      tolerations: [{ key: EDGE_LABEL, operator: "Exists", effect: "NoSchedule" }],
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
      service: { type: "ClusterIP" },
      config: {
        // The controller's own status (liveness); keepalived checks INGRESS_HEALTH_PATH on port 80.
        "healthz-port": String(INGRESS_HEALTHZ_PORT),
        // "::" (not the default "*") binds IPv4 and IPv6, so the IPv6 VIPs are served too.
        "bind-ip-addr-http": "::",
        "bind-ip-addr-healthz": "::",
      },
      stats: { enabled: true },
      metrics: { enabled: true, embedded: true },
    },
  };
  return yamlDocument(values, "haproxy-ingress values");
}

export function clusterConfig(topo: Topology): ClusterConfig {
  const env = topo.env;
  const c = controllerOf(topo);
  const k = k0sOf(topo, c);
  const ing = ingressIf(topo);
  const doc: ClusterConfig = {
    apiVersion: "k0s.k0sproject.io/v1beta1",
    kind: "ClusterConfig",
    metadata: { name: env.name },
    spec: {
      api: {
        // The control plane lives on mgmt: workers, kubectl and Pulumi reach it there.
        address: c.mgmt.ipv4,
        port: 6443,
        k0sApiPort: 9443,
        sans: [c.mgmt.ipv4, c.mgmt.ipv6, c.hostname, `${c.hostname}.${env.dns.zone}`],
      },
      storage: { type: "etcd", etcd: { peerAddress: c.mgmt.ipv4 } },
      network: {
        provider: "calico",
        podCIDR: k.podCidr4,
        serviceCIDR: k.serviceCidr4,
        clusterDomain: "cluster.local",
        calico: {
          mode: "bird",
          // k0s's default overlay is Always (pkg/apis/k0s/v1beta1 DefaultCalico), which in bird
          // mode is IP-in-IP for IPv4 pods — protocol 4 that the workers' firewall drops on
          // ingress0 (and IPv6 pods are never encapsulated). The workers share the ingress L2:
          // BIRD routes the pods directly, so no encapsulation and the ingress network's MTU.
          overlay: "Never",
          mtu: env.networks.ingress.mtu,
          // BGP peering and pod routes over ingress0. The edge workers' VIPs are on lo, which
          // this method never looks at.
          ipAutodetectionMethod: `interface=${ing}`,
          ipV6AutodetectionMethod: `interface=${ing}`,
          wireguard: false,
        },
        dualStack: { enabled: true, IPv6podCIDR: k.podCidr6, IPv6serviceCIDR: k.serviceCidr6 },
        kubeProxy: {
          disabled: false,
          mode: "ipvs",
          // strictARP sets arp_ignore=1/arp_announce=2, as direct server return needs anyway.
          ipvs: { scheduler: "rr", strictARP: true },
        },
      },
      konnectivity: { agentPort: 8132, adminPort: 8133 },
      telemetry: { enabled: false },
      extensions: {
        helm: {
          concurrencyLevel: 5,
          repositories: [
            { name: "haproxy-ingress", url: "https://haproxy-ingress.github.io/charts" },
          ],
          charts: [
            {
              name: "haproxy-ingress",
              chartname: "haproxy-ingress/haproxy-ingress",
              version: k.ingressChartVersion,
              namespace: "ingress-haproxy",
              order: 1,
              values: ingressValues(),
            },
          ],
        },
      },
    },
  };
  return assertClusterConfig(doc, c.hostname);
}

export function k0sYaml(topo: Topology): string {
  const text =
    header(topo.env.name, "#", "k0s ClusterConfig") +
    "# Checked at render time against a typed schema (src/tiers/k0s-schema.ts), on the host with\n" +
    "# `k0s config validate`. Changing it restarts k0scontroller; Helm extensions reconcile.\n" +
    yamlDocument(clusterConfig(topo), "k0s.yaml");
  // Round trip: what the host reads is what the schema accepted.
  assertClusterConfig(YAML.parse(text), "k0s.yaml");
  return text;
}

/** httpbin with a Service and an Ingress: the seed's test application behind the k0s VIPs. */
export function httpbinManifest(topo: Topology): string {
  const ns = "httpbin";
  const labels = { "app.kubernetes.io/name": "httpbin" };
  const docs = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "httpbin", namespace: ns, labels },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            // Runs on ordinary workers: the edge taint keeps applications off the VIP nodes.
            containers: [
              {
                name: "httpbin",
                image: HTTPBIN_IMAGE,
                ports: [{ name: "http", containerPort: 8080 }],
                readinessProbe: { httpGet: { path: "/status/200", port: "http" } },
                resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "64Mi" } },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "httpbin", namespace: ns, labels },
      spec: {
        ipFamilyPolicy: "PreferDualStack",
        selector: labels,
        ports: [{ name: "http", port: 80, targetPort: "http" }],
      },
    },
    {
      // The maglevs' real-server check (INGRESS_HEALTH_PATH): through this node's ingress to a
      // ready httpbin endpoint; `/status/200` answers 200 and nothing else.
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: {
        name: "maglev-infra-health",
        namespace: ns,
        annotations: { "haproxy-ingress.github.io/rewrite-target": "/status/200" },
      },
      spec: {
        ingressClassName: "haproxy",
        rules: [
          {
            http: {
              paths: [
                {
                  path: INGRESS_HEALTH_PATH,
                  pathType: "Exact",
                  backend: { service: { name: "httpbin", port: { name: "http" } } },
                },
              ],
            },
          },
        ],
      },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name: "httpbin", namespace: ns },
      spec: {
        ingressClassName: "haproxy",
        rules: [
          {
            http: {
              paths: [
                {
                  path: "/",
                  pathType: "Prefix",
                  backend: { service: { name: "httpbin", port: { name: "http" } } },
                },
              ],
            },
          },
        ],
      },
    },
  ];
  const text =
    header(topo.env.name, "#", "httpbin test application (k0s manifest deployer)") +
    docs.map((d) => yamlDocument(d, "httpbin manifest")).join("---\n");
  for (const d of YAML.parseAllDocuments(text)) {
    const r = k8sObjectSchema.safeParse(d.toJSON());
    if (!r.success)
      throw new Error(
        `httpbin manifest: ${r.error.issues.map((i) => i.path.join(".") + ": " + i.message).join("; ")}`,
      );
  }
  return text;
}

/** A unit shaped like the one `k0s install` writes, so `k0s status` and the docs apply unchanged. */
function k0sUnit(
  topo: Topology,
  what: string,
  execStart: string,
  extraUnit: string[] = [],
): string {
  return (
    header(topo.env.name, "#", what) +
    [
      "[Unit]",
      "Description=k0s - Zero Friction Kubernetes",
      "Documentation=https://docs.k0sproject.io",
      `ConditionFileIsExecutable=${K0S_BIN}`,
      ...extraUnit,
      "After=network-online.target maglev-firewall.service",
      "Wants=network-online.target",
      "",
      "[Service]",
      `ExecStart=${execStart}`,
      "Restart=always",
      "RestartSec=10",
      // k0s supervises containerd and the kubelet: delegate cgroups, never kill them with it.
      "Delegate=yes",
      "KillMode=process",
      "LimitCORE=infinity",
      "LimitNOFILE=999999",
      "TasksMax=infinity",
      "TimeoutStartSec=0",
      "",
      "[Install]",
      "WantedBy=multi-user.target",
      "",
    ].join("\n")
  );
}

/** Own nftables table: accept policy (Calico and kube-proxy keep their own tables and chains), drops only what an interface must not receive. */
export function firewallRules(
  topo: Topology,
  h: HostFacts,
  opts: { mgmtTcp: number[]; ingressTcp: number[]; calico: boolean },
): string {
  const n = topo.env.networks;
  const k = topo.env.k0s;
  const ing = ingressIf(topo);
  const mg = mgmtIf(topo);
  const set = (ports: number[]) =>
    ports.length === 1 ? String(ports[0]) : `{ ${ports.join(", ")} }`;
  const L: string[] = [
    "#!/usr/sbin/nft -f",
    header(topo.env.name, "#", `firewall of ${h.hostname}`).trimEnd(),
    "# Replaces only its own table (no `flush ruleset`: Calico's and kube-proxy's rules stay).",
    "# Base chains on the same hook all see a packet; an accept here does not bypass theirs.",
    `table inet ${FIREWALL_TABLE}`,
    `delete table inet ${FIREWALL_TABLE}`,
    "",
    `table inet ${FIREWALL_TABLE} {`,
    "\tchain input {",
    "\t\ttype filter hook input priority filter + 10; policy accept;",
    "\t\tct state established,related accept",
    '\t\tiifname "lo" accept',
    "\t\tmeta l4proto { icmp, ipv6-icmp } accept",
  ];
  if (opts.calico)
    L.push(
      "\t\t# Pods reaching their node: Calico polices workload interfaces itself.",
      '\t\tiifname "cali*" accept',
    );
  if (h.ingress)
    L.push(
      `\t\tiifname ${nftString(ing, "networks.ingress.interface", { ifname: true })} jump from_ingress`,
    );
  L.push(
    `\t\tiifname ${nftString(mg, "networks.mgmt.interface", { ifname: true })} jump from_mgmt`,
    "\t}",
    "",
  );
  if (h.ingress) {
    L.push("\tchain from_ingress {");
    if (opts.calico && k) {
      L.push(
        "\t\t# Pod traffic from other nodes (BIRD routes pods over ingress0, no encapsulation).",
        `\t\tip saddr ${k.podCidr4} accept`,
        `\t\tip6 saddr ${k.podCidr6} accept`,
        "\t\t# Calico BIRD: BGP full mesh between the workers' ingress0 addresses.",
        `\t\tip saddr ${n.ingress.ipv4} tcp dport 179 accept`,
        `\t\tip6 saddr ${n.ingress.ipv6} tcp dport 179 accept`,
      );
    }
    if (opts.ingressTcp.length)
      L.push(
        "\t\t# VIP traffic from the maglevs (direct routing) and keepalived's check.",
        `\t\ttcp dport ${set(opts.ingressTcp)} accept`,
      );
    L.push("\t\tcounter drop", "\t}", "");
  }
  L.push(
    "\tchain from_mgmt {",
    `\t\ttcp dport ${set(opts.mgmtTcp)} accept`,
    "\t\tcounter drop",
    "\t}",
    "",
    "\t# Forwarding belongs to Calico and kube-proxy.",
    "\tchain forward {",
    "\t\ttype filter hook forward priority filter + 10; policy accept;",
    "\t}",
    "}",
    "",
  );
  return L.join("\n");
}

function firewall(
  topo: Topology,
  h: HostFacts,
  b: PlanBuilder,
  opts: { mgmtTcp: number[]; ingressTcp: number[]; calico: boolean },
  before: string,
): void {
  installFirewall(topo, b, firewallRules(topo, h, opts), FIREWALL_TABLE, [before]);
}

export function planK0sController(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  const env = topo.env;
  installK0s(topo, h, b);
  b.package("curl");
  b.file({
    path: K0S_CONFIG,
    mode: "0600",
    content: k0sYaml(topo),
    validate: {
      checker: "k0s",
      command: `${K0S_BIN} config validate --config {file}`,
      // k0s is not in Debian: offline, the typed ClusterConfig schema checks the same file.
      offline: { checker: "k0s-schema", command: "tsx src/cli/check-k0s-config.ts {file}" },
    },
    activate: { kind: "restart", service: "k0scontroller" },
  });
  b.file({
    path: "/etc/systemd/system/k0scontroller.service",
    content: k0sUnit(
      topo,
      `k0s controller of ${h.hostname}`,
      `${K0S_BIN} controller --config=${K0S_CONFIG}`,
    ),
    validate: systemdVerify("k0scontroller.service", [K0S_BIN]),
    activate: {
      kind: "command",
      command: "systemctl daemon-reload && systemctl try-restart k0scontroller.service",
    },
  });
  b.file({ path: `${K0S_MANIFESTS}/httpbin/httpbin.yaml`, content: httpbinManifest(topo) });
  // Control plane on mgmt only: SSH, kube-apiserver, konnectivity (agents dial in), k0s join API, node_exporter.
  firewall(
    topo,
    h,
    b,
    { mgmtTcp: [22, 6443, 8132, 9100, 9443], ingressTcp: [], calico: false },
    "k0scontroller.service",
  );
  b.service("k0scontroller");
  b.health = {
    command: `${K0S_BIN} kubectl get --raw=/readyz`,
    timeoutSeconds: 300,
    description: `kube-apiserver on ${h.hostname} is ready`,
  };
  void env;
}

export function planK0sWorker(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  const env = topo.env;
  const edge = isEdge(topo, h);
  installK0s(topo, h, b);
  b.package("curl", "ipvsadm");
  if (edge) dsrMember(topo, h, b, "lo");
  // Pods and Services are routed by the node.
  b.sysctl("net.ipv4.ip_forward", 1);
  b.sysctl("net.ipv6.conf.all.forwarding", 1);
  // kube-proxy (IPVS mode) runs in a container and cannot load modules itself.
  const modules = ["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"];
  b.file({
    path: "/etc/modules-load.d/k0s-ipvs.conf",
    content:
      header(env.name, "#", "kernel modules kube-proxy's IPVS mode needs") +
      modules.join("\n") +
      "\n",
    activate: { kind: "command", command: `modprobe -a ${modules.join(" ")}` },
  });

  const groups = groupsOf(topo, h)
    .filter((g) => g.kind === "k0s-ingress")
    .map((g) => g.name);
  const labels = [`${EDGE_LABEL}=${edge}`, ...groups.map((g) => `maglev-infra/backend-group=${g}`)];
  const args = [
    K0S_BIN,
    "worker",
    `--token-file=${K0S_WORKER_TOKEN_FILE}`,
    // Labels and taints apply when the node registers (kubelet); changing them later needs kubectl.
    `--labels=${labels.join(",")}`,
    ...(edge ? [`--taints=${EDGE_LABEL}=true:NoSchedule`] : []),
    // Node addresses on mgmt (API, kubelet); Calico routes pods over ingress0 on its own.
    `--kubelet-extra-args=--node-ip=${h.mgmt.ipv4},${h.mgmt.ipv6}`,
  ];
  b.file({
    path: "/etc/systemd/system/k0sworker.service",
    content: k0sUnit(
      topo,
      `k0s worker of ${h.hostname}${edge ? " (edge: VIPs on lo, ingress DaemonSet)" : ""}`,
      args.map((a) => systemdExecWord(a, `k0s worker argument of ${h.name}`)).join(" "),
      [
        // The join token (a secret from the controller), a file of this plan, mode 0600.
        `ConditionFileNotEmpty=${K0S_WORKER_TOKEN_FILE}`,
      ],
    ),
    validate: systemdVerify("k0sworker.service", [K0S_BIN]),
    activate: {
      kind: "command",
      command: "systemctl daemon-reload && systemctl try-restart k0sworker.service",
    },
  });
  firewall(
    topo,
    h,
    b,
    {
      // SSH, kubelet, node_exporter; edge: haproxy-ingress metrics (9101) and controller metrics (10254).
      mgmtTcp: edge ? [22, 9100, 9101, 10250, 10254] : [22, 9100, 10250],
      // keepalived's check is HTTP on 80 unless a group sets healthCheck.port.
      ingressTcp: edge
        ? [
            ...new Set([
              INGRESS_HTTP_PORT,
              443,
              ...groupsOf(topo, h)
                .filter((g) => g.kind === "k0s-ingress")
                .map((g) => g.healthCheck.port ?? INGRESS_HTTP_PORT),
            ]),
          ].sort((a, b) => a - b)
        : [],
      calico: true,
    },
    "k0sworker.service",
  );
  // The join token, filled in on the host from the worker's secrets (the program passes the
  // `<worker>-join-token` resource's stdout). k0s reads it only when it first joins, so a new
  // token (any change of the worker mints one) restarts nothing on a joined worker. A worker
  // that has not joined yet (no kubelet credentials) is restarted if it runs: a k0s stuck
  // retrying with an expired token picks up the fresh one now, not at its next crash.
  b.file({
    path: K0S_WORKER_TOKEN_FILE,
    mode: "0600",
    owner: "root:root",
    content: `{{secret:${K0S_JOIN_TOKEN_SECRET}}}`,
    secretKeys: [K0S_JOIN_TOKEN_SECRET],
    secretSyntax: "line",
    activate: {
      kind: "command",
      command: `test -s ${K0S_KUBELET_CONF} || systemctl try-restart k0sworker.service`,
    },
  });
  b.service("k0sworker");
  // A worker that never joined (no kubelet credentials yet) fails its gate with the way out:
  // its join token lasts 24 h (scripts/host/k0s-join-token.sh), so a first apply retried a day
  // later needs a fresh one, which replacing its join-token resource mints.
  const notJoined = `${h.hostname} has not joined the cluster (no ${K0S_KUBELET_CONF}). Its join token is valid for 24 h after it was minted; if that has passed, mint a fresh one: pulumi up --replace '${k0sJoinTokenUrn(env.name, h.name)}'`;
  b.health = {
    command: `curl -fsS -o /dev/null http://127.0.0.1:10248/healthz || { [ -s ${K0S_KUBELET_CONF} ] || echo ${shellWord(notJoined)}; exit 1; }`,
    timeoutSeconds: 300,
    description: `kubelet on ${h.hostname} is healthy`,
  };
}
