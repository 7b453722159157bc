/**
 * The k0s tier: the controller (API server, join tokens) and the workers; edge workers run
 * the HAProxy ingress DaemonSet and hold the k0s group's VIPs. Files, packages and health
 * gates come from `src/tiers/k0s.ts`; these classes own the VM, apply the plan, and move the
 * worker join token from the controller to each worker as a secret (stdin, never logged).
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { sha256 } from "../src/apply/steps";
import { asRootFor, ManagedHost, ManagedHostArgs } from "./host";
import { shellWord } from "../src/escape";

import { K0S_KUBECONFIG_COMMAND, K0S_WORKER_TOKEN_COMMAND, K0S_WORKER_TOKEN_FILE } from "../src/tiers/k0s";

/** Where a worker's plan expects its join token (`k0s install worker --token-file`). */
export const WORKER_TOKEN_PATH = K0S_WORKER_TOKEN_FILE;

/** Arguments of a K0sController. */
export interface K0sControllerArgs extends ManagedHostArgs {
  /** Issue the worker join token and read the admin kubeconfig on this controller (one controller does). @default true */
  readonly primary?: boolean;
  /** Values whose change issues a fresh worker join token (the worker set: the token expires). @default [] */
  readonly tokenTriggers?: pulumi.Input<any>[];
}

/** A k0s controller. The primary one issues the worker join token and exports the admin kubeconfig. */
export class K0sController extends ManagedHost {
  /** The worker join token (secret), or undefined when not primary. */
  public readonly workerToken?: pulumi.Output<string>;
  /** The admin kubeconfig with the controller's mgmt address as API server (secret), or undefined when not primary. */
  public readonly kubeconfig?: pulumi.Output<string>;
  /** The command that creates the worker join token; workers wait for it. */
  public readonly workerTokenCommand?: command.remote.Command;

  constructor(name: string, args: K0sControllerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("maglev-infra:k0s:K0sController", "k0s-controller", name, args, opts);
    if (args.primary ?? true) {
      const asRoot = asRootFor(args.ssh.user);
      // The token expires: a new one is issued when the worker set changes (a joined worker
      // no longer needs it).
      this.workerTokenCommand = new command.remote.Command(
        `${name}-worker-token`,
        {
          connection: this.connection,
          create: asRoot(K0S_WORKER_TOKEN_COMMAND),
          triggers: args.tokenTriggers ?? [],
          logging: command.types.enums.remote.Logging.None,
        },
        { parent: this, dependsOn: this.gate, additionalSecretOutputs: ["stdout", "stderr"] },
      );
      this.workerToken = pulumi.secret(this.workerTokenCommand.stdout.apply((s) => s.trim()));
      const kubeconfig = new command.remote.Command(
        `${name}-kubeconfig`,
        {
          connection: this.connection,
          // `k0s kubeconfig admin` prints /var/lib/k0s/pki/admin.conf with the API address as server.
          create: asRoot(K0S_KUBECONFIG_COMMAND),
          logging: command.types.enums.remote.Logging.None,
          // Re-read whenever the controller's configuration changed.
          triggers: [sha256(JSON.stringify(args.plan))],
        },
        { parent: this, dependsOn: this.gate, additionalSecretOutputs: ["stdout", "stderr"] },
      );
      this.kubeconfig = pulumi.secret(kubeconfig.stdout);
    }
    this.registerOutputs({ ...this.hostOutputs(), kubeconfig: this.kubeconfig, workerToken: this.workerToken });
  }
}

/** Arguments of a K0sWorker. */
export interface K0sWorkerArgs extends ManagedHostArgs {
  /** The worker join token from the primary controller (secret). @default none (the plan must bring its own token) */
  readonly workerToken?: pulumi.Input<string>;
  /** Resource that produces the token; the token is written after it. @default none */
  readonly workerTokenSource?: pulumi.Resource;
}

/** A k0s worker; its join token is written to WORKER_TOKEN_PATH before its plan is applied. */
export class K0sWorker extends ManagedHost {
  constructor(name: string, args: K0sWorkerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("maglev-infra:k0s:K0sWorker", "k0s-worker", name, args, opts, {
      beforeApply: (ctx) => {
        if (args.workerToken === undefined) return [];
        const dir = WORKER_TOKEN_PATH.replace(/\/[^/]+$/, "");
        return [
          new command.remote.Command(
            `${ctx.name}-worker-token`,
            {
              connection: ctx.connection,
              // Written only when missing or different; the token arrives on stdin (secret).
              create: ctx.asRoot(
                `set -e; install -d -m 0700 ${shellWord(dir)}; umask 077; t=$(mktemp ${shellWord(WORKER_TOKEN_PATH)}.XXXXXX); cat > "$t"; ` +
                  `if cmp -s "$t" ${shellWord(WORKER_TOKEN_PATH)}; then rm -f "$t"; else mv -f "$t" ${shellWord(WORKER_TOKEN_PATH)}; fi`,
              ),
              stdin: pulumi.secret(args.workerToken),
              logging: command.types.enums.remote.Logging.None,
            },
            {
              parent: ctx.parent,
              dependsOn: [...(ctx.vm ? [ctx.vm] : []), ...(args.workerTokenSource ? [args.workerTokenSource] : [])],
              additionalSecretOutputs: ["stdin", "stdout", "stderr"],
            },
          ),
        ];
      },
    });
    this.registerOutputs(this.hostOutputs());
  }
}
