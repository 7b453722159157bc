#!/bin/sh
# One PowerDNS HTTP API request, made on the PowerDNS host itself: `npm run dns` runs this
# through SSH (--via ssh) or the lab's exec (--lab) when its own machine cannot reach the API.
#
#   pdns-api.sh METHOD URL MAX_SECONDS
#
# stdin: the API key on the first line, then the request body (JSON; empty for GET/PUT).
# stdout: the HTTP status code on the first line, then the response body.
# Exit 0 when an HTTP answer came (whatever its status); curl's exit code when none did.
#
# The key goes to curl in a header file only root can read (curl -H @file), never on a
# command line where `ps` would show it, and is removed with the temp folder.
set -eu
method=$1 url=$2 max=$3
umask 077
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
IFS= read -r key || true
printf 'X-API-Key: %s\nAccept: application/json\n' "$key" > "$dir/headers"
key=
cat > "$dir/body"
if [ -s "$dir/body" ]; then
  set -- --data-binary "@$dir/body" -H 'Content-Type: application/json'
else
  set --
fi
rc=0
code=$(curl -sS --connect-timeout 5 -m "$max" -X "$method" -H "@$dir/headers" "$@" -o "$dir/out" -w '%{http_code}' "$url") || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "pdns-api: curl exit $rc for $method $url" >&2
  exit "$rc"
fi
printf '%s\n' "$code"
cat "$dir/out"
