/**
 * npm run dns -- diff <stack> [--lab] [--json] [--exit-code]
 * npm run dns -- push <stack> [--lab] [--adopt] [--wait <s>]
 * npm run dns -- nsupdate <stack> [--server <addr>] [--port <n>]
 *
 * The DNS automation that consumes the stack's outputs: the host records (`dnsRecords`) and
 * the PTR of every address, published to the environment's own shadow primary (dns00,
 * PowerDNS, HTTP API) — see src/dns/pdns/index.ts for what is touched and what never is.
 *
 * How the API is reached (`--via`): `http` (default) from this machine to the primary's mgmt
 * address, port 8081 (the API's firewall rule admits the mgmt networks); `ssh`: curl on the
 * PowerDNS host through SSH as the stack's user, as `npm run check` reaches hosts; `--lab`:
 * curl in the lab's guests over SSH from the lab's operator seat. `--api-url` points at any other address
 * (a tunnel you opened); then only the secondaries given by `--secondary-api-url` are touched.
 * The API key: the stack's secret pdnsApiKey (MAGLEV_PDNS_API_KEY, else `pulumi config get`),
 * in the lab the lab's own. It is never printed, not in errors either.
 */
import { Command, Option } from "commander";
import { Environment } from "../config/schema";
import { deriveTopology, HostFacts, Topology } from "../topology";
import { PDNS_API_PORT, SECRETS } from "../tiers/dns";
import { HostRunner } from "../ops/runner";
import {
  checkApiKey,
  DEFAULT_REQUEST_TIMEOUT_MS,
  httpApi,
  PdnsApi,
  redact,
  runnerApi,
} from "../dns/api";
import {
  diffJson,
  diffRecords,
  formatDiff,
  formatPush,
  isEmpty,
  PdnsClient,
  pushRecords,
  SecondaryTarget,
} from "../dns/pdns";
import { DEFAULT_TTL, desiredRRsets } from "../dns/records";
import { RecordSource, stackApiKey, stackRecords } from "../dns/source";
import { nsupdateScript } from "../dns/nsupdate";
import { loadOrExit, runnerFor } from "./common";

interface ApiOpts {
  lab?: boolean;
  via: "http" | "ssh";
  apiUrl?: string;
  secondaryApiUrl?: string[];
  timeout: string;
  from: RecordSource;
  ttl: string;
}

/** The secret is known once read: every message this process prints passes through `redact`. */
let secretForRedaction = "";

/** A stack argument that names a stack (not a file path) is also its Pulumi stack name. */
const pulumiStackOf = (arg: string, env: Environment) =>
  /^[A-Za-z0-9_.-]+$/.test(arg) && !arg.endsWith(".yaml") ? arg : env.name;

function byTier(topo: Topology, tier: HostFacts["tier"]): HostFacts[] {
  return topo.hosts.filter((h) => h.tier === tier);
}

const apiBase = (h: HostFacts) => `http://${h.mgmt.ipv4}:${PDNS_API_PORT}`;

async function apiKey(stack: string, lab: boolean): Promise<string> {
  let key: string | undefined;
  let source: string;
  if (lab) {
    const { readCluster } = await import("../../lab/cluster");
    key = readCluster().secrets[SECRETS.pdnsApiKey];
    source = "the lab's secrets (cluster.json of the running lab)";
  } else {
    key = await stackApiKey(stack);
    source = `MAGLEV_PDNS_API_KEY or the stack's secret maglev-infra:${SECRETS.pdnsApiKey}`;
  }
  if (!key)
    throw new Error(
      `no PowerDNS API key: set ${source} (pulumi config set --secret maglev-infra:${SECRETS.pdnsApiKey} …)`,
    );
  secretForRedaction = key;
  return checkApiKey(key, source);
}

interface Targets {
  primaryHost: HostFacts;
  primary: PdnsClient;
  secondaries: SecondaryTarget[];
  primaryAddresses: string[];
  reach: string;
}

async function targets(
  env: Environment,
  topo: Topology,
  stack: string,
  o: ApiOpts,
): Promise<Targets> {
  const prim = byTier(topo, "shadow-primary");
  if (!prim.length)
    throw new Error(
      `stack ${env.name} has no host of tier shadow-primary: nothing to publish to (use npm run dns -- nsupdate for another primary)`,
    );
  const primaryHost = prim[0];
  const key = await apiKey(stack, !!o.lab);
  const timeoutMs = Number(o.timeout) * 1000 || DEFAULT_REQUEST_TIMEOUT_MS;
  const secs = byTier(topo, "powerdns");
  const primaryAddresses = [primaryHost.mgmt.ipv4];
  if (o.apiUrl) {
    return {
      primaryHost,
      primary: new PdnsClient(httpApi(o.apiUrl, key, timeoutMs)),
      secondaries: (o.secondaryApiUrl ?? []).map((u, i) => ({
        name: `secondary ${i + 1} (${new URL(u).origin})`,
        client: new PdnsClient(httpApi(u, key, timeoutMs)),
      })),
      primaryAddresses,
      reach: `API at ${new URL(o.apiUrl).origin}`,
    };
  }
  let runner: HostRunner | undefined;
  if (o.lab || o.via === "ssh") runner = await runnerFor(env, topo, !!o.lab);
  const api = (h: HostFacts): PdnsApi =>
    runner
      ? runnerApi(runner, h.hostname, apiBase(h), key, timeoutMs)
      : httpApi(apiBase(h), key, timeoutMs);
  return {
    primaryHost,
    primary: new PdnsClient(api(primaryHost)),
    secondaries: secs.map((s) => ({ name: s.hostname, client: new PdnsClient(api(s)) })),
    primaryAddresses,
    reach: runner
      ? `curl on ${primaryHost.hostname} through SSH`
      : `HTTP to ${apiBase(primaryHost)}`,
  };
}

