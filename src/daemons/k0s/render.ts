/**
 * k0s on the controller and the workers: the ClusterConfig (k0s.yaml: Calico in BIRD mode over
 * ingress0, kube-proxy IPVS, dual stack, the haproxy-ingress Helm extension), the httpbin test
 * application for k0s's manifest deployer, and the k0scontroller / k0sworker units shaped like
 * the ones `k0s install` writes. k0s's YAML is typed (./schema.ts) and checked at render time;
 * values through yamlDocument / systemdExecWord.
 */
import * as YAML from "yaml";
import { Topology, HostFacts } from "../../topology";
import { header } from "../../plan/header";
import { Environment } from "../../config/schema";
import { systemdExecWord, yamlDocument } from "../../escape";
import { assertClusterConfig, ClusterConfig, k8sObjectSchema } from "./schema";

export const K0S_BIN = "/usr/local/bin/k0s";
export const K0S_CONFIG = "/etc/k0s/k0s.yaml";
export const K0S_CONTROLLER_UNIT = "k0scontroller.service";
export const K0S_WORKER_UNIT = "k0sworker.service";
export const K0S_WORKER_TOKEN_FILE = "/etc/k0s/worker-token";
/** Where a joined worker's kubelet keeps its client credentials (k0s: `<data dir>/kubelet.conf`). */
export const K0S_KUBELET_CONF = "/var/lib/k0s/kubelet.conf";
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
/** Image of the httpbin test application (a small Go port of httpbin.org). */
export const HTTPBIN_IMAGE = "mccutchen/go-httpbin:v2.15.0";

/** The official release asset, as k0s's own installer (get.k0s.sh) fetches it. */
export function k0sDownloadUrl(version: string): string {
  return `https://github.com/k0sproject/k0s/releases/download/${version}/k0s-${version}-amd64`;
}

/** The stack's k0s section (release, networks, chart), required on every k0s host. */
export function k0sOf(topo: Topology, h: HostFacts): NonNullable<Environment["k0s"]> {
  const k = topo.env.k0s;
  if (!k) throw new Error(`${h.hostname}: k0s host but the stack has no k0s section`);
  return k;
}

/** The (first) controller: API address of the cluster. */
function controllerOf(topo: Topology): HostFacts {
  const c = topo.hosts.find((x) => x.tier === "k0s-controller");
  if (!c) throw new Error("k0s workers need a k0s-controller host in the stack");
  return c;
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
  const ing = topo.interfaces.ingress;
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
    "# Checked at render time against a typed schema (src/daemons/k0s/schema.ts), on the host with\n" +
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

/** The controller's unit: the control plane only (no kubelet), from K0S_CONFIG. */
export function k0sControllerUnit(topo: Topology, h: HostFacts): string {
  return k0sUnit(
    topo,
    `k0s controller of ${h.hostname}`,
    `${K0S_BIN} controller --config=${K0S_CONFIG}`,
  );
}

/**
 * A worker's unit. `edge`: a member of a k0s-ingress group (label and taint EDGE_LABEL: the
 * ingress DaemonSet runs there, applications do not); `groups`: its k0s-ingress groups, as labels.
 */
export function k0sWorkerUnit(
  topo: Topology,
  h: HostFacts,
  opts: { edge: boolean; groups: string[] },
): string {
  const { edge, groups } = opts;
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
  return k0sUnit(
    topo,
    `k0s worker of ${h.hostname}${edge ? " (edge: VIPs on lo, ingress DaemonSet)" : ""}`,
    args.map((a) => systemdExecWord(a, `k0s worker argument of ${h.name}`)).join(" "),
    [
      // The join token (a secret from the controller), a file of this plan, mode 0600.
      `ConditionFileNotEmpty=${K0S_WORKER_TOKEN_FILE}`,
    ],
  );
}
