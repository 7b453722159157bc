# The delete step of a host's `<host>-teardown` resource: what `pulumi destroy`, or removing
# the host from the stack, runs on the host (as root) before its VM goes. Arguments:
#
#   teardown.sh MODE DRAIN SERVICES FILE...
#     MODE      vm       the VM is deleted next: drain and stop; a failure is reported, not
#                        fatal (the VM goes anyway)
#               adopted  the host stays: drain, stop, then put the host back as we found it;
#                        any failure exits 1 (the delete fails and can be retried)
#     DRAIN     the tier's drain command ("" for none), run bounded
#     SERVICES  the plan's units, space-separated: stopped and disabled
#     FILE...   the plan's files and downloads, absolute paths, one argument each
#
# "As we found it" uses the records scripts/maglev-apply keeps under /var/lib/maglev-infra:
# a path with a record in originals/ had a file before the program first wrote it (a package's
# default config), which is put back with its mode and owner. A path is removed only when
# created/ records that the program created it (nothing was there when it first wrote it; the
# record lives as long as the path is in the plan, whatever generations are pruned). Any other
# path is left as it is and reported: a file the host already had with exactly the planned
# content (the program never wrote it), a download (the program keeps no record of those):
# never a file we did not create. Then our own files go: the
# secrets file, the sysctl.d and modules-load.d files, the state directory. Packages stay
# installed; sysctl values stay live until the next reboot.
#
# MAGLEV_ROOT (tests only, as maglev-apply's --root): a directory standing in for /.
set -u
mode=$1 drain=$2 services=$3
shift 3
root=${MAGLEV_ROOT:-}
state=$root/var/lib/maglev-infra
failed=0

say() { printf 'maglev-teardown: %s\n' "$*"; }
# scripts/maglev-apply keeps a record per path it created (nothing was there when it first
# wrote it) under created/, for as long as the path is in the plan — independent of which
# generations it still keeps. No record: the file was the host's, or its origin is unknown.
created_by_us() {
  [ -f "$state/created/$(slug "$1")" ]
}
slug() {
  printf '%s' "$1" | sed 's|^/*||; s/[^A-Za-z0-9._-][^A-Za-z0-9._-]*/-/g'
}
problem() {
  printf 'maglev-teardown: %s\n' "$*" >&2
  failed=1
}

if [ -n "$drain" ]; then
  if timeout 120 sh -c "$drain"; then say "drain       drained"; else problem "drain failed (exit $?); stopping the services anyway"; fi
else
  say "drain       none"
fi

for unit in $services; do
  systemctl disable --now "$unit" >/dev/null 2>&1 || [ "$(systemctl is-active "$unit" 2>/dev/null)" != active ] || problem "could not stop $unit"
done
say "services    stopped: ${services:-none}"

if [ "$mode" = adopted ]; then
  for file in "$@"; do
    path=$root$file
    # The apply program's record name for a path (its slug(): leading slashes dropped, every
    # run of other characters a dash).
    keep="$state/originals/$(slug "$file")"
    if [ -f "$keep" ] && [ -f "$keep.json" ]; then
      # The record's own fields (maglev-apply writes it with json.dumps: one line).
      m=$(sed -n 's/.*"mode":[[:space:]]*"\([0-7]*\)".*/\1/p' "$keep.json")
      u=$(sed -n 's/.*"uid":[[:space:]]*\([0-9]*\).*/\1/p' "$keep.json")
      g=$(sed -n 's/.*"gid":[[:space:]]*\([0-9]*\).*/\1/p' "$keep.json")
      if [ -n "$m" ] && [ -n "$u" ] && [ -n "$g" ] && install -m "$m" -o "$u" -g "$g" "$keep" "$path"; then
        say "restored    $file (the host's own, from before the first apply)"
      else
        problem "could not put back the original of $file"
      fi
    elif [ -e "$path" ] || [ -L "$path" ]; then
      if ! created_by_us "$file"; then
        say "kept        $file (no record that the apply program created it)"
      elif rm -f "$path"; then
        say "removed     $file"
      else
        problem "could not remove $file"
      fi
    fi
  done
  for ours in /etc/maglev-infra/secrets.json /etc/sysctl.d/60-maglev-infra.conf /etc/modules-load.d/maglev-infra.conf; do
    [ ! -e "$root$ours" ] || rm -f "$root$ours" || problem "could not remove $ours"
  done
  rmdir "$root/etc/maglev-infra" 2>/dev/null || :
  if [ "$failed" = 0 ]; then
    rm -rf "$state" || problem "could not remove $state"
  else
    say "kept        $state (its records are needed to finish by hand)"
  fi
fi

if [ "$failed" != 0 ] && [ "$mode" = adopted ]; then
  say "FAILED: see the lines above; the host is drained where it could be"
  exit 1
fi
say "done"
exit 0
