/**
 * A typed schema of the k0s ClusterConfig (k0s.k0sproject.io/v1beta1) fields this project
 * writes — strict, so a misspelt field fails at render time instead of being silently ignored
 * by k0s. Field names as in k0s v1.31 (`k0s config create`). The on-host checker is still
 * `k0s config validate`; this catches mistakes here, where k0s is not installed.
 */
import { z } from "zod";
import { cidr4, cidr6, ipAny } from "../../config/schema";

const duration = z
  .string()
  .regex(/^(\d+(ns|us|ms|s|m|h))+$/, "must be a Go duration like 30s or 1m0s");

export const calicoSchema = z.strictObject({
  /** `bird`: BGP routing without encapsulation — the only Calico mode that carries IPv6 pods. */
  mode: z.enum(["vxlan", "ipip", "bird"]),
  /** Encapsulation between nodes; k0s defaults to `Always` when the field is absent, so it is required here. */
  overlay: z.enum(["Always", "Never", "CrossSubnet"]),
  mtu: z.number().int().min(1280).max(9216),
  ipAutodetectionMethod: z
    .string()
    .regex(
      /^(first-found|can-reach=.+|interface=.+|skip-interface=.+|cidr=.+|kubernetes-internal-ip)$/,
    ),
  ipV6AutodetectionMethod: z
    .string()
    .regex(
      /^(first-found|can-reach=.+|interface=.+|skip-interface=.+|cidr=.+|kubernetes-internal-ip)$/,
    ),
  wireguard: z.boolean(),
});

export const kubeProxySchema = z.strictObject({
  disabled: z.boolean(),
  mode: z.enum(["iptables", "ipvs", "nftables", "userspace"]),
  ipvs: z
    .strictObject({
      scheduler: z.string().min(1),
      strictARP: z.boolean(),
      syncPeriod: duration.optional(),
      minSyncPeriod: duration.optional(),
    })
    .optional(),
  nodePortAddresses: z.array(z.string()).optional(),
});

export const helmChartSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
  /** `<repository name>/<chart>`. */
  chartname: z.string().regex(/^[a-z0-9-]+\/[a-z0-9-]+$/),
  version: z.string().min(1),
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
  order: z.number().int(),
  /** The chart's values, as a YAML string (k0s passes it to Helm unchanged). */
  values: z.string(),
});

export const clusterConfigSchema = z
  .strictObject({
    apiVersion: z.literal("k0s.k0sproject.io/v1beta1"),
    kind: z.literal("ClusterConfig"),
    metadata: z.strictObject({ name: z.string().min(1) }),
    spec: z.strictObject({
      api: z.strictObject({
        address: ipAny,
        port: z.number().int().min(1).max(65535),
        k0sApiPort: z.number().int().min(1).max(65535),
        sans: z.array(z.string().min(1)).min(1),
      }),
      storage: z.strictObject({
        type: z.enum(["etcd", "kine"]),
        etcd: z.strictObject({ peerAddress: ipAny }).optional(),
      }),
      network: z.strictObject({
        provider: z.enum(["calico", "kuberouter", "custom"]),
        podCIDR: cidr4,
        serviceCIDR: cidr4,
        clusterDomain: z.string().min(1),
        calico: calicoSchema,
        dualStack: z.strictObject({
          enabled: z.boolean(),
          IPv6podCIDR: cidr6,
          IPv6serviceCIDR: cidr6,
        }),
        kubeProxy: kubeProxySchema,
      }),
      konnectivity: z.strictObject({ agentPort: z.number().int(), adminPort: z.number().int() }),
      telemetry: z.strictObject({ enabled: z.boolean() }),
      extensions: z.strictObject({
        helm: z.strictObject({
          concurrencyLevel: z.number().int().min(1),
          repositories: z.array(
            z.strictObject({ name: z.string().regex(/^[a-z0-9-]+$/), url: z.string().url() }),
          ),
          charts: z.array(helmChartSchema),
        }),
      }),
    }),
  })
  .superRefine((c, ctx) => {
    const n = c.spec.network;
    // Calico cannot tunnel IPv6: dual-stack needs BGP (bird) mode (k0s docs, dual-stack).
    if (n.dualStack.enabled && n.provider === "calico" && n.calico.mode !== "bird")
      ctx.addIssue({
        code: "custom",
        path: ["spec", "network", "calico", "mode"],
        message: "dual-stack with Calico needs mode bird",
      });
    // The workers' firewall (k0s.ts firewallRules) accepts pod traffic on ingress0 only as
    // plain routed packets: IP-in-IP (protocol 4) and VXLAN (udp 4789) are dropped there.
    if (n.provider === "calico" && n.calico.overlay !== "Never")
      ctx.addIssue({
        code: "custom",
        path: ["spec", "network", "calico", "overlay"],
        message: `overlay ${n.calico.overlay} encapsulates pod traffic (${n.calico.mode === "vxlan" ? "VXLAN, udp 4789" : "IP-in-IP, protocol 4"}), which the workers' firewall drops on the ingress network: use overlay Never (pods routed by BIRD)`,
      });
    if (n.kubeProxy.mode !== "ipvs" && n.kubeProxy.ipvs)
      ctx.addIssue({
        code: "custom",
        path: ["spec", "network", "kubeProxy", "ipvs"],
        message: "ipvs settings without mode ipvs",
      });
    const repos = new Set(c.spec.extensions.helm.repositories.map((r) => r.name));
    c.spec.extensions.helm.charts.forEach((ch, i) => {
      if (!repos.has(ch.chartname.split("/")[0]))
        ctx.addIssue({
          code: "custom",
          path: ["spec", "extensions", "helm", "charts", i, "chartname"],
          message: `no repository named ${ch.chartname.split("/")[0]}`,
        });
    });
  });

export type ClusterConfig = z.infer<typeof clusterConfigSchema>;

/** Throws with every problem listed when `doc` is not a ClusterConfig as this project writes it. */
export function assertClusterConfig(doc: unknown, where: string): ClusterConfig {
  const r = clusterConfigSchema.safeParse(doc);
  if (!r.success) {
    throw new Error(
      `${where}: k0s.yaml does not match the ClusterConfig schema:\n` +
        r.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`).join("\n"),
    );
  }
  return r.data;
}

/** The Kubernetes objects of a manifest this project ships (k0s manifest deployer): each needs apiVersion, kind, metadata.name. */
export const k8sObjectSchema = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({ name: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/) }),
});
