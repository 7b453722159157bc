/**
 * lab/watches.sh, the watches the lab arms inside a guest, run for real (bash): `ip` is a fake
 * on PATH answering from a state file, /proc/net/ip_vs and the agent's FIFO are files of the
 * test's folder. (The sampler's command line from lab/timeline-capture.ts is run in
 * test/lab/timeline.test.ts.)
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { procIpvsAddress } from "../../lab/scenarios/probes";
import { WATCHES } from "../../lab/timeline-capture";

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "watches-"))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const TWO =
  "198.18.7.15 proto bgp metric 20 nexthop via 198.18.10.17 dev ingress0 weight 1 nexthop via 198.18.10.18 dev ingress0 weight 1";
const ONE = "198.18.7.15 via 198.18.10.18 dev ingress0 proto bgp metric 20";

/** A fake `ip`: `route show` prints the file `route`; `monitor` prints `event` after 0.3 s, once `route` is `next`. */
function fakeIp(route: string, next?: string) {
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(dir, "route"), route);
  fs.writeFileSync(
    path.join(bin, "ip"),
    [
      "#!/bin/bash",
      `echo "ip $*" >>"${dir}/calls.log"`,
      'case "$*" in',
      next === undefined
        ? "  *monitor*) exec sleep 30 ;;"
        : `  *monitor*) sleep 0.3; printf '%s' ${JSON.stringify(next)} >"${dir}/route"; echo event; exec sleep 30 ;;`,
      `  *route\\ show*) cat "${dir}/route" ;;`,
      "esac",
    ].join("\n"),
    { mode: 0o755 },
  );
  return bin;
}

function watch(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync("bash", [WATCHES, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 20_000,
  });
  return { rc: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("watches.sh route-sample: the next hops counted in bash", () => {
  test.each([
    ["a multipath route", TWO, 2],
    ["a single next hop", ONE, 1],
    ["no route", "", 0],
  ])("GIVEN %s WHEN sampled THEN the count is its next hops", (_, route, want) => {
    const bin = fakeIp(route);
    fs.writeFileSync(path.join(dir, "stop"), "");
    const r = watch(["route-sample", "5", path.join(dir, "stop"), "198.18.7.15"], {
      PATH: `${bin}:${process.env.PATH}`,
    });
    expect(r.rc).toBe(0);
    expect(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => l.split(" ").slice(1).join(" ")),
    ).toEqual([String(want), String(want)]);
    expect(fs.existsSync(path.join(dir, "stop"))).toBe(false);
  });

  test("GIVEN an IPv4 and an IPv6 VIP WHEN sampled THEN each is asked with its family and prefix, counts in order", () => {
    const bin = fakeIp(TWO);
    fs.writeFileSync(path.join(dir, "stop"), "");
    const r = watch(["route-sample", "5", path.join(dir, "stop"), "198.18.7.15", "fd00:7::10"], {
      PATH: `${bin}:${process.env.PATH}`,
    });
    expect(r.stdout.trim().split("\n")[0].split(" ").slice(1)).toEqual(["2", "2"]);
    const calls = fs.readFileSync(path.join(dir, "calls.log"), "utf8");
    expect(calls).toContain("ip -4 -o route show 198.18.7.15/32\n");
    expect(calls).toContain("ip -6 -o route show fd00:7::10/128\n");
  });
});

describe("watches.sh route-below", () => {
  test("GIVEN the route loses a next hop after 0.3 s WHEN watched for fewer than 2 THEN the moment is printed, exit 0", () => {
    const bin = fakeIp(TWO, ONE);
    const t0 = Date.now() / 1000;
    const r = watch(["route-below", "198.18.7.15", "2", "10"], {
      PATH: `${bin}:${process.env.PATH}`,
    });
    expect(r.rc).toBe(0);
    const t = Number(r.stdout.trim());
    expect(t - t0).toBeGreaterThan(0.2);
    expect(t - t0).toBeLessThan(5);
    expect(fs.readFileSync(path.join(dir, "calls.log"), "utf8")).toContain(
      "ip -4 monitor route nexthop",
    );
  });

  test("GIVEN the route keeps its next hops WHEN watched for 1 s THEN nothing printed, exit 3", () => {
    const bin = fakeIp(TWO);
    const r = watch(["route-below", "198.18.7.15", "2", "1"], {
      PATH: `${bin}:${process.env.PATH}`,
    });
    expect(r).toMatchObject({ rc: 3, stdout: "" });
  });
});

describe("watches.sh weight-zero", () => {
  const ipVs = (w1: number, w2: number) =>
    [
      "IP Virtual Server version 1.2.1 (size=4096)",
      "Prot LocalAddress:Port Scheduler Flags",
      "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn",
      "FWM  000186A0 mh (mh-fallback,mh-port)",
      `  -> ${procIpvsAddress("198.18.10.33")}:0050      Route   ${w1}      0          0`,
      `  -> ${procIpvsAddress("198.18.10.34")}:0050      Route   1      0          0`,
      "FWM  000186A0 IPv6 mh (mh-fallback,mh-port)",
      `  -> ${procIpvsAddress("fd00:a::21")}:0050      Route   ${w2}      0          0`,
      "",
    ].join("\n");

  function run(text: string, seconds: string) {
    fs.writeFileSync(path.join(dir, "ip_vs"), text);
    spawnSync("mkfifo", [path.join(dir, "fifo")]);
    return watch(
      ["weight-zero", seconds, procIpvsAddress("198.18.10.33"), procIpvsAddress("fd00:a::21")],
      {
        WATCH_IP_VS: path.join(dir, "ip_vs"),
        WATCH_PAUSE_FIFO: path.join(dir, "fifo"),
      },
    );
  }

  test("GIVEN both watched real servers at weight 0 (another at 1) THEN the moment is printed, exit 0", () => {
    const r = run(ipVs(0, 0), "5");
    expect(r.rc).toBe(0);
    expect(Number(r.stdout.trim())).toBeGreaterThan(0);
  });

  test("GIVEN the IPv6 one still at weight 1 WHEN watched for 1 s THEN nothing printed, exit 3", () => {
    expect(run(ipVs(0, 1), "1")).toMatchObject({ rc: 3, stdout: "" });
  });
});

test("GIVEN an unknown watch THEN exit 2 saying so", () => {
  expect(watch(["route-gone"])).toMatchObject({ rc: 2 });
});
