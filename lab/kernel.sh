#!/bin/bash
# Build (once) a User-Mode Linux kernel with nftables, IPVS+mh, dummy, VRF built in.
#
#   lab/kernel.sh            build if needed, print the path of the kernel binary
#   lab/kernel.sh --path     print the path the kernel has (or will have); exit 1 if not built
#   lab/kernel.sh --deps     install the Debian build dependencies (apt) and exit
#
# Config: `make ARCH=um allnoconfig` with lab/kernel.config as KCONFIG_ALLCONFIG (everything
# off unless the fragment turns it on), then olddefconfig; every CONFIG_ line of the fragment
# is checked against the result. Built niced (nice 19) on every core; 801 files to compile.
# Cache: /var/cache/maglev-infra/uml-<hash>/ (outside the repo), keyed by a hash of the CONFIG
# lines of lab/kernel.config + the build steps below + the linux-source package version, so a second
# call returns at once and an edited fragment rebuilds (into a new directory: a running lab
# keeps the kernel binary it booted). Layout of the cache dir:
#   linux                      the kernel (run it like /usr/bin/linux.uml)
#   config, release, build.log, build-seconds
# The log goes to the cache dir's build.log while building; build-seconds records the time.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
FRAGMENT="$HERE/kernel.config"
SRC_TAR=/usr/src/linux-source-6.1.tar.xz
CACHE_ROOT=${MAGLEV_UML_CACHE:-/var/cache/maglev-infra}
# libvdeplug-dev: the UML VDE network driver includes libvdeplug.h.
DEPS="linux-source-6.1 bc flex bison libelf-dev libssl-dev build-essential libvdeplug-dev"

if [ "${1:-}" = "--deps" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $DEPS
  exit 0
fi

# The build runs in its own bash process: `set -e` is ignored inside a compound command
# on the left of `||`, which let a failed make slip through once.
build_steps() {
  tar -xJf "$SRC_TAR" -C "$WORK"
  cd "$WORK"/linux-source-6.1
  # allnoconfig answers every visible prompt "no", except those the fragment sets; symbols
  # without a prompt keep their defaults. Not tinyconfig: that one is 32-bit, -Os, SLOB and
  # EXPERT (futex, epoll, file locking … off). No modules (CONFIG_MODULES off in the fragment).
  make ARCH=um allnoconfig KCONFIG_ALLCONFIG="$FRAGMENT"
  make ARCH=um olddefconfig
  # Fail loudly if anything we asked for is not in the result (an unmet dependency).
  bad=0
  while IFS= read -r line; do
    case "$line" in
      CONFIG_*=*)
        grep -qxF "$line" .config || { echo "fragment line not honoured: $line" >&2; bad=1; } ;;
      "# CONFIG_"*" is not set")
        sym=${line#"# "}; sym=${sym%" is not set"}
        if grep -q "^$sym=" .config; then echo "fragment line not honoured: $line" >&2; bad=1; fi ;;
    esac
  done < "$FRAGMENT"
  [ "$bad" = 0 ]
  make ARCH=um -j"$(nproc)" linux
  rel=$(make -s ARCH=um kernelrelease)
  cp linux "$OUT.partial/linux"
  cp .config "$OUT.partial/config"
  echo "$rel" > "$OUT.partial/release"
}

src_version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || echo none)
# The key: the fragment's CONFIG lines (its comments can change without a rebuild), the build
# steps (`declare -f` drops their comments; another base config builds anew), the source.
hash=$( { grep -E '^(CONFIG_[A-Za-z0-9_]+=|# CONFIG_[A-Za-z0-9_]+ is not set$)' "$FRAGMENT"; declare -f build_steps; echo "$src_version"; } | sha256sum | cut -c1-16)
OUT="$CACHE_ROOT/uml-$hash"

if [ "${1:-}" = "--path" ]; then
  echo "$OUT/linux"
  [ -x "$OUT/linux" ]
  exit $?
fi

if [ -x "$OUT/linux" ]; then
  echo "$OUT/linux"
  exit 0
fi

missing=""
for p in $DEPS; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "missing build packages:$missing (run: lab/kernel.sh --deps)" >&2
  exit 2
fi

mkdir -p "$CACHE_ROOT"
# One build at a time per key: a concurrent caller waits, then finds the cached kernel.
exec 9>"$CACHE_ROOT/uml-$hash.lock"
flock 9
if [ -x "$OUT/linux" ]; then echo "$OUT/linux"; exit 0; fi

WORK="$CACHE_ROOT/build-$hash"
rm -rf "$WORK" "$OUT.partial"
mkdir -p "$WORK" "$OUT.partial"
LOG="$OUT.partial/build.log"

export WORK OUT FRAGMENT SRC_TAR
start=$(date +%s)
echo "building UML kernel $hash in $WORK (log: $LOG)" >&2
# Niced: the lab's guests (BFD at 100 ms) may be running on the same cores.
if ! nice -n 19 bash -c "set -euxo pipefail; $(declare -f build_steps); build_steps" >"$LOG" 2>&1; then
  echo "kernel build failed; see $LOG" >&2
  exit 1
fi
[ -x "$OUT.partial/linux" ] || { echo "kernel build produced no binary; see $LOG" >&2; exit 1; }
echo $(( $(date +%s) - start )) > "$OUT.partial/build-seconds"
mv "$OUT.partial" "$OUT"
rm -rf "$WORK"
echo "built in $(cat "$OUT/build-seconds") s" >&2
echo "$OUT/linux"
