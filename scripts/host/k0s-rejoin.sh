# A k0s worker, as root, right after its apply (the second half of `<worker>-apply`'s command,
# components/k0s.ts): when the worker is joined to another cluster than the one its join token
# is for — the controller was rebuilt, a new cluster CA — it joins again with that token.
#
#   k0s-rejoin.sh UNIT TOKEN_FILE DATA_DIR TIMEOUT
#
# Why the apply alone does not: k0s uses the join token only while the worker has no valid
# kubelet credentials. With a kubeconfig at DATA_DIR/kubelet.conf whose client certificate is
# still valid, kubelet's bootstrap keeps it and never reads the token, and the cluster CA in
# DATA_DIR/pki/ca.crt is written from a token only when that file is absent (k0s
# pkg/component/worker/utils.go, BootstrapKubeletKubeconfig: `if !file.Exists(kubeletCAPath)`,
# then `bootstrap.LoadClientCert`). A worker joined to a controller that was rebuilt would keep
# its kubelet talking to a CA and an API server that are gone — kubelet's own /healthz still
# passes — while the new cluster has no node. So: the CA the token carries (the
# certificate-authority-data of the kubeconfig it encodes) against ca.crt; if they differ, stop
# the worker, remove kubelet.conf, the kubelet's client certificates and ca.crt, start it (k0s
# bootstraps with the token the apply has just installed), and wait until it has credentials
# again and kubelet answers healthy. The same CA (any other new token: a changed worker) or a
# worker that has not joined yet (the apply's token file restarted it with the token): nothing.
#
# Cheap when nothing changed (a no-op apply): it reads the token only when the token file is
# newer than its last check's stamp (in /run, so a reboot checks once more). It never prints
# the token.
set -eu
unit=${1:-} token_file=${2:-} data=${3:-} timeout=${4:-}
if [ -z "$unit" ] || [ -z "$token_file" ] || [ -z "$data" ] || [ -z "$timeout" ]; then
  echo "usage: k0s-rejoin.sh UNIT TOKEN_FILE DATA_DIR TIMEOUT" >&2
  exit 1
fi
root=${MAGLEV_ROOT:-}
token_file=$root$token_file
data=$root$data
stamp=$root/run/maglev-infra/k0s-rejoin-checked
kubelet_conf=$data/kubelet.conf
ca=$data/pki/ca.crt

fail() {
  echo "k0s-rejoin: $*" >&2
  exit 1
}
checked() {
  mkdir -p "${stamp%/*}"
  : > "$stamp"
}

# (find -newer: POSIX sh's test has no -nt.)
if [ -e "$stamp" ] && [ -e "$token_file" ] && [ -z "$(find "$token_file" -newer "$stamp")" ]; then
  exit 0
fi
[ -s "$token_file" ] || fail "no join token in $token_file (the apply installs it)"
if ! [ -s "$kubelet_conf" ]; then
  checked
  exit 0
fi
want=$(base64 -d < "$token_file" | gunzip | sed -n 's/^[[:space:]]*certificate-authority-data:[[:space:]]*//p' | head -n 1) || want=
[ -n "$want" ] || fail "the join token in $token_file carries no certificate-authority-data"
want=$(printf '%s' "$want" | base64 -d | sha256sum | cut -d ' ' -f 1)
have=none
[ -f "$ca" ] && have=$(sha256sum < "$ca" | cut -d ' ' -f 1)
if [ "$want" = "$have" ]; then
  checked
  exit 0
fi

echo "k0s-rejoin: joined to a cluster whose CA ($have) is not the controller's ($want): joining again with the new join token"
systemctl stop "$unit"
rm -f "$kubelet_conf" "$ca"
rm -rf "$data/kubelet/pki"
systemctl start "$unit"
waited=0
until [ -s "$kubelet_conf" ] && curl -fsS -o /dev/null http://127.0.0.1:10248/healthz; do
  [ "$waited" -lt "$timeout" ] || fail "not joined again after ${timeout} s (no $kubelet_conf or kubelet not healthy): journalctl -u $unit"
  sleep 2
  waited=$((waited + 2))
done
checked
echo "k0s-rejoin: joined the controller's cluster after ${waited} s"
