/**
 * The k0s tier: the controller (API server, join tokens) and the workers; edge workers run
 * the HAProxy ingress DaemonSet and hold the k0s group's VIPs. Files, packages and health
 * gates come from `src/tiers/k0s.ts` (files from `src/daemons/k0s`); these classes own the VM, apply the plan, and give each
 * worker a join token of its own: `<worker>-join-token`, minted on the primary controller
 * right before that worker's apply (no expiry: see scripts/host/k0s-join-token.sh), which
 * reaches the worker as a secret of its plan inside its apply (never logged), and is
 * invalidated on the controller when the worker leaves the stack or a new token replaces it.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { sha256 } from "../src/apply/steps";
import * as path from "path";
import { k0sJoinTokenCommand, k0sRejoinCommand } from "../src/bundle";
import { asRootFor, ManagedHost, ManagedHostArgs, TIER_TYPES } from "./host";

import { K0S_JOIN_TOKEN_SECRET } from "../src/tiers/k0s";
import {
  K0S_BIN,
  K0S_KUBECONFIG_COMMAND,
  K0S_KUBELET_CONF,
  K0S_WORKER_TOKEN_FILE,
  K0S_WORKER_UNIT,
} from "../src/daemons/k0s/render";

/** Where a worker's plan expects its join token (`k0s install worker --token-file`). */
export const WORKER_TOKEN_PATH = K0S_WORKER_TOKEN_FILE;
/** A worker's k0s data dir (kubelet.conf, pki/ca.crt, kubelet/pki), which k0s-rejoin.sh clears to join again. */
export const WORKER_DATA_DIR = path.posix.dirname(K0S_KUBELET_CONF);
/** How long a worker joining again after a controller rebuild may take: its health gate's bound. @default 300 */
export const REJOIN_TIMEOUT_SECONDS = 300;

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
 * A k0s worker. `<name>-join-token` runs on the primary controller (scripts/host/k0s-join-token.sh):
 * its create invalidates the token this worker had (by the id stored on the controller) and
 * mints a new one, without an expiry; its delete invalidates the stored one. The token is the
 * secret K0S_JOIN_TOKEN_SECRET of this worker's plan: it travels in the worker's apply and is
 * filled into WORKER_TOKEN_PATH on the host. Any change of the worker's bundle, a rebuilt VM or
 * a new host key (its triggers, replaceWith) mints a fresh one right before the apply, and so
 * does a rebuilt controller VM (replaceWith): a new cluster, whose CA the old tokens do not
 * carry. Nothing else does, and nothing needs to: the token in state
 * is valid until this resource revokes it.
 *
 * A joined worker ignores a new token (k0s reads it only without valid kubelet credentials),
 * so after its apply the same SSH session runs scripts/host/k0s-rejoin.sh: joined to another
 * cluster than the token's (the controller was rebuilt), the worker clears its kubelet
 * credentials and joins again with the token, and its apply ends only once it has. Not a
 * resource of its own (a host stays within 5) and not part of the plan (whose files and
 * activations are what every host's golden files pin).
 */
export class K0sWorker extends ManagedHost {
  /** The join-token command on the primary controller, or undefined without a controller. */
  public readonly joinToken?: command.remote.Command;

  constructor(name: string, args: K0sWorkerArgs, opts?: pulumi.ComponentResourceOptions) {
    const controller = args.controller;
    let mint: command.remote.Command | undefined;
    super(TIER_TYPES["k0s-worker"], "k0s-worker", name, args, opts, {
      beforeApply: (ctx) => {
        if (!controller) return {};
        mint = new command.remote.Command(
          `${ctx.name}-join-token`,
          {
            connection: controller.connection,
            create: k0sJoinTokenCommand(controller.user, "create", ctx.name, K0S_BIN),
            delete: k0sJoinTokenCommand(controller.user, "revoke", ctx.name, K0S_BIN),
            // A changed trigger replaces the token (revoke, then mint); a later `up` with the same
            // inputs does not run the create again (pulumi/pulumi-command#751), so the token has no
            // expiry (scripts/host/k0s-join-token.sh): a retried apply, however late, gets the
            // one in state, still valid. Any change of the worker mints a fresh one right before
            // its apply; so does a new host key (a rebuilt VM, or an adopted host reinstalled
            // and its key read again): a new node.
            triggers: [ctx.bundle.sha256, ctx.hostKey],
            logging: command.types.enums.remote.Logging.None,
          },
          {
            parent: ctx.parent,
            // After the controller converged, right before this worker's apply. Depending on the
            // controller's teardown, it is deleted (revoked) before that teardown stops k0s.
            dependsOn: [...controller.gate, controller.teardown, ...(ctx.vm ? [ctx.vm] : [])],
            additionalSecretOutputs: ["stdout", "stderr"],
            aliases: ctx.aliases,
            // The old token's delete revokes it by the stored id before the new one is stored.
            deleteBeforeReplace: true,
            // An update re-runs `create`: a rotated SSH key must not mint again.
            ignoreChanges: ["connection"],
            // A rebuilt VM is a new node: it needs a token of its own. A rebuilt controller VM is
            // a new cluster (a new CA): every worker needs a token of the new one. That VM is
            // deleted before it is replaced, and so, first, is what replaces with it (the
            // engine's delete-before-replace cascade: pulumi/pulumi#23818's review,
            // "calculateDependentReplacements and findDependentCascadeReplacements only runs
            // for delete-before-replace … Same pattern as the ReplaceWith check"): the old
            // token is revoked on the old controller, over the connection it was minted with,
            // before that VM goes. Not the controller's host key: a delete runs with the inputs
            // in state, so after a new key (an adopted controller reinstalled, keys regenerated)
            // the revoke would dial the new machine pinned to the old key and fail (README).
            replaceWith: [...(ctx.vm ? [ctx.vm] : []), ...(controller.vm ? [controller.vm] : [])],
          },
        );
        return {
          after: [mint],
          secrets: { [K0S_JOIN_TOKEN_SECRET]: pulumi.secret(mint.stdout.apply((s) => s.trim())) },
          then: k0sRejoinCommand(
            args.ssh.user,
            K0S_WORKER_UNIT,
            K0S_WORKER_TOKEN_FILE,
            WORKER_DATA_DIR,
            args.plan.health?.timeoutSeconds ?? REJOIN_TIMEOUT_SECONDS,
          ),
        };
      },
    });
    this.joinToken = mint;
    this.registerOutputs(this.hostOutputs());
  }
}
