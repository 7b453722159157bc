/**
 * The k0s tier: the controller (API server, join tokens) and the workers; edge workers run
 * the HAProxy ingress DaemonSet and hold the k0s group's VIPs. Files, packages and health
 * gates come from `src/tiers/k0s.ts`; these classes own the VM, apply the plan, and give each
 * worker a join token of its own: minted on the primary controller right before that
 * worker's apply, written to the worker as a secret (stdin, never logged), and invalidated
 * on the controller once the worker's apply (and its health gate) passed.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { sha256 } from "../src/apply/steps";
import { k0sJoinTokenCommand } from "../src/bundle";
import { asRootFor, ManagedHost, ManagedHostArgs, TIER_TYPES } from "./host";
import { shellWord } from "../src/escape";

import { K0S_BIN, K0S_KUBECONFIG_COMMAND, K0S_WORKER_TOKEN_FILE } from "../src/tiers/k0s";

/** Where a worker's plan expects its join token (`k0s install worker --token-file`). */
export const WORKER_TOKEN_PATH = K0S_WORKER_TOKEN_FILE;

/** Arguments of a K0sController. */
export interface K0sControllerArgs extends ManagedHostArgs {
  /** Mint the workers' join tokens and read the admin kubeconfig on this controller (one controller does). @default true */
  readonly primary?: boolean;
}

/** A k0s controller. The primary one mints the workers' join tokens and exports the admin kubeconfig. */
export class K0sController extends ManagedHost {
  /** The admin kubeconfig with the controller's mgmt address as API server (secret), or undefined when not primary. */
  public readonly kubeconfig?: pulumi.Output<string>;
  /** Whether this controller mints the workers' join tokens. */
  public readonly primary: boolean;
  /** The login user of its commands (the workers' token steps run on it as root). */
  public readonly user: string;

  constructor(name: string, args: K0sControllerArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TIER_TYPES["k0s-controller"], "k0s-controller", name, args, opts);
    this.primary = args.primary ?? true;
    this.user = args.ssh.user;
    if (this.primary) {
      const asRoot = asRootFor(args.ssh.user);
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
        {
          parent: this,
          dependsOn: this.gate,
          additionalSecretOutputs: ["stdout", "stderr"],
          aliases: this.childAliases,
          ...(this.vm ? { replaceWith: [this.vm] } : {}),
        },
      );
      this.kubeconfig = pulumi.secret(kubeconfig.stdout);
    }
    this.registerOutputs({ ...this.hostOutputs(), kubeconfig: this.kubeconfig });
  }
}

/** Arguments of a K0sWorker. */
export interface K0sWorkerArgs extends ManagedHostArgs {
  /** The primary controller, which mints this worker's join token. @default none (the plan must bring its own token) */
  readonly controller?: K0sController;
}

/**
 * A k0s worker. Before its plan is applied: `<name>-join-token` mints a token on the primary
 * controller (a token that does not expire, so a retried apply never finds an expired one in
 * state) and `<name>-worker-token` writes it to WORKER_TOKEN_PATH. After its apply:
 * `<name>-join-token-spent` invalidates it on the controller (the joined worker no longer
 * needs it, so the copy in state is worthless from then on). `<name>-join-token-revoke` has
 * only a delete step, which invalidates the token when the worker leaves the stack before it
 * joined (or a new token replaces it). A rebuilt VM mints a new one.
 */
export class K0sWorker extends ManagedHost {
  constructor(name: string, args: K0sWorkerArgs, opts?: pulumi.ComponentResourceOptions) {
    const controller = args.controller;
    let mint: command.remote.Command | undefined;
    super(TIER_TYPES["k0s-worker"], "k0s-worker", name, args, opts, {
      beforeApply: (ctx) => {
        if (!controller) return [];
        const rebuilt = ctx.vm ? { replaceWith: [ctx.vm] } : {};
        mint = new command.remote.Command(
          `${ctx.name}-join-token`,
          {
            connection: controller.connection,
            create: k0sJoinTokenCommand(controller.user, "create", K0S_BIN),
            logging: command.types.enums.remote.Logging.None,
          },
          {
            parent: ctx.parent,
            // After the controller converged, right before this worker's apply.
            dependsOn: [...controller.gate, ...(ctx.vm ? [ctx.vm] : [])],
            additionalSecretOutputs: ["stdout", "stderr"],
            aliases: ctx.aliases,
            // An update re-runs `create`: a rotated SSH key must not mint another token (the
            // one in state would stay valid). Only a rebuilt VM mints again (replaceWith).
            ignoreChanges: ["connection"],
            ...rebuilt,
          },
        );
        // The token's delete step: invalidates it on the controller when the worker leaves the
        // stack (or the stack is destroyed), whether or not the worker ever joined, and when a
        // new token replaces it (stdin changes: replaceOnChanges). Its delete reads the token
        // from its own stdin in state: pulumi-command's PULUMI_COMMAND_STDOUT cannot carry it
        // (a remote Setenv needs the host's sshd to AcceptEnv it; Debian's accepts LANG, LC_*),
        // and the command line may not (it is quoted in the error of a failed run). It is
        // deleted before the controller's teardown stops k0s (it depends on it).
        new command.remote.Command(
          `${ctx.name}-join-token-revoke`,
          {
            connection: controller.connection,
            delete: k0sJoinTokenCommand(controller.user, "revoke", K0S_BIN),
            stdin: pulumi.secret(mint.stdout),
            logging: command.types.enums.remote.Logging.None,
          },
          {
            parent: ctx.parent,
            dependsOn: [mint, controller.teardown],
            additionalSecretOutputs: ["stdin", "stdout", "stderr"],
            replaceOnChanges: ["stdin"],
            aliases: ctx.aliases,
          },
        );
        const token = pulumi.secret(mint.stdout.apply((s) => s.trim()));
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
              stdin: token,
              logging: command.types.enums.remote.Logging.None,
            },
            {
              parent: ctx.parent,
              dependsOn: [...(ctx.vm ? [ctx.vm] : []), mint],
              additionalSecretOutputs: ["stdin", "stdout", "stderr"],
              aliases: ctx.aliases,
              ...rebuilt,
            },
          ),
        ];
      },
      afterApply: (ctx, apply) => {
        if (!controller || !mint) return;
        new command.remote.Command(
          `${ctx.name}-join-token-spent`,
          {
            connection: controller.connection,
            create: k0sJoinTokenCommand(controller.user, "revoke", K0S_BIN),
            // A new token (a rebuilt VM) changes stdin: an update, which revokes that one too.
            stdin: pulumi.secret(mint.stdout),
            logging: command.types.enums.remote.Logging.None,
          },
          { parent: ctx.parent, dependsOn: [apply], additionalSecretOutputs: ["stdin", "stdout", "stderr"], aliases: ctx.aliases },
        );
      },
    });
    this.registerOutputs(this.hostOutputs());
  }
}
