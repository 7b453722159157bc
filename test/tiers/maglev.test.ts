/**
 * Maglev tier: golden files of mgmt02's maglev01 and properties over generated environments.
 * Regenerate the golden files with `UPDATE_GOLDEN=1 npx jest test/tiers`.
 */
import fc from "fast-check";
import { deriveTopology } from "../../src/topology";
import { planHost } from "../../src/plan";
import { generateEnvironment } from "../../src/testing/generate";
import {
  announceData,
  exabgpConfig,
  keepalivedConfig,
  maglevFrrConfig,
  nftablesConfig,
  APPLY_DRAIN_MARK,
  DRAIN_FILE,
} from "../../src/tiers/maglev";
import { IPVS_SYNC_PORT, IPVS_SYNC_UNIT, ipvsSyncId } from "../../src/daemons/keepalived/render";
import { mgmt02Raw, mustValidate } from "../helpers";
import { check, compareGolden, failingFiles, file, plan } from "./golden-util";

/** The real servers of each `virtual_server fwmark N` block, keyed `N/inet|inet6`. */
function keepalivedServices(conf: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const block of conf.split(/^virtual_server /m).slice(1)) {
    const mark = block.match(/^fwmark (\d+) \{/)![1];
    const fam = /^\s+ip_family inet6$/m.test(block) ? "inet6" : "inet";
    const key = `${mark}/${fam}`;
    if (out.has(key)) throw new Error(`virtual_server ${key} twice`);
    out.set(
      key,
      [...block.matchAll(/^\s+real_server (\S+) \{$/gm)].map((m) => m[1]),
    );
  }
  return out;
}

describe("maglev01 of mgmt02", () => {
  const topo = deriveTopology(mustValidate(mgmt02Raw()));
  const h = topo.byName.get("maglev01")!;

  test("GIVEN mgmt02 WHEN maglev01 is rendered THEN its files match the golden files", () => {
    expect(compareGolden("mgmt02", plan("maglev01", topo))).toEqual([]);
  });

  test("GIVEN keepalived restarts THEN every real-server check starts failed (alpha): no member gets traffic before its first passed check", () => {
    const conf = keepalivedConfig(topo, h);
    const checks = [...conf.matchAll(/^\s+(HTTP_GET|DNS_CHECK) \{\n([\s\S]*?)^\s{8}\}$/gm)];
    expect(checks.length).toBe((conf.match(/real_server /g) ?? []).length);
    for (const c of checks) expect(c[2]).toMatch(/^\s+alpha$/m);
  });

  test("GIVEN the mlb and k0s groups THEN keepalived runs mh + mh-port + mh-fallback + DR with their members as real servers, inhibited on failure", () => {
    const conf = keepalivedConfig(topo, h);
    const svc = keepalivedServices(conf);
    expect([...svc.keys()]).toEqual([
      "100080/inet",
      "200080/inet",
      "200080/inet6",
      "200443/inet",
      "200443/inet6",
      "300053/inet",
      "300053/inet6",
    ]);
    expect(svc.get("100080/inet")).toEqual(["10.1.10.33", "10.1.10.34", "10.1.10.35"]);
    expect(svc.get("200443/inet")).toEqual(["10.1.10.61", "10.1.10.62", "10.1.10.63"]);
    expect(svc.get("200443/inet6")).toEqual([
      "2a0a:7180:81:a::3d",
      "2a0a:7180:81:a::3e",
      "2a0a:7180:81:a::3f",
    ]);
    expect(
      conf.match(/^    lvs_sched mh\n    mh-port\n    mh-fallback\n    lvs_method DR$/gm),
    ).toHaveLength(svc.size);
    const realServers = [...svc.values()].flat().length;
    expect(conf.match(/^        inhibit_on_failure$/gm)).toHaveLength(realServers);
  });

  test("GIVEN the group kinds THEN each member is checked where it tells its health", () => {
    const conf = keepalivedConfig(topo, h);
    expect(conf).toContain("path /health?frontend=fe_100080\n"); // HAProxy health API, frontend named by the fwmark
    // k0s ingress: HTTP on 80 through the ingress to an application endpoint (not the controller's /healthz on 10253).
    expect(conf).toMatch(/path \/maglev-infra\/health\n[^}]*\}\n\s+connect_port 80\n/);
    expect(conf).not.toContain("10253");
    expect(conf).toMatch(
      /DNS_CHECK \{\n\s+connect_port 53\n(.*\n){4}\s+type SOA\n\s+name infra\.example\.net\n/,
    );
    expect(conf).not.toMatch(/^\s+protocol /m); // keepalived -t fails on it for fwmark services
  });

  test("GIVEN two gateways THEN ExaBGP peers with both from maglev01's mgmt address, IPv4 and IPv6 unicast, same AS", () => {
    const conf = exabgpConfig(topo, h);
    expect(conf).toMatch(/^neighbor 10\.1\.7\.4 \{$/m);
    expect(conf).toMatch(/^neighbor 10\.1\.7\.5 \{$/m);
    expect(conf).toContain("local-address 10.1.7.17;");
    expect(conf).toContain("local-as 64516;\n        peer-as 64516;");
    expect(conf).toContain("ipv4 unicast;\n            ipv6 unicast;");
  });

  test("GIVEN the VIPs THEN nftables marks 10.1.7.15, 10.1.7.16 and 2a0a:7180:81:7::10 on ingress0 only, and does not track them", () => {
    const nft = nftablesConfig(topo, h);
    expect(nft).toContain("10.1.7.15 . tcp . 80 : 100080");
    expect(nft).toContain("10.1.7.16 . tcp . 443 : 200443");
    expect(nft).toContain("2a0a:7180:81:7::10 . tcp . 80 : 200080");
    expect(nft).toContain('iifname != "ingress0" return');
    expect(nft).toMatch(/priority raw;/);
    expect(nft).toMatch(/^table inet maglev_infra \{\}\ndelete table inet maglev_infra\n/m);
    expect(nft).not.toMatch(/flush ruleset/);
  });

  test("BFD: bfdd has a static peer per gateway from the mgmt address, with the stack's timers", () => {
    const conf = maglevFrrConfig(topo, h);
    expect(conf).toContain(" peer 10.1.7.4 local-address 10.1.7.17\n  profile gateways\n");
    expect(conf).toContain(" peer 10.1.7.5 local-address 10.1.7.17\n  profile gateways\n");
    expect(conf).toContain(
      "  transmit-interval 300\n  receive-interval 300\n  detect-multiplier 3\n",
    );
    const plan = planHost(topo, h);
    expect(plan.files.find((f) => f.path === "/etc/frr/daemons")!.content).toMatch(/^bfdd=yes$/m);
    expect(plan.files.find((f) => f.path === "/etc/frr/daemons")!.content).toMatch(/^bgpd=no$/m);
  });

  test("the rollout drains through the drain file and gates on BGP sessions plus announced VIPs", () => {
    const plan = planHost(topo, h);
    expect(plan.drain!.drain).toContain(`touch ${APPLY_DRAIN_MARK} ${DRAIN_FILE}`);
    // An operator's drain (the file without the apply's mark) survives an apply.
    expect(plan.drain!.drain).toContain(
      `if [ -e ${DRAIN_FILE} ] && [ ! -e ${APPLY_DRAIN_MARK} ]; then exit 0; fi`,
    );
    expect(plan.drain!.undrain).toBe(
      `if [ -e ${APPLY_DRAIN_MARK} ]; then rm -f ${DRAIN_FILE} ${APPLY_DRAIN_MARK}; sync /etc/maglev-infra /var/lib/maglev-infra; fi`,
    );
    expect(plan.health!.command).toContain("for gw in 10.1.7.4 10.1.7.5;");
    expect(plan.health!.command).toContain("2a0a:7180:81:7::10/128");
    const s = Object.fromEntries(plan.sysctls.map((x) => [x.key, x.value]));
    expect(s).toMatchObject({
      "net.ipv4.vs.conntrack": "0",
      "net.ipv4.vs.sloppy_tcp": "1",
      "net.ipv4.conf.all.arp_ignore": "1",
      "net.ipv4.conf.all.arp_announce": "2",
    });
    expect(plan.packages).toEqual(
      expect.arrayContaining(["exabgp", "frr", "ipvsadm", "keepalived", "nftables"]),
    );
  });

  test("GIVEN two maglevs WHEN maglev01 is planned THEN it runs the IPVS sync master and backup on mgmt with the environment's sync id, and its firewall takes sync only from the maglevs", () => {
    const p = plan("maglev01", topo);
    expect(p.services).toContain(IPVS_SYNC_UNIT);
    const unit = file(p, `/etc/systemd/system/${IPVS_SYNC_UNIT}`).content;
    const id = ipvsSyncId("mgmt02");
    for (const role of ["master", "backup"])
      expect(unit).toContain(
        `ExecStart=/usr/sbin/ipvsadm --start-daemon ${role} --mcast-interface mgmt0 --syncid ${id}`,
      );
    // Stopped first: a second start (a re-run) is the same as the first.
    expect(unit.indexOf("--stop-daemon master")).toBeLessThan(unit.indexOf("--start-daemon"));
    const fw = file(p, "/etc/maglev-infra/firewall.nft").content;
    const maglevs = topo.maglevs.map((m) => m.mgmt.ipv4).join(", ");
    expect(fw).toContain(`ip saddr { ${maglevs} } udp dport ${IPVS_SYNC_PORT} accept`);
  });

  test("GIVEN environment names WHEN the sync id is derived THEN it is stable, in 1–255, and differs between neighbouring names", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }), (n) => {
        const id = ipvsSyncId(n);
        return Number.isInteger(id) && id >= 1 && id <= 255 && id === ipvsSyncId(n);
      }),
    );
    expect(ipvsSyncId("mgmt02")).not.toBe(ipvsSyncId("mgmt03"));
  });

  test("the announce data knows, per VIP, the IPVS services and the mark entries that serve it (the watchdog is per VIP)", () => {
    const d = JSON.parse(announceData(topo));
    expect(d["//"][0]).toMatch(/^Generated by maglev-infra from stack "mgmt02"/);
    expect(d.markTable).toEqual({
      family: "inet",
      name: "maglev_infra",
      chain: "prerouting",
      maps: { ipv4: "fwmark_v4", ipv6: "fwmark_v6" },
    });
    expect(d.vips["10.1.7.16"]).toEqual({
      ipvsServices: [
        { family: 4, fwmark: 200080 },
        { family: 4, fwmark: 200443 },
      ],
      marks: [
        { protocol: "tcp", port: 80, fwmark: 200080 },
        { protocol: "tcp", port: 443, fwmark: 200443 },
      ],
    });
    expect(d.vips["2a0a:7180:81:7::35"]).toEqual({
      ipvsServices: [{ family: 6, fwmark: 300053 }],
      marks: [
        { protocol: "tcp", port: 53, fwmark: 300053 },
        { protocol: "udp", port: 53, fwmark: 300053 },
      ],
    });
    expect(Object.keys(d.vips)).toEqual([
      "10.1.7.15",
      "10.1.7.16",
      "10.1.7.53",
      "2a0a:7180:81:7::10",
      "2a0a:7180:81:7::35",
    ]);
  });
});

