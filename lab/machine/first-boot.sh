#!/bin/bash
# First boot of a systemd lab guest's disk (run once by lab/machine/preinit.sh, overlays
# mounted, before systemd): turn this machine's root — which every guest shares read-only —
# into what a fresh Debian 12 cloud VM is after cloud-init's first boot, and nothing more:
#   - no unit enabled but sshd (this machine enabled its own daemons; a VM has none of them)
#   - a fresh machine id and the node's own SSH host keys (made on the host, which records
#     them for known_hosts)
#   - the stack's login user with its key and cloud-init's sudo rule (users: sudo: ALL=(ALL)
#     NOPASSWD:ALL, in /etc/sudoers.d/90-cloud-init-users), unlocked as cloud-init leaves it
#   - hostname and the mgmt address, as Proxmox's cloud-init drive gives them (netplan)
# Values come from files the host prepared in the node dir (/run/lab/cloud-init/): no value
# is interpolated into this script.
set -eu
C=/run/lab/cloud-init
read -r user < "$C/user"
read -r hostname < "$C/hostname"

# Units: only what a cloud image enables. A removed link in the overlay is a whiteout on the
# disk, so it stays removed across reboots.
find /etc/systemd/system -mindepth 2 -maxdepth 2 -path '*.wants/*' ! -name ssh.service -delete
rm -f /etc/systemd/system/sshd.service
ln -sf /lib/systemd/system/ssh.service /etc/systemd/system/sshd.service

: > /etc/machine-id
rm -f /etc/ssh/ssh_host_*
install -m 0600 "$C/ssh_host_ed25519_key" /etc/ssh/ssh_host_ed25519_key
install -m 0644 "$C/ssh_host_ed25519_key.pub" /etc/ssh/ssh_host_ed25519_key.pub

echo "$hostname" > /etc/hostname
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n' "$hostname" > /etc/hosts
[ -L /etc/resolv.conf ] && rm -f /etc/resolv.conf
: > /etc/resolv.conf

# root's home as Debian's base-files makes it (the image's /root is empty on the disk).
chmod 0700 /root
[ -e /root/.bashrc ] || install -m 0644 /usr/share/base-files/dot.bashrc /root/.bashrc
[ -e /root/.profile ] || install -m 0644 /usr/share/base-files/dot.profile /root/.profile

if [ "$user" != root ]; then
  id -u "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo "$user"
  usermod -p '*' "$user"
  echo "$user ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/90-cloud-init-users
  chmod 0440 /etc/sudoers.d/90-cloud-init-users
fi
home=$(getent passwd "$user" | cut -d: -f6)
install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
install -m 0600 -o "$user" -g "$user" "$C/authorized_keys" "$home/.ssh/authorized_keys"

# The network: cloud-init's netplan file and the NIC names of this lab's "image".
install -d -m 0755 /etc/netplan /etc/systemd/network
rm -f /etc/netplan/*.yaml
install -m 0600 "$C/50-cloud-init.yaml" /etc/netplan/50-cloud-init.yaml
for f in "$C"/*.link; do install -m 0644 "$f" /etc/systemd/network/; done
