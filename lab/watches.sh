#!/bin/bash
# The watches the lab arms inside a guest before an event (lab/scenarios/probes.ts,
# lab/timeline-capture.ts). Each forks as little as it can: the daemons being timed share the
# guest's CPU (a polling loop forking ~50 times a second on two gateways kept both host cores
# busy, and the maglevs' health checks and announce loops starved: a watchdog run timed out).
#
#   watches.sh route-below VIP WANT SECONDS
#       On a gateway: prints $EPOCHREALTIME the first time the route to VIP has fewer than
#       WANT next hops (exit 0), or nothing within SECONDS (exit 3). Event-driven: `ip monitor
#       route nexthop` wakes it on every route or nexthop-group change (and once a second
#       without one), and only then does it fork to count; the time is when the event was read.
#   watches.sh route-sample SECONDS STOP_FILE VIP...
#       On a gateway: `<epoch seconds> <next hops of each VIP>` at start, after every change
#       `ip monitor` reports (the time it was read), and at the end; nothing while nothing
#       changes. Ends within a second once STOP_FILE exists (and removes it), at the latest
#       after SECONDS.
#   watches.sh weight-zero SECONDS ADDRESS...
#       On a maglev: prints $EPOCHREALTIME once the IPVS weights of the real servers ADDRESS
#       (as /proc/net/ip_vs writes them: C6120A21, [fd00:000a:…:0021]), summed over every
#       service that lists them, are 0 (exit 0); exit 3 after SECONDS. It reads /proc/net/ip_vs
#       with builtins every 50 ms: no fork (ipvsadm + awk every 250 ms competed with
#       keepalived, the daemon being timed, for the guest's one vCPU).
#
# WATCH_IP_VS and WATCH_PAUSE_FIFO name other files than /proc/net/ip_vs and the lab agent's
# FIFO (whose read is the 50 ms pause), for the tests.

# hops VIP: the number of next hops of the route to VIP in $n — the " via " in its `ip -o
# route` line (a multipath route has one per `nexthop via`), builtins only after the one `ip`.
hops() {
  local r x
  case $1 in
    *:*) r=$(ip -6 -o route show "$1/128") ;;
    *) r=$(ip -4 -o route show "$1/32") ;;
  esac
  x=${r// via /}
  n=$(((${#r} - ${#x}) / 5))
}

action=$1
shift
case "$action" in
  route-below)
    vip=$1 want=$2 end=$((SECONDS + $3))
    case $vip in
      *:*) coproc MON { exec ip -6 monitor route nexthop; } ;;
      *) coproc MON { exec ip -4 monitor route nexthop; } ;;
    esac
    hops "$vip"
    if [ "$n" -lt "$want" ]; then
      echo "$EPOCHREALTIME"
      kill "$MON_PID"
      exit 0
    fi
    while [ "$SECONDS" -lt "$end" ]; do
      t=""
      if IFS= read -r -t 1 -u "${MON[0]}" _; then t=$EPOCHREALTIME; fi
      hops "$vip"
      if [ "$n" -lt "$want" ]; then
        echo "${t:-$EPOCHREALTIME}"
        kill "$MON_PID"
        exit 0
      fi
    done
    kill "$MON_PID"
    exit 3
    ;;
  route-sample)
    end=$((SECONDS + $1)) stop=$2
    shift 2
    coproc MON { exec ip monitor route nexthop; }
    prev=""
    # sample TIME [last]: the line, when the counts changed (or last).
    sample() {
      local cur="" v
      for v in "${vips[@]}"; do
        hops "$v"
        cur+="${cur:+ }$n"
      done
      if [ "$cur" != "$prev" ] || [ -n "${2:-}" ]; then
        echo "$1 $cur"
        prev=$cur
      fi
    }
    vips=("$@")
    sample "$EPOCHREALTIME"
    while [ "$SECONDS" -lt "$end" ] && [ ! -e "$stop" ]; do
      t=""
      if IFS= read -r -t 1 -u "${MON[0]}" _; then t=$EPOCHREALTIME; fi
      sample "${t:-$EPOCHREALTIME}"
    done
    sample "$EPOCHREALTIME" last
    kill "$MON_PID" 2>/dev/null
    rm -f "$stop"
    exit 0
    ;;
  weight-zero)
    end=$((SECONDS + $1))
    shift
    declare -A arm
    for a in "$@"; do arm[$a]=1; done
    ip_vs=${WATCH_IP_VS:-/proc/net/ip_vs} fifo=${WATCH_PAUSE_FIFO:-/run/lab-agent.fifo}
    while [ "$SECONDS" -lt "$end" ]; do
      n=0
      while read -r a b _ d _; do
        [ "$a" = "->" ] || continue
        if [ -n "${arm[${b%:*}]:-}" ]; then n=$((n + d)); fi
      done <"$ip_vs"
      if [ "$n" -eq 0 ]; then
        echo "$EPOCHREALTIME"
        exit 0
      fi
      read -r -t 0.05 _ <>"$fifo" 2>/dev/null || true
    done
    exit 3
    ;;
  *)
    echo "watches: unknown watch '$action' (route-below, route-sample or weight-zero)" >&2
    exit 2
    ;;
esac
