#!/bin/bash
# The lab's service manager inside a guest (there is no systemd in a UML guest).
# Installed as /run/lab/bin/svc; also reached as `systemctl`, `networkctl` and `netplan`
# (symlinks in /run/lab/bin, first on the guest's PATH), so the plan's own activation
# commands run unchanged.
#
#   svc start|stop|restart|reload|is-active|status SERVICE
#
# Each service mirrors its Debian unit (ExecStart/ExecReload, user, runtime dir) as closely
# as a guest without systemd allows. Daemons run in their own session (setsid) with
# stdout/stderr in /run/lab/log/SERVICE.log, which the host can read directly; their PID is
# kept in /run/lab-svc/SERVICE.pid (guest tmpfs: a power cut forgets it, as it should).
set -u
S=/run/lab-svc
LOGDIR=/run/lab/log
# Test first: every `systemctl` of an apply runs this, and a fork costs 0.1-0.3 s in a guest.
[ -d "$S" ] || mkdir -p "$S" 2>/dev/null || true

die() { echo "lab svc: $*" >&2; exit 1; }
note() { echo "lab svc: $*" >&2; }

pid_of() { local p; [ -r "$S/$1.pid" ] && read -r p < "$S/$1.pid" && [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"; }
# Without a fork (`$(pid_of …)` is one, and a fork costs tens of ms in a UML guest): the
# apply program's `systemctl show` asks this for every unit of the plan on every apply.
running() { local p; [ -r "$S/$1.pid" ] && read -r p < "$S/$1.pid" && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# Start COMMAND... as service $1 in its own session, logging to the lab dir.
spawn() {
  local name=$1; shift
  setsid "$@" >>"$LOGDIR/$name.log" 2>&1 </dev/null &
  echo $! > "$S/$name.pid"
}

# Wait (bounded) until PID exits; SIGKILL after the bound, like systemd's TimeoutStopSec.
wait_gone() {
  local p=$1 i
  # `read -t` on the agent's fifo (nobody writes it) is a 50 ms sleep without a fork.
  for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || return 0; read -r -t 0.05 _ <> /run/lab-agent.fifo; done
  kill -KILL "$p" 2>/dev/null
}

stop_pid() {
  local p; p=$(pid_of "$1") || { rm -f "$S/$1.pid"; return 0; }
  kill -TERM "$p" 2>/dev/null
  wait_gone "$p"
  rm -f "$S/$1.pid"
}

# --- frr: zebra, staticd and the daemons enabled in /etc/frr/daemons; config via vtysh -b ---
# Sets FRR_DAEMONS (an array; no subshell, see running()).
frr_daemons() {
  local d
  FRR_DAEMONS=(zebra staticd)
  # shellcheck disable=SC1091
  [ -r /etc/frr/daemons ] && . /etc/frr/daemons
  for d in bgpd ospfd ospf6d ripd ripngd isisd pimd pim6d ldpd nhrpd eigrpd babeld sharpd pbrd bfdd fabricd vrrpd pathd; do
    [ "${!d:-no}" = yes ] && FRR_DAEMONS+=("$d")
  done
  return 0
}
frr_start_missing() {
  local d p optvar opts
  install -d -o frr -g frr -m 0755 /run/frr # zebra exits if root owns it
  # shellcheck disable=SC1091
  [ -r /etc/frr/daemons ] && . /etc/frr/daemons
  frr_daemons
  for d in "${FRR_DAEMONS[@]}"; do
    [ -r "/run/frr/$d.pid" ] && read -r p < "/run/frr/$d.pid" && kill -0 "$p" 2>/dev/null && continue
    optvar=${d}_options
    opts=${!optvar:-"-A 127.0.0.1"}
    [ "$d" = zebra ] && [[ $opts != *" -s "* ]] && opts="$opts -s 90000000"
    # shellcheck disable=SC2086
    /usr/lib/frr/$d -d -F traditional $opts --log "file:$LOGDIR/frr-$d.log" || return 1
    # Lab only: a guest has one virtual CPU, time-shared with a dozen guests on 2 host cores;
    # a fork-heavy neighbour process (a checker, the announce loop) can hold it past BFD's
    # 300 ms. Real-time priority for bfdd keeps BFD measuring the network, not the guest.
    if [ "$d" = bfdd ] && [ -r /run/frr/bfdd.pid ]; then chrt -a -f -p 50 "$(< /run/frr/bfdd.pid)" >/dev/null 2>&1 || true; fi
  done
}
frr() {
  case $1 in
    start)
      running_all_frr && return 0
      frr_start_missing || return 1
      vtysh -b ;;
    reload)
      running_all_frr || { frr start; return; }
      # Like frrinit.sh reload: start newly enabled daemons, then apply the config diff.
      frr_start_missing || return 1
      /usr/lib/frr/frr-reload.py --reload /etc/frr/frr.conf ;;
    restart) frr stop; frr start ;;
    stop)
      local f p
      for f in /run/frr/*.pid; do
        [ -r "$f" ] || continue
        read -r p < "$f"; kill -TERM "$p" 2>/dev/null && wait_gone "$p"; rm -f "$f"
      done ;;
    is-active) running_all_frr ;;
  esac
}
running_all_frr() {
  local d p
  frr_daemons
  for d in "${FRR_DAEMONS[@]}"; do
    [ -r "/run/frr/$d.pid" ] && read -r p < "/run/frr/$d.pid" && kill -0 "$p" 2>/dev/null || return 1
  done
}

# --- generic pid-kept daemons ---
keepalived_start() {
  local DAEMON_ARGS=""
  # shellcheck disable=SC1091
  [ -r /etc/default/keepalived ] && . /etc/default/keepalived
  # -n: no fork (we keep its PID); -l: log to stdout (no syslog in the guest); -D: details.
  # shellcheck disable=SC2086
  spawn keepalived keepalived -n -l -D -f /etc/keepalived/keepalived.conf $DAEMON_ARGS
}
exabgp_start() {
  install -d -o exabgp -g exabgp -m 0750 /run/exabgp
  [ -p /run/exabgp/exabgp.in ] || mkfifo -m 0600 /run/exabgp/exabgp.in
  [ -p /run/exabgp/exabgp.out ] || mkfifo -m 0600 /run/exabgp/exabgp.out
  chown exabgp:exabgp /run/exabgp/exabgp.in /run/exabgp/exabgp.out
  # The Debian unit: User=exabgp, exabgp_daemon_daemonize=false, AmbientCapabilities and
  # CapabilityBoundingSet CAP_NET_ADMIN (the announce process runs ipvsadm). setpriv execs in
  # place, so the PID we keep is exabgp's own.
  exabgp_daemon_daemonize=false spawn exabgp setpriv --reuid=exabgp --regid=exabgp --init-groups \
    --inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin --bounding-set=-all,+net_admin \
    /usr/sbin/exabgp /etc/exabgp/exabgp.conf
}
haproxy_start() {
  local CONFIG=/etc/haproxy/haproxy.cfg EXTRAOPTS="-S /run/haproxy-master.sock"
  # shellcheck disable=SC1091
  [ -r /etc/default/haproxy ] && . /etc/default/haproxy
  # Debian's tmpfiles.d/haproxy.conf (the stats socket lives there); no tmpfiles in the guest.
  install -d -m 2775 -o haproxy -g haproxy /run/haproxy
  # Master-worker like the unit (-Ws there); -D so the master's PID lands in our pid file.
  # shellcheck disable=SC2086
  haproxy -W -D -f "$CONFIG" -p "$S/haproxy.pid" $EXTRAOPTS >>"$LOGDIR/haproxy.log" 2>&1 </dev/null
}
haproxy_reload() {
  local CONFIG=/etc/haproxy/haproxy.cfg p
  # shellcheck disable=SC1091
  [ -r /etc/default/haproxy ] && . /etc/default/haproxy
  haproxy -c -q -f "$CONFIG" || return 1
  p=$(pid_of haproxy) || { haproxy_start; return; }
  kill -USR2 "$p" # the master re-execs and replaces its workers: no dropped connections
}
dnsdist_start() {
  dnsdist --check-config >/dev/null || { dnsdist --check-config; return 1; }
  spawn dnsdist dnsdist --supervised --disable-syslog -u _dnsdist -g _dnsdist
}
pdns_start() {
  install -d -o pdns -g pdns -m 0755 /run/pdns
  spawn pdns pdns_server --guardian=no --daemon=no --disable-syslog --log-timestamp=no --write-pid=no \
    --setuid=pdns --setgid=pdns
}

daemon() { # NAME ACTION: keepalived, exabgp, haproxy, dnsdist, pdns
  local name=$1 action=$2 p
  case $action in
    start) running "$name" || "${name}_start" ;;
    stop) stop_pid "$name" ;;
    restart) stop_pid "$name"; "${name}_start" ;;
    is-active) running "$name" ;;
    reload)
      case $name in
        keepalived) if p=$(pid_of keepalived) && kill -HUP "$p"; then :; else keepalived_start; fi ;;
        exabgp) if p=$(pid_of exabgp) && kill -USR1 "$p"; then :; else exabgp_start; fi ;;
        haproxy) haproxy_reload ;;
        # No ExecReload in their Debian units: systemctl reload-or-restart restarts them.
        dnsdist | pdns) stop_pid "$name"; "${name}_start" ;;
      esac ;;
  esac
}

# --- nftables: oneshot, "active" once the file loaded ---
nftables() {
  case $1 in
    start | reload | restart) nft -f /etc/nftables.conf && : > "$S/nftables.active" ;;
    stop) nft flush ruleset; rm -f "$S/nftables.active" ;;
    is-active) [ -e "$S/nftables.active" ] ;;
  esac
}

# --- any other unit of the plan (maglev-infra-fwmarks, maglev-firewall, maglev-infra-metrics) ---
# Runs what the rendered unit file says, as systemd would (no shell; `-` ignores a failure),
# so a unit the plans add needs no case here. Type=oneshot: the Exec* lines run to the end and
# the unit is "active" afterwards. Type=simple/exec: ExecStart runs as a service of this
# supervisor (its Nice= honoured; the sandboxing options are not). Returns 2 when there is no
# such unit file or another Type.
unit_lines() { # KEY FILE: the values of KEY= lines, into the array `cmd`
  local line
  cmd=()
  while IFS= read -r line; do
    [[ $line == "$1="* ]] && cmd+=("${line#"$1"=}")
  done < "$2"
}
unitfile() { # ACTION UNIT
  local f=/etc/systemd/system/$2.service line key keys=() cmd words type=simple nice=0
  [ -r "$f" ] || return 2
  # Builtins only (no grep): `systemctl show` asks this on every apply, see running().
  while IFS= read -r line; do
    case $line in Type=*) type=${line#Type=} ;; Nice=*) nice=${line#Nice=} ;; esac
  done < "$f"
  case $type in
    oneshot) ;;
    simple | exec)
      case $1 in
        is-active) running "$2"; return ;;
        stop) stop_pid "$2"; return 0 ;;
        start) running "$2" && return 0 ;;
        restart | reload) stop_pid "$2" ;;
      esac
      unit_lines ExecStart "$f"
      [ ${#cmd[@]} -eq 1 ] || { note "$2: Type=$type needs one ExecStart"; return 1; }
      read -ra words <<< "${cmd[0]}"
      spawn "$2" nice -n "$nice" "${words[@]}"
      return 0 ;;
    *) return 2 ;;
  esac
  case $1 in
    is-active) [ -e "$S/$2.active" ]; return ;;
    start | restart) keys=(ExecStart) ;;
    reload) keys=(ExecReload ExecStart) ;;
    stop) keys=(ExecStop) ;;
  esac
  for key in "${keys[@]}"; do
    unit_lines "$key" "$f"
    [ ${#cmd[@]} -gt 0 ] || continue
    for line in "${cmd[@]}"; do
      read -ra words <<< "$line"
      if [[ ${words[0]} == -* ]]; then words[0]=${words[0]#-}; "${words[@]}" || true
      else "${words[@]}" || return 1
      fi
    done
    break
  done
  if [ "$1" = stop ]; then rm -f "$S/$2.active"; else : > "$S/$2.active"; fi
}

# --- systemd-networkd: apply /etc/systemd/network/*.netdev + *.network with ip ---
# Only what the plans use: Kind=dummy|vrf netdevs; [Match] Name=, Address= (in [Network] or
# [Address]), [Route] Destination=/Gateway=. Addresses on a matched link that are no longer
# configured are removed, like `networkctl reconfigure`. Links the lab created at boot
# (mgmt0, ingress0) are never matched by these files in the plans.
networkd_apply() {
  local f line key val sec name kind table
  shopt -s nullglob
  for f in /etc/systemd/network/*.netdev; do
    name="" kind="" table="" sec=""
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line%%#*}; [[ $line =~ ^[[:space:]]*$ ]] && continue
      [[ $line =~ ^\[(.*)\] ]] && { sec=${BASH_REMATCH[1]}; continue; }
      key=${line%%=*} val=${line#*=}
      case $sec/$key in NetDev/Name) name=$val ;; NetDev/Kind) kind=$val ;; VRF/Table) table=$val ;; esac
    done < "$f"
    [ -n "$name" ] || continue
    ip link show dev "$name" >/dev/null 2>&1 && continue
    case $kind in
      dummy) ip link add "$name" type dummy || return 1 ;;
      vrf) ip link add "$name" type vrf table "${table:?VRF Table= missing in $f}" || return 1 ;;
      *) note "netdev $f: Kind=$kind not supported in the lab"; return 1 ;;
    esac
  done
  for f in /etc/systemd/network/*.network; do
    name="" sec=""
    local -a addrs=() routes=()
    local dest="" gw=""
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line%%#*}; [[ $line =~ ^[[:space:]]*$ ]] && continue
      if [[ $line =~ ^\[(.*)\] ]]; then
        [ "$sec" = Route ] && [ -n "$gw$dest" ] && routes+=("${dest:-default}|$gw")
        sec=${BASH_REMATCH[1]} dest="" gw=""; continue
      fi
      key=${line%%=*} val=${line#*=}
      case $sec/$key in
        Match/Name) name=$val ;;
        Network/Address | Address/Address) addrs+=("$val") ;;
        Route/Destination) dest=$val ;;
        Route/Gateway) gw=$val ;;
      esac
    done < "$f"
    [ "$sec" = Route ] && [ -n "$gw$dest" ] && routes+=("${dest:-default}|$gw")
    [ -n "$name" ] || continue
    ip link show dev "$name" >/dev/null 2>&1 || { note "$f: no link $name"; continue; }
    ip link set "$name" up
    local want=" ${addrs[*]} " have a
    for a in $(ip -o addr show dev "$name" scope global | awk '{print $4}'); do
      [[ $want == *" $a "* ]] || ip addr del "$a" dev "$name"
    done
    have=" $(ip -o addr show dev "$name" scope global | awk '{print $4}' | tr '\n' ' ') "
    for a in "${addrs[@]}"; do
      [[ $have == *" $a "* ]] || ip addr add "$a" dev "$name" nodad 2>/dev/null || ip addr add "$a" dev "$name" || return 1
    done
    local r g
    for r in "${routes[@]}"; do
      g=${r#*|}
      if [ -n "$g" ]; then ip route replace "${r%%|*}" via "$g" dev "$name" || return 1
      else ip route replace "${r%%|*}" dev "$name" || return 1; fi
    done
  done
}
networkd() {
  case $1 in
    start | reload | restart) networkd_apply && : > "$S/systemd-networkd.active" ;;
    stop) rm -f "$S/systemd-networkd.active" ;;
    is-active) [ -e "$S/systemd-networkd.active" ] ;;
  esac
}

# --- prometheus-node-exporter: the real exporter (Debian's binary, the guests share this
# machine's /usr) with the plan's own /etc/default/prometheus-node-exporter ARGS, as Debian's
# unit runs it; the lab scrapes it (scenario `metrics`). Its systemd collector finds no D-Bus in
# a bash guest and reports itself failed; every other collector works.
node_exporter() {
  local ARGS="" words
  case $1 in
    is-active) running node-exporter; return ;;
    stop) stop_pid node-exporter; return 0 ;;
    start) running node-exporter && return 0 ;;
    restart | reload) stop_pid node-exporter ;;
  esac
  # shellcheck source=/dev/null
  [ -r /etc/default/prometheus-node-exporter ] && . /etc/default/prometheus-node-exporter
  read -ra words <<< "$ARGS"
  spawn node-exporter nice -n 10 /usr/bin/prometheus-node-exporter "${words[@]}"
}

svc() { # ACTION SERVICE
  local action=$1 unit=${2%.service} rc
  case $action in start | stop | restart | reload | is-active) ;; *) die "unknown action $action" ;; esac
  case $unit in
    frr) frr "$action" ;;
    keepalived | exabgp | haproxy | dnsdist | pdns) daemon "$unit" "$action" ;;
    nftables) nftables "$action" ;;
    systemd-networkd) networkd "$action" ;;
    prometheus-node-exporter) node_exporter "$action" ;;
    *) unitfile "$action" "$unit"; rc=$?
       [ $rc = 2 ] && die "unknown service $unit"
       return $rc ;;
  esac
}

status() {
  local u=${1%.service} rc
  svc is-active "$u"; rc=$?
  [ $rc = 0 ] && echo "$u: active" || echo "$u: inactive"
  [ -r "$LOGDIR/$u.log" ] && tail -n 20 "$LOGDIR/$u.log"
  return $rc
}

# `systemctl` as the plan and systemd ServiceManager use it.
systemctl_main() {
  local now=0 quiet=0 verb="" units=() a
  for a in "$@"; do
    case $a in
      --now) now=1 ;;
      -q | --quiet) quiet=1 ;;
      --no-block | --no-pager | -l | --full) ;;
      -*) ;;
      *) if [ -z "$verb" ]; then verb=$a; else units+=("$a"); fi ;;
    esac
  done
  case $verb in
    daemon-reload | reset-failed) return 0 ;;
    show)
      # `show -p UnitFileState -p ActiveState UNIT…` as the apply program asks: a block per unit.
      local first=1
      for u in "${units[@]}"; do
        case $u in UnitFileState | ActiveState) continue ;; esac
        [ $first = 1 ] || echo
        first=0
        echo "UnitFileState=enabled"
        if svc is-active "$u"; then echo "ActiveState=active"; else echo "ActiveState=inactive"; fi
      done
      return 0 ;;
  esac
  local u rc=0
  for u in "${units[@]}"; do
    case $verb in
      enable) [ $now = 1 ] && { svc start "$u" || rc=1; } ;;
      disable) [ $now = 1 ] && { svc stop "$u" || rc=1; } ;;
      start | stop | restart | reload) svc "$verb" "$u" || rc=1 ;;
      reload-or-restart | try-reload-or-restart) svc reload "$u" || rc=1 ;;
      try-restart) if svc is-active "$u"; then svc restart "$u" || rc=1; fi ;;
      is-active)
        if svc is-active "$u"; then [ $quiet = 1 ] || echo active; else [ $quiet = 1 ] || echo inactive; rc=3; fi ;;
      is-enabled) [ $quiet = 1 ] || echo enabled ;;
      status) status "$u" || rc=3 ;;
      *) die "systemctl $verb: not supported in the lab" ;;
    esac
  done
  return $rc
}

networkctl_main() {
  case ${1:-} in
    reload | reconfigure) svc reload systemd-networkd ;;
    "" | list | status) ip -br link ;;
    *) die "networkctl $1: not supported in the lab" ;;
  esac
}

# netplan.io is not installed in the lab: the lab sets mgmt0/ingress0 at boot from the same
# addresses. `generate` still parses the YAML (so a broken file fails like it would);
# `apply` is a no-op and says so.
netplan_main() {
  local root="" a f
  case ${1:-} in
    generate)
      shift
      while [ $# -gt 0 ]; do case $1 in --root-dir) root=$2; shift 2 ;; *) shift ;; esac; done
      for f in "$root"/etc/netplan/*.yaml; do
        [ -e "$f" ] || continue
        /usr/bin/python3 -c 'import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
assert isinstance(d, dict) and isinstance(d.get("network"), dict), "no network: mapping"
assert d["network"].get("version") == 2, "network.version must be 2"' "$f" || { echo "netplan (lab): $f: invalid" >&2; return 1; }
      done ;;
    apply) note "netplan apply is a no-op in the lab (interfaces were configured at boot)" ;;
    *) a=${1:-}; die "netplan $a: not supported in the lab" ;;
  esac
}

# `apt-get` as the apply program calls it: guests share the host's read-only root and have no
# network, so nothing is installed (a lab fidelity gap, reported by the lab). The package is
# recorded as installed in the guest's own dpkg database (its /var is a per-guest overlay) —
# what apt would leave there — so the next apply finds nothing to install, as on a VM.
apt_get_main() {
  local a pkgs=() verb=""
  for a in "$@"; do
    case $a in
      -o) ;;
      -*) ;;
      *=*) ;;
      *) if [ -z "$verb" ]; then verb=$a; else pkgs+=("$a"); fi ;;
    esac
  done
  case $verb in
    update) return 0 ;;
    install)
      echo "lab: not installed (no package installs in lab guests): ${pkgs[*]}"
      for a in "${pkgs[@]}"; do
        printf '\nPackage: %s\nStatus: install ok installed\nPriority: optional\nArchitecture: all\nVersion: 0lab\nMaintainer: lab\nDescription: placeholder: not installed in the lab guest\n\n' "$a" >> /var/lib/dpkg/status
      done ;;
    *) die "apt-get $verb: not supported in the lab" ;;
  esac
}

case ${0##*/} in
  apt-get) apt_get_main "$@" ;;
  systemctl) systemctl_main "$@" ;;
  networkctl) networkctl_main "$@" ;;
  netplan) netplan_main "$@" ;;
  *)
    [ $# -ge 1 ] || die "usage: svc start|stop|restart|reload|is-active|status SERVICE"
    case $1 in
      status) status "$2" ;;
      *) [ $# -eq 2 ] || die "usage: svc ACTION SERVICE"; svc "$1" "$2" ;;
    esac ;;
esac
