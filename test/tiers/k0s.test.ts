import * as YAML from "yaml";
import { K0S_CONFIG, k0sDownloadUrl } from "../../src/daemons/k0s/render";
import { FIREWALL_FILE } from "../../src/tiers/firewall";
import { clusterConfigSchema } from "../../src/daemons/k0s/schema";
import { mgmt02Raw } from "../helpers";
import { compareGolden } from "./golden-util";
import { check, failingFiles, file, installed, plan, topologyOf } from "./golden-util";

const topo = topologyOf();

describe("K0sController (mgmt02 k0s00)", () => {
  const p = plan("k0s00", topo);
  const f = file(p, K0S_CONFIG);
  const doc = YAML.parse(f.content);

  test("GIVEN the k0s section WHEN k0s00 is planned THEN k0s.yaml has Calico bird on ingress0, kube-proxy IPVS and dual-stack from the stack", () => {
    expect(doc.spec.network.provider).toBe("calico");
    expect(doc.spec.network.calico).toMatchObject({
      mode: "bird",
      ipAutodetectionMethod: "interface=ingress0",
      ipV6AutodetectionMethod: "interface=ingress0",
    });
    expect(doc.spec.network.kubeProxy).toMatchObject({ mode: "ipvs" });
    expect(doc.spec.network).toMatchObject({
      podCIDR: "10.244.0.0/16",
      serviceCIDR: "10.96.0.0/12",
    });
    expect(doc.spec.network.dualStack).toEqual({
      enabled: true,
      IPv6podCIDR: "fd00:10:244::/56",
      IPv6serviceCIDR: "fd00:10:96::/112",
    });
    expect(doc.spec.api.address).toBe("10.1.7.60");
  });

  test("THEN the HAProxy ingress controller is a hostNetwork DaemonSet on edge nodes with healthz on 10253", () => {
    const chart = doc.spec.extensions.helm.charts[0];
    expect(chart).toMatchObject({
      chartname: "haproxy-ingress/haproxy-ingress",
      version: "0.14.7",
    });
    const values = YAML.parse(chart.values);
    expect(values.controller).toMatchObject({
      kind: "DaemonSet",
      hostNetwork: true,
      healthzPort: 10253,
      nodeSelector: { "maglev-infra/edge": "true" },
    });
    expect(values.controller.tolerations).toEqual([
      { key: "maglev-infra/edge", operator: "Exists", effect: "NoSchedule" },
    ]);
  });

  test("THEN k0s.yaml matches the typed ClusterConfig schema, which rejects a misspelt field and dual-stack without bird", () => {
    expect(clusterConfigSchema.safeParse(doc).success).toBe(true);
    const typo = structuredClone(doc);
    typo.spec.network.kubeproxy = typo.spec.network.kubeProxy;
    delete typo.spec.network.kubeProxy;
    expect(clusterConfigSchema.safeParse(typo).success).toBe(false);
    const vxlan = structuredClone(doc);
    vxlan.spec.network.calico.mode = "vxlan";
    expect(clusterConfigSchema.safeParse(vxlan).success).toBe(false);
  });

  test("GIVEN the workers' firewall drops protocol 4 on ingress0 THEN k0s.yaml routes pods without encapsulation, and the schema rejects an overlay or a missing one (k0s's default is Always)", () => {
    expect(doc.spec.network.calico).toMatchObject({ mode: "bird", overlay: "Never", mtu: 1500 });
    const fw = file(plan("k0s01"), "/etc/maglev-infra/firewall.nft").content;
    expect(fw).not.toMatch(/ipip|l4proto 4|protocol 4|4789/);
    for (const overlay of ["Always", "CrossSubnet"]) {
      const bad = structuredClone(doc);
      bad.spec.network.calico.overlay = overlay;
      const r = clusterConfigSchema.safeParse(bad);
      expect(r.success).toBe(false);
      expect(r.error!.issues.map((i) => i.path.join("."))).toContain("spec.network.calico.overlay");
      expect(r.error!.issues.map((i) => i.message).join()).toMatch(
        /IP-in-IP, protocol 4.*firewall drops/,
      );
    }
    const missing = structuredClone(doc);
    delete missing.spec.network.calico.overlay;
    expect(clusterConfigSchema.safeParse(missing).success).toBe(false);
  });

  test("THEN the pinned k0s is downloaded with the stack's sha256, and the on-host checker is `k0s config validate`", () => {
    expect(p.downloads).toEqual([
      {
        name: "k0s",
        url: k0sDownloadUrl("v1.31.2+k0s.0"),
        sha256: "c18dd5a522e98fa943c75f009d0d634ed088bb27606865fb479a94b641512085",
        path: "/usr/local/bin/k0s",
        mode: "0755",
      },
    ]);
    expect(f.validate).toMatchObject({
      checker: "k0s",
      command: "/usr/local/bin/k0s config validate --config {file}",
    });
    // Offline (`npm run validate`), where k0s cannot be installed, the typed schema checks it.
    expect(f.validate!.offline).toEqual({
      checker: "k0s-schema",
      command: "tsx src/cli/check-k0s-config.ts {file}",
    });
  });

  test("THEN the httpbin test app has an Ingress of class haproxy", () => {
    const docs = YAML.parseAllDocuments(
      file(p, "/var/lib/k0s/manifests/httpbin/httpbin.yaml").content,
    ).map((d) => d.toJSON());
    expect(docs.map((d) => d.kind)).toEqual([
      "Namespace",
      "Deployment",
      "Service",
      "Ingress",
      "Ingress",
    ]);
    expect(docs[4].spec.ingressClassName).toBe("haproxy");
  });

  test("GIVEN the maglevs' check of the k0s group THEN its path is an Ingress of its own to a ready httpbin endpoint (/status/200), so no endpoint means no 200", () => {
    const docs = YAML.parseAllDocuments(
      file(p, "/var/lib/k0s/manifests/httpbin/httpbin.yaml").content,
    ).map((d) => d.toJSON());
    const health = docs.find(
      (d) => d.kind === "Ingress" && d.metadata.name === "maglev-infra-health",
    );
    expect(health.metadata.annotations).toEqual({
      "haproxy-ingress.github.io/rewrite-target": "/status/200",
    });
    expect(health.spec).toEqual({
      ingressClassName: "haproxy",
      rules: [
        {
          http: {
            paths: [
              {
                path: "/maglev-infra/health",
                pathType: "Exact",
                backend: { service: { name: "httpbin", port: { name: "http" } } },
              },
            ],
          },
        },
      ],
    });
    // httpbin's readiness probe is the same endpoint: the ingress only routes to pods that answer it.
    expect(docs[1].spec.template.spec.containers[0].readinessProbe).toEqual({
      httpGet: { path: "/status/200", port: "http" },
    });
  });

  test("THEN every file with a checker installed here passes it (k0s itself is not installed here)", async () => {
    expect(installed("k0s")).toBe(false);
    expect(await failingFiles(p)).toEqual([]);
  });

  test("THEN its files match the golden files", () =>
    expect(compareGolden("mgmt02", p)).toEqual([]));
});

