#!/bin/bash
# PID 1 of a lab guest (User-Mode Linux, hostfs root read-only). Template shared by all
# nodes: everything node-specific comes from the node's lab dir on the host, passed as
# `labdir=` on the kernel command line (unknown key=value arguments reach init as
# environment variables). Files the host prepared there (lab/guest.ts):
#   fstab.1    proc, sys, dev, tmpfs /run, the lab dir itself on /run/lab
#   fstab.2    devpts, shm, overlays (tmpfs upper) on /etc /var /usr/lib, /tmp, modules
#   mkdirs     directories to create between the two (overlay upper/work dirs)
#   hostname, hosts, net.batch (`ip -batch`), env (sourced)
# Every exec costs 0.1–0.25 s in a guest, so this script does its work in a handful of
# execs (two `mount -a`, one mkdir, one mkfifo, one `ip -batch`) and uses bash builtins
# for the rest. Then it runs the exec agent until a STOP file appears, and powers off.
export PATH=/run/lab/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
L=${labdir:?labdir= missing on the kernel command line}

# fstab.1 is read (whole) before tmpfs covers /run, where the host's lab dir may live.
mount -n -a -T "$L/fstab.1" || echo "lab-init: fstab.1 failed" >&2
# From here on, the node dir is /run/lab (hostfs, read-write, shared with the host).
mapfile -t dirs < /run/lab/mkdirs
mkdir -p "${dirs[@]}"
# The stock Debian UML kernel has overlay as a module; the lab kernel has it built in.
fs=$(</proc/filesystems)
if [[ $fs != *overlay* ]]; then
  insmod "/usr/lib/uml/modules/$(</proc/sys/kernel/osrelease)/kernel/fs/overlayfs/overlay.ko"
fi
mount -n -a -T /run/lab/fstab.2 || echo "lab-init: fstab.2 failed" >&2
# devtmpfs has no /dev/fd (udev/systemd make it): bash process substitution needs it.
ln -s /proc/self/fd /dev/fd

# Builtins only from here to the agent, except `ip -batch` and `mkfifo`.
read -r name < /run/lab/hostname
echo "$name" > /proc/sys/kernel/hostname
echo "$name" > /etc/hostname
while IFS= read -r line; do printf '%s\n' "$line"; done < /run/lab/hosts > /etc/hosts
# /etc/resolv.conf may be a symlink into the host's /run: replace it with an empty file so
# nothing waits on an unreachable resolver.
[ -L /etc/resolv.conf ] && unlink /etc/resolv.conf 2>/dev/null
: > /etc/resolv.conf
# No DAD on lab links: addresses usable at once (BGP over v6 would otherwise wait).
echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad
echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad
ip -force -batch /run/lab/net.batch || echo "lab-init: ip -batch failed" >&2
[ -r /run/lab/env ] && . /run/lab/env
mkfifo /run/lab-agent.fifo

# The exec agent. Protocol (lab/guest.ts is the other side):
#   host writes in/ID.tmp, renames it to in/ID.sh  → agent runs `bash in/ID.sh` as a job
#   agent writes out/ID.out, out/ID.err, then out/ID.rc (one write: "N\n")
#   host writes in/ID.kill                         → agent kills the job's process group
#   host deletes in/ID.sh when done                → agent forgets the job
#   host writes in/STOP                            → agent returns, init powers off
# The wait between scans is `read -t` on a fifo nobody writes: a sleep without a fork.
# It is 50 ms while jobs are around and for 2 s after, then 250 ms: thirteen idle guests
# scanning every 50 ms cost a quarter of a host core, which the BFD guests need (an idle
# guest's first exec waits up to 250 ms longer).
agent() {
  set -m # each job gets its own process group, so a kill reaches its children
  shopt -s nullglob
  local in=/run/lab/in out=/run/lab/out f id p idle=0
  local -A jobs=() seen=()
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

read -r up _ < /proc/uptime
echo "$up" > /run/lab/ready
agent
echo "lab-init: STOP received, powering off" >&2
# A clean stop: let daemons run their exit paths (keepalived deletes its IPVS services).
kill -TERM -1 2>/dev/null
read -r -t 1 -u 3 _
poweroff -f
