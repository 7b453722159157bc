/**
 * Every stack value that reaches a rendered file goes through its file's escaper. The schema
 * (src/config) refuses these values first; here they are put into an already validated
 * environment, as if a grammar had a gap, to prove the renderers themselves never let one
 * change a file's structure: the render is refused naming the value's role, or the value
 * lands escaped and reads back exactly.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EscapeError } from "../../src/escape";
import { Environment } from "../../src/config/schema";
import { renderEnvironment } from "../../src/render";
import { mgmt02Raw, mustValidate } from "../helpers";

function env(mutate: (e: Environment) => void): Environment {
  const e = mustValidate(mgmt02Raw());
  mutate(e);
  return e;
}

function refused(e: Environment): EscapeError {
  try {
    renderEnvironment(e);
  } catch (err) {
    expect(err).toBeInstanceOf(EscapeError);
    return err as EscapeError;
  }
  throw new Error("rendered although a value cannot be written safely");
}

describe("hostile values that slipped past the schema", () => {
  test.each<[string, (e: Environment) => void, RegExp]>([
    [
      "a served zone closing a shell string (the issue's root shell)",
      (e) => (e.dns.servedZones = ['infra.example.net"; touch /x; echo "']),
      /^dns\.servedZones\[0\]: /,
    ],
    [
      "a served zone with a newline (a Lua statement in dnsdist.conf's comment)",
      (e) => (e.dns.servedZones = ["infra.example.net\nos.execute('id')"]),
      /^dns\.servedZones\[0\]: /,
    ],
    [
      "a served zone breaking out of PHP's '…'",
      (e) => (e.dns.servedZones = ["x';system('id');$x='"]),
      /^dns\.servedZones\[0\]: /,
    ],
    [
      "a health-check path closing keepalived's blocks (MISC_CHECK as root)",
      (e) =>
        (e.backendGroups.mlb.healthCheck.path = "/x\n}\n}\nMISC_CHECK {\n misc_path /bin/sh\n}"),
      /^backendGroups\.mlb\.healthCheck\.path: /,
    ],
    [
      "a health-check path with a block on one line",
      (e) => (e.backendGroups.mlb.healthCheck.path = "/x}MISC_CHECK{"),
      /^backendGroups\.mlb\.healthCheck\.path: /,
    ],
    [
      "an upstream name with a newline (a second BGP neighbour)",
      (e) => (e.bgp.upstream[0].name = "r1\n neighbor 203.0.113.66 remote-as 666"),
      /^bgp\.upstream\[0\]\.name: /,
    ],
    [
      "an upstream name with a comment character",
      (e) => (e.bgp.upstream[0].name = "r1 ! hidden"),
      /^bgp\.upstream\[0\]\.name: /,
    ],
    [
      "a host name with a newline (a line in every file it is named in)",
      (e) => (e.hosts[0].name = "mgw01\nx"),
      /^hostname of mgw01\\nx: /,
    ],
    [
      "a hostname prefix with a space",
      (e) => (e.hostnamePrefix = "a b-"),
      /^hostname of dns00 \(hostnamePrefix \+ hosts\[\]\.name\): /,
    ],
    [
      "an ingress interface name with a quote (nftables)",
      (e) => (e.networks.ingress.interface = 'ing"0'),
      /networks\.ingress\.interface: /,
    ],
    [
      "an ingress interface name that is an nftables wildcard",
      (e) => (e.networks.ingress.interface = "ing*"),
      /networks\.ingress\.interface: /,
    ],
    [
      "a DNS zone with a space (/etc/hosts, Apache)",
      (e) => (e.dns.zone = "infra.example.net evil"),
      /^dns\.zone: /,
    ],
  ])("GIVEN %s WHEN rendered THEN it is refused naming the role", (_what, mutate, role) => {
    const err = refused(env(mutate));
    expect(err.message).toMatch(role);
    expect(err.message).toMatch(/\(value: ".*"\)$/s);
  });

  test("GIVEN a second served zone that only reaches the PowerDNS scripts WHEN rendered THEN bash reads both zones back exactly", () => {
    const hostile = 'x"; touch /tmp/pwned; echo "$(id)`id`\'';
    const r = renderEnvironment(env((e) => (e.dns.servedZones = ["infra.example.net", hostile])));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "routing-test-"));
    for (const rel of [
      "mgmt02-vm-dns01/etc/maglev-infra/pdns-zones.env",
      "mgmt02-vm-dns00/etc/maglev-infra/pdns-zones.env",
    ]) {
      // The zone scripts source this file (scripts/host/pdns-secondary-zones, pdns-primary-init).
      const zonesEnv = r.files.get(rel)!;
      const probe = path.join(dir, "probe.sh");
      fs.writeFileSync(
        probe,
        `. ${path.join(dir, "zones.env")}\nprintf '%s\\n' "\${PDNS_ZONES[@]}"\n`,
      );
      fs.writeFileSync(path.join(dir, "zones.env"), zonesEnv);
      execFileSync("bash", ["-n", probe]);
      expect(execFileSync("bash", [probe], { encoding: "utf8" })).toBe(
        `infra.example.net\n${hostile}\n`,
      );
    }
    expect(fs.existsSync("/tmp/pwned")).toBe(false);
  });

  test("GIVEN an application server name with a quote WHEN rendered THEN haproxy.cfg holds it as one quoted argument", () => {
    const r = renderEnvironment(env((e) => (e.backendGroups.mlb.servers[0].name = 'app"01 x')));
    expect(r.files.get("mgmt02-vm-mlb01/etc/haproxy/haproxy.cfg")).toContain(
      '    server "app\\"01 x" 10.1.7.12:8888 check',
    );
  });
});
