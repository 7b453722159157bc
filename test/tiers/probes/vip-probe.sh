#!/bin/bash
# Test harness (not shipped to hosts): load nftables files into a throwaway network namespace
# "host" whose ingress0 is a veth to a second namespace "client", put VIP on lo, listen on
# VIP:PORT for every port given, and connect from the client to each port once.
# Prints one line per port: "<port> open" or "<port> closed".
# usage: vip-probe.sh <vip> <host ingress addr> <client addr> <nft file>... -- <port>...
set -u
vip=$1 hostaddr=$2 clientaddr=$3
shift 3
files=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do files+=("$1"); shift; done
shift
ports=("$@")
H=vipprobe-h-$$ C=vipprobe-c-$$
cleanup() { ip netns pids "$H" 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del "$H" 2>/dev/null; ip netns del "$C" 2>/dev/null; }
trap cleanup EXIT
ip netns add "$H" && ip netns add "$C" || exit 2
ip -n "$H" link add ingress0 type veth peer name peer0 netns "$C" || exit 2
ip -n "$H" link set lo up
ip -n "$H" link set ingress0 up
ip -n "$H" addr add "$hostaddr/24" dev ingress0
ip -n "$H" addr add "$vip/32" dev lo
ip -n "$C" link set lo up
ip -n "$C" link set peer0 up
ip -n "$C" addr add "$clientaddr/24" dev peer0
ip -n "$C" route add "$vip/32" via "$hostaddr"
for f in "${files[@]}"; do ip netns exec "$H" nft -f "$f" || exit 2; done
for p in "${ports[@]}"; do
  ip netns exec "$H" python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8)
while True: s.accept()[0].close()' "$vip" "$p" &
done
sleep 0.5
for p in "${ports[@]}"; do
  if ip netns exec "$C" python3 -c 'import socket,sys
s=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)' "$vip" "$p" 2>/dev/null; then echo "$p open"; else echo "$p closed"; fi
done
