#!/bin/bash
# Build (once) a User-Mode Linux kernel with nftables, IPVS+mh, dummy, VRF built in.
#
#   lab/kernel.sh            build if needed, print the path of the kernel binary
#   lab/kernel.sh --path     print the path the kernel has (or will have); exit 1 if not built
#   lab/kernel.sh --deps     install the Debian build dependencies (apt) and exit
#
# Cache: /var/cache/maglev-infra/uml-<hash>/ (outside the repo), keyed by a hash of
# lab/kernel.config + the stock UML config + the linux-source package version + this host's
# XSAVE size (lab/xstate-size.c: the kernel is built for it), so a second call returns at once,
# an edited fragment rebuilds, and so does a move to a CPU with a different XSAVE area. Layout of the cache dir:
#   linux                      the kernel (run it like /usr/bin/linux.uml)
#   config, release, build.log, build-seconds
# The log goes to the cache dir's build.log while building; build-seconds records the time.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
FRAGMENT="$HERE/kernel.config"
STOCK=/usr/share/doc/user-mode-linux/config.gz
SRC_TAR=/usr/src/linux-source-6.1.tar.xz
CACHE_ROOT=${MAGLEV_UML_CACHE:-/var/cache/maglev-infra}
# libvdeplug-dev: the UML VDE network driver includes libvdeplug.h.
DEPS="linux-source-6.1 bc flex bison libelf-dev libssl-dev build-essential gcc libvdeplug-dev"

if [ "${1:-}" = "--deps" ]; then
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $DEPS
  exit 0
fi

[ -r "$STOCK" ] || { echo "missing $STOCK (apt-get install user-mode-linux)" >&2; exit 2; }

src_version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || echo none)
command -v gcc >/dev/null || { echo "missing gcc (run: lab/kernel.sh --deps)" >&2; exit 2; }
probe_dir=$(mktemp -d)
gcc -O -o "$probe_dir/xstate-size" "$HERE/xstate-size.c"
XSTATE_BYTES=$("$probe_dir/xstate-size")
rm -rf "$probe_dir"
hash=$( { cat "$FRAGMENT"; zcat "$STOCK"; echo "$src_version"; echo "xstate $XSTATE_BYTES"; } | sha256sum | cut -c1-16)
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

# The build runs in its own bash process: `set -e` is ignored inside a compound command
# on the left of `||`, which let a failed make slip through once.
build_steps() {
  tar -xJf "$SRC_TAR" -C "$WORK"
  cd "$WORK"/linux-source-6.1
  # UML's FP register buffer is 2696 bytes (an AVX-512 XSAVE area); the host takes a
  # PTRACE_SETREGSET only with its whole area, so the buffer is made exactly this host's size
  # (lab/xstate-size.c says why). No XSAVE regset (0): UML falls back to PTRACE_SETFPREGS.
  if [ "$XSTATE_BYTES" -gt 0 ]; then
    sed -i "s/DEFINE_LONGS(HOST_FP_SIZE, 2696);/DEFINE_LONGS(HOST_FP_SIZE, $XSTATE_BYTES);/" arch/x86/um/user-offsets.c
    grep -qF "DEFINE_LONGS(HOST_FP_SIZE, $XSTATE_BYTES);" arch/x86/um/user-offsets.c
  fi
  zcat "$STOCK" > .config
  # Later assignments override earlier ones when kconfig reads .config.
  cat "$FRAGMENT" >> .config
  make ARCH=um olddefconfig
  # No modules: every option the lab needs is built in (the fragment), and no guest loads a
  # module (measured: /proc/modules empty on every node). Dropping the stock config's ~900
  # modules cuts the build from 36 min to a few minutes on 2 cores.
  make ARCH=um mod2noconfig
  # Fail loudly if olddefconfig dropped anything we asked for (an unmet dependency).
  bad=0
  while IFS= read -r line; do
    case "$line" in
      CONFIG_*=*)
        if ! grep -qxF "$line" .config; then echo "fragment line not honoured: $line" >&2; bad=1; fi ;;
    esac
  done < "$FRAGMENT"
  [ "$bad" = 0 ]
  make ARCH=um -j"$(nproc)" linux
  rel=$(make -s ARCH=um kernelrelease)
  cp linux "$OUT.partial/linux"
  cp .config "$OUT.partial/config"
  echo "$rel" > "$OUT.partial/release"
}
export WORK OUT STOCK FRAGMENT SRC_TAR XSTATE_BYTES
start=$(date +%s)
echo "building UML kernel $hash (XSAVE area $XSTATE_BYTES bytes) in $WORK (log: $LOG)" >&2
if ! bash -c "set -euxo pipefail; $(declare -f build_steps); build_steps" >"$LOG" 2>&1; then
  echo "kernel build failed; see $LOG" >&2
  exit 1
fi
[ -x "$OUT.partial/linux" ] || { echo "kernel build produced no binary; see $LOG" >&2; exit 1; }
echo $(( $(date +%s) - start )) > "$OUT.partial/build-seconds"
mv "$OUT.partial" "$OUT"
rm -rf "$WORK"
echo "built in $(cat "$OUT/build-seconds") s" >&2
echo "$OUT/linux"
