#!/usr/bin/python3
"""The lab's port scanner and bait listener, run inside lab guests (Python 3 stdlib only:
guests have no nmap, and one process with non-blocking sockets costs a UML guest far less
than a fork per probe).

  portscan.py scan  --targets A,B,… --tcp P,P,… [--dns] [--timeout S] [--parallel N]
      One line per probe on stdout: "tcp <addr> <port> open|closed|filtered" (connect
      accepted / refused / no answer within the timeout); with --dns also
      "udp <addr> 53 answered|closed|silent" (a DNS query for ./NS answered at all /
      ICMP port unreachable / nothing).
  portscan.py bait --tcp P,P,… --seconds S
      Listens on each TCP port (all addresses, both families) where nothing listens yet,
      accepting and closing connections, for at most S seconds: the stand-in for a daemon
      (sshd, node_exporter) that a lab guest does not run, so a scan sees what the firewall
      lets through rather than what happens to be running. Prints "bait <port>" per port.

Bounded: every probe has a timeout, the bait exits after --seconds. Lab addresses only (the
caller passes them; nothing here picks a target).
"""
import argparse
import errno
import selectors
import socket
import struct
import sys
import time


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def scan_tcp(targets, ports, timeout, parallel):
    todo = [(a, p) for a in targets for p in ports]
    sel = selectors.DefaultSelector()
    result = {}
    pending = {}
    while todo or pending:
        while todo and len(pending) < parallel:
            addr, port = todo.pop(0)
            s = socket.socket(family_of(addr), socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex((addr, port))
            if err in (0, errno.EINPROGRESS):
                pending[s] = (addr, port, time.monotonic() + timeout)
                sel.register(s, selectors.EVENT_WRITE)
            else:
                result[(addr, port)] = "closed" if err == errno.ECONNREFUSED else "filtered"
                s.close()
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            addr, port, _ = pending.pop(s)
            sel.unregister(s)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            result[(addr, port)] = "open" if err == 0 else ("closed" if err == errno.ECONNREFUSED else "filtered")
            s.close()
        now = time.monotonic()
        for s, (addr, port, deadline) in list(pending.items()):
            if now >= deadline:
                pending.pop(s)
                sel.unregister(s)
                result[(addr, port)] = "filtered"
                s.close()
    return result


def dns_query():
    # id 0x4d49, RD, one question: ". IN NS"
    return struct.pack(">HHHHHH", 0x4D49, 0x0100, 1, 0, 0, 0) + b"\x00" + struct.pack(">HH", 2, 1)


def scan_dns(targets, timeout):
    result = {}
    socks = {}
    for addr in targets:
        s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
        s.setblocking(False)
        try:
            s.connect((addr, 53))  # connected: an ICMP port unreachable shows as ECONNREFUSED
            s.send(dns_query())
            socks[s] = addr
        except OSError:
            result[addr] = "closed"
            s.close()
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while socks and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            addr = socks.pop(s)
            sel.unregister(s)
            try:
                s.recv(4096)
                result[addr] = "answered"
            except ConnectionRefusedError:
                result[addr] = "closed"
            except OSError:
                result[addr] = "silent"
            s.close()
    for s, addr in socks.items():
        result[addr] = "silent"
        s.close()
    return result


def bait(ports, seconds):
    sel = selectors.DefaultSelector()
    for port in ports:
        # Both families first (v4-mapped); where a daemon holds the port on an IPv4 address
        # (node_exporter on the mgmt address), IPv6 alone; where it holds both, it answers
        # for itself.
        for v6only in (0, 1):
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
            try:
                s.bind(("::", port))
                s.listen(64)
                break
            except OSError:
                s.close()
                s = None
        if s is None:
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        print(f"bait {port}", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.5):
            try:
                c, _ = key.fileobj.accept()
                c.close()
            except OSError:
                pass


def ports_arg(text):
    return [int(p) for p in text.split(",") if p]


def main():
    p = argparse.ArgumentParser(description="lab port scanner / bait listener")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scan")
    s.add_argument("--targets", required=True)
    s.add_argument("--tcp", type=ports_arg, default=[])
    s.add_argument("--dns", action="store_true")
    s.add_argument("--timeout", type=float, default=1.5)
    s.add_argument("--parallel", type=int, default=64)
    b = sub.add_parser("bait")
    b.add_argument("--tcp", type=ports_arg, required=True)
    b.add_argument("--seconds", type=float, required=True)
    a = p.parse_args()
    if a.cmd == "bait":
        bait(a.tcp, min(a.seconds, 600))
        return 0
    targets = [t for t in a.targets.split(",") if t]
    for (addr, port), state in sorted(scan_tcp(targets, a.tcp, a.timeout, a.parallel).items()):
        print(f"tcp {addr} {port} {state}")
    if a.dns:
        for addr, state in sorted(scan_dns(targets, a.timeout).items()):
            print(f"udp {addr} 53 {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
