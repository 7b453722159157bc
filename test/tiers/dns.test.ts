import { DNSDIST_CONF, PDNS_CONF, PDNS_ZONES_ENV } from "../../src/tiers/dns";
import { mgmt02Raw } from "../helpers";
import { compareGolden } from "./golden-util";
import { check, failingFiles, file, plan, topologyOf } from "./golden-util";

const topo = topologyOf();

describe("DnsdistNode (mgmt02 dnsdist01)", () => {
  const p = plan("dnsdist01", topo);
  const f = file(p, DNSDIST_CONF);

  test("GIVEN the DNS VIP WHEN dnsdist01 is planned THEN it listens on the VIPs and its ingress address, and the VIPs are on vip", () => {
    expect(f.content).toContain('setLocal("10.1.7.53:53"');
    expect(f.content).toContain('addLocal("[2a0a:7180:81:7::35]:53"');
    expect(f.content).toContain('addLocal("10.1.10.41:53"');
    const vip = file(p, "/etc/systemd/network/60-vip.network").content;
    expect(vip).toContain("Address=10.1.7.53/32");
    expect(vip).toContain("Address=2a0a:7180:81:7::35/128");
  });

  test("THEN it sends to dns01-03 (10.1.10.43-45) with the PROXY protocol and health checks", () => {
    for (const [n, a] of [
      ["dns01", "10.1.10.43"],
      ["dns02", "10.1.10.44"],
      ["dns03", "10.1.10.45"],
    ])
      expect(f.content).toMatch(
        new RegExp(
          `newServer\\(\\{ address = "${a.replace(/\./g, "\\.")}:53", name = "${n}", pool = "pdns", useProxyProtocol = true, .*checkType = "SOA", mustResolve = true`,
        ),
      );
  });

  test("THEN it rate-limits per client, caches, and keeps the console key and web password as placeholders", () => {
    expect(f.content).toContain("addAction(MaxQPSIPRule(100, 32, 64), DropAction())");
    expect(f.content).toContain('getPool("pdns"):setCache(pc)');
    expect(f.content).toContain('setKey("{{secret:dnsdistConsoleKey}}")');
    expect(f.secretKeys).toEqual(["dnsdistConsoleKey", "dnsdistWebserverPassword"]);
  });

  test("THEN dnsdist --check-config accepts it and rejects a broken one", async () => {
    expect(await failingFiles(p)).toEqual([]);
    expect(
      (
        await check(
          p.hostname,
          f,
          f.content.replace(
            "setServerPolicy(leastOutstanding)",
            "setServerPolicy(leastOutstanding",
          ),
        )
      ).ok,
    ).toBe(false);
  });

  test("THEN its files match the golden files", () =>
    expect(compareGolden("mgmt02", p)).toEqual([]));
});

describe("PowerDnsNode (mgmt02 dns01)", () => {
  const p = plan("dns01", topo);
  const f = file(p, PDNS_CONF);

  test("GIVEN dns00 is the shadow primary WHEN dns01 is planned THEN it is an LMDB secondary of dns00 taking PROXY headers from dnsdist", () => {
    expect(f.content).toContain("launch=lmdb");
    expect(f.content).toContain("secondary=yes");
    expect(f.content).toContain("allow-notify-from=10.1.7.40,2a0a:7180:81:7::28");
    expect(f.content).toContain(
      "proxy-protocol-from=10.1.10.41,2a0a:7180:81:a::29,10.1.10.42,2a0a:7180:81:a::2a",
    );
    expect(f.content).toContain("api-key={{secret:pdnsApiKey}}");
    expect(file(p, PDNS_ZONES_ENV).content).toContain("PDNS_PRIMARIES=('10.1.7.40')\n");
    expect(p.downloads).toEqual([]);
  });

  test("THEN pdns_server --config=check accepts it and rejects an unknown setting", async () => {
    expect(await failingFiles(p)).toEqual([]);
    const bad = await check(
      p.hostname,
      f,
      f.content.replace("secondary=yes", "secondary=yes\nslave-cycle=1"),
    );
    expect(bad.ok).toBe(false);
    expect(bad.message).toMatch(/unknown setting/);
  });

  test("GIVEN LightningStream enabled THEN the pinned binary, its config with S3 secrets and unit are planned, and the 4.7 checker refuses pdns.conf", async () => {
    const raw = mgmt02Raw();
    raw.dns.lightningStream = {
      enabled: true,
      url: "https://example.net/lightningstream-0.4.3",
      sha256: "b".repeat(64),
      s3Endpoint: "https://s3.example.net",
      bucket: "pdns-mgmt02",
    };
    const q = plan("dns01", topologyOf(raw));
    expect(q.downloads.map((d) => d.name)).toEqual(["lightningstream"]);
    const ls = file(q, "/etc/lightningstream/lightningstream.yaml");
    expect(ls.secretKeys).toEqual(["s3AccessKeyId", "s3SecretAccessKey"]);
    expect(ls.content).toContain("bucket: pdns-mgmt02");
    expect(ls.content).not.toMatch(/secret_key: (?!"?\{\{secret:)/);
    const r = await check(q.hostname, file(q, PDNS_CONF));
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/lmdb-lightning-stream/);
  });

  test("THEN its files match the golden files", () =>
    expect(compareGolden("mgmt02", p)).toEqual([]));
});

describe("ShadowPrimary (mgmt02 dns00)", () => {
  const p = plan("dns00", topo);
  const f = file(p, PDNS_CONF);

  test("GIVEN three secondaries THEN dns00 is a gsqlite3 primary on mgmt only that notifies them and lets them transfer", () => {
    expect(f.content).toContain("launch=gsqlite3");
    expect(f.content).toContain("primary=yes");
    expect(f.content).toContain("local-address=10.1.7.40,2a0a:7180:81:7::28,127.0.0.1,::1");
    expect(f.content).toContain("also-notify=10.1.7.43,10.1.7.44,10.1.7.45");
    expect(f.content).toMatch(/allow-axfr-ips=.*10\.1\.7\.43.*10\.1\.7\.44.*10\.1\.7\.45/);
    expect(p.addresses.ingress).toBeUndefined();
  });

  test("THEN every file passes its checker", async () => expect(await failingFiles(p)).toEqual([]));

  test("GIVEN dns.powerAdmin THEN the pinned tarball, Apache on mgmt only and its config with placeholders are planned", () => {
    const raw = mgmt02Raw();
    raw.dns.powerAdmin = {
      url: "https://example.net/poweradmin-3.9.0.tar.gz",
      sha256: "c".repeat(64),
    };
    const q = plan("dns00", topologyOf(raw));
    expect(q.downloads.map((d) => d.name)).toEqual(["poweradmin"]);
    expect(q.packages).toEqual(
      expect.arrayContaining(["apache2", "libapache2-mod-php", "php-sqlite3"]),
    );
    expect(file(q, "/etc/apache2/ports.conf").content).toContain("Listen 10.1.7.40:80");
    expect(file(q, "/var/www/poweradmin/inc/config.inc.php").secretKeys).toEqual([
      "poweradminSessionKey",
      "pdnsApiKey",
    ]);
  });

  test("THEN its files match the golden files", () =>
    expect(compareGolden("mgmt02", p)).toEqual([]));
});
