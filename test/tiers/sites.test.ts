import { plan, topologyOf, file, check } from "./golden-util";
import { errorsOf, mgmt02Raw } from "../helpers";
import { drainSiteConfig, siteDrainFile } from "../../src/ops/drain";
import { mermaidDiagram } from "../../src/diagram";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { buildPlans } from "../../src/plan";
import { compileBundle } from "../../src/bundle";
import { REAPPLY_SITE_DRAIN } from "../../src/tiers/gateway";

/** mgmt02 with its upstream in AS 64500 (eBGP) and two sites, dc2 prepending twice. */
function twoSitesEbgp(): any {
  const raw = twoSites();
  raw.bgp.upstream[0].asn = 64500;
  raw.sites = { dc1: {}, dc2: { prepend: 2, med: 50 } };
  return raw;
}

/** mgmt02 split over two sites: mgw01 in dc1 (preferred), mgw02 in dc2 (LOCAL_PREF 50, MED 50). */
function twoSites(): any {
  const raw = mgmt02Raw();
  raw.sites = { dc1: {}, dc2: { localPreference: 50, med: 50 } };
  raw.hosts.find((h: any) => h.name === "mgw01").site = "dc1";
  raw.hosts.find((h: any) => h.name === "mgw02").site = "dc2";
  return raw;
}

