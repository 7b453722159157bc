# The command `pulumi up` (and the lab) runs on a host, as root, for its apply: stdin is the
# host's bundle, a base64 gzip tar of the apply program and bundle.json. Unpacked into a
# private temp dir that is removed whatever happens; the program's exit status is the
# command's (0 applied or unchanged, 1 refused, 2 rolled back, 3 rollback failed — see
# scripts/maglev-apply), 4 when the bundle did not arrive whole (nothing was changed).
set -eu
umask 077
d=$(mktemp -d /tmp/maglev-apply.XXXXXX) || exit 4
rc=0
# Keep the program's status: a failing cleanup must not replace it.
trap 'rc=$?; rm -rf "$d" || :; exit "$rc"' EXIT
if ! base64 -d | tar -xzf - -C "$d"; then
  echo "maglev-apply: the bundle did not arrive whole (base64 or tar failed); nothing was changed" >&2
  exit 4
fi
# -I: root's program ignores PYTHON* variables and the user site dir; -S: no site module, the
# program needs the standard library only, and site's .pth scan was 0.3-1.2 s of a 3 s no-op
# apply in a lab guest.
/usr/bin/python3 -I -S "$d/maglev-apply" --bundle "$d/bundle.json" --secrets-sha256-file "$d/secrets.sha256"
