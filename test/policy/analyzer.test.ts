/**
 * The policy pack as the Pulumi CLI runs it: `--policy-pack policy` starts policy/index.ts with
 * ts-node, type-checked, with the compiler options of @pulumi/pulumi's run-policy-pack (no
 * tsconfig.json in policy/: target ES2020, module and resolution nodenext), and talks to it
 * over the analyzer gRPC protocol. This test does the same: it starts the pack, asks it for
 * its rules and sends it resources the way the engine does (secrets in their wire signature),
 * so what test/policy/policy.test.ts assumes of the analyzer (secrets unwrapped, options with
 * additionalSecretOutputs and protect) is checked against the real one.
 */
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import { gzipSync } from "zlib";
import { ustar } from "../../src/bundle";
import { ROOT } from "../helpers";

const grpc = require("@grpc/grpc-js");
const services = require("@pulumi/pulumi/proto/analyzer_grpc_pb.js");
const pb = require("@pulumi/pulumi/proto/analyzer_pb.js");
const { Empty } = require("google-protobuf/google/protobuf/empty_pb.js");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb.js");

/** Pulumi's wire signature of a secret (sdk/nodejs/runtime/rpc.ts). */
const secret = (value: unknown) => ({
  "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
  value,
});
/** The compiler options run-policy-pack gives ts-node when the pack has no tsconfig.json. */
const RUNNER_OPTIONS = { target: "ES2020", module: "nodenext", moduleResolution: "nodenext" };

let pack: ChildProcess;
let client: any;

beforeAll(async () => {
  pack = spawn(
    path.join(ROOT, "node_modules", ".bin", "ts-node"),
    ["--skipProject", "-O", JSON.stringify(RUNNER_OPTIONS), "index.ts"],
    { cwd: path.join(ROOT, "policy"), stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  pack.stderr!.on("data", (d) => (err += d));
  // The analyzer prints its port on the first line of stdout (what the CLI reads).
  const port = await new Promise<string>((resolve, reject) => {
    pack.stdout!.on("data", (d) => {
      out += d;
      const m = /^(\d+)\n/.exec(out);
      if (m) resolve(m[1]);
    });
    pack.on("exit", (code) => reject(new Error(`policy pack exited (${code}): ${err}`)));
  });
  client = new services.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 120_000);

afterAll(() => {
  client?.close();
  pack?.kill();
});

const call = <T>(method: string, req: unknown): Promise<T> =>
  new Promise((resolve, reject) =>
    client[method](req, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))),
  );

function options(o: { protect?: boolean; additionalSecretOutputs?: string[] }) {
  const opts = new pb.AnalyzerResourceOptions();
  opts.setProtect(!!o.protect);
  opts.setAdditionalsecretoutputsList(o.additionalSecretOutputs ?? []);
  return opts;
}

async function analyze(
  type: string,
  name: string,
  props: Record<string, unknown>,
  o: { protect?: boolean; additionalSecretOutputs?: string[] } = {},
): Promise<string[]> {
  const req = new pb.AnalyzeRequest();
  req.setType(type);
  req.setName(name);
  req.setUrn(`urn:pulumi:mgmt02::maglev-infra::${type}::${name}`);
  req.setProperties(Struct.fromJavaScript(props));
  req.setOptions(options(o));
  const r: any = await call("analyze", req);
  return r.getDiagnosticsList().map(diagnostic);
}

/** A diagnostic as `<policy>: <what the rule reported>` (the analyzer puts the rule's description on the line before). */
const diagnostic = (d: any) => `${d.getPolicyname()}: ${d.getMessage().split("\n").pop()}`;

/** An apply archive as src/bundle builds it, with the stack's secret values in secrets.json. */
const archiveWithValues = gzipSync(
  ustar([
    { name: "bundle.json", mode: 0o600, data: Buffer.from("{}") },
    { name: "secrets.json", mode: 0o600, data: Buffer.from('{"pdnsApiKey":"v"}\n') },
  ]),
).toString("base64");
const CONNECTION = secret({ host: "10.1.7.43", user: "debian", privateKey: "k" });

describe("GIVEN policy/index.ts started as the Pulumi CLI starts a policy pack", () => {
  test("THEN it loads type-checked with the runner's options and serves the four mandatory rules", async () => {
    const info: any = await call("getAnalyzerInfo", new Empty());
    expect(info.getName()).toBe("maglev-infra");
    expect(info.getPoliciesList().map((p: any) => [p.getName(), p.getEnforcementlevel()])).toEqual([
      ["vm-guest-agent-on", pb.EnforcementLevel.MANDATORY],
      ["no-secret-in-plain-input", pb.EnforcementLevel.MANDATORY],
      ["secret-commands-log-nothing", pb.EnforcementLevel.MANDATORY],
      ["production-vms-protected", pb.EnforcementLevel.MANDATORY],
    ]);
  }, 60_000);

  test("WHEN the engine sends an apply whose secret stdin carries the stack's values, declared secret and silent THEN nothing is reported; undeclared THEN it is", async () => {
    const props = {
      connection: CONNECTION,
      create: "apply",
      stdin: secret(archiveWithValues),
      logging: "none",
    };
    expect(
      await analyze("command:remote:Command", "dns01-apply", props, {
        additionalSecretOutputs: ["stdin"],
      }),
    ).toEqual([]);
    // The analyzer hands the rule the unwrapped value: the archive is recognised inside it.
    expect(await analyze("command:remote:Command", "dns01-apply", props)).toEqual([
      "no-secret-in-plain-input: dns01-apply: stdin is an apply archive with secret values (secrets.json), but it is not a secret input",
    ]);
    expect(
      await analyze(
        "command:remote:Command",
        "dns01-apply",
        { ...props, logging: "stdoutAndStderr" },
        { additionalSecretOutputs: ["stdin"] },
      ),
    ).toEqual([
      "secret-commands-log-nothing: dns01-apply: carries a secret but logs (logging: stdoutAndStderr); set logging: none",
    ]);
  }, 60_000);

  test("WHEN a VM has no guest agent THEN it is reported; a stack of an unprotected VM on mgmt02 THEN production-vms-protected reports it", async () => {
    const vm = "proxmoxve:index/vmLegacy:VmLegacy";
    expect(await analyze(vm, "mgw01", { agent: { enabled: false } }, { protect: true })).toEqual([
      "vm-guest-agent-on: VM mgw01: agent.enabled must be true (the template needs qemu-guest-agent)",
    ]);
    const resource = (name: string, protect: boolean) => {
      const r = new pb.AnalyzerResource();
      r.setType(vm);
      r.setName(name);
      r.setUrn(`urn:pulumi:mgmt02::maglev-infra::${vm}::${name}`);
      r.setProperties(Struct.fromJavaScript({ agent: { enabled: true } }));
      r.setOptions(options({ protect }));
      return r;
    };
    const req = new pb.AnalyzeStackRequest();
    req.setResourcesList([resource("mgw01", true), resource("mgw02", false)]);
    const r: any = await call("analyzeStack", req);
    expect(r.getDiagnosticsList().map(diagnostic)).toEqual([
      "production-vms-protected: VM mgw02 of production stack mgmt02 is not protected (protect: true)",
    ]);
  }, 60_000);
});
