/**
 * The PowerDNS HTTP API as this project uses it: the ownership mark (the RRset comment every
 * RRset it writes carries, see index.ts), the API's zone and RRset shapes, and a small client.
 */
import { PdnsApi } from "../api";
import { jsonDocument, urlPathSegment } from "../../escape";

/** The account of the ownership comment. */
export const OWNER_ACCOUNT = "maglev-infra";

export function ownerComment(stack: string): string {
  return `${OWNER_ACCOUNT} stack=${stack}: from the stack's dnsRecords; npm run dns -- push replaces or deletes this RRset`;
}

export interface PdnsComment {
  content: string;
  account: string;
  modified_at?: number;
}
export interface PdnsRRset {
  name: string;
  type: string;
  ttl: number;
  records: { content: string; disabled: boolean }[];
  comments?: PdnsComment[];
}
export interface PdnsZone {
  id: string;
  name: string;
  kind: string;
  serial: number;
  soa_edit_api?: string;
  masters?: string[];
  rrsets?: PdnsRRset[];
}

/** Which stack's mark an RRset carries (undefined: none, i.e. not this project's). */
export function ownerOf(rr: PdnsRRset): string | undefined {
  for (const c of rr.comments ?? []) {
    if (c.account !== OWNER_ACCOUNT) continue;
    const m = /^maglev-infra stack=([a-z0-9-]+)(:|$)/.exec(c.content);
    if (m) return m[1];
  }
  return undefined;
}

// ------------------------------------------------------------------------------ API client

export class PdnsApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** PowerDNS's own `error` text. */
    readonly pdnsError: string,
  ) {
    super(message);
    this.name = "PdnsApiError";
  }
}

const SERVER = "/servers/localhost";
const zonePath = (id: string, rest = "") =>
  `${SERVER}/zones/${urlPathSegment(id, "zone id")}${rest}`;

export class PdnsClient {
  constructor(readonly api: PdnsApi) {}

  private async call<T>(
    method: string,
    path: string,
    body?: unknown,
    ok: number[] = [200, 201, 204],
  ): Promise<T> {
    const r = await this.api.request(
      method,
      path,
      body === undefined ? undefined : jsonDocument(body, "PowerDNS API request"),
    );
    if (!ok.includes(r.status)) {
      let err = r.body.trim();
      try {
        err = String((JSON.parse(r.body) as { error?: string }).error ?? err);
      } catch {
        /* not JSON: the text as it came */
      }
      throw new PdnsApiError(
        `${this.api.where}: ${method} ${path}: HTTP ${r.status}${err ? `: ${err.slice(0, 500)}` : ""}`,
        r.status,
        err,
      );
    }
    if (!r.body.trim()) return undefined as T;
    try {
      return JSON.parse(r.body) as T;
    } catch {
      throw new Error(
        `${this.api.where}: ${method} ${path}: the answer is not JSON (${JSON.stringify(r.body.slice(0, 80))})`,
      );
    }
  }

  listZones(): Promise<PdnsZone[]> {
    return this.call("GET", `${SERVER}/zones`);
  }
  getZone(id: string): Promise<PdnsZone> {
    return this.call("GET", zonePath(id));
  }
  createZone(z: {
    name: string;
    kind: string;
    masters?: string[];
    soa_edit_api?: string;
    rrsets?: PdnsRRset[];
  }): Promise<PdnsZone> {
    return this.call("POST", `${SERVER}/zones`, { nameservers: [], ...z });
  }
  patchZone(id: string, rrsets: unknown[]): Promise<void> {
    return this.call("PATCH", zonePath(id), { rrsets });
  }
  notify(id: string): Promise<void> {
    return this.call("PUT", zonePath(id, "/notify"));
  }
  axfrRetrieve(id: string): Promise<void> {
    return this.call("PUT", zonePath(id, "/axfr-retrieve"));
  }
}
