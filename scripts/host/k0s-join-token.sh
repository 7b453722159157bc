# A k0s worker's join token, on the primary controller, as root: one token per worker, minted
# just before that worker's apply and invalidated right after the worker has joined.
#
#   k0s-join-token.sh create K0S    prints a new worker token (stdout, a secret output)
#   k0s-join-token.sh revoke K0S    reads the token on stdin and invalidates it
#
# Why no --expiry: `k0s token create` without it mints a token that does not expire (k0s
# docs/cli/k0s_token_create.md, --expiry default "0s"). A token with a 1 h expiry kept in
# Pulumi's state is stale by the time a failed worker apply is retried; this one stays valid
# exactly until its worker has joined, then the revoke step (after the worker's apply and its
# health gate) makes the copy in state worthless. A joined worker no longer needs it: kubelet
# then authenticates with the client certificate it got while joining.
#
# The token is base64 of a gzip'd kubeconfig whose user token is "<id>.<secret>"; `k0s token
# invalidate` takes the id. Nothing here prints the token's secret part.
set -eu
action=$1 k0s=$2
case "$action" in
  create)
    "$k0s" token create --role=worker
    ;;
  revoke)
    id=$(base64 -d | gunzip | sed -n 's/^[[:space:]]*token:[[:space:]]*"\{0,1\}\([a-z0-9]\{6\}\)\.[a-z0-9]\{16\}"\{0,1\}[[:space:]]*$/\1/p' | head -n 1)
    if [ -z "$id" ]; then
      echo "k0s-join-token: the token on stdin is not a k0s join token; nothing invalidated" >&2
      exit 1
    fi
    # Listed (the ID column) → invalidate it, and fail loudly if that fails; not listed →
    # already invalidated (by hand, or by an earlier run of this step).
    list=$("$k0s" token list --role=worker)
    if printf '%s\n' "$list" | grep -q -w -- "${id}"; then
      "$k0s" token invalidate "${id}" >/dev/null
      echo "k0s-join-token: invalidated worker token ${id} (its worker has joined)"
    else
      echo "k0s-join-token: worker token ${id} is already gone"
    fi
    ;;
  *)
    echo "k0s-join-token: unknown action $action (create or revoke)" >&2
    exit 2
    ;;
esac
