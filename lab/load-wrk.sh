#!/bin/bash
# The load of lab/load.ts startLoad, in the client guest: one wrk per target, all at once, for
# SECONDS; then, per target in order, a line "=== INDEX" and wrk's report (what parseWrk and
# parseWrkSeconds read).
#
#   load-wrk SECONDS [CONNECTIONS CLOSE LUA URL]...
#
# CONNECTIONS wrk's -c; CLOSE "close" for a new connection per request (Connection: close),
# anything else to keep them alive; LUA the text of wrk's -s script (the pause, the per-second
# counters), empty for none.
set -u
seconds=$1
shift
tmp=$(mktemp -d /tmp/load-wrk.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

n=0
while [ $# -ge 4 ]; do
  opts=(-t1 "-c$1" "-d${seconds}s" --timeout 3s)
  if [ -n "$3" ]; then
    printf '%s' "$3" >"$n.lua"
    opts+=(-s "$tmp/$n.lua")
  fi
  if [ "$2" = close ]; then opts+=(-H 'Connection: close'); fi
  wrk "${opts[@]}" "$4" >"$n.out" 2>&1 &
  n=$((n + 1))
  shift 4
done
wait
for ((i = 0; i < n; i++)); do
  echo "=== $i"
  cat "$i.out"
done
