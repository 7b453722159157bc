/**
 * The failover timelines: the picture (lab/timeline.ts) from a synthetic timeline, read back
 * as XML and drawn by librsvg; the per-second counters of wrk (lab/load-seconds.ts), the Lua
 * run by the real wrk against a loopback server that drops some requests; the gateway sampler
 * (lab/timeline-capture.ts) run by bash with a fake `ip`; and the load's script
 * (lab/load-wrk.sh) as startLoad hands it to the client guest, with a fake `wrk`.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Timeline, timelineSvg, wrapNote } from "../../lab/timeline";
import { parseWrkSeconds, wrkSecondsScript } from "../../lab/load-seconds";
import {
  loadSeconds,
  nextHopSamplerScript,
  parseNextHopSamples,
  TimelineRecorder,
} from "../../lab/timeline-capture";
import { LOAD_WRK, LoadFigures, startLoad } from "../../lab/load";
import { Lab } from "../../lab/guest";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "timeline-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The element and attribute names and texts of an SVG, as Python's XML parser reads it (it throws on anything not well-formed). */
function readXml(svg: string): { root: string; texts: string[] } {
  const file = path.join(dir, "t.svg");
  fs.writeFileSync(file, svg);
  const py =
    "import json, sys, xml.etree.ElementTree as E\nr = E.parse(sys.argv[1]).getroot()\nprint(json.dumps({'root': r.tag, 'texts': [t.text or '' for t in r.iter() if t.tag.endswith('}text') or t.tag == 'text']}))";
  const r = spawnSync("/usr/bin/python3", ["-I", "-c", py, file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`not XML: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const synthetic = (): Timeline => ({
  scenario: "c",
  title: "Maglev power cut under load",
  startedAt: "2026-12-01T00:00:00.000Z",
  durationMs: 10_000,
  load: Array.from({ length: 10 }, (_, i) => ({
    t: i * 1000,
    ok: i === 4 ? 150 : 400,
    failed: i === 4 ? 7 : 0,
  })),
  nextHops: ["gw-a", "gw-b"].flatMap((gateway, i) => [
    { t: 0, gateway, vip: "198.18.7.15", nextHops: 2 },
    { t: 4900 + i * 200, gateway, vip: "198.18.7.15", nextHops: 1 },
  ]),
  markers: [
    { t: 4000, label: "halt maglev <01> & co", kind: "halt" },
    { t: 4900, label: "route gone on gw-a", kind: "removal" },
    { t: 5100, label: "route gone on gw-b", kind: "removal" },
  ],
  note: "synthetic",
});

describe("timeline picture", () => {
  test("GIVEN a synthetic power cut WHEN rendered THEN the SVG is well-formed XML naming every series and marker", () => {
    // WHEN
    const svg = timelineSvg(synthetic());
    const xml = readXml(svg);
    // THEN
    expect(xml.root).toBe("{http://www.w3.org/2000/svg}svg");
    const texts = xml.texts.join("\n");
    for (const name of ["answered/s", "failed/s", "next hops gw-a", "next hops gw-b"])
      expect(texts).toContain(name);
    // A label with XML's own characters comes back as written (escaped in the file).
    for (const label of ["halt maglev <01> & co", "route gone on gw-a", "route gone on gw-b"])
      expect(texts).toContain(label);
    expect(texts).toContain("lab c: Maglev power cut under load");
  });

  test("GIVEN the synthetic timeline WHEN librsvg draws the SVG THEN it renders without an error", () => {
    // GIVEN
    const file = path.join(dir, "draw.svg");
    fs.writeFileSync(file, timelineSvg(synthetic()));
    // WHEN
    const r = spawnSync("rsvg-convert", ["-o", path.join(dir, "draw.png"), file], {
      encoding: "utf8",
    });
    // THEN
    expect({ status: r.status, err: r.stderr }).toEqual({ status: 0, err: "" });
    expect(fs.statSync(path.join(dir, "draw.png")).size).toBeGreaterThan(1000);
  });

  test("GIVEN gateways on several VIPs and no load WHEN rendered THEN each gateway × VIP is its own line", () => {
    // GIVEN
    const tl: Timeline = {
      ...synthetic(),
      load: [],
      nextHops: [
        ...synthetic().nextHops,
        { t: 0, gateway: "gw-a", vip: "fd00:7::10", nextHops: 2 },
      ],
    };
    // WHEN
    const texts = readXml(timelineSvg(tl)).texts.join("\n");
    // THEN
    expect(texts).toContain("next hops gw-a 198.18.7.15");
    expect(texts).toContain("next hops gw-a fd00:7::10");
  });
});

describe("timeline note", () => {
  test("GIVEN a result line of several hundred characters WHEN wrapped under the title THEN at most 3 lines of at most 150, words whole, the rest cut", () => {
    // GIVEN
    const words = Array.from({ length: 120 }, (_, i) => `word${i}`);
    // WHEN
    const lines = wrapNote(words.join(" "));
    // THEN
    expect(lines).toHaveLength(3);
    expect(lines.every((l) => l.length <= 150)).toBe(true);
    expect(lines[0].split(" ")).toEqual(words.slice(0, lines[0].split(" ").length));
    expect(lines[2].endsWith("…")).toBe(true);
    expect(wrapNote("short line")).toEqual(["short line"]);
  });
});

describe("wrk per-second counters", () => {
  test("GIVEN the script's lines of two threads WHEN read THEN each second sums both threads, and failed is the bad answers plus the lost requests", () => {
    // GIVEN
    const out = [
      "  300 requests in 3.00s, 1KB read",
      "PERSEC 1 12 100 99 0 1",
      "PERSEC 1 10 100 100 0 0",
      "PERSEC 2 10 10 10 2 0",
      "PERSEC 1 11 100 100 0 0",
    ].join("\n");
    // WHEN
    const perSecond = parseWrkSeconds(out);
    // THEN
    expect(perSecond).toEqual([
      { second: 10, written: 110, ok: 108, failed: 2 },
      { second: 11, written: 100, ok: 100, failed: 0 },
      { second: 12, written: 100, ok: 99, failed: 1 },
    ]);
    expect(parseWrkSeconds("wrk: no PERSEC lines")).toEqual([]);
  });

  test("GIVEN a loopback server that closes every 50th request unanswered WHEN the real wrk runs the script THEN answers and losses per second add up to wrk's own totals", async () => {
    // GIVEN
    const server = path.join(dir, "flaky.py");
    fs.writeFileSync(
      server,
      [
        "import socketserver, sys",
        "n = [0]",
        "class H(socketserver.StreamRequestHandler):",
        "    def handle(self):",
        "        while True:",
        "            if not self.rfile.readline(): return",
        "            while self.rfile.readline() not in (b'\\r\\n', b'\\n', b''): pass",
        "            n[0] += 1",
        "            if n[0] % 50 == 0: return",
        "            self.wfile.write(b'HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nok\\n')",
        "class S(socketserver.ThreadingTCPServer):",
        "    allow_reuse_address = True",
        "    daemon_threads = True",
        "s = S(('127.0.0.1', 0), H)",
        "print(s.server_address[1], flush=True)",
        "s.serve_forever()",
      ].join("\n"),
    );
    const srv = spawn("/usr/bin/python3", ["-I", server], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const port = await new Promise<string>((resolve) =>
        srv.stdout.once("data", (b) => resolve(String(b).trim())),
      );
      fs.writeFileSync(path.join(dir, "seconds.lua"), wrkSecondsScript(10));
      // WHEN
      const r = spawnSync(
        "wrk",
        [
          "-t2",
          "-c4",
          "-d2s",
          "--timeout",
          "2s",
          "-s",
          path.join(dir, "seconds.lua"),
          `http://127.0.0.1:${port}/`,
        ],
        { encoding: "utf8", timeout: 20_000 },
      );
      // THEN
      const requests = Number(/(\d+) requests in/.exec(r.stdout)?.[1]);
      const readErrors = Number(/Socket errors: connect \d+, read (\d+)/.exec(r.stdout)?.[1] ?? 0);
      const s = parseWrkSeconds(r.stdout);
      expect(s.length).toBeGreaterThanOrEqual(2);
      expect(s.reduce((a, x) => a + x.ok, 0)).toBe(requests);
      const failed = s.reduce((a, x) => a + x.failed, 0);
      expect(readErrors).toBeGreaterThan(0);
      // A loss after the run's last answer is not seen.
      expect(failed).toBeGreaterThanOrEqual(readErrors - 1);
      expect(failed).toBeLessThanOrEqual(readErrors);
    } finally {
      srv.kill();
    }
  });

  test("GIVEN startLoad asked for per-second counters WHEN its script runs THEN wrk gets the counting script with the pause, and the figures carry the seconds", async () => {
    // GIVEN: a lab whose client runs the script here, with a wrk that shows the script it got.
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(
      path.join(bin, "wrk"),
      '#!/bin/bash\nfor a; do case $prev in -s) cp "$a" "$WRK_SEEN";; esac; prev=$a; done\necho "  100 requests in 1.00s, 1KB read"\necho "Requests/sec: 100.0"\necho "PERSEC 1 1796150000 100 100 0 0"\n',
      { mode: 0o755 },
    );
    const seen = path.join(dir, "seen.lua");
    const lab = {
      exec: async (_node: string, script: string) => {
        const r = spawnSync("bash", ["-c", script], {
          encoding: "utf8",
          env: { PATH: `${bin}:/usr/bin:/bin`, WRK_SEEN: seen },
        });
        return { stdout: r.stdout, stderr: r.stderr, code: r.status ?? 1 };
      },
    } as unknown as Lab;
    // WHEN
    const figs: LoadFigures[] = await startLoad(
      lab,
      [{ url: "http://198.18.7.15:80/", pauseMs: 20 }],
      1,
      { perSecond: true },
    );
    // THEN
    expect(fs.readFileSync(seen, "utf8")).toBe(wrkSecondsScript(20));
    expect(figs[0]).toMatchObject({
      requests: 100,
      failed: 0,
      perSecond: [{ second: 1796150000, written: 100, ok: 100, failed: 0 }],
    });
    expect(loadSeconds(figs, 250, 1796149999_000)).toEqual([{ t: 750, ok: 100, failed: 0 }]);
  });

  test("GIVEN two targets, one paused, one a new connection per request WHEN lab/load-wrk.sh runs THEN one wrk each with its options and Lua, reports in order, its folder removed", async () => {
    // GIVEN: a wrk that logs its arguments, its -s script and its folder; the second fails.
    const bin = path.join(dir, "bin2");
    fs.mkdirSync(bin, { recursive: true });
    const log = path.join(dir, "wrk2.log");
    fs.writeFileSync(
      path.join(bin, "wrk"),
      [
        "#!/bin/bash",
        'echo "wrk $* in $PWD" >>"$WRK_LOG"',
        'for a; do case $prev in -s) cat "$a" >>"$WRK_LOG";; esac; prev=$a; done',
        'case "$*" in *close*) echo "unable to connect" >&2; exit 1 ;; esac',
        'echo "  7 requests in 1.00s, 1KB read"',
      ].join("\n") + "\n",
      { mode: 0o755 },
    );
    let command = "";
    const lab = {
      exec: async (node: string, script: string) => {
        command = script;
        expect(node).toBe("client");
        const r = spawnSync("bash", ["-c", script], {
          encoding: "utf8",
          env: { PATH: `${bin}:/usr/bin:/bin`, WRK_LOG: log },
        });
        return { stdout: r.stdout, stderr: r.stderr, code: r.status ?? 1 };
      },
    } as unknown as Lab;
    // WHEN
    const figs = await startLoad(
      lab,
      [
        { url: "http://198.18.7.15:80/", pauseMs: 20, connections: 4 },
        { url: "http://[fd00:7::10]:80/x", newConnections: true },
      ],
      2,
    );
    // THEN: the program is the file's text, every value an argument.
    const words = spawnSync("bash", ["-c", `printf '%s\\0' ${command}`], { encoding: "utf8" })
      .stdout.split("\0")
      .slice(0, -1);
    expect(words.slice(0, 5)).toEqual([
      "bash",
      "-c",
      fs.readFileSync(LOAD_WRK, "utf8"),
      "load-wrk",
      "2",
    ]);
    const lines = fs.readFileSync(log, "utf8").split("\n");
    const folder = / in (\S+)$/.exec(lines[0])![1];
    expect(lines.filter((l) => l.startsWith("wrk ")).sort()).toEqual([
      `wrk -t1 -c4 -d2s --timeout 3s -s ${folder}/0.lua http://198.18.7.15:80/ in ${folder}`,
      `wrk -t1 -c8 -d2s --timeout 3s -H Connection: close http://[fd00:7::10]:80/x in ${folder}`,
    ]);
    expect(lines).toContain("function delay()");
    expect(lines).toContain("  return 20");
    expect(fs.existsSync(folder)).toBe(false);
    expect(figs.map((f) => [f.url, f.newConnections, f.requests, f.failed])).toEqual([
      ["http://198.18.7.15:80/", false, 7, 0],
      ["http://[fd00:7::10]:80/x", true, 0, NaN],
    ]);
    expect(figs[1].detail).toBe("wrk did not report: unable to connect");
  });
});

