/**
 * lab/conn-hold.py, the connection holder of scenario `survival`, against HTTP servers on
 * loopback: connections that live to the end count as survived, a reset, an EOF or a refused
 * connect as lost, with its time and reason; and the result line the scenario prints.
 */
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { spawnSync } from "child_process";
import { AddressInfo } from "net";
import { HoldResult, survivalText } from "../../lab/scenarios/connection-survival";
import { ROOT } from "../helpers";

const HOLDER = path.join(ROOT, "lab", "conn-hold.py");

/** A keep-alive HTTP server on 127.0.0.1; `cutAfterMs`: reset every socket that long after the first connection. */
async function server(cutAfterMs?: number): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const s = http.createServer({ keepAliveTimeout: 30_000 }, (_req, res) => {
    res.setHeader("Content-Length", "3");
    res.end("ok\n");
  });
  let timer: NodeJS.Timeout | undefined;
  s.on("connection", (sock) => {
    sockets.add(sock);
    if (cutAfterMs && !timer)
      timer = setTimeout(() => sockets.forEach((x) => x.resetAndDestroy()), cutAfterMs);
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return {
    port: (s.address() as AddressInfo).port,
    close() {
      if (timer) clearTimeout(timer);
      sockets.forEach((x) => x.destroy());
      s.close();
    },
  };
}

/** A loopback port with nothing listening. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** conn-hold.py in a child process; the event loop stays free for the servers meanwhile. */
async function holdLocal(targets: string[], seconds: number): Promise<HoldResult> {
  const { spawn } = await import("child_process");
  return new Promise((resolve, reject) => {
    const p = spawn("python3", [
      HOLDER,
      "--targets",
      targets.join(","),
      "--connections",
      "20",
      "--interval-ms",
      "100",
      "--seconds",
      String(seconds),
    ]);
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.on("error", reject);
    p.on("close", (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${code}`)),
    );
  });
}

describe("conn-hold.py", () => {
  test("GIVEN a keep-alive server and a port nobody listens on WHEN held THEN the server's connections survive and the others are lost as refused", async () => {
    const up = await server();
    const dead = await deadPort();
    try {
      const r = await holdLocal([`127.0.0.1:${up.port}`, `127.0.0.1:${dead}`], 1.5);
      expect(r.connections).toBe(20);
      expect(r.per_target[`127.0.0.1:${up.port}`]).toEqual({
        connections: 10,
        opened: 10,
        survived: 10,
      });
      expect(r.per_target[`127.0.0.1:${dead}`].survived).toBe(0);
      expect(r.failures.every((f) => f.reason === "connect: ECONNREFUSED")).toBe(true);
      // 10 connections, a request every 100 ms for 1.5 s: well over one each.
      expect(r.requests).toBeGreaterThan(50);
    } finally {
      up.close();
    }
  });

  test("GIVEN a server that resets every connection after 0.8 s WHEN held THEN none survives, each lost at about that time", async () => {
    const up = await server(800);
    try {
      const r = await holdLocal([`127.0.0.1:${up.port}`], 2);
      expect(r.survived).toBe(0);
      expect(r.failures).toHaveLength(20);
      for (const f of r.failures) {
        expect(f.reason).toMatch(/^(recv: ConnectionResetError|eof|send: \w+)$/);
        expect(f.at_s).toBeGreaterThan(0.6);
        expect(f.at_s).toBeLessThan(1.6);
      }
    } finally {
      up.close();
    }
  });

  test("it refuses more than 1000 connections", () => {
    const r = spawnSync(
      "python3",
      [HOLDER, "--targets", "127.0.0.1:1", "--connections", "1001", "--seconds", "1"],
      { encoding: "utf8" },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/at most 1000 connections/);
  });
});

describe("survivalText", () => {
  const base = { requests: 10, per_target: {} };
  test("all survived", () => {
    expect(survivalText({ ...base, connections: 200, survived: 200, failures: [] })).toBe(
      "200 of 200 survived",
    );
  });
  test("losses grouped by reason with their time span", () => {
    const failures = [
      { target: "a", at_s: 6.4, reason: "eof" },
      { target: "a", at_s: 6.1, reason: "eof" },
      { target: "b", at_s: 7, reason: "recv: ConnectionResetError" },
    ];
    expect(survivalText({ ...base, connections: 200, survived: 196, failures })).toBe(
      "196 of 200 survived (4 lost: 2 eof at 6.1–6.4 s, 1 recv: ConnectionResetError at 7.0–7.0 s, 1 never answered)",
    );
  });
});
