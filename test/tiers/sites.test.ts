import { plan, topologyOf, file, check } from "./golden-util";
import { errorsOf, mgmt02Raw } from "../helpers";

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
    expect(errorsOf(raw).map((e) => `${e.path}: ${e.message} (${JSON.stringify(e.value)})`)).toEqual([expect.stringMatching(/^sites\.dc2\.prepend: the upstream routers are iBGP peers .* use localPreference .* \(2\)$/)]);
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
