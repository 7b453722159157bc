/**
 * scripts/host/hactl run for real (bash) with the env file the plan renders, against a fake
 * `socat` on PATH (test/host/fakes/socat) that stands in for HAProxy's runtime API: which
 * command reaches the admin socket, what the server state file gets, what an operator reads.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HACTL_ENV, hactlEnv, HAPROXY_ADMIN_SOCKET } from "../../src/tiers/haproxy";
import { plan, topologyOf } from "../tiers/golden-util";
import { ROOT } from "../helpers";

const PROGRAM = path.join(ROOT, "scripts/host/hactl");
const FAKES = path.join(__dirname, "fakes");

/** One `show stat` row: 40 fields, 1 pxname, 2 svname, 18 status, 19 weight, 37 check_status. */
function statRow(
  backend: string,
  server: string,
  status: string,
  weight: number,
  check: string,
): string {
  const f = Array.from({ length: 40 }, () => "");
  [f[0], f[1], f[17], f[18], f[36]] = [backend, server, status, String(weight), check];
  return f.join(",");
}

class Node {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "hactl-"));
  state = path.join(this.dir, "state");
  serverState = path.join(this.dir, "server-state");
  constructor(rows: string[]) {
    fs.mkdirSync(this.state);
    fs.writeFileSync(
      path.join(this.state, "stat.csv"),
      ["# pxname,svname", ...rows].join("\n") + "\n",
    );
    // The rendered env file, with the state file moved into the test's folder.
    const env = hactlEnv(topologyOf()).replace(
      /^HAPROXY_SERVER_STATE=.*$/m,
      `HAPROXY_SERVER_STATE='${this.serverState}'`,
    );
    fs.writeFileSync(path.join(this.dir, "hactl.env"), env);
  }
  run(...args: string[]) {
    const r = spawnSync("bash", [PROGRAM, ...args], {
      encoding: "utf8",
      env: {
        ...process.env,
        PATH: `${FAKES}:${process.env.PATH}`,
        FAKE_STATE: this.state,
        HACTL_ENV: path.join(this.dir, "hactl.env"),
      },
    });
    return { rc: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  /** The commands the admin socket received, in order. */
  sent(): string[] {
    const log = path.join(this.state, "socat.log");
    return fs.existsSync(log) ? fs.readFileSync(log, "utf8").trimEnd().split("\n") : [];
  }
  answer(text: string) {
    fs.writeFileSync(path.join(this.state, "answer"), text);
  }
  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const SERVING = [
  statRow("be_100080", "app01", "UP", 1, "L7OK"),
  statRow("be_100080", "app02", "MAINT", 1, "L7OK"),
  statRow("be_drain", "flag", "MAINT", 1, ""),
];
const DRAINED = [...SERVING.slice(0, 2), statRow("be_drain", "flag", "UP", 1, "")];

describe("hactl (scripts/host/hactl)", () => {
  let node: Node;
  afterEach(() => node.cleanup());

  test("GIVEN the plan of mlb01 THEN hactl and its env file are planned, the env file with haproxy.cfg's values", () => {
    const p = plan("mlb01");
    expect(p.files.find((f) => f.path === HACTL_ENV)?.content).toContain(
      `HAPROXY_ADMIN_SOCKET='${HAPROXY_ADMIN_SOCKET}'\nHAPROXY_DRAIN_BACKEND='be_drain'\n`,
    );
    node = new Node([]);
  });

  test("WHEN list runs THEN every server but the drain flag is one line backend,server,status,weight,check", () => {
    node = new Node(SERVING);
    const r = node.run("list");
    expect(r).toEqual({
      rc: 0,
      stdout: "be_100080,app01,UP,1,L7OK\nbe_100080,app02,MAINT,1,L7OK\n",
      stderr: "",
    });
    expect(node.sent()).toEqual([`${HAPROXY_ADMIN_SOCKET} show stat -1 4 -1`]);
  });

  test("WHEN maint and enable run THEN the server's state changes and the state file is saved after each", () => {
    node = new Node(SERVING);
    expect(node.run("maint", "be_100080/app01").rc).toBe(0);
    expect(node.run("enable", "be_100080/app01").rc).toBe(0);
    expect(node.sent().map((l) => l.replace(`${HAPROXY_ADMIN_SOCKET} `, ""))).toEqual([
      "set server be_100080/app01 state maint",
      "show servers state",
      "set server be_100080/app01 state ready",
      "show servers state",
    ]);
    expect(fs.readFileSync(node.serverState, "utf8")).toContain("3 be_drain 1 flag");
  });

  test("WHEN drain and undrain run THEN the drain flag goes ready, then back to maint; status reads it", () => {
    node = new Node(SERVING);
    expect(node.run("status").stdout).toBe("serving\n");
    expect(node.run("drain").rc).toBe(0);
    expect(node.run("undrain").rc).toBe(0);
    expect(node.sent().filter((l) => l.includes("set server"))).toEqual([
      `${HAPROXY_ADMIN_SOCKET} set server be_drain/flag state ready`,
      `${HAPROXY_ADMIN_SOCKET} set server be_drain/flag state maint`,
    ]);
    node.cleanup();
    node = new Node(DRAINED);
    expect(node.run("status").stdout).toBe("drained\n");
  });

  test("WHEN sessions runs THEN it prints the current sessions of the VIP frontends only (health checks and scrapes have their own)", () => {
    /** A frontend's `show stat` row: 1 pxname, 2 svname FRONTEND, 5 scur. */
    const frontend = (name: string, scur: number) => {
      const f = Array.from({ length: 40 }, () => "");
      [f[0], f[1], f[4]] = [name, "FRONTEND", String(scur)];
      return f.join(",");
    };
    node = new Node([
      frontend("fe_100080", 3),
      frontend("fe_100443", 2),
      frontend("health", 7),
      frontend("stats", 1),
    ]);
    expect(node.run("sessions")).toEqual({ rc: 0, stdout: "5\n", stderr: "" });
    expect(node.sent()).toEqual([`${HAPROXY_ADMIN_SOCKET} show stat -1 1 -1`]);
    node.cleanup();
    node = new Node([frontend("health", 4)]);
    expect(node.run("sessions").stdout).toBe("0\n");
  });

  test("WHEN HAProxy answers a change with a message THEN hactl fails with it and saves no state", () => {
    node = new Node(SERVING);
    node.answer("No such server.\n");
    expect(node.run("maint", "be_100080/nope")).toEqual({
      rc: 1,
      stdout: "",
      stderr: "hactl: No such server.\n",
    });
    expect(fs.existsSync(node.serverState)).toBe(false);
  });

  test("WHEN the target is not backend/server or the command unknown THEN exit 2, nothing sent", () => {
    node = new Node(SERVING);
    expect(node.run("maint", "app01")).toMatchObject({
      rc: 2,
      stderr: "hactl: expected <backend>/<server>, got 'app01'\n",
    });
    expect(node.run("frobnicate")).toMatchObject({
      rc: 2,
      stderr: expect.stringMatching(/^usage: hactl list/),
    });
    expect(node.sent()).toEqual([]);
  });
});
