#!/bin/bash
# Pre-init of a systemd lab guest (User-Mode Linux, hostfs root read-only): what a VM's
# initramfs and its disk give a real host, in a handful of execs, then `exec systemd`.
#
#   /run/lab    the node dir on this machine (hostfs, read-write): agent dirs, cloud-init data
#   /run/disk   the guest's disk (/dev/ubda, an ext4 image in the node dir): the upper layers
#               of the overlays on /etc /var /usr/lib /usr/local, and /home and /root
#               themselves (a VM's are its own, not this machine's). It survives a restart,
#               so a reboot keeps what the apply wrote, as on a VM; `first-boot` starts from a
#               blank one.
# The node's files (lab/guest/ writes them): fstab.1 (proc, sys, dev, tmpfs /run, the node
# dir, the disk), mkdirs (overlay upper/work dirs, /home, /root), fstab.2 (overlays, /home,
# /root, /tmp, modules).
#
# On the first boot of a disk, first-boot.sh makes the image a fresh Debian cloud VM's. What
# only the lab needs (its exec agent unit, journald limits) is copied under /run, never onto
# the disk; masks come from the kernel command line (systemd.mask=), runtime-only as well.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
L=${labdir:?labdir= missing on the kernel command line}

mount -n -a -T "$L/fstab.1" || echo "lab-preinit: fstab.1 failed" >&2
mapfile -t dirs < /run/lab/mkdirs
mkdir -p "${dirs[@]}"
mount -n -a -T /run/lab/fstab.2 || echo "lab-preinit: fstab.2 failed" >&2
# A kernel without modules (the lab's own build) has no /lib/modules/<release>, so modprobe —
# which the apply and systemd-modules-load run, as on a VM — would fail even for what is built
# in. Index what this kernel has built in (/sys/module without an initstate) as a VM's
# modules.builtin would; the options the lab needs are all built in (lab/kernel.config).
read -r release < /proc/sys/kernel/osrelease
if [ ! -d "/usr/lib/modules/$release" ]; then
  m=/run/lab-modules/lib/modules/$release
  mkdir -p "$m"
  for d in /sys/module/*; do [ -e "$d/initstate" ] || echo "kernel/builtin/${d##*/}.ko"; done > "$m/modules.builtin"
  depmod -b /run/lab-modules "$release" 2>/dev/null
  mount -n --bind /run/lab-modules/lib/modules /usr/lib/modules
fi
if [ ! -e /run/disk/.lab-image ]; then
  # Its errors go to the node dir: Lab.start fails the boot with them.
  if bash /run/lab/first-boot.sh 2> /run/lab/first-boot.err; then
    : > /run/disk/.lab-image
  else
    mv /run/lab/first-boot.err /run/lab/first-boot.failed
  fi
fi
cp -r /run/lab/runtime/. /run/
exec /lib/systemd/systemd
