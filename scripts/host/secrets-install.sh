# The secrets of a host reach it by their own command, as root: stdin is a JSON object of
# the values its plan's placeholders need. Written root-only (0600) and atomically, and only
# when it differs; the apply program fills the placeholders from it and never prints a value.
set -eu
umask 077
[ -d /etc/maglev-infra ] || install -d -m 0755 /etc/maglev-infra
t=$(mktemp /etc/maglev-infra/.secrets.json.XXXXXX)
trap 'rm -f "$t"' EXIT
cat > "$t"
if cmp -s "$t" /etc/maglev-infra/secrets.json; then exit 0; fi
mv -f "$t" /etc/maglev-infra/secrets.json
