#!/usr/bin/env python3
"""hostile.py MODE PORT N PATH SECONDS [ARG]: N hostile clients on 127.0.0.1.

Modes:
  stall    POST PATH announcing 1000 body bytes, sends 10, then nothing
  trickle  POST PATH announcing 50000 body bytes, then one byte every ARG
           seconds (default 0.5): each byte beats an idle timeout
  noread   GET PATH with a small receive buffer, and never reads
  abort    GET PATH, then closes after ARG seconds (default 0.3)
For at most SECONDS (abort: until every client closed). Prints "closed=K"
(clients the server disconnected), "max_life=S" (longest a client stayed
connected, in seconds), and "status=CODE" per status line received.
"""
import selectors
import socket
import sys
import time

mode, port, n, path, seconds = sys.argv[1], int(sys.argv[2]), \
    int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
arg = float(sys.argv[6]) if len(sys.argv) > 6 else None
sel = selectors.DefaultSelector()
start = time.time()
socks = {}
statuses = {}


def head(s):
    if mode == "stall":
        s.send(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: 1000\r\n\r\n0123456789")
    elif mode == "trickle":
        s.send(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: 50000\r\n\r\n")
    else:
        s.send(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")


for i in range(n):
    s = socket.socket()
    if mode == "noread":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    head(s)
    s.setblocking(False)
    if mode != "noread":
        sel.register(s, selectors.EVENT_READ)
    socks[s] = b""
closed = 0
max_life = 0.0
drip = arg if arg is not None else 0.5
next_drip = time.time() + drip


def gone(s):
    global closed, max_life
    if mode != "noread":
        sel.unregister(s)
    first = socks.pop(s)[:12]
    if first.startswith(b"HTTP/1."):
        code = first[9:12].decode()
        statuses[code] = statuses.get(code, 0) + 1
    s.close()
    closed += 1
    max_life = max(max_life, time.time() - start)


while socks and time.time() - start < seconds:
    if mode == "abort" and time.time() - start >= (arg or 0.3):
        for s in list(socks):
            sel.unregister(s)
            socks.pop(s)
            s.close()
        break
    if mode == "noread":
        time.sleep(0.1)
        continue
    for key, _ in sel.select(timeout=0.1):
        s = key.fileobj
        try:
            data = s.recv(65536)
        except (ConnectionResetError, BlockingIOError):
            data = b""
        if data:
            if len(socks[s]) < 12:
                socks[s] += data[:12]
            continue
        gone(s)
    if mode == "trickle" and time.time() >= next_drip:
        next_drip += drip
        for s in list(socks):
            try:
                s.send(b"a")
            except OSError:
                pass
if mode == "noread":
    # Now read what is there: a closed connection ends in EOF or a reset;
    # one the server kept open times out.
    for s in list(socks):
        s.setblocking(True)
        s.settimeout(2.0)
        ended = False
        try:
            while True:
                data = s.recv(1 << 20)
                if not data:
                    ended = True
                    break
                if len(socks[s]) < 12:
                    socks[s] += data[:12]
        except ConnectionResetError:
            ended = True
        except OSError:
            ended = False
        if ended:
            gone(s)
for s in socks:
    s.close()
print("closed=%d" % closed)
print("max_life=%.1f" % max_life)
for code in sorted(statuses):
    print("status=%s %d" % (code, statuses[code]))