describe("gateway next-hop sampler", () => {
  test("GIVEN a gateway whose route loses a next hop WHEN the sampler runs THEN it prints the start, the change and the end, and they read back on the host's clock", () => {
    // GIVEN: `ip monitor` reports one change after 0.3 s; `ip route show` answers from a state file.
    const bin = path.join(dir, "ipbin");
    fs.mkdirSync(bin, { recursive: true });
    const state = path.join(dir, "hops");
    fs.writeFileSync(state, "2");
    fs.writeFileSync(
      path.join(bin, "ip"),
      [
        "#!/bin/bash",
        `case "$*" in`,
        `  *monitor*) sleep 0.3; echo 1 > "${state}"; echo "Deleted 198.18.7.15 via 198.18.10.17"; exec sleep 30;;`,
        `  *route\\ show*) if [ "$(cat "${state}")" = 2 ]; then echo "198.18.7.15 proto bgp nexthop via 198.18.10.17 dev ingress0 weight 1 nexthop via 198.18.10.18 dev ingress0 weight 1"; else echo "198.18.7.15 via 198.18.10.18 dev ingress0 proto bgp"; fi;;`,
        "esac",
      ].join("\n"),
      { mode: 0o755 },
    );
    const stop = path.join(dir, "sampler.stop");
    // WHEN: stopped after ~1.5 s by its stop file
    const r = spawnSync(
      "bash",
      ["-c", `(sleep 1.5; touch ${stop}) & ${nextHopSamplerScript(["198.18.7.15"], 5, stop)}`],
      { encoding: "utf8", env: { PATH: `${bin}:/usr/bin:/bin` }, timeout: 15_000 },
    );
    // THEN
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.map((l) => l.split(" ")[1])).toEqual(["2", "1", "1"]);
    expect(fs.existsSync(stop)).toBe(false);
    const t0 = Math.round(Number(lines[0].split(" ")[0]) * 1000);
    const samples = parseNextHopSamples(r.stdout, "gw-a", ["198.18.7.15"], 100, t0);
    expect(samples[0]).toEqual({ t: -100, gateway: "gw-a", vip: "198.18.7.15", nextHops: 2 });
    expect(samples[1].t).toBeGreaterThan(100);
    expect(samples[1].t).toBeLessThan(1500);
  });
});

