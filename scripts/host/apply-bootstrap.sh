# The command `pulumi up` (and the lab) runs on a host, as root, for its apply: stdin is the
# host's bundle, a base64 gzip tar of the apply program, bundle.json, secrets.sha256 and, when
# the host has secrets, secrets.json (their values). Unpacked into a private temp dir that is
# removed whatever happens; the program's exit status is the command's (0 applied or
# unchanged, 1 refused, 2 rolled back, 3 rollback failed — see scripts/maglev-apply), 4 when
# the bundle did not arrive whole or its secrets could not be installed (nothing was changed).
#
# Secrets travel inside the apply (no command of their own): one SSH session per host apply,
# and the values arrive together with the bundle that needs them, so no run can leave new
# secrets next to an old bundle (or the reverse). secrets.json is installed as
# /etc/maglev-infra/secrets.json, root-only (0600) and atomically, and only when it differs;
# the program then verifies its sha256 against secrets.sha256 as before, fills the
# placeholders from it and never prints a value. Nothing here prints one either.
#
# MAGLEV_ROOT (tests only, as maglev-apply's --root): a directory standing in for / for the
# secrets file.
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
etc=${MAGLEV_ROOT:-}/etc/maglev-infra
secrets=$etc/secrets.json
if [ -s "$d/secrets.json" ] && ! cmp -s "$d/secrets.json" "$secrets"; then
  if ! { [ -d "$etc" ] || install -d -m 0755 "$etc"; } ||
    ! t=$(mktemp "$etc/.secrets.json.XXXXXX") ||
    ! cat "$d/secrets.json" > "$t" ||
    ! mv -f "$t" "$secrets"; then
    rm -f "${t:-}" || :
    echo "maglev-apply: could not install $secrets; nothing was changed" >&2
    exit 4
  fi
fi
# -I: root's program ignores PYTHON* variables and the user site dir; -S: no site module, the
# program needs the standard library only, and site's .pth scan was 0.3-1.2 s of a 3 s no-op
# apply in a lab guest.
/usr/bin/python3 -I -S "$d/maglev-apply" --bundle "$d/bundle.json" --secrets "$secrets" --secrets-sha256-file "$d/secrets.sha256"
