import { plan, topologyOf, file, check } from "./golden-util";
import { errorsOf, mgmt02Raw } from "../helpers";
import { drainSiteConfig, siteDrainFile } from "../../src/ops/drain";
import { mermaidDiagram } from "../../src/diagram";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { SITE_DRAIN_FILE, siteDrainMarker } from "../../src/tiers/gateway";

/**
 * FRR's running config after `vtysh -f <drain file>` on a gateway running `conf`, as FRR
 * applies route-map lines: a `set <attribute>` in an existing entry replaces that attribute's
 * line, a new entry is added. (The lab's scenario s checks the same on a real FRR.)
 */
function runningAfter(conf: string, drainFile: string): string {
  const entries = new Map<string, string[]>();
  const order: string[] = [];
  const out: string[] = [];
  let cur: string | undefined;
  for (const line of conf.split("\n")) {
    if (line.startsWith("route-map ")) {
      cur = line;
      entries.set(line, []);
      order.push(line);
      out.push(`@@${line}`);
    } else if (cur && line === "exit") cur = undefined;
    else if (cur) entries.get(cur)!.push(line.trim());
    else out.push(line);
  }
  cur = undefined;
  for (const line of drainFile.split("\n").filter((l) => l && !l.startsWith("!"))) {
    if (line.startsWith("route-map ")) {
      cur = line;
      if (!entries.has(line)) {
        entries.set(line, []);
        order.push(line);
        out.push(`@@${line}`);
      }
    } else if (line === "exit") cur = undefined;
    else {
      const attr = line.split(" ").slice(0, 2).join(" ");
      const lines = entries.get(cur!)!.filter((l) => l.split(" ").slice(0, 2).join(" ") !== attr);
      entries.set(cur!, [...lines, line.trim()]);
    }
  }
  return out
    .map((l) =>
      l.startsWith("@@")
        ? [l.slice(2), ...entries.get(l.slice(2))!.map((x) => ` ${x}`), "exit"].join("\n")
        : l,
    )
    .join("\n");
}

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
    expect(frr2.content).toMatch(
      /route-map NH-INGRESS permit 10\n set ip next-hop 10\.1\.10\.5\n set ipv6 next-hop global 2a0a:7180:81:a::5\n set metric 50\n set local-preference 50\n/,
    );
    const r = await check("mgw02", frr2);
    expect(r.message).toBe("");
    expect(r.ok).toBe(true);
  });

  test("GIVEN an iBGP upstream WHEN a site asks for an AS-path prepend THEN it is rejected: the upstream would drop the path as a loop", () => {
    const raw = twoSites();
    raw.sites.dc2 = { prepend: 2 };
    expect(
      errorsOf(raw).map((e) => `${e.path}: ${e.message} (${JSON.stringify(e.value)})`),
    ).toEqual([
      expect.stringMatching(
        /^sites\.dc2\.prepend: every upstream router is an iBGP peer .*give the upstream its asn, or use localPreference or med \(2\)$/,
      ),
    ]);
  });

  test("GIVEN an eBGP upstream WHEN a site prepends THEN its gateway session is eBGP, the prepend is in NH-INGRESS-EBGP only on that site's gateway, and FRR accepts it", async () => {
    const topo = topologyOf(twoSitesEbgp());
    const frr1 = file(plan("mgw01", topo), "/etc/frr/frr.conf").content;
    const frr2 = file(plan("mgw02", topo), "/etc/frr/frr.conf").content;
    for (const c of [frr1, frr2]) {
      expect(c).toContain(" neighbor 10.1.7.2 remote-as 64500\n");
      expect(c).toContain("  neighbor 10.1.7.2 route-map NH-INGRESS-EBGP out\n");
      expect(c).not.toMatch(
        /route-map NH-INGRESS permit|remote-as internal\n neighbor 10\.1\.7\.2/,
      );
    }
    expect(frr1).not.toMatch(/as-path prepend|set metric/);
    expect(frr2).toMatch(
      /route-map NH-INGRESS-EBGP permit 10\n set ip next-hop 10\.1\.10\.5\n set ipv6 next-hop global 2a0a:7180:81:a::5\n set as-path prepend 64516 64516\n set metric 50\nexit\n/,
    );
    const r = await check("mgw02", file(plan("mgw02", topo), "/etc/frr/frr.conf"));
    expect(r.message).toBe("");
    expect(r.ok).toBe(true);
  });

  test("GIVEN only eBGP upstreams WHEN a site sets localPreference THEN it is rejected: LOCAL_PREF is never sent to an eBGP peer", () => {
    const raw = twoSitesEbgp();
    raw.sites.dc1 = { localPreference: 50 };
    expect(
      errorsOf(raw).map((e) => `${e.path}: ${e.message} (${JSON.stringify(e.value)})`),
    ).toEqual([
      expect.stringMatching(
        /^sites\.dc1\.localPreference: every upstream router is an eBGP peer \(int-gw03m AS 64500\).*\(50\)$/,
      ),
    ]);
  });

  test("GIVEN one iBGP and one eBGP upstream WHEN rendered THEN each gets its own route-map: LOCAL_PREF to the iBGP one, the prepend to the eBGP one", () => {
    const raw = twoSitesEbgp();
    raw.bgp.upstream.push({ name: "upstream02", ipv4: "10.1.7.3" });
    raw.sites.dc2 = { prepend: 1, localPreference: 50 };
    const frr2 = file(plan("mgw02", topologyOf(raw)), "/etc/frr/frr.conf").content;
    expect(frr2).toMatch(
      /route-map NH-INGRESS permit 10\n set ip next-hop \S+\n set ipv6 next-hop global \S+\n set local-preference 50\nexit/,
    );
    expect(frr2).toMatch(
      /route-map NH-INGRESS-EBGP permit 10\n set ip next-hop \S+\n set ipv6 next-hop global \S+\n set as-path prepend 64516\nexit/,
    );
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
    expect(drainSiteConfig(topo, "dc1", true)).toEqual([
      "route-map NH-INGRESS deny 5",
      "exit",
      "route-map NH-INGRESS-EBGP deny 5",
      "exit",
    ]);
    expect(() => drainSiteConfig(topo, "dc9", false)).toThrow(
      /no site "dc9" in stack mgmt02 \(sites: dc1, dc2\)/,
    );
  });

  test("GIVEN a drained site WHEN its drain file is written THEN it names the site and the undo, and FRR's own checker accepts it", () => {
    const topo = topologyOf(twoSitesEbgp());
    const text = siteDrainFile(topo, "dc1", false);
    expect(text.split("\n").slice(0, 2)).toEqual([
      '! Site dc1 of stack "mgmt02" drained by `npm run ops -- drain-site`.',
      "! While this file exists every apply installs the frr.conf with this policy; `npm run ops -- undrain-site mgmt02 dc1` removes it.",
    ]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "site-drain-"));
    try {
      for (const withdraw of [false, true]) {
        fs.writeFileSync(path.join(dir, "f"), siteDrainFile(topo, "dc1", withdraw));
        const r = spawnSync("vtysh", ["--dryrun", "-f", path.join(dir, "f")], { encoding: "utf8" });
        expect({ withdraw, code: r.status, out: r.stdout + r.stderr }).toEqual({
          withdraw,
          code: 0,
          out: "",
        });
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("GIVEN a drained or withdrawn site WHEN its gateway is applied THEN the apply installs the frr.conf whose policy is what drain-site left running (frr-reload.py: nothing to change)", () => {
    for (const raw of [twoSites(), twoSitesEbgp()]) {
      const topo = topologyOf(raw);
      for (const gw of ["mgw01", "mgw02"]) {
        const p = plan(gw, topo);
        const frr = p.files.find((f) => f.path === "/etc/frr/frr.conf")!;
        const site = topo.byName.get(gw)!.site!;
        expect(frr.activate).toEqual({ kind: "reload", service: "frr" });
        expect(frr.variants!.map((v) => v.when)).toEqual([
          { path: SITE_DRAIN_FILE, contains: siteDrainMarker("withdrawn") },
          { path: SITE_DRAIN_FILE, contains: siteDrainMarker("drained") },
        ]);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "site-variant-"));
        try {
          for (const [i, withdraw] of [true, false].entries()) {
            // The drain file's first line selects the variant on the host.
            expect(siteDrainFile(topo, site, withdraw).split("\n")[0]).toContain(
              frr.variants![i].when.contains,
            );
            // What FRR runs after drain-site: the rendered frr.conf with the drain file's lines applied.
            const running = path.join(dir, "running.conf");
            fs.writeFileSync(
              running,
              runningAfter(frr.content, siteDrainFile(topo, site, withdraw)),
            );
            const want = path.join(dir, "variant.conf");
            fs.writeFileSync(want, frr.variants![i].content);
            const r = spawnSync(
              "/usr/lib/frr/frr-reload.py",
              ["--test", "--input", running, want],
              { encoding: "utf8" },
            );
            expect({
              gw,
              withdraw,
              code: r.status,
              changes: /Lines To (Delete|Add)/.test(r.stdout)
                ? r.stdout.slice(r.stdout.indexOf("Lines To"))
                : "",
            }).toEqual({ gw, withdraw, code: 0, changes: "" });
            const v = spawnSync("vtysh", ["--dryrun", "-f", want], { encoding: "utf8" });
            expect(v.status).toBe(0);
          }
          // And the rendered file against a drained FRR is what undrain-site's reload changes.
          fs.writeFileSync(
            path.join(dir, "running.conf"),
            runningAfter(frr.content, siteDrainFile(topo, site, false)),
          );
          const back = spawnSync(
            "/usr/lib/frr/frr-reload.py",
            ["--test", "--input", path.join(dir, "running.conf"), path.join(dir, "variant.conf")],
            { encoding: "utf8" },
          );
          expect(back.status).toBe(0);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
    }
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
    expect(errs).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^hosts\[0\]\.site: .*every gateway needs one/),
        expect.stringMatching(/^hosts\[1\]\.site: undefined site/),
      ]),
    );
  });

  test("GIVEN a watchdog threshold above a group's size THEN it is rejected", () => {
    const raw = mgmt02Raw();
    raw.maglev = { minHealthyRealServers: 3 };
    expect(errorsOf(raw).map((e) => e.path + " " + e.message)).toEqual([
      expect.stringMatching(/^maglev\.minHealthyRealServers backend group "dns" has 2 member/),
    ]);
  });
});