describe("maglev files against their real checkers", () => {
  const p = plan("maglev01");

  test("GIVEN maglev01 WHEN every file is run through its own checker THEN all pass", async () => {
    expect(await failingFiles(p)).toEqual([]);
  });

  test.each([
    [
      "/etc/keepalived/keepalived.conf",
      "an unknown keyword",
      (s: string) => s.replace("lvs_sched mh", "lvs_schd mh"),
    ],
    [
      "/etc/keepalived/keepalived.conf",
      "a real-server port on a fwmark service (a warning: exit 5)",
      (s: string) => s.replace(/real_server (\S+) \{/, "real_server $1 80 {"),
    ],
    [
      "/etc/keepalived/keepalived.conf",
      "a missing closing brace",
      (s: string) => s.replace(/\}\n$/, "\n"),
    ],
    [
      "/etc/exabgp/exabgp.conf",
      "an unknown keyword",
      (s: string) => s.replace("peer-as", "peer-az"),
    ],
    [
      "/etc/maglev-infra/fwmarks.nft",
      "a mark that is not a number",
      (s: string) => s.replace(": 100080", ": fe_100080"),
    ],
    [
      "/etc/frr/frr.conf",
      "a BFD interval out of range",
      (s: string) => s.replace("transmit-interval 300", "transmit-interval 5"),
    ],
    [
      "/usr/local/lib/maglev-infra/exabgp-announce",
      "a def without its colon",
      (s: string) => s.replace("def main(argv):", "def main(argv)"),
    ],
    [
      "/etc/maglev-infra/exabgp-announce.json",
      "a missing comma",
      (s: string) => s.replace('",\n  "ingressInterface"', '"\n  "ingressInterface"'),
    ],
  ])("GIVEN %s with %s THEN its checker rejects it", async (path, _what, mutate) => {
    const f = file(p, path);
    const broken = mutate(f.content);
    expect(broken).not.toBe(f.content);
    expect((await check(p.hostname, f, broken)).ok).toBe(false);
  });
});

