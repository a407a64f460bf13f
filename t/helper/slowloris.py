#!/usr/bin/env python3
"""slowloris.py PORT N SECONDS [--body PATH]: N slow clients on 127.0.0.1.

Each client sends the start of a request head and then one more byte every
0.5 s, a header line that never ends; with --body, a complete POST head for
PATH announcing 1000 body bytes, 10 of them, and then nothing. At most
SECONDS. Prints "closed=K" (clients the
server disconnected) and "max_life=S" (the longest a client stayed
connected, in seconds).
"""
import selectors
import socket
import sys
import time

port, n, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
body = sys.argv[sys.argv.index("--body") + 1] if "--body" in sys.argv \
    else None
sel = selectors.DefaultSelector()
start = time.time()
socks = {}
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    if body:
        s.send(b"POST " + body.encode() + b" HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: 1000\r\n\r\n0123456789")
    else:
        s.send(b"GET /x HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    sel.register(s, selectors.EVENT_READ)
    socks[s] = None
closed = 0
max_life = 0.0
next_drip = time.time() + 0.5
while socks and time.time() - start < seconds:
    for key, _ in sel.select(timeout=0.1):
        s = key.fileobj
        try:
            data = s.recv(65536)
        except (ConnectionResetError, BlockingIOError):
            data = b""
        if not data:
            sel.unregister(s)
            s.close()
            del socks[s]
            closed += 1
            max_life = max(max_life, time.time() - start)
    if time.time() >= next_drip and body is None:
        next_drip += 0.5
        for s in list(socks):
            try:
                s.send(b"a")
            except OSError:
                pass
for s in socks:
    s.close()
print("closed=%d" % closed)
print("max_life=%.1f" % max_life)
