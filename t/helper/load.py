#!/usr/bin/env python3
"""load.py URL SECONDS [CONNS] [options]: keep-alive HTTP/1.1 load.

Each of CONNS threads sends GET URL over one persistent connection
(reconnecting when the server says "Connection: close" or a request
failed) until SECONDS have passed. Every request is counted exactly once
and never retried: the script prints "total=N", then "STATUS=COUNT" per
status code, then "errors=N" for requests that got no complete response
(connection refused, reset, closed early, timed out).

Options:
  --stats         also print, after those lines:
                    err_KIND=N     errors by exception class
                    max_ms=N       the slowest request of all, in ms
                    max_ms_S=N     the slowest one with status S
                    bad_body=N     non-2xx answers that are not the JSON
                                   error envelope naming their status
                    slowest=...    the slowest request: ms, status or
                                   error, thread, start offset, request id
                    error=...      the first errors in detail (at most 10)
  --log FILE      one line per request: start offset (s), thread, request
                  id, status (or the error class), ms
  --timeout S     per-request socket timeout (default 30)
  --pause S       pause between two requests of a thread (default 0)
  --stop-file F   stop early, once file F exists (SECONDS still bounds
                  the run)

Each request carries "X-Request-Id: ld-THREAD-SEQ-RUN" so that a request
named here can be found in the gateway's access and error logs.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("seconds", type=float)
ap.add_argument("conns", type=int, nargs="?", default=4)
ap.add_argument("--stats", action="store_true")
ap.add_argument("--log")
ap.add_argument("--timeout", type=float, default=30.0)
ap.add_argument("--pause", type=float, default=0.0)
ap.add_argument("--stop-file")
a = ap.parse_args()

url = urllib.parse.urlsplit(a.url)
path = url.path + ("?" + url.query if url.query else "")
run = "%x" % (os.getpid() & 0xffff)
lock = threading.Lock()
counts = {}
kinds = {}
maxms = {}
errors = []
bad_body = [0]
slowest = [None]
log_lines = []
t0 = time.monotonic()


def envelope_ok(status, body):
    """Whether <body> is the error envelope for <status>."""
    try:
        j = json.loads(body)
        return str(j["errorBody"]["errorCode"]) == str(status) and \
            isinstance(j["httpStatus"], str) and \
            isinstance(j["errorBody"]["errorMessage"], str)
    except (ValueError, KeyError, TypeError):
        return False


def record(tid, rid, start, status, kind, body):
    ms = (time.monotonic() - start) * 1000.0
    key = status if status is not None else "error"
    what = str(status) if status is not None else "error:" + kind
    entry = (ms, what, tid, start - t0, rid)
    with lock:
        if status is not None:
            counts[status] = counts.get(status, 0) + 1
            if status >= 300 and not envelope_ok(status, body):
                bad_body[0] += 1
        else:
            kinds[kind] = kinds.get(kind, 0) + 1
            errors.append(entry)
        if ms > maxms.get(key, -1.0):
            maxms[key] = ms
        if slowest[0] is None or ms > slowest[0][0]:
            slowest[0] = entry
        if a.log:
            log_lines.append("%.3f %d %s %s %.1f" % (start - t0, tid, rid,
                                                    what, ms))


def running(deadline):
    if a.stop_file and os.path.exists(a.stop_file):
        return False
    return time.monotonic() < deadline


def worker(tid):
    deadline = t0 + a.seconds
    c = None
    seq = 0
    while running(deadline):
        seq += 1
        rid = "ld-%d-%d-%s" % (tid, seq, run)
        start = time.monotonic()
        try:
            if c is None:
                c = http.client.HTTPConnection(url.hostname, url.port,
                                               timeout=a.timeout)
            c.request("GET", path, headers={"X-Request-Id": rid})
            r = c.getresponse()
            body = r.read()
            record(tid, rid, start, r.status, None, body)
            if r.getheader("Connection", "").lower() == "close":
                c.close()
                c = None
        except Exception as e:
            record(tid, rid, start, None, type(e).__name__, b"")
            if c is not None:
                c.close()
            c = None
            time.sleep(0.01)
        if a.pause > 0:
            time.sleep(a.pause)
    if c is not None:
        c.close()


threads = [threading.Thread(target=worker, args=(i,)) for i in
           range(a.conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("total=%d" % (sum(counts.values()) + len(errors)))
for k in sorted(counts):
    print("%d=%d" % (k, counts[k]))
print("errors=%d" % len(errors))
if a.stats:
    for k in sorted(kinds):
        print("err_%s=%d" % (k, kinds[k]))
    print("max_ms=%d" % int(max(maxms.values()) if maxms else 0))
    for k in sorted(x for x in maxms if x != "error"):
        print("max_ms_%d=%d" % (k, int(maxms[k])))
    print("bad_body=%d" % bad_body[0])
    if slowest[0] is not None:
        print("slowest=%.1fms %s thread=%d at=%.3fs rid=%s" % slowest[0])
    for e in errors[:10]:
        print("error=%.1fms %s thread=%d at=%.3fs rid=%s" % e)
if a.log:
    with open(a.log, "w") as f:
        f.write("\n".join(log_lines) + "\n")
