#!/usr/bin/env bash
# Set-up on Debian 12 with Node 20: the Debian packages of scripts/packages.txt (the real
# daemons whose checkers `npm run validate` runs, the lab's User-Mode Linux and VDE switch,
# the kernel build's tools), then the npm dependencies from the lockfile.
# Run it as root, or as a user who may use sudo (only apt-get runs through sudo then).
set -euo pipefail
cd "$(dirname "$0")/.."
LIST=scripts/packages.txt

die() { echo "setup.sh: $*" >&2; exit 1; }

# Node first: Debian 12's own nodejs is 18; package.json wants >= 20.
command -v node >/dev/null || die "needs Node 20 or newer (node not found): e.g. the node:20-bookworm image, or NodeSource's nodejs 20 for Debian 12"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "needs Node 20 or newer, found $(node --version)"
command -v npm >/dev/null || die "needs npm (comes with Node 20)"

mapfile -t PACKAGES < <(grep -v -e '^#' -e '^[[:space:]]*$' "$LIST")
[ "${#PACKAGES[@]}" -gt 0 ] || die "$LIST: no packages"

if [ "$(id -u)" -eq 0 ]; then
  AS_ROOT=()
elif command -v sudo >/dev/null; then
  echo "setup.sh: not root: apt-get runs through sudo"
  sudo -v || die "sudo refused: run this as root, or as a user allowed to use sudo"
  AS_ROOT=(sudo)
else
  die "apt-get needs root: run this as root (e.g. su -c ./scripts/setup.sh), or install sudo and run it as a user allowed to use it"
fi

# The packages' postinsts must not start daemons on this machine (sshd, udevd, frr, haproxy…):
# the lab runs them inside its guests. A policy-rc.d that refuses every start does that; one
# that is already there (Debian's container images ship one) is left as it is.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# maglev-infra setup.sh: no daemon starts while packages install\nexit 101\n' |
    "${AS_ROOT[@]}" tee "$POLICY" >/dev/null
  "${AS_ROOT[@]}" chmod 0755 "$POLICY"
  trap '"${AS_ROOT[@]}" rm -f "$POLICY"' EXIT
fi

"${AS_ROOT[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${AS_ROOT[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
echo "setup.sh: ${#PACKAGES[@]} Debian packages installed ($LIST)"
npm ci --no-audit --no-fund