describe("maglev (property, generated environments)", () => {
  const envArb = fc.record({
    hosts: fc.integer({ min: 20, max: 80 }),
    maglevs: fc.integer({ min: 1, max: 5 }),
    haproxyGroups: fc.integer({ min: 1, max: 5 }),
  });

  test("GIVEN any generated environment THEN every VIP is on the vip interface, in nftables and in keepalived, and every fwmark is one service per family", () => {
    fc.assert(
      fc.property(envArb, (o) => {
        const topo = deriveTopology(mustValidate(generateEnvironment(o)));
        for (const m of topo.maglevs) {
          const plan = planHost(topo, m);
          const nft = nftablesConfig(topo, m);
          const ka = keepalivedConfig(topo, m);
          const vipNet = plan.files.find(
            (f) => f.path === "/etc/systemd/network/60-vip.network",
          )!.content;
          for (const v of topo.vipPorts) {
            expect(nft).toContain(`\t\t\t${v.vip} . ${v.protocol} . ${v.port} : ${v.fwmark}`);
            expect(vipNet).toContain(`Address=${v.vip}/${v.family === "ipv4" ? 32 : 128}\n`);
          }
          // Every VIP reaches keepalived through its fwmark: a service of the VIP's family for every mark.
          const svc = keepalivedServices(ka);
          for (const v of topo.vipPorts)
            expect(svc.has(`${v.fwmark}/${v.family === "ipv4" ? "inet" : "inet6"}`)).toBe(true);
          // One nft map entry per (VIP, protocol, port): no key marked twice.
          const keys = (nft.match(/^\t\t\t\S+ \. (tcp|udp) \. \d+ : \d+,?$/gm) ?? []).map((l) =>
            l.trim().replace(/ : .*/, ""),
          );
          expect(new Set(keys).size).toBe(keys.length);
          expect(keys).toHaveLength(topo.vipPorts.length);
        }
        // fwmarks unique across the whole environment.
        const marks = topo.fwmarks.map((f) => f.fwmark);
        expect(new Set(marks).size).toBe(marks.length);
      }),
      { numRuns: 25 },
    );
  });
});
