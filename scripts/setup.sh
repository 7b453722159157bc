#!/usr/bin/env bash
# Set-up on Debian 12 (as root): the real daemons whose checkers `npm run validate` runs,
# the lab's User-Mode Linux and VDE switch, then the npm dependencies from the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
PACKAGES=(
  # checkers for rendered files
  frr exabgp keepalived haproxy ipvsadm nftables dnsdist pdns-server pdns-backend-lmdb
  pdns-backend-sqlite3 netplan.io systemd iproute2 util-linux
  # lab: guests, switches, traffic and tooling inside guests
  user-mode-linux uml-utilities vde2 kmod iptables wrk curl bind9-dnsutils dnsutils python3 procps psmisc
  frr-pythontools socat sqlite3 python3-yaml
  # the apply program: run as root through `sudo -n` like on a VM; its lint (pyflakes) and the
  # host scripts' (shellcheck)
  sudo python3-pyflakes shellcheck
  # lab: building a UML kernel with nftables (once, cached)
  linux-source-6.1 build-essential bc flex bison libelf-dev libssl-dev libvdeplug-dev xz-utils
)
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
npm ci --no-audit --no-fund
