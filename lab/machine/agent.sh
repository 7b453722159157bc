#!/bin/bash
# The lab's exec agent inside a guest: how the lab (lab/guest/exec.ts, `Lab.exec`) runs a command
# in a guest without a network path. Sourced by the bash init of the lab-only nodes
# (lab/init.sh) and run as `lab-agent.service` in systemd guests (runtime-only, never on the
# guest's disk). Protocol, over the node dir shared with the host (hostfs, /run/lab):
#   host writes in/ID.tmp, renames it to in/ID.sh  → agent runs `bash in/ID.sh` as a job
#   agent writes out/ID.out, out/ID.err, then out/ID.rc (one write: "N\n")
#   host writes in/ID.kill                         → agent kills the job's process group
#   host deletes in/ID.sh when done                → agent forgets the job
#   host writes in/STOP                            → agent returns (init powers off)
# The wait between scans is `read -t` on a fifo nobody writes: a sleep without a fork.
# It is 50 ms while jobs are around and for 2 s after, then 250 ms: thirteen idle guests
# scanning every 50 ms cost a quarter of a host core, which the BFD guests need (an idle
# guest's first exec waits up to 250 ms longer).
lab_agent() {
  set -m # each job gets its own process group, so a kill reaches its children
  shopt -s nullglob
  local in=/run/lab/in out=/run/lab/out f id p idle=0
  local -A jobs=() seen=()
  [ -p /run/lab-agent.fifo ] || mkfifo /run/lab-agent.fifo
  exec 3<>/run/lab-agent.fifo
  while :; do
    seen=()
    for f in "$in"/*; do
      id=${f##*/}
      case $id in
        *.sh)
          id=${id%.sh}; seen[$id]=1
          if [ -z "${jobs[$id]:-}" ]; then
            { bash "$f" </dev/null >"$out/$id.out" 2>"$out/$id.err"; echo $? >"$out/$id.rc"; } &
            jobs[$id]=$!
          fi ;;
        *.kill)
          id=${id%.kill}; seen[$id]=1
          p=${jobs[$id]:-}
          [ -n "$p" ] && kill -KILL -- "-$p" 2>/dev/null ;;
        STOP) return 0 ;;
      esac
    done
    for id in "${!jobs[@]}"; do [ -n "${seen[$id]:-}" ] || unset "jobs[$id]"; done
    if [ ${#seen[@]} -gt 0 ]; then idle=0; elif [ $idle -lt 40 ]; then idle=$((idle + 1)); fi
    if [ $idle -lt 40 ]; then read -r -t 0.05 -u 3 _; else read -r -t 0.25 -u 3 _; fi
  done
}

# Run as a program (the systemd unit): serve until STOP, then power the guest off cleanly.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb
  read -r up _ < /proc/uptime
  echo "$up" > /run/lab/ready
  lab_agent
  rm -f /run/lab/in/STOP
  exec systemctl --no-block poweroff
fi