describe("timeline recorder", () => {
  test("GIVEN guests that run here (a gateway's route loses a next hop) WHEN a recorder samples, marks and writes THEN lab-timeline-<id>.svg and .json hold the samples, load and markers on the host's clock", async () => {
    // GIVEN: every guest's exec is bash on this machine; `ip` answers 2 next hops, then 1
    // once the monitor reported a change.
    const bin = path.join(dir, "recbin");
    fs.mkdirSync(bin, { recursive: true });
    const state = path.join(dir, "rec-hops");
    fs.writeFileSync(state, "2");
    fs.writeFileSync(
      path.join(bin, "ip"),
      [
        "#!/bin/bash",
        `case "$*" in`,
        `  *monitor*) sleep 0.4; echo 1 > "${state}"; echo changed; exec sleep 30;;`,
        `  *route\\ show*) if [ "$(cat "${state}")" = 2 ]; then echo "v nexthop via a dev x nexthop via b dev x"; else echo "v via b dev x"; fi;;`,
        "esac",
      ].join("\n"),
      { mode: 0o755 },
    );
    const execs: string[] = [];
    const lab = {
      exec: (node: string, script: string) =>
        new Promise((resolve) => {
          execs.push(node);
          const c = spawn("bash", ["-c", script], { env: { PATH: `${bin}:/usr/bin:/bin` } });
          let stdout = "";
          c.stdout.on("data", (b) => (stdout += b));
          c.on("close", (code) => resolve({ stdout, stderr: "", code: code ?? 1 }));
        }),
    } as unknown as Lab;
    const out = path.join(dir, "rec-out");
    fs.mkdirSync(out, { recursive: true });
    // WHEN
    const rec = new TimelineRecorder(lab, "c", "Maglev power cut under load");
    await rec.sampleNextHops(["gw-a"], ["198.18.7.15"], 20);
    rec.mark("halt maglev01", "halt");
    rec.mark("never seen", "removal", Number.NaN);
    rec.addLoad([
      {
        url: "u",
        newConnections: false,
        requests: 10,
        failed: 0,
        rps: 10,
        detail: "",
        perSecond: [{ second: Math.floor(rec.t0 / 1000), written: 10, ok: 10, failed: 0 }],
      },
    ]);
    await new Promise((r) => setTimeout(r, 1500));
    const svg = await rec.write("0 failed of 10 requests", out);
    // THEN
    expect(svg).toBe("lab-timeline-c.svg");
    const tl: Timeline = JSON.parse(fs.readFileSync(path.join(out, "lab-timeline-c.json"), "utf8"));
    expect(tl.nextHops.map((s) => s.nextHops)).toEqual([2, 1, 1]);
    expect(tl.nextHops[1].t).toBeGreaterThan(0);
    expect(tl.nextHops[1].t).toBeLessThan(tl.durationMs);
    expect(tl.markers.map((m) => m.label)).toEqual(["halt maglev01"]);
    expect(tl.load).toHaveLength(1);
    expect(Math.abs(tl.load[0].t)).toBeLessThan(1500);
    expect(tl.note).toBe("0 failed of 10 requests");
    expect(readXml(fs.readFileSync(path.join(out, svg), "utf8")).texts.join("\n")).toContain(
      "next hops gw-a",
    );
    // The client's and the gateway's clocks read, the sampler run and stopped by its stop file.
    expect(execs.filter((n) => n === "client")).toHaveLength(3);
    expect(execs.filter((n) => n === "gw-a")).toHaveLength(5);
  });
});
