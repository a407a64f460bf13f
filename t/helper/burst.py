#!/usr/bin/env python3
"""burst.py PORT METHOD PATH [options]: HTTP/1.1 requests from a chosen
source address, for the rate-limit tests.

  --source ADDR   bind the client side to ADDR (127.0.0.2, ...)
  --count N       send N requests, each on its own connection, from
                  --conns threads at once (default 1 thread)
  --for S         instead: send requests one after another over one
                  keep-alive connection for S seconds (reconnecting when
                  the server closes it), then also print "elapsed=SECONDS"
  --header H      add header line H ("Name: value"); repeatable
  --body B        send B as the body (Content-Length set)
  --first-429 F   write the first 429 response (head and body) to file F

Prints "STATUS=COUNT" per status code, then "errors=N" (no complete
response).
"""
import argparse
import socket
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("method")
ap.add_argument("path")
ap.add_argument("--source", default="127.0.0.1")
ap.add_argument("--count", type=int, default=0)
ap.add_argument("--conns", type=int, default=1)
ap.add_argument("--for", dest="duration", type=float, default=0.0)
ap.add_argument("--header", action="append", default=[])
ap.add_argument("--body", default=None)
ap.add_argument("--first-429", dest="first429", default=None)
a = ap.parse_args()

lock = threading.Lock()
counts = {}
errors = 0
saved = False


def request_bytes():
    lines = ["%s %s HTTP/1.1" % (a.method, a.path), "Host: 127.0.0.1"]
    lines += a.header
    body = a.body.encode() if a.body is not None else b""
    if a.body is not None:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def connect():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((a.source, 0))
    s.connect(("127.0.0.1", a.port))
    return s


def read_response(s, buf):
    """Returns (status, raw response, rest, closes) or raises."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the head")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    closes = False
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
        if k.strip().lower() == "connection" and "close" in v.lower():
            closes = True
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        rest += chunk
    raw = head + b"\r\n\r\n" + rest[:length]
    return status, raw, rest[length:], closes


def note(status, raw):
    global saved
    with lock:
        counts[status] = counts.get(status, 0) + 1
        if status == 429 and a.first429 and not saved:
            saved = True
            with open(a.first429, "wb") as f:
                f.write(raw)


def one():
    global errors
    try:
        s = connect()
        s.sendall(request_bytes())
        status, raw, _, _ = read_response(s, b"")
        s.close()
        note(status, raw)
    except (OSError, ValueError, IndexError) as e:
        with lock:
            errors += 1
        print("error: %r" % e, file=sys.stderr)


def worker(left):
    """Sends requests until the shared count <left> (a one-item list) is
    spent."""
    while True:
        with lock:
            if left[0] == 0:
                return
            left[0] -= 1
        one()


def timed():
    global errors
    start = time.monotonic()
    s = None
    while time.monotonic() - start < a.duration:
        try:
            if s is None:
                s = connect()
            s.sendall(request_bytes())
            status, raw, _, closes = read_response(s, b"")
            note(status, raw)
            if closes:
                s.close()
                s = None
        except (OSError, ValueError, IndexError) as e:
            errors += 1
            print("error: %r" % e, file=sys.stderr)
            s = None
    print("elapsed=%.3f" % (time.monotonic() - start))


if a.duration > 0:
    timed()
else:
    left = [a.count]
    threads = [threading.Thread(target=worker, args=(left,))
               for _ in range(max(1, a.conns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
for k in sorted(counts):
    print("%d=%d" % (k, counts[k]))
print("errors=%d" % errors)
