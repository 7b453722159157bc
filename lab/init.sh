#!/bin/bash
# PID 1 of a lab-only guest (router, transit, client, app servers; User-Mode Linux, hostfs
# root read-only). Managed hosts boot systemd instead (lab/machine/). Everything
# node-specific comes from the node's lab dir on the host, passed as `labdir=` on the kernel
# command line (unknown key=value arguments reach init as environment variables). Files the
# host prepared there (lab/guest/boot.ts):
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

# The exec agent (lab/machine/agent.sh, copied into the node dir by lab/guest/boot.ts).
# shellcheck source=lab/machine/agent.sh
. /run/lab/agent.sh

read -r up _ < /proc/uptime
echo "$up" > /run/lab/ready
lab_agent
echo "lab-init: STOP received, powering off" >&2
# A clean stop: let daemons run their exit paths.
kill -TERM -1 2>/dev/null
read -r -t 1 -u 3 _
poweroff -f
