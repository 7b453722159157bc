#!/bin/bash
# The lab's DNS chain after its applies (lab/cluster.ts applyHost), run in a guest as root:
#
#   pdns-zone.sh load ZONE FILE          on the shadow primary: FILE's hand-made records (SOA,
#                                        NS, ns1, www) loaded once, while the zone has no NS
#                                        record yet, the zone made primary; then a NOTIFY
#   pdns-zone.sh transfer ZONE SECONDS   on a secondary: ask for the transfer until the zone's
#                                        SOA is answered, at most SECONDS
#
# load only once: a later apply must not wipe what `npm run dns -- push` published, nor move
# the serial back below the API's.
set -u
action=$1 zone=$2

case "$action" in
  load)
    file=$3
    set -e
    if ! runuser -u pdns -- pdnsutil list-zone "$zone" 2>/dev/null | grep -q '[[:space:]]NS[[:space:]]'; then
      runuser -u pdns -- pdnsutil load-zone "$zone" "$file" >/dev/null
      runuser -u pdns -- pdnsutil set-kind "$zone" primary >/dev/null
    fi
    pdns_control notify "$zone" >/dev/null 2>&1 || true
    ;;
  transfer)
    seconds=$3
    # A retrieve every 5 s (each queues one). Seen twice: the zone committed by AXFR, yet the SOA
    # query kept an empty answer — pdns's zone cache, now off in the plan's pdns.conf; the
    # purge drops any cached REFUSED as well, and an answer from before the transfer that may
    # sit in pdns's packet cache.
    end=$((SECONDS + seconds)) n=0
    while [ "$SECONDS" -lt "$end" ]; do
      if [ $((n % 10)) = 0 ]; then pdns_control retrieve "$zone" >/dev/null 2>&1; fi
      n=$((n + 1))
      sleep 0.5
      pdns_control purge "$zone\$" >/dev/null 2>&1
      if [ -n "$(dig +short +time=1 +tries=1 @127.0.0.1 SOA "$zone")" ]; then exit 0; fi
    done
    echo "zone $zone not transferred after $seconds s; pdns log:" >&2
    journalctl -b -q -u pdns -n 15 --no-pager >&2
    exit 1
    ;;
  *)
    echo "pdns-zone: unknown action '$action' (load or transfer)" >&2
    exit 2
    ;;
esac
