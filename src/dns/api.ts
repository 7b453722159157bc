/**
 * How `npm run dns` reaches a PowerDNS HTTP API: one small interface, two transports.
 *
 *  - `httpApi`: straight HTTP from this machine (an operator on the mgmt network, an SSH
 *    tunnel the operator opened, the loopback test server).
 *  - `runnerApi`: curl on the PowerDNS host itself, through a HostRunner — SSH as the stack's
 *    user, the way `npm run check` reaches hosts, also in the lab (from its operator seat: this
 *    machine itself is on no lab network). The program is scripts/host/pdns-api.sh; the API key and the
 *    request body travel on its stdin, never on a command line.
 *
 * The API key is never part of a message: every error text passes `redact` first.
 */
import * as http from "http";
import { HostRunner } from "../ops/runner";
import { hostScriptCommand } from "../plan/scripts";

export interface ApiResponse {
  status: number;
  body: string;
}

export interface PdnsApi {
  /** For messages: where the API is (`http://10.1.7.40:8081`, `curl on lab-vm-dns00`). */
  readonly where: string;
  /** One request; `path` is below `/api/v1` (e.g. `/servers/localhost/zones`). Rejects on transport failure or timeout. */
  request(method: string, path: string, body?: string): Promise<ApiResponse>;
}

/** Each request's bound, ms. @default 10 000 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Largest response read, bytes (a zone listing of a very large server stays below). */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** The key as it may never appear: replaced by `[secret]` wherever it shows up in a text. */
export function redact(text: string, secret: string): string {
  return secret ? text.split(secret).join("[secret]") : text;
}

/** An API key PowerDNS can be sent in one header line: printable ASCII, no space at either end. */
export function checkApiKey(key: string, source: string): string {
  if (!key) throw new Error(`${source}: the PowerDNS API key is empty`);
  // The message never shows the key, only what is wrong with it.
  if (!/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(key))
    throw new Error(
      `${source}: the PowerDNS API key has characters an HTTP header cannot carry (only printable ASCII, no space at either end)`,
    );
  return key;
}

export function httpApi(
  baseUrl: string,
  key: string,
  timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
): PdnsApi {
  const base = new URL(baseUrl);
  if (base.protocol !== "http:")
    throw new Error(
      `${baseUrl}: the PowerDNS webserver speaks plain http:// (put TLS in front with a tunnel)`,
    );
  const where = base.origin;
  return {
    where,
    request(method, p, body) {
      return new Promise((resolve, reject) => {
        const url = new URL(`/api/v1${p}`, base);
        const data = body === undefined ? undefined : Buffer.from(body, "utf8");
        const req = http.request(url, {
          method,
          headers: {
            "X-API-Key": key,
            Accept: "application/json",
            ...(data ? { "Content-Type": "application/json", "Content-Length": data.length } : {}),
          },
          timeout: timeoutMs,
        });
        const deadline = setTimeout(
          () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
        const fail = (e: Error) => {
          clearTimeout(deadline);
          reject(new Error(redact(`${method} ${where}/api/v1${p}: ${e.message}`, key)));
        };
        req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
        req.on("error", fail);
        req.on("response", (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES)
              req.destroy(new Error(`answer larger than ${MAX_RESPONSE_BYTES} bytes`));
            else chunks.push(c);
          });
          res.on("error", fail);
          res.on("end", () => {
            clearTimeout(deadline);
            resolve({
              status: res.statusCode ?? 0,
              body: redact(Buffer.concat(chunks).toString("utf8"), key),
            });
          });
        });
        req.end(data);
      });
    },
  };
}

/**
 * curl on `hostname` (through `runner`) against `baseUrl`, the API's address as seen from that
 * host (its webserver-address): scripts/host/pdns-api.sh, key and body on stdin. One runner
 * call per request.
 */
export function runnerApi(
  runner: HostRunner,
  hostname: string,
  baseUrl: string,
  key: string,
  timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
): PdnsApi {
  const base = new URL(baseUrl);
  const where = `curl on ${hostname} (${base.origin})`;
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  return {
    where,
    async request(method, p, body) {
      const url = new URL(`/api/v1${p}`, base).toString();
      const script = hostScriptCommand("pdns-api.sh", [method, url, String(seconds)]);
      // The runner's own bound: curl's, plus the round trip to the host.
      const r = await runner.run(hostname, script, timeoutMs + 15_000, `${key}\n${body ?? ""}`);
      const out = redact(r.stdout, key);
      if (r.code !== 0)
        throw new Error(
          redact(
            `${method} ${url} (${where}): ${(r.stderr || out).trim().split("\n").slice(-3).join(" ") || `exit ${r.code}`}`,
            key,
          ),
        );
      const nl = out.indexOf("\n");
      const status = Number(nl < 0 ? out.trim() : out.slice(0, nl));
      if (!Number.isInteger(status) || status < 100)
        throw new Error(
          `${method} ${url} (${where}): no HTTP status from curl (got ${JSON.stringify(out.slice(0, 80))})`,
        );
      return { status, body: nl < 0 ? "" : out.slice(nl + 1) };
    },
  };
}
