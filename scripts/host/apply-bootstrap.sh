# The command `pulumi up` (and the lab) runs on a host, as root, for its apply: stdin is the
# host's bundle, a base64 gzip tar of the apply program and bundle.json. Unpacked into a
# private temp dir that is removed whatever happens; the program's exit status is the
# command's. See scripts/maglev-apply.
set -eu
umask 077
d=$(mktemp -d /tmp/maglev-apply.XXXXXX)
trap 'rm -rf "$d"' EXIT
base64 -d | tar -xzf - -C "$d"
/usr/bin/python3 "$d/maglev-apply" --bundle "$d/bundle.json" --secrets-sha256-file "$d/secrets.sha256"