async function input(stack: string, o: { from: RecordSource; ttl: string; lab?: boolean }) {
  const env = loadOrExit(stack);
  const topo = deriveTopology(env);
  const ttl = Number(o.ttl);
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 2147483647)
    throw new Error(`--ttl ${o.ttl}: not a TTL in seconds`);
  // The lab has no Pulumi stack: its records are the render's.
  const { records, source } = await stackRecords(
    pulumiStackOf(stack, env),
    env,
    o.lab ? "render" : o.from,
  );
  return { env, topo, records, source, desired: desiredRRsets(records, env.dns.zone, ttl) };
}

function apiOptions(c: Command): Command {
  return c
    .option(
      "--lab",
      "the running lab (npm run lab -- up): curl in the guests over SSH from the lab's operator seat, the lab's API key",
    )
    .addOption(
      new Option(
        "--via <how>",
        "how to reach the API: http (from here, over mgmt) or ssh (curl on the host, as npm run check)",
      )
        .choices(["http", "ssh"])
        .default("http"),
    )
    .option(
      "--api-url <url>",
      "the primary's API at another address (a tunnel), e.g. http://127.0.0.1:8081",
    )
    .option("--secondary-api-url <url...>", "with --api-url: the secondaries' APIs")
    .option(
      "--timeout <seconds>",
      "bound of each API request",
      String(DEFAULT_REQUEST_TIMEOUT_MS / 1000),
    )
    .addOption(
      new Option(
        "--from <source>",
        "records from: pulumi (stack output), render (stack file), auto (pulumi if installed)",
      )
        .choices(["auto", "pulumi", "render"])
        .default("auto"),
    )
    .option("--ttl <seconds>", "TTL of the records written", String(DEFAULT_TTL));
}

const program = new Command()
  .name("dns")
  .description(
    "Publish the stack's host records (and their PTRs) to the environment's PowerDNS shadow primary",
  );

apiOptions(
  program
    .command("diff <stack>")
    .description("what push would change: added / changed / removed RRsets"),
)
  .option("--json", "JSON instead of the table")
  .option(
    "--adopt",
    "show hand-made RRsets at the stack's names as adopted instead of as conflicts",
  )
  .option("--exit-code", "exit 2 when there is a difference")
  .action(
    async (stack: string, o: ApiOpts & { json?: boolean; adopt?: boolean; exitCode?: boolean }) => {
      const { env, topo, source, desired } = await input(stack, o);
      const t = await targets(env, topo, stack, o);
      const d = await diffRecords(t.primary, env.name, env.dns.zone, desired, { adopt: o.adopt });
      if (o.json)
        process.stdout.write(
          JSON.stringify(diffJson(d, { primary: t.primaryHost.hostname, source }), null, 2) + "\n",
        );
      else
        process.stdout.write(
          `stack ${env.name}: ${desired.length} RRsets (${source}) against ${t.primaryHost.hostname} (${t.reach})\n` +
            formatDiff(d),
        );
      if (o.exitCode && !isEmpty(d)) process.exitCode = 2;
    },
  );

apiOptions(
  program
    .command("push <stack>")
    .description(
      "apply the difference: one PATCH per zone, SOA serial bumped once, NOTIFY, secondaries checked",
    ),
)
  .option("--adopt", "take over hand-made RRsets at the stack's names (their records are replaced)")
  .option(
    "--wait <seconds>",
    "how long to wait for the secondaries to serve the new serials (0: do not wait)",
    "30",
  )
  .action(async (stack: string, o: ApiOpts & { adopt?: boolean; wait: string }) => {
    const { env, topo, source, desired } = await input(stack, o);
    const t = await targets(env, topo, stack, o);
    process.stdout.write(
      `stack ${env.name}: ${desired.length} RRsets (${source}) to ${t.primaryHost.hostname} (${t.reach})\n`,
    );
    const r = await pushRecords(t.primary, env.name, env.dns.zone, desired, {
      adopt: o.adopt,
      secondaries: t.secondaries,
      primaryAddresses: t.primaryAddresses,
      waitMs: Number(o.wait) * 1000,
      soaFallback: {
        mname: `${t.primaryHost.hostname}.${env.dns.zone}.`,
        rname: `hostmaster.${env.dns.zone}.`,
      },
    });
    if (!r.noChange) process.stdout.write(formatDiff(r.diff));
    process.stdout.write(formatPush(r));
    if (r.secondaries.some((s) => !s.ok)) process.exitCode = 1;
  });

program
  .command("nsupdate <stack>")
  .description("print the records as an nsupdate (RFC 2136) script, for a BIND-style primary")
  .option("--server <address>", "add a `server` line for this primary")
  .option("--port <port>", "its port", "53")
  .addOption(
    new Option("--from <source>", "records from: pulumi, render, auto")
      .choices(["auto", "pulumi", "render"])
      .default("auto"),
  )
  .option("--ttl <seconds>", "TTL of the records", String(DEFAULT_TTL))
  .action(
    async (
      stack: string,
      o: { server?: string; port: string; from: RecordSource; ttl: string },
    ) => {
      const { env, records } = await input(stack, o);
      process.stdout.write(
        nsupdateScript(env.name, env.dns.zone, records, {
          server: o.server,
          port: Number(o.port),
          ttl: Number(o.ttl),
        }),
      );
    },
  );

program.parseAsync(process.argv).catch((e) => {
  process.stderr.write(redact(`dns: ${(e as Error).message}\n`, secretForRedaction));
  process.exit(1);
});
