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
 * The k0s files (k0s.yaml, the httpbin manifest, the units) are rendered in src/daemons/k0s,
 * the nodes' own nftables table in src/daemons/nftables/k0s.ts; this file plans the hosts.
 *
 * Secrets and outputs produced on the controller (the Pulumi component fetches them):
 *   - worker join token: minted per worker on the controller (components/k0s.ts,
 *     scripts/host/k0s-join-token.sh) when the worker is created, changed or rebuilt, with no
 *     expiry: valid until that resource revokes it, so a worker applied late (a retried first
 *     apply) never gets an expired one from Pulumi's state. It reaches the worker as the secret
 *     K0S_JOIN_TOKEN_SECRET of the worker's own plan: the file K0S_WORKER_TOKEN_FILE (0600 root)
 *     is that placeholder alone, filled in on the host by the apply program like any secret.
 *   - admin kubeconfig: `k0s kubeconfig admin` on the controller (K0S_KUBECONFIG_COMMAND): it
 *     prints /var/lib/k0s/pki/admin.conf with the API address (mgmt IPv4) as server.
 */
import { Topology, HostFacts, groupsOf } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { header } from "../plan/header";
import { dsrMember } from "./l7-common";
import { installFirewall } from "./firewall";
import { shellWord } from "../escape";
import {
  INGRESS_HTTP_PORT,
  K0S_BIN,
  K0S_CONFIG,
  K0S_CONTROLLER_UNIT,
  K0S_KUBELET_CONF,
  K0S_MANIFESTS,
  K0S_WORKER_TOKEN_FILE,
  K0S_WORKER_UNIT,
  httpbinManifest,
  k0sControllerUnit,
  k0sDownloadUrl,
  k0sOf,
  k0sWorkerUnit,
  k0sYaml,
} from "../daemons/k0s/render";
import {
  K0S_CONFIG_VALIDATE,
  K0S_CONTROLLER_UNIT_VALIDATE,
  K0S_WORKER_UNIT_VALIDATE,
} from "../daemons/k0s/validate";
import { K0S_FIREWALL_TABLE, K0sFirewallSpec, k0sFirewallRules } from "../daemons/nftables/k0s";

/**
 * The secret key of a worker's join token. Not a stack config secret: the program fills it per
 * worker from that worker's `<worker>-join-token` (src/program: PROGRAM_SECRET_KEYS).
 */
export const K0S_JOIN_TOKEN_SECRET = "k0sJoinToken";
/**
 * The URN of a worker's join-token resource (components/k0s.ts: a child of the K0sWorker
 * component, itself a child of the stack), for the health gate's hint; a program test pins it
 * against the URN the program registers.
 */
export function k0sJoinTokenUrn(stack: string, worker: string): string {
  return `urn:pulumi:${stack}::maglev-infra::maglev-infra:k0s:K0sWorker$command:remote:Command::${worker}-join-token`;
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

function firewall(
  topo: Topology,
  h: HostFacts,
  b: PlanBuilder,
  opts: K0sFirewallSpec,
  before: string,
): void {
  installFirewall(topo, b, k0sFirewallRules(topo, h, opts), K0S_FIREWALL_TABLE, [before]);
}

export function planK0sController(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  installK0s(topo, h, b);
  b.package("curl");
  b.file({
    path: K0S_CONFIG,
    mode: "0600",
    content: k0sYaml(topo),
    validate: K0S_CONFIG_VALIDATE,
    activate: { kind: "restart", service: "k0scontroller" },
  });
  b.file({
    path: `/etc/systemd/system/${K0S_CONTROLLER_UNIT}`,
    content: k0sControllerUnit(topo, h),
    validate: K0S_CONTROLLER_UNIT_VALIDATE,
    activate: {
      kind: "command",
      command: `systemctl daemon-reload && systemctl try-restart ${K0S_CONTROLLER_UNIT}`,
    },
  });
  b.file({ path: `${K0S_MANIFESTS}/httpbin/httpbin.yaml`, content: httpbinManifest(topo) });
  // Control plane on mgmt only: SSH, kube-apiserver, konnectivity (agents dial in), k0s join API, node_exporter.
  firewall(
    topo,
    h,
    b,
    { mgmtTcp: [22, 6443, 8132, 9100, 9443], ingressTcp: [], calico: false },
    K0S_CONTROLLER_UNIT,
  );
  b.service("k0scontroller");
  b.health = {
    command: `${K0S_BIN} kubectl get --raw=/readyz`,
    timeoutSeconds: 300,
    description: `kube-apiserver on ${h.hostname} is ready`,
  };
}

export function planK0sWorker(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  const env = topo.env;
  const ingressGroups = groupsOf(topo, h).filter((g) => g.kind === "k0s-ingress");
  const edge = ingressGroups.length > 0;
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

  const groups = ingressGroups.map((g) => g.name);
  b.file({
    path: `/etc/systemd/system/${K0S_WORKER_UNIT}`,
    content: k0sWorkerUnit(topo, h, { edge, groups }),
    validate: K0S_WORKER_UNIT_VALIDATE,
    activate: {
      kind: "command",
      command: `systemctl daemon-reload && systemctl try-restart ${K0S_WORKER_UNIT}`,
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
              ...ingressGroups.map((g) => g.healthCheck.port ?? INGRESS_HTTP_PORT),
            ]),
          ].sort((a, b) => a - b)
        : [],
      calico: true,
    },
    K0S_WORKER_UNIT,
  );
  // The join token, filled in on the host from the worker's secrets (the program passes the
  // `<worker>-join-token` resource's stdout). k0s reads it only when it first joins, so a new
  // token (any change of the worker mints one) restarts nothing on a joined worker. A worker
  // that has not joined yet (no kubelet credentials) is restarted if it runs: a k0s stuck
  // retrying with a token that no longer works picks up the fresh one now, not at its next crash.
  b.file({
    path: K0S_WORKER_TOKEN_FILE,
    mode: "0600",
    owner: "root:root",
    content: `{{secret:${K0S_JOIN_TOKEN_SECRET}}}`,
    secretKeys: [K0S_JOIN_TOKEN_SECRET],
    secretSyntax: "line",
    activate: {
      kind: "command",
      command: `test -s ${K0S_KUBELET_CONF} || systemctl try-restart ${K0S_WORKER_UNIT}`,
    },
  });
  b.service("k0sworker");
  // A worker that never joined (no kubelet credentials yet) fails its gate with the way out.
  // Its join token does not expire (scripts/host/k0s-join-token.sh), so time is not the cause;
  // a token invalidated on the controller by hand (or minted by a controller since rebuilt) is,
  // and replacing its join-token resource mints a fresh one.
  const notJoined = `${h.hostname} has not joined the cluster (no ${K0S_KUBELET_CONF}). Its join token does not expire; if it was invalidated on the controller (or the controller was rebuilt), mint a fresh one: pulumi up --replace '${k0sJoinTokenUrn(env.name, h.name)}'`;
  b.health = {
    command: `curl -fsS -o /dev/null http://127.0.0.1:10248/healthz || { [ -s ${K0S_KUBELET_CONF} ] || echo ${shellWord(notJoined)}; exit 1; }`,
    timeoutSeconds: 300,
    description: `kubelet on ${h.hostname} is healthy`,
  };
}
