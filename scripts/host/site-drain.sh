#!/bin/sh
# A gateway's side of `npm run ops -- drain-site` and `undrain-site` (src/ops/drain-site.ts),
# run there as root through the day-2 runner (SSH or the lab's exec).
#
#   site-drain.sh drain   DRAIN_FILE LOCK_FILE CURRENT TEXT
#   site-drain.sh undrain DRAIN_FILE LOCK_FILE CURRENT RELOAD
#
# drain: TEXT (the drain file: its header and the route-map lines) is applied with `vtysh -f`
# from a temporary copy next to DRAIN_FILE; only once FRR took it does the copy become
# DRAIN_FILE (a failed vtysh leaves the gateway as it was). undrain: DRAIN_FILE is removed.
#
# Either under LOCK_FILE, the apply program's lock (flock(1) and its fcntl.flock are the same
# lock): an apply that already chose its frr.conf must not reload FRR over the change. Then the
# committed apply of CURRENT (the host's `current` generation) runs again, so that the frr.conf
# FRR starts from matches (the drained one, or the rendered one, checked, reloaded and
# health-gated); on a host with no generation yet, drain does nothing more and undrain runs
# RELOAD (the command that reloads FRR there). `clear bgp * soft out` sends the new policy.
set -eu
action=$1 drain_file=$2 lock=$3 current=$4

# The committed apply, or "$@" on a host that has none.
reapply() {
  if [ -x "$current/maglev-apply" ]; then
    "$current/maglev-apply" --bundle "$current/bundle.json"
  else
    "$@"
  fi
}

case "$action" in
  drain)
    text=$5
    dir=$(dirname "$drain_file")
    install -d "$dir" "$(dirname "$lock")"
    t=$(mktemp "$dir/.site-drain.XXXXXX")
    trap 'rm -f "$t"' EXIT
    exec 9>"$lock"
    flock -w 600 9
    printf '%s' "$text" >"$t"
    vtysh -f "$t"
    chmod 0644 "$t"
    mv "$t" "$drain_file"
    # On disk before the upstream is told: a gateway that loses power now boots drained.
    sync "$dir"
    vtysh -c 'clear bgp * soft out'
    # The lock goes before the apply, which takes it itself.
    exec 9>&-
    reapply true
    ;;
  undrain)
    reload=$5
    install -d "$(dirname "$lock")"
    flock -w 600 "$lock" rm -f "$drain_file"
    # The removal on disk too: a gateway that loses power after an undrain boots undrained.
    dir=$(dirname "$drain_file")
    [ ! -d "$dir" ] || sync "$dir"
    reapply sh -c "$reload"
    vtysh -c 'clear bgp * soft out'
    ;;
  *)
    echo "site-drain: unknown action '$action' (drain or undrain)" >&2
    exit 2
    ;;
esac
