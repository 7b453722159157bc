#!/bin/sh
# `check --diff` on a host, as root (src/ops/check-diff.ts diffScript): every drifted file
# through the host's own apply program in --mask mode, so that no secret value leaves the host.
# A program that predates --mask fails it and prints nothing: then a "failed" frame, and only
# the files without secrets read with cat. Then the marker of every file with variants.
#
#   check-diff MASKER FILE... -- PLAIN... -- [INDEX FILE CONTAINS MARKER]...
#
# MASKER the apply program, FILE the drifted files, PLAIN those of them without secrets; per
# variant of a FILE its index, and the text whose presence in MARKER chooses it. Frames, read
# by parseDiffOutput: "@@maglev-mask@@ KIND PATH" then the text (the masker's, or KIND cat),
# "@@maglev-variant@@ INDEX FILE".
masker=$1
shift

# section N FUNCTION ARGS...: FUNCTION run with the words of section N of ARGS (0 the files,
# 1 the plain ones, 2 the variants; the first two end at a "--").
section() {
  want=$1 run=$2 at=0
  shift 2
  for a do
    shift
    if [ "$at" -lt 2 ] && [ "$a" = -- ]; then
      at=$((at + 1))
      continue
    fi
    if [ "$at" = "$want" ]; then set -- "$@" "$a"; fi
  done
  "$run" "$@"
}
masked() { /usr/bin/python3 -I -S "$masker" --mask "$@" 2>/dev/null; }
plain() {
  for f do
    printf '@@maglev-mask@@ cat %s\n' "$f"
    cat -- "$f" 2>/dev/null
    echo
  done
}
variants() {
  while [ $# -ge 4 ]; do
    if grep -qF -- "$3" "$4" 2>/dev/null; then printf '@@maglev-variant@@ %s %s\n' "$1" "$2"; fi
    shift 4
  done
}

if ! section 0 masked "$@"; then
  echo '@@maglev-mask@@ failed -'
  section 1 plain "$@"
fi
section 2 variants "$@"
