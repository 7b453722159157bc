/**
 * A real pdns_server on 127.0.0.1 for the tests: random high ports (DNS and API), its own temp
 * folder (config, database, control socket), API enabled with a random key. Either a primary
 * (gsqlite3, as dns00) or a secondary (lmdb, as dns01-03). Stopped by its PID only.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

export interface PdnsServer {
  dir: string;
  dnsPort: number;
  apiPort: number;
  apiUrl: string;
  key: string;
  pid: number;
  /** pdnsutil against this server's config. */
  pdnsutil(...args: string[]): string;
  stop(): Promise<void>;
}

const SQLITE_SCHEMA = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql";

/** A free TCP port ≥ 20000 on 127.0.0.1 (also free for UDP in practice; a clash fails the start, which is retried). */
async function freePort(): Promise<number> {
  for (;;) {
    const p = 20000 + Math.floor(Math.random() * 40000);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once("error", () => resolve(false));
      s.listen(p, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
}

async function waitApi(
  url: string,
  key: string,
  child: ChildProcess,
  ms: number,
): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child.exitCode !== null) return false;
    try {
      const r = await fetch(`${url}/api/v1/servers/localhost`, {
        headers: { "X-API-Key": key },
        signal: AbortSignal.timeout(1000),
      });
      if (r.status === 200) return true;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export interface StartOptions {
  role: "primary" | "secondary";
  /** Primary: the secondaries' DNS ports on 127.0.0.1 (also-notify). */
  notify?: number[];
  /** Accept RFC 2136 updates from 127.0.0.0/8. */
  dnsupdate?: boolean;
}

export async function startPdns(o: StartOptions): Promise<PdnsServer> {
  let lastErr = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `maglev-pdns-${o.role}-`));
    const dnsPort = await freePort();
    const apiPort = await freePort();
    const key = randomBytes(18).toString("base64url");
    const conf = [
      o.role === "primary" ? "launch=gsqlite3" : "launch=lmdb",
      o.role === "primary"
        ? `gsqlite3-database=${dir}/pdns.sqlite3`
        : `lmdb-filename=${dir}/pdns.lmdb`,
      "local-address=127.0.0.1",
      `local-port=${dnsPort}`,
      "api=yes",
      `api-key=${key}`,
      "webserver=yes",
      "webserver-address=127.0.0.1",
      `webserver-port=${apiPort}`,
      "webserver-allow-from=127.0.0.1",
      `socket-dir=${dir}`,
      "daemon=no",
      "guardian=no",
      "disable-syslog=yes",
      "security-poll-suffix=",
      "zone-cache-refresh-interval=0",
      ...(o.role === "primary"
        ? [
            "primary=yes",
            "secondary=no",
            `also-notify=${(o.notify ?? []).map((p) => `127.0.0.1:${p}`).join(",")}`,
            "only-notify=",
            "allow-axfr-ips=127.0.0.0/8",
          ]
        : [
            "primary=no",
            "secondary=yes",
            "allow-notify-from=127.0.0.0/8",
            "xfr-cycle-interval=5",
            "disable-axfr=yes",
          ]),
      ...(o.dnsupdate ? ["dnsupdate=yes", "allow-dnsupdate-from=127.0.0.0/8"] : []),
      "",
    ].join("\n");
    fs.writeFileSync(path.join(dir, "pdns.conf"), conf, { mode: 0o600 });
    if (o.role === "primary") {
      const r = spawnSync("sqlite3", [path.join(dir, "pdns.sqlite3")], {
        input: fs.readFileSync(SQLITE_SCHEMA),
        encoding: "utf8",
      });
      if (r.status !== 0) throw new Error(`sqlite3 schema: ${r.stderr}`);
    }
    const log = fs.openSync(path.join(dir, "pdns.log"), "a");
    const child = spawn("pdns_server", [`--config-dir=${dir}`], { stdio: ["ignore", log, log] });
    fs.closeSync(log);
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const pid = child.pid!;
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((r) => child.once("exit", () => r()));
      process.kill(pid, "SIGTERM");
      const t = setTimeout(
        () => child.exitCode === null && child.signalCode === null && process.kill(pid, "SIGKILL"),
        5000,
      );
      await gone;
      clearTimeout(t);
    };
    if (await waitApi(apiUrl, key, child, 15_000)) {
      return {
        dir,
        dnsPort,
        apiPort,
        apiUrl,
        key,
        pid,
        pdnsutil: (...args: string[]) => {
          const r = spawnSync("pdnsutil", [`--config-dir=${dir}`, ...args], {
            encoding: "utf8",
            timeout: 30_000,
          });
          if (r.status !== 0) throw new Error(`pdnsutil ${args.join(" ")}: ${r.stderr}`);
          return r.stdout;
        },
        stop: async () => {
          await stop();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    lastErr = fs.readFileSync(path.join(dir, "pdns.log"), "utf8").split("\n").slice(-6).join("\n");
    await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  throw new Error(`pdns_server (${o.role}) did not start: ${lastErr}`);
}

/** dig on loopback: the answer section's records as `name ttl class type content` lines. */
export function dig(port: number, name: string, type: string): string[] {
  const r = spawnSync(
    "dig",
    [
      `@127.0.0.1`,
      "-p",
      String(port),
      "+norecurse",
      "+noall",
      "+answer",
      "+time=2",
      "+tries=2",
      name,
      type,
    ],
    { encoding: "utf8", timeout: 15_000 },
  );
  return r.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5 && f[3] === type)
    .map((f) => f[4]);
}
