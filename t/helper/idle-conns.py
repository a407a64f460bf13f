#!/usr/bin/env python3
"""idle-conns.py PORT PATH N [SOURCES]: N idle keep-alive clients.

Holds N HTTP/1.1 connections to 127.0.0.1:PORT open, each having done one
GET PATH, so that the caller can measure what an idle keep-alive connection
costs the server. Driven by lines on stdin, it answers on stdout:

  at start     WARM (16) connections each GET PATH once and close; prints
               "warm OK TOTAL" (OK: 200 responses).
  first line   opens the N connections, from the source addresses
               127.0.0.2 .. 127.0.0.(SOURCES + 1) (default 8) so that
               ephemeral ports never run short, at most 256 of them
               connecting or waiting for their response at once; prints
               "idle OK N SECONDS REASONS": OK counts the connections that
               got a complete 200 response without "Connection: close",
               SECONDS the time it took, REASONS "-" or the failures by
               kind ("status-503:12,reset:3").
  second line  checks that the server closed none of the OK connections
               and sent nothing more on them; prints "open K", closes all
               and exits.

The whole opening phase gives up after 240 s (the rest count as
"timeout"). End of input at any step closes everything and exits.
"""
import collections
import errno
import selectors
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
WARM = 16
INFLIGHT = 256
DEADLINE = 240.0

port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
sources = int(sys.argv[4]) if len(sys.argv) > 4 else 8
request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" %
           (path, port)).encode()


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def wait_line():
    if not sys.stdin.readline():
        sys.exit(0)


def parse(buf):
    """Returns None while the response is incomplete, else (status,
    keep_alive, extra): extra is True when bytes follow the response."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = buf[:head_end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    hdr = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdr[k.strip().lower()] = v.strip().lower()
    body = buf[head_end + 4:]
    if "chunked" in hdr.get("transfer-encoding", ""):
        end = body.find(b"\r\n0\r\n\r\n")
        if end < 0 and not body.startswith(b"0\r\n\r\n"):
            return None
        rest = len(body) - (end + 7 if end >= 0 else 5)
    else:
        length = int(hdr.get("content-length", "0") or 0)
        if len(body) < length:
            return None
        rest = len(body) - length
    keep = "close" not in hdr.get("connection", "") and \
        lines[0].startswith("HTTP/1.1")
    return status, keep, rest > 0


def open_all(count, keep_open):
    """Opens count connections, each does one GET; returns (ok sockets,
    Counter of failure kinds). Unless keep_open, every socket is closed."""
    sel = selectors.DefaultSelector()
    ok = []
    why = collections.Counter()
    bufs = {}
    started = 0
    inflight = 0
    deadline = time.monotonic() + DEADLINE

    def fail(s, kind):
        nonlocal inflight
        why[kind] += 1
        sel.unregister(s)
        del bufs[s]
        s.close()
        inflight -= 1

    while len(ok) + sum(why.values()) < count:
        while started < count and inflight < INFLIGHT:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            src = "127.0.0.%d" % (2 + started % sources)
            try:
                s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((src, 0))
            except OSError as e:
                s.close()
                why["bind-" + errno.errorcode.get(e.errno, "?")] += 1
                started += 1
                continue
            e = s.connect_ex(("127.0.0.1", port))
            started += 1
            inflight += 1
            bufs[s] = None
            sel.register(s, selectors.EVENT_WRITE)
            if e not in (0, errno.EINPROGRESS):
                fail(s, "connect-" + errno.errorcode.get(e, "?"))
        left = deadline - time.monotonic()
        if left <= 0:
            for s in list(bufs):
                fail(s, "timeout")
            break
        for key, _ in sel.select(timeout=min(left, 1.0)):
            s = key.fileobj
            if bufs[s] is None:
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if e:
                    fail(s, "connect-" + errno.errorcode.get(e, "?"))
                    continue
                try:
                    s.send(request)
                except OSError as ex:
                    fail(s, "send-" + errno.errorcode.get(ex.errno, "?"))
                    continue
                bufs[s] = b""
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(65536)
            except OSError as ex:
                fail(s, "recv-" + errno.errorcode.get(ex.errno, "?"))
                continue
            if not data:
                fail(s, "closed")
                continue
            bufs[s] += data
            r = parse(bufs[s])
            if r is None:
                continue
            status, keep, extra = r
            if status != 200:
                fail(s, "status-%d" % status)
            elif not keep:
                fail(s, "not-kept-alive")
            elif extra:
                fail(s, "extra-bytes")
            else:
                sel.unregister(s)
                del bufs[s]
                inflight -= 1
                ok.append(s)
    sel.close()
    if not keep_open:
        for s in ok:
            s.close()
    return ok, why


def reasons(why):
    return ",".join("%s:%d" % kv for kv in sorted(why.items())) or "-"


ok, _ = open_all(WARM, False)
say("warm %d %d" % (len(ok), WARM))
wait_line()
t0 = time.monotonic()
conns, why = open_all(n, True)
say("idle %d %d %.1f %s" % (len(conns), n, time.monotonic() - t0,
                            reasons(why)))
wait_line()
sel = selectors.DefaultSelector()
for s in conns:
    sel.register(s, selectors.EVENT_READ)
# An idle connection has nothing to read: readable means closed or
# unexpected bytes.
gone = len(sel.select(timeout=0))
say("open %d" % (len(conns) - gone))
for s in conns:
    s.close()
