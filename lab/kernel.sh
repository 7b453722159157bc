#!/bin/bash
# Build (once) the lab's User-Mode Linux kernel: a minimal config with exactly what the lab's
# guests need (lab/kernel.config: nftables, IPVS+mh, dummy, VRF, overlay, hostfs, ubd+ext4,
# VDE, what systemd needs as PID 1 …), everything built in.
#
#   lab/kernel.sh                    build if needed, print the path of the kernel binary
#   lab/kernel.sh --path             print the path the kernel has (or will have); exit 1 if not built
#   lab/kernel.sh --deps             install the Debian build dependencies (apt) and exit
#   lab/kernel.sh --check CONFIG     check that a .config honours every line of lab/kernel.config
#                                    (what the build does before compiling); exit 1 if not
#
# Config: `make ARCH=um allnoconfig` with lab/kernel.config as KCONFIG_ALLCONFIG: every option
# with a visible prompt is off unless the fragment turns it on. Every `CONFIG_X=…` and
# `# CONFIG_X is not set` line of the fragment is then checked against the result (an unmet
# dependency fails the build, naming the line). Built niced (nice 19) on every core.
# Cache: $MAGLEV_UML_CACHE (default /var/cache/maglev-infra)/uml-<hash>/, outside the repo, keyed
# by a hash of the CONFIG lines of lab/kernel.config, the build steps below and the
# linux-source package version: a second call returns at once; a changed option (not a comment)
# rebuilds, into a new directory, so a running lab keeps the kernel binary it booted.
# Layout of the cache dir:
#   linux                      the kernel (run it like /usr/bin/linux.uml)
#   config, release, build.log
#   build-seconds              wall-clock seconds of the whole build (unpack, config, compile)
#   build-times                "real user sys" seconds of the same (bash `time`)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
FRAGMENT="$HERE/kernel.config"
SRC_TAR=/usr/src/linux-source-6.1.tar.xz
CACHE_ROOT=${MAGLEV_UML_CACHE:-/var/cache/maglev-infra}
# libvdeplug-dev: the UML VDE network driver includes libvdeplug.h.
DEPS="linux-source-6.1 bc flex bison libelf-dev libssl-dev build-essential libvdeplug-dev"

if [ "${1:-}" = "--deps" ]; then
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $DEPS
  exit 0
fi

# Every line of the fragment must be in the .config: `CONFIG_X=v` verbatim, and for
# `# CONFIG_X is not set` no `CONFIG_X=` line at all. Prints each line not honoured.
check_config() {
  local fragment=$1 config=$2 line sym bad=0
  while IFS= read -r line; do
    case "$line" in
      CONFIG_*=*)
        grep -qxF -- "$line" "$config" || { echo "fragment line not honoured: $line" >&2; bad=1; } ;;
      "# CONFIG_"*" is not set")
        sym=${line#"# "}; sym=${sym%" is not set"}
        if grep -q "^$sym=" "$config"; then echo "fragment line not honoured: $line" >&2; bad=1; fi ;;
    esac
  done < "$fragment"
  return "$bad"
}

if [ "${1:-}" = "--check" ]; then
  [ -r "${2:-}" ] || { echo "usage: $0 --check CONFIG" >&2; exit 2; }
  check_config "$FRAGMENT" "$2"
  exit $?
fi

# The build runs in its own bash process: `set -e` is ignored inside a compound command
# on the left of `||`, which let a failed make slip through once.
build_steps() {
  tar -xJf "$SRC_TAR" -C "$WORK"
  cd "$WORK"/linux-source-6.1
  # allnoconfig answers every visible prompt "no", except those the fragment sets; symbols
  # without a prompt keep their defaults. Not tinyconfig: that one adds EXPERT (futex, epoll,
  # file locking … become prompts, then off), -Os and SLOB.
  make ARCH=um allnoconfig KCONFIG_ALLCONFIG="$FRAGMENT"
  # Fail loudly if anything we asked for is not in the result (an unmet dependency).
  check_config "$FRAGMENT" .config
  make ARCH=um -j"$(nproc)" linux
  rel=$(make -s ARCH=um kernelrelease)
  cp linux "$OUT.partial/linux"
  cp .config "$OUT.partial/config"
  echo "$rel" > "$OUT.partial/release"
}

src_version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || echo none)
# The key: the fragment's CONFIG lines (its comments can change without a rebuild), the build
# steps and the check (`declare -f` drops their comments; another base config builds anew), the
# source package version.
hash=$( {
  grep -E '^(CONFIG_[A-Za-z0-9_]+=|# CONFIG_[A-Za-z0-9_]+ is not set$)' "$FRAGMENT"
  declare -f build_steps check_config
  echo "$src_version"
} | sha256sum | cut -c1-16)
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
TIMEFORMAT='%R %U %S'
if ! { time nice -n 19 bash -c "set -euxo pipefail; $(declare -f check_config build_steps); build_steps" >"$LOG" 2>&1; } 2>"$OUT.partial/build-times"; then
  grep -h 'fragment line not honoured' "$LOG" >&2 || true
  echo "kernel build failed; see $LOG" >&2
  exit 1
fi
[ -x "$OUT.partial/linux" ] || { echo "kernel build produced no binary; see $LOG" >&2; exit 1; }
echo $(( $(date +%s) - start )) > "$OUT.partial/build-seconds"
mv "$OUT.partial" "$OUT"
rm -rf "$WORK"
read -r _ cpu_user cpu_sys < "$OUT/build-times"
echo "built in $(cat "$OUT/build-seconds") s (CPU: user ${cpu_user} s, sys ${cpu_sys} s)" >&2
echo "$OUT/linux"
