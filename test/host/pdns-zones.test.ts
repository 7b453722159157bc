/**
 * The PowerDNS zone scripts (scripts/host/pdns-secondary-zones, pdns-primary-init) and the
 * PowerAdmin installer (scripts/host/poweradmin-install), run for real (bash) with the env files
 * the plans render, against fakes on PATH (test/host/fakes: runuser, pdnsutil, pdns_control,
 * systemctl, sqlite3, usermod) that log what they are asked into the test's state folder.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PDNS_ZONES_ENV, POWERADMIN_ENV } from "../../src/tiers/dns";
import { file, plan, topologyOf } from "../tiers/golden-util";
import { mgmt02Raw, ROOT } from "../helpers";

const FAKES = path.join(__dirname, "fakes");

class Host {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pdns-zones-"));
  state = path.join(this.dir, "state");
  constructor(zones: string[] = []) {
    fs.mkdirSync(this.state);
    if (zones.length) fs.writeFileSync(path.join(this.state, "zones"), zones.join("\n") + "\n");
  }
  /** Writes `content` (a rendered env file) into the test's folder, `edit` applied; its path. */
  env(content: string, edit: (s: string) => string = (s) => s): string {
    const f = path.join(this.dir, "script.env");
    fs.writeFileSync(f, edit(content));
    return f;
  }
  run(script: string, env: Record<string, string>) {
    const r = spawnSync("bash", [path.join(ROOT, "scripts/host", script)], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${FAKES}:${process.env.PATH}`, FAKE_STATE: this.state, ...env },
    });
    return { rc: r.status, stderr: r.stderr };
  }
  calls(): string[] {
    const log = path.join(this.state, "calls.log");
    return fs.existsSync(log) ? fs.readFileSync(log, "utf8").trimEnd().split("\n") : [];
  }
  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

let host: Host;
afterEach(() => host.cleanup());

describe("pdns-secondary-zones on dns01", () => {
  const rendered = file(plan("dns01"), PDNS_ZONES_ENV).content;

  test("GIVEN no zone yet WHEN it runs THEN each served zone is created as a secondary of the primary and retrieved", () => {
    host = new Host();
    expect(host.run("pdns-secondary-zones", { PDNS_ZONES_ENV: host.env(rendered) })).toEqual({
      rc: 0,
      stderr: "",
    });
    expect(host.calls()).toEqual([
      "pdnsutil list-all-zones secondary",
      "pdnsutil create-secondary-zone infra.example.net 10.1.7.40",
      "pdns_control retrieve infra.example.net",
    ]);
    expect(fs.readFileSync(path.join(host.state, "runuser.log"), "utf8")).toBe("pdns\npdns\n");
  });

  test("GIVEN one zone exists and two primaries WHEN it runs THEN that zone is re-pointed, the new one created", () => {
    host = new Host(["infra.example.net"]);
    const env = host.env(rendered, (s) =>
      s
        .replace(/^PDNS_ZONES=.*$/m, "PDNS_ZONES=('infra.example.net' 'example.org')")
        .replace(/^PDNS_PRIMARIES=.*$/m, "PDNS_PRIMARIES=('10.1.7.40' '10.1.7.41')"),
    );
    expect(host.run("pdns-secondary-zones", { PDNS_ZONES_ENV: env }).rc).toBe(0);
    expect(host.calls()).toEqual([
      "pdnsutil list-all-zones secondary",
      "pdnsutil change-secondary-zone-primary infra.example.net 10.1.7.40 10.1.7.41",
      "pdns_control retrieve infra.example.net",
      "pdnsutil create-secondary-zone example.org 10.1.7.40 10.1.7.41",
      "pdns_control retrieve example.org",
    ]);
  });
});

describe("pdns-primary-init on dns00", () => {
  const rendered = file(plan("dns00"), PDNS_ZONES_ENV).content;
  const schema = () => {
    const f = path.join(host.dir, "schema.sql");
    fs.writeFileSync(f, "CREATE TABLE domains (id INTEGER PRIMARY KEY);\n");
    return f;
  };

  test("GIVEN a fresh host WHEN it runs THEN the schema first, then pdns restarts, then the zone as a PRIMARY zone", () => {
    host = new Host();
    const r = host.run("pdns-primary-init", {
      PDNS_ZONES_ENV: host.env(rendered),
      PDNS_SCHEMA: schema(),
    });
    expect(r).toEqual({ rc: 0, stderr: "" });
    expect(host.calls()).toEqual([
      "sqlite3 schema: CREATE TABLE domains (id INTEGER PRIMARY KEY);",
      "systemctl restart pdns",
      "pdnsutil list-all-zones",
      "pdnsutil create-zone infra.example.net",
      "pdnsutil set-kind infra.example.net primary",
      "pdnsutil set-meta infra.example.net SOA-EDIT-API DEFAULT",
    ]);
  });

  test("GIVEN the database and the zone exist WHEN it runs again THEN only pdns restarts", () => {
    host = new Host(["infra.example.net"]);
    fs.writeFileSync(path.join(host.state, "db-has-schema"), "");
    expect(
      host.run("pdns-primary-init", { PDNS_ZONES_ENV: host.env(rendered), PDNS_SCHEMA: schema() })
        .rc,
    ).toBe(0);
    expect(host.calls()).toEqual(["systemctl restart pdns", "pdnsutil list-all-zones"]);
  });
});

describe("poweradmin-install on dns00 with PowerAdmin pinned", () => {
  const raw = mgmt02Raw() as { dns: Record<string, unknown> };
  raw.dns.powerAdmin = {
    url: "https://example.org/poweradmin-3.9.0.tar.gz",
    sha256: "a".repeat(64),
  };
  const rendered = file(plan("dns00", topologyOf(raw)), POWERADMIN_ENV).content;

  test("GIVEN the pinned tarball WHEN it runs twice THEN it unpacks once into the web root, and www-data may write the database", () => {
    host = new Host();
    const src = path.join(host.dir, "src", "poweradmin-3.9.0");
    fs.mkdirSync(path.join(src, "inc"), { recursive: true });
    fs.writeFileSync(path.join(src, "index.php"), "<?php\n");
    const tarball = path.join(host.dir, "poweradmin.tar.gz");
    spawnSync("tar", ["-czf", tarball, "-C", path.join(host.dir, "src"), "poweradmin-3.9.0"]);
    const web = path.join(host.dir, "www", "poweradmin");
    const db = path.join(host.dir, "lib", "pdns.sqlite3");
    fs.mkdirSync(path.dirname(db));
    fs.writeFileSync(db, "");
    const env = host.env(rendered, (s) =>
      s
        .replace(/^POWERADMIN_TARBALL=.*$/m, `POWERADMIN_TARBALL='${tarball}'`)
        .replace(/^POWERADMIN_DIR=.*$/m, `POWERADMIN_DIR='${web}'`)
        .replace(/^PDNS_DB=.*$/m, `PDNS_DB='${db}'`),
    );
    expect(host.run("poweradmin-install", { POWERADMIN_ENV: env })).toEqual({ rc: 0, stderr: "" });
    expect(fs.readFileSync(path.join(web, "index.php"), "utf8")).toBe("<?php\n");
    expect(fs.readFileSync(path.join(web, ".maglev-infra-release"), "utf8")).toBe(
      "a".repeat(64) + "\n",
    );
    fs.rmSync(path.join(web, "index.php"));
    expect(host.run("poweradmin-install", { POWERADMIN_ENV: env }).rc).toBe(0);
    // Same release: not unpacked again.
    expect(fs.existsSync(path.join(web, "index.php"))).toBe(false);
    expect(host.calls()).toEqual(["usermod -a -G pdns www-data", "usermod -a -G pdns www-data"]);
    expect((fs.statSync(db).mode & 0o777).toString(8)).toBe("660");
    expect((fs.statSync(path.dirname(db)).mode & 0o777).toString(8)).toBe("770");
  });
});
