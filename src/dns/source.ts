/**
 * Where `npm run dns` gets its input: the records (the stack's `dnsRecords` output through the
 * Pulumi CLI, or the offline render — one function, topology.dnsRecords, feeds both) and the
 * PowerDNS API key (the stack's secret `pdnsApiKey`, never printed).
 */
import { spawn } from "child_process";
import { Environment } from "../config/schema";
import { deriveTopology, DnsRecord } from "../topology";
import { SECRETS } from "../tiers/dns";
import { parseDnsRecords } from "./records";

export type RecordSource = "auto" | "pulumi" | "render";

interface Spawned {
  code: number | null;
  stdout: string;
  missing: boolean;
}

/** Run the Pulumi CLI (bounded); stderr is dropped, it may hold config values. */
function pulumi(args: string[], timeoutMs = 60_000): Promise<Spawned> {
  return new Promise((resolve) => {
    const child = spawn("pulumi", args, { stdio: ["ignore", "pipe", "ignore"] });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve({ code: null, stdout: "", missing: e.code === "ENOENT" });
    });
    child.on("close", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, missing: false });
    });
  });
}

/**
 * The stack's records. `pulumi`: `pulumi stack output dnsRecords --json --stack <stack>` (what
 * is deployed); `render`: derived from the stack file (what `pulumi up` would deploy); `auto`:
 * the Pulumi CLI when it is installed, else the render. A failing Pulumi CLI is an error, never
 * a silent fall-back to other records. Either way the document is checked against the contract.
 */
export async function stackRecords(
  stack: string,
  env: Environment,
  from: RecordSource,
): Promise<{ records: DnsRecord[]; source: string }> {
  if (from !== "render") {
    const r = await pulumi(["stack", "output", "dnsRecords", "--json", "--stack", stack]);
    if (!r.missing) {
      if (r.code !== 0)
        throw new Error(
          `pulumi stack output dnsRecords --json --stack ${stack} failed (exit ${r.code}); for the records of the stack file instead: --from render`,
        );
      let data: unknown;
      try {
        data = JSON.parse(r.stdout);
      } catch {
        throw new Error(`pulumi stack output dnsRecords --json --stack ${stack}: not JSON`);
      }
      return {
        records: parseDnsRecords(data, `stack output dnsRecords of ${stack}`),
        source: `pulumi stack output dnsRecords (stack ${stack})`,
      };
    }
    if (from === "pulumi") throw new Error("--from pulumi: no Pulumi CLI on PATH");
  }
  const records = parseDnsRecords(deriveTopology(env).dnsRecords, `render of ${env.name}`);
  return { records, source: `render of the stack file (${env.name})` };
}

/**
 * The PowerDNS API key: MAGLEV_PDNS_API_KEY, else the stack's secret `maglev-infra:pdnsApiKey`
 * through `pulumi config get`. Undefined when neither has it. Never printed.
 */
export async function stackApiKey(stack: string): Promise<string | undefined> {
  if (process.env.MAGLEV_PDNS_API_KEY) return process.env.MAGLEV_PDNS_API_KEY;
  const r = await pulumi(
    ["config", "get", `maglev-infra:${SECRETS.pdnsApiKey}`, "--stack", stack],
    30_000,
  );
  const key = r.code === 0 ? r.stdout.replace(/\r?\n$/, "") : "";
  return key || undefined;
}