describe("K0sWorker", () => {
  const edge = plan("k0s01", topo);
  const plain = plan("k0s04", topo);

  test("GIVEN k0s01 is a member of the k0s group WHEN planned THEN the group's VIPs are on lo, not on a vip dummy", () => {
    const lo = file(edge, "/etc/systemd/network/60-lo-vips.network").content;
    expect(lo).toContain("Name=lo");
    expect(lo).toContain("Address=10.1.7.16/32");
    expect(lo).toContain("Address=2a0a:7180:81:7::10/128");
    expect(lo).not.toContain("10.1.7.15");
    expect(lo).not.toContain("10.1.7.53");
    expect(edge.files.some((f) => f.path.includes("60-vip."))).toBe(false);
    expect(edge.sysctls.find((s) => s.key === "net.ipv4.conf.all.arp_ignore")?.value).toBe("1");
  });

  test("THEN it joins with the token file, labelled and tainted edge", () => {
    const unit = file(edge, "/etc/systemd/system/k0sworker.service").content;
    expect(unit).toContain("--token-file=/etc/k0s/worker-token");
    expect(unit).toContain("--labels=maglev-infra/edge=true,maglev-infra/backend-group=k0s");
    expect(unit).toContain("--taints=maglev-infra/edge=true:NoSchedule");
    expect(unit).toContain("ConditionFileNotEmpty=/etc/k0s/worker-token");
  });

  test("GIVEN k0s04 is in no group THEN it has no VIP, no DSR sysctls, no taint, and ingress0 opens BGP only", () => {
    expect(plain.files.some((f) => /60-(lo-)?vips?\./.test(f.path))).toBe(false);
    expect(plain.sysctls.map((s) => s.key)).toEqual([
      "net.ipv4.ip_forward",
      "net.ipv6.conf.all.forwarding",
    ]);
    expect(file(plain, "/etc/systemd/system/k0sworker.service").content).not.toContain("--taints");
    const fw = file(plain, FIREWALL_FILE).content;
    expect(fw).toContain("tcp dport 179 accept");
    expect(fw).not.toMatch(/dport \{ 80, 443/);
    // keepalived's check is HTTP on 80 now; the controller's own healthz (10253) stays local.
    expect(file(edge, FIREWALL_FILE).content).toContain("tcp dport { 80, 443 } accept");
  });

  test("THEN the firewall keeps Calico and kube-proxy working: own table, no flush ruleset, accept policies", () => {
    const fw = file(edge, FIREWALL_FILE).content;
    expect(fw).not.toMatch(/^\s*flush ruleset/m);
    expect(fw).toContain("type filter hook forward priority filter + 10; policy accept;");
    expect(fw).toContain('iifname "cali*" accept');
    expect(fw).toContain("ip saddr 10.244.0.0/16 accept");
  });

  test("THEN every file passes its checker; a broken nft file or unit fails", async () => {
    expect(await failingFiles(edge)).toEqual([]);
    expect(await failingFiles(plain)).toEqual([]);
    const fw = file(edge, FIREWALL_FILE);
    expect(
      (
        await check(
          edge.hostname,
          fw,
          fw.content.replace("tcp dport 179 accept", "tcp dport 179 acept"),
        )
      ).ok,
    ).toBe(false);
    const unit = file(edge, "/etc/systemd/system/k0sworker.service");
    const bad = await check(
      edge.hostname,
      unit,
      unit.content.replace("Restart=always", "Restart=sometimes"),
    );
    expect(bad.ok).toBe(false);
    expect(bad.message).toMatch(/restart/i);
  });

  test("THEN the files match the golden files", () => {
    expect(compareGolden("mgmt02", edge)).toEqual([]);
    expect(compareGolden("mgmt02", plain)).toEqual([]);
  });

  test("GIVEN a stack without a k0s section THEN planning a k0s host fails clearly", () => {
    const raw = mgmt02Raw();
    delete raw.k0s;
    expect(() => plan("k0s01", topologyOf(raw))).toThrow(/k0s/);
  });
});
