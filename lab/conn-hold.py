#!/usr/bin/env python3
"""Long-lived TCP connections through the VIPs: do established connections survive a failover?

Used by scenario `survival` (lab/scenarios/connection-survival.ts) and `npm run bench:lab`,
on the lab's `client` guest. Opens --connections connections spread round-robin over
--targets (`addr:port`, IPv6 as `[addr]:port`); each sends `GET / HTTP/1.1` every
--interval-ms once its previous reply is complete, for --seconds. A connection survives when
it was opened and, to the end, never saw a reset, an EOF, or a reply later than
--reply-timeout. Prints one JSON object: per target the connections opened and survived, and
each failure with its time (seconds after the start) and reason.

Bounded: at most 1000 connections and 600 seconds; lab addresses only (the scenario passes
its VIPs).
"""
import argparse
import errno
import json
import selectors
import socket
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: vip\r\nUser-Agent: conn-hold\r\n\r\n"


def parse_target(t):
    host, _, port = t.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, host, int(port)


class Conn:
    def __init__(self, target, started):
        self.target = target
        self.family, host, port = parse_target(target)
        self.addr = (host, port)
        self.sock = socket.socket(self.family, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(self.addr)
        self.state = "connecting"
        self.deadline = started + 5.0
        self.buf = b""
        self.next_send = 0.0
        self.requests = 0
        self.failure = None

    def fail(self, now, t0, reason):
        self.failure = {"target": self.target, "at_s": round(now - t0, 2), "reason": reason}
        self.state = "failed"


def reply_complete(buf):
    """Length of the first complete HTTP reply in buf, or 0."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return 0
    length = 0
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    total = end + 4 + length
    return total if len(buf) >= total else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", required=True, help="addr:port,[v6addr]:port,…")
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--interval-ms", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--reply-timeout", type=float, default=3.0)
    a = ap.parse_args()
    if not 1 <= a.connections <= 1000 or not 0 < a.seconds <= 600:
        sys.exit("conn-hold: at most 1000 connections and 600 s")
    targets = a.targets.split(",")
    t0 = time.monotonic()
    end = t0 + a.seconds
    interval = a.interval_ms / 1000.0
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(a.connections):
        c = Conn(targets[i % len(targets)], t0)
        conns.append(c)
        sel.register(c.sock, selectors.EVENT_WRITE, c)
    while True:
        now = time.monotonic()
        if now >= end:
            break
        for key, mask in sel.select(timeout=0.05):
            c = key.data
            now = time.monotonic()
            if c.state == "connecting":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    c.fail(now, t0, f"connect: {errno.errorcode.get(err, err)}")
                    sel.unregister(c.sock)
                    continue
                c.state = "idle"
                # Spread the first requests over one interval: no burst in step.
                c.next_send = now + interval * (conns.index(c) / len(conns))
                sel.modify(c.sock, selectors.EVENT_READ, c)
                continue
            try:
                data = c.sock.recv(65536)
            except (ConnectionResetError, OSError) as e:
                c.fail(now, t0, f"recv: {e.__class__.__name__}")
                sel.unregister(c.sock)
                continue
            if not data:
                c.fail(now, t0, "eof")
                sel.unregister(c.sock)
                continue
            c.buf += data
            n = reply_complete(c.buf)
            if n and c.state == "waiting":
                c.buf = c.buf[n:]
                c.requests += 1
                c.state = "idle"
                c.next_send = now + interval
        now = time.monotonic()
        for c in conns:
            if c.state == "connecting" and now > c.deadline:
                c.fail(now, t0, "connect: timeout")
                sel.unregister(c.sock)
            elif c.state == "idle" and now >= c.next_send:
                try:
                    c.sock.send(REQUEST)
                except OSError as e:
                    c.fail(now, t0, f"send: {e.__class__.__name__}")
                    sel.unregister(c.sock)
                    continue
                c.state = "waiting"
                c.deadline = now + a.reply_timeout
            elif c.state == "waiting" and now > c.deadline:
                c.fail(now, t0, "reply timeout")
                sel.unregister(c.sock)
    per = {}
    for c in conns:
        p = per.setdefault(c.target, {"connections": 0, "opened": 0, "survived": 0})
        p["connections"] += 1
        if c.requests > 0 or c.state in ("idle", "waiting"):
            p["opened"] += 1
        if c.failure is None and c.requests > 0:
            p["survived"] += 1
        c.sock.close()
    out = {
        "connections": len(conns),
        "survived": sum(p["survived"] for p in per.values()),
        "requests": sum(c.requests for c in conns),
        "seconds": a.seconds,
        "per_target": per,
        "failures": [c.failure for c in conns if c.failure],
    }
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
