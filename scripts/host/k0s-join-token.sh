# A k0s worker's join token, on the primary controller, as root: one token per worker, the
# create and delete steps of that worker's `<worker>-join-token` resource.
#
#   k0s-join-token.sh create WORKER K0S   invalidates WORKER's previous token (if one is stored
#                                         and still listed), mints a new one, stores its id and
#                                         prints the token (stdout: a secret output)
#   k0s-join-token.sh revoke WORKER K0S   invalidates WORKER's stored token (if still listed)
#                                         and forgets it
#
# Only the token's id (not its secret) is kept, in /var/lib/maglev-infra/k0s-join-tokens/WORKER
# (0600, directory 0700): the delete step needs nothing from Pulumi's state, and a create run
# again (an update) never leaves the token it replaces valid.
#
# Why no `--expiry`: without it (k0s's default, "0s") the token's secret carries no expiration
# and never expires (k0s pkg/token/manager.go, Create: `if valid != 0 { data["expiration"] = …`).
# The token lives in Pulumi's state as the secret stdout of `<worker>-join-token`, and a
# Command's create runs when the resource is created (or replaced), not on a later `up` whose
# inputs are unchanged (pulumi/pulumi-command#751, and the docs it led to). A token with an expiry
# would still be in state, expired, when the worker's first apply is retried after it: the
# worker would be handed a token k0s refuses. So the token stays valid until this resource ends
# it: its delete (`revoke`: the worker left the stack, or a replacement, delete before create)
# or a create run again (an update), which invalidates the stored one before it mints. The
# resource is replaced, with a new token, whenever the worker's bundle changes, its host is
# rebuilt (a new VM, a new host key) or the controller is (a new cluster: components/k0s.ts). A
# joined worker no longer needs it: kubelet then authenticates with the client certificate it
# got while joining (after a controller rebuild, scripts/host/k0s-rejoin.sh makes it join again).
#
# The token is base64 of a gzip'd kubeconfig whose user token is "<id>.<secret>", both
# [a-z0-9] (6 and 16 characters, Kubernetes' bootstrap-token format); `k0s token list` prints
# the id in its first column and `k0s token invalidate` takes it. Nothing here prints the
# token's secret part but the create's own stdout.
set -eu
action=${1:-} worker=${2:-} k0s=${3:-}
dir=${MAGLEV_ROOT:-}/var/lib/maglev-infra/k0s-join-tokens

fail() {
  echo "k0s-join-token: $*" >&2
  exit 1
}
case "$worker" in
  '' | .* | *[!A-Za-z0-9._-]*) fail "not a worker name: '$worker'" ;;
esac
[ -n "$k0s" ] || fail "usage: k0s-join-token.sh create|revoke WORKER K0S"
file=$dir/$worker

# Invalidate the worker's stored token if k0s still lists it (invalidated by hand, or minted
# with an expiry by an earlier version and cleaned up since: already gone), then forget it.
# Messages go to stderr: create's stdout is the token.
invalidate_stored() {
  [ -f "$file" ] || return 0
  id=$(cat "$file")
  case "$id" in
    [a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9]) ;;
    *) fail "$file does not hold a token id; remove it by hand once the token is invalidated" ;;
  esac
  # A failing list fails the step: a token we could not check must not be forgotten.
  list=$("$k0s" token list --role=worker)
  if printf '%s\n' "$list" | awk -v id="$id" '$1 == id { found = 1 } END { exit !found }'; then
    "$k0s" token invalidate "$id" >/dev/null
    echo "k0s-join-token: invalidated $worker's worker token $id" >&2
  else
    echo "k0s-join-token: $worker's worker token $id is already gone" >&2
  fi
  rm -f "$file"
}

case "$action" in
  create)
    umask 077
    [ -d "$dir" ] || install -d -m 0700 "$dir"
    invalidate_stored
    token=$("$k0s" token create --role=worker)
    id=$(printf '%s' "$token" | base64 -d | gunzip | sed -n 's/^[[:space:]]*token:[[:space:]]*"\{0,1\}\([a-z0-9]\{6\}\)\.[a-z0-9]\{16\}"\{0,1\}[[:space:]]*$/\1/p' | head -n 1) || id=
    if [ -z "$id" ]; then
      fail "k0s printed no join token for $worker (nothing stored, nothing printed)"
    fi
    t=$(mktemp "$file.XXXXXX")
    printf '%s\n' "$id" > "$t"
    mv -f "$t" "$file"
    printf '%s\n' "$token"
    ;;
  revoke)
    invalidate_stored
    ;;
  *)
    fail "unknown action '$action' (create or revoke)"
    ;;
esac
