#!/bin/bash
# What a lab guest holds after a boot, with no apply since (lab/scenarios/reboot.ts reads it):
# a line "S KEY VALUE" per sysctl key (blanks squeezed to one space), "U UNIT STATE" per unit
# (systemctl is-active), then "V" and the addresses on the interface vip, "M" and the nft
# tables.
#
#   boot-state [KEY]... -- [UNIT]...
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  printf 'S %s %s\n' "$1" "$(sysctl -n "$1" 2>&1 | tr -s '\t ' ' ')"
  shift
done
[ $# -gt 0 ] && shift
for u in "$@"; do
  printf 'U %s %s\n' "$u" "$(systemctl is-active "$u")"
done
printf 'V %s\n' "$(ip -br addr show dev vip 2>/dev/null | tr -s ' ')"
printf 'M %s\n' "$(nft list tables 2>/dev/null | tr '\n' ' ')"
