#!/usr/bin/env python3
"""load.py URL SECONDS [CONNS]: keep-alive HTTP/1.1 load for a while.

Each of CONNS threads sends GET URL over one persistent connection
(reconnecting when the server closes it) until SECONDS have passed, and
the script prints "total=N" followed by "status=COUNT" per status code and
"errors=N" for requests that got no response at all.
"""
import http.client
import sys
import threading
import time
import urllib.parse

url = urllib.parse.urlsplit(sys.argv[1])
seconds = float(sys.argv[2])
conns = int(sys.argv[3]) if len(sys.argv) > 3 else 4
path = url.path + ("?" + url.query if url.query else "")
lock = threading.Lock()
counts = {}
errors = [0]


def worker():
    deadline = time.time() + seconds
    c = None
    while time.time() < deadline:
        try:
            if c is None:
                c = http.client.HTTPConnection(url.hostname, url.port,
                                               timeout=10)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            with lock:
                counts[r.status] = counts.get(r.status, 0) + 1
            if r.getheader("Connection", "").lower() == "close":
                c.close()
                c = None
        except Exception:
            with lock:
                errors[0] += 1
            if c is not None:
                c.close()
            c = None
            time.sleep(0.01)


threads = [threading.Thread(target=worker) for _ in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("total=%d" % (sum(counts.values()) + errors[0]))
for k in sorted(counts):
    print("%d=%d" % (k, counts[k]))
print("errors=%d" % errors[0])