describe("sites: per-site upstream policy on the gateways", () => {
  test("GIVEN two sites WHEN rendered THEN only the second site's gateway lowers LOCAL_PREF and sets the MED, and FRR accepts it", async () => {
    const topo = topologyOf(twoSites());
    const frr1 = file(plan("mgw01", topo), "/etc/frr/frr.conf");
    const frr2 = file(plan("mgw02", topo), "/etc/frr/frr.conf");
    expect(frr1.content).not.toMatch(/local-preference|set metric/);
    expect(frr2.content).toMatch(/route-map NH-INGRESS permit 10\n set ip next-hop 10\.1\.10\.5\n set ipv6 next-hop global 2a0a:7180:81:a::5\n set metric 50\n set local-preference 50\n/);
    const r = await check("mgw02", frr2);
    expect(r.message).toBe("");
    expect(r.ok).toBe(true);
  });

  test("GIVEN an iBGP upstream WHEN a site asks for an AS-path prepend THEN it is rejected: the upstream would drop the path as a loop", () => {
    const raw = twoSites();
    raw.sites.dc2 = { prepend: 2 };
    expect(errorsOf(raw).map((e) => `${e.path}: ${e.message} (${JSON.stringify(e.value)})`)).toEqual([expect.stringMatching(/^sites\.dc2\.prepend: every upstream router is an iBGP peer .*give the upstream its asn, or use localPreference or med \(2\)$/)]);
  });

  test("GIVEN an eBGP upstream WHEN a site prepends THEN its gateway session is eBGP, the prepend is in NH-INGRESS-EBGP only on that site's gateway, and FRR accepts it", async () => {
    const topo = topologyOf(twoSitesEbgp());
    const frr1 = file(plan("mgw01", topo), "/etc/frr/frr.conf").content;
    const frr2 = file(plan("mgw02", topo), "/etc/frr/frr.conf").content;
    for (const c of [frr1, frr2]) {
      expect(c).toContain(" neighbor 10.1.7.2 remote-as 64500\n");
      expect(c).toContain("  neighbor 10.1.7.2 route-map NH-INGRESS-EBGP out\n");
      expect(c).not.toMatch(/route-map NH-INGRESS permit|remote-as internal\n neighbor 10\.1\.7\.2/);
    }
    expect(frr1).not.toMatch(/as-path prepend|set metric/);
    expect(frr2).toMatch(/route-map NH-INGRESS-EBGP permit 10\n set ip next-hop 10\.1\.10\.5\n set ipv6 next-hop global 2a0a:7180:81:a::5\n set as-path prepend 64516 64516\n set metric 50\nexit\n/);
    const r = await check("mgw02", file(plan("mgw02", topo), "/etc/frr/frr.conf"));
    expect(r.message).toBe("");
    expect(r.ok).toBe(true);
  });

  test("GIVEN only eBGP upstreams WHEN a site sets localPreference THEN it is rejected: LOCAL_PREF is never sent to an eBGP peer", () => {
    const raw = twoSitesEbgp();
    raw.sites.dc1 = { localPreference: 50 };
    expect(errorsOf(raw).map((e) => `${e.path}: ${e.message} (${JSON.stringify(e.value)})`)).toEqual([expect.stringMatching(/^sites\.dc1\.localPreference: every upstream router is an eBGP peer \(int-gw03m AS 64500\).*\(50\)$/)]);
  });

  test("GIVEN one iBGP and one eBGP upstream WHEN rendered THEN each gets its own route-map: LOCAL_PREF to the iBGP one, the prepend to the eBGP one", () => {
    const raw = twoSitesEbgp();
    raw.bgp.upstream.push({ name: "upstream02", ipv4: "10.1.7.3" });
    raw.sites.dc2 = { prepend: 1, localPreference: 50 };
    const frr2 = file(plan("mgw02", topologyOf(raw)), "/etc/frr/frr.conf").content;
    expect(frr2).toMatch(/route-map NH-INGRESS permit 10\n set ip next-hop \S+\n set ipv6 next-hop global \S+\n set local-preference 50\nexit/);
    expect(frr2).toMatch(/route-map NH-INGRESS-EBGP permit 10\n set ip next-hop \S+\n set ipv6 next-hop global \S+\n set as-path prepend 64516\nexit/);
    expect(frr2).toContain("  neighbor 10.1.7.3 route-map NH-INGRESS out\n");
    expect(frr2).toContain("  neighbor 10.1.7.2 route-map NH-INGRESS-EBGP out\n");
  });

  test("GIVEN sites WHEN a site is drained THEN iBGP upstreams get LOCAL_PREF 10 and eBGP ones a prepend longer than any site's", () => {
    const raw = twoSitesEbgp();
    raw.bgp.upstream.push({ name: "upstream02", ipv4: "10.1.7.3" });
    const topo = topologyOf(raw);
    expect(drainSiteConfig(topo, "dc1", false)).toEqual([
      "route-map NH-INGRESS permit 10",
      "set local-preference 10",
      "exit",
      "route-map NH-INGRESS-EBGP permit 10",
      "set as-path prepend 64516 64516 64516 64516 64516",
      "exit",
    ]);
    expect(drainSiteConfig(topo, "dc1", true)).toEqual(["route-map NH-INGRESS deny 5", "exit", "route-map NH-INGRESS-EBGP deny 5", "exit"]);
    expect(() => drainSiteConfig(topo, "dc9", false)).toThrow(/no site "dc9" in stack mgmt02 \(sites: dc1, dc2\)/);
  });

  test("GIVEN a drained site WHEN its drain file is written THEN it names the site and the undo, and FRR's own checker accepts it", () => {
    const topo = topologyOf(twoSitesEbgp());
    const text = siteDrainFile(topo, "dc1", false);
    expect(text.split("\n").slice(0, 2)).toEqual([
      '! Site dc1 of stack "mgmt02" drained by `npm run ops -- drain-site`.',
      "! Re-applied after every FRR reload by the apply; `npm run ops -- undrain-site mgmt02 dc1` removes it.",
    ]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "site-drain-"));
    try {
      for (const withdraw of [false, true]) {
        fs.writeFileSync(path.join(dir, "f"), siteDrainFile(topo, "dc1", withdraw));
        const r = spawnSync("vtysh", ["--dryrun", "-f", path.join(dir, "f")], { encoding: "utf8" });
        expect({ withdraw, code: r.status, out: r.stdout + r.stderr }).toEqual({ withdraw, code: 0, out: "" });
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("GIVEN a gateway WHEN its FRR files are activated THEN an operator's site drain is re-applied after the reload or restart", () => {
    const topo = topologyOf(twoSitesEbgp());
    const plan = buildPlans(topo).find((p) => p.name === "mgw01")!;
    const files = compileBundle("mgmt02", plan).bundle.files;
    for (const file of ["/etc/frr/frr.conf", "/etc/frr/daemons"]) {
      const act = files.find((f) => f.path === file)!.activate;
      expect(act).toEqual({ kind: file.endsWith("daemons") ? "restart" : "reload", service: "frr", then: REAPPLY_SITE_DRAIN });
    }
    expect(REAPPLY_SITE_DRAIN).toBe("if [ -e /etc/maglev-infra/site-drain.vtysh ]; then vtysh -f /etc/maglev-infra/site-drain.vtysh && vtysh -c 'clear bgp * soft out'; fi");
  });

  test("GIVEN an eBGP upstream and sites WHEN the diagram is drawn THEN each upstream edge names the session kind and the site's policy", () => {
    const d = mermaidDiagram(topologyOf(twoSitesEbgp()));
    expect(d).toContain("up_int_gw03m -->|eBGP AS 64500, site dc1| mgw01");
    expect(d).toContain("up_int_gw03m -->|eBGP AS 64500, site dc2, prepend ×2, MED 50| mgw02");
  });

  test("GIVEN sites WHEN a gateway has none or an undefined one THEN the config is rejected naming it", () => {
    const raw = twoSites();
    delete raw.hosts[0].site;
    raw.hosts[1].site = "dc3";
    const errs = errorsOf(raw).map((e) => `${e.path}: ${e.message}`);
    expect(errs).toEqual(expect.arrayContaining([expect.stringMatching(/^hosts\[0\]\.site: .*every gateway needs one/), expect.stringMatching(/^hosts\[1\]\.site: undefined site/)]));
  });

  test("GIVEN a watchdog threshold above a group's size THEN it is rejected", () => {
    const raw = mgmt02Raw();
    raw.maglev = { minHealthyRealServers: 3 };
    expect(errorsOf(raw).map((e) => e.path + " " + e.message)).toEqual([expect.stringMatching(/^maglev\.minHealthyRealServers backend group "dns" has 2 member/)]);
  });
});
