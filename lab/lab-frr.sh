#!/bin/bash
# FRR on the lab-only routers (router, transit, lab/smoke.ts's r1 and r2). They boot the lab's
# short bash init (lab/init.sh), not systemd, so this does what Debian's frrinit.sh would:
# zebra, staticd and the daemons enabled in /etc/frr/daemons, each with its *_options from
# that file, then the configuration through `vtysh -b`. Daemons log to /run/lab/log/frr-NAME.log
# (the node dir, readable from the host). lab/guest/boot.ts copies this file into the node
# dir; the guest runs it as /run/lab/bin/lab-frr (lab/lab-frr.ts).
#
#   lab-frr start       start the daemons not running and load frr.conf (nothing when all run)
#   lab-frr reload      start newly enabled daemons, apply the config diff (frr-reload.py)
#   lab-frr is-active   exit 0 when every enabled daemon runs
set -u
LOGDIR=/run/lab/log

die() { echo "lab-frr: $*" >&2; exit 2; }

# Reads /etc/frr/daemons; sets DAEMONS (an array) and leaves each *_options variable set.
read_daemons() {
  local d
  DAEMONS=(zebra staticd)
  # shellcheck disable=SC1091
  [ -r /etc/frr/daemons ] && . /etc/frr/daemons
  for d in bgpd ospfd ospf6d ripd ripngd isisd pimd pim6d ldpd nhrpd eigrpd babeld sharpd pbrd bfdd fabricd vrrpd pathd; do
    [ "${!d:-no}" = yes ] && DAEMONS+=("$d")
  done
  return 0
}

running() { # DAEMON: its pid file names a live process
  local p
  [ -r "/run/frr/$1.pid" ] && read -r p < "/run/frr/$1.pid" && kill -0 "$p" 2>/dev/null
}

all_running() {
  local d
  for d in "${DAEMONS[@]}"; do running "$d" || return 1; done
}

start_missing() {
  local d optvar opts
  install -d -o frr -g frr -m 0755 /run/frr # zebra exits if root owns it
  for d in "${DAEMONS[@]}"; do
    running "$d" && continue
    optvar=${d}_options
    opts=${!optvar:-"-A 127.0.0.1"}
    [ "$d" = zebra ] && [[ $opts != *" -s "* ]] && opts="$opts -s 90000000"
    # shellcheck disable=SC2086
    /usr/lib/frr/$d -d -F traditional $opts --log "file:$LOGDIR/frr-$d.log" || return 1
    # A guest has one virtual CPU, time-shared with a dozen guests on 2 host cores; a busy
    # neighbour process can hold it past BFD's 300 ms. Real-time priority for bfdd keeps BFD
    # measuring the network, not the guest.
    if [ "$d" = bfdd ] && [ -r /run/frr/bfdd.pid ]; then chrt -a -f -p 50 "$(< /run/frr/bfdd.pid)" >/dev/null 2>&1 || true; fi
  done
}

[ $# -eq 1 ] || die "usage: lab-frr start|reload|is-active"
read_daemons
case $1 in
  start)
    all_running && exit 0
    start_missing || exit 1
    vtysh -b ;;
  reload)
    all_running || { start_missing && vtysh -b; exit; }
    # Like frrinit.sh reload: start newly enabled daemons, then apply the config diff.
    start_missing || exit 1
    /usr/lib/frr/frr-reload.py --reload /etc/frr/frr.conf ;;
  is-active) all_running ;;
  *) die "unknown action $1 (start, reload or is-active)" ;;
esac
