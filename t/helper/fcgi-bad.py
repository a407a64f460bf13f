#!/usr/bin/env python3
"""fcgi-bad.py SOCKET MODE: a scripted FastCGI peer that misbehaves.

Listens on the unix socket SOCKET and, for every connection, reads the
request (until the empty STDIN record) and then, by MODE:
  garbage   answers bytes that are not FastCGI records
  badhead   answers a STDOUT record with a malformed CGI head
  close     closes without answering
  noend     sends a complete STDOUT response, then closes (no END_REQUEST)
  split     a valid response, one byte per write with small pauses
  nul-offload  200 with X-Accel-Redirect naming "small.txt", a NUL byte,
            and ".mp4" (what no libelp service could send)
  stall     never answers; keeps the connection until the peer closes it,
            and prints "open N SCRIPT_NAME TIME" per request and "close N
            SCRIPT_NAME TIME" when it ends, N counting the connections
            open at once for that SCRIPT_NAME
"""
import os
import socket
import struct
import sys
import threading
import time

path, mode = sys.argv[1], sys.argv[2]
nopen = {}
nopen_lock = threading.Lock()


def record(rtype, content, reqid=1):
    pad = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBx", 1, rtype, reqid, len(content), pad) + \
        content + b"\0" * pad


def read_request(c):
    buf = b""
    while True:
        while len(buf) >= 8:
            _, rtype, _, clen, plen = struct.unpack(">BBHHBx", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            buf = buf[8 + clen + plen:]
            if rtype == 5 and clen == 0:
                return True
        d = c.recv(65536)
        if not d:
            return False
        buf += d


def pair_len(b, i):
    if b[i] < 128:
        return b[i], i + 1
    return struct.unpack(">I", b[i:i + 4])[0] & 0x7fffffff, i + 4


def script_name(c):
    """Reads records up to the empty STDIN; returns SCRIPT_NAME or None."""
    buf, params = b"", b""
    while True:
        while len(buf) >= 8:
            _, rtype, _, clen, plen = struct.unpack(">BBHHBx", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            if rtype == 4:
                params += buf[8:8 + clen]
            buf = buf[8 + clen + plen:]
            if rtype == 5 and clen == 0:
                i = 0
                while i < len(params):
                    nl, i = pair_len(params, i)
                    vl, i = pair_len(params, i)
                    if params[i:i + nl] == b"SCRIPT_NAME":
                        return params[i + nl:i + nl + vl].decode()
                    i += nl + vl
                return ""
        d = c.recv(65536)
        if not d:
            return None
        buf += d


def stall(c):
    name = script_name(c)
    if name is None:
        c.close()
        return
    with nopen_lock:
        nopen[name] = nopen.get(name, 0) + 1
        print("open %d %s %.3f" % (nopen[name], name, time.time()),
              flush=True)
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass
    with nopen_lock:
        nopen[name] -= 1
        print("close %d %s %.3f" % (nopen[name], name, time.time()),
              flush=True)
    c.close()


def serve(c):
    if mode == "stall":
        stall(c)
        return
    body = b'{"ok":true}'
    good = record(6, b"Status: 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(body)).encode() +
                  b"\r\n\r\n" + body) + record(6, b"") + \
        record(3, struct.pack(">IB3x", 0, 0))
    try:
        while read_request(c):
            if mode == "garbage":
                c.sendall(b"HTTP/1.1 200 OK\r\n\r\nthis is not fastcgi")
                break
            if mode == "badhead":
                c.sendall(record(6, b"Status: 200 OK\r\nBad Header Line\r\n\r\n"))
                c.sendall(record(3, struct.pack(">IB3x", 0, 0)))
                break
            if mode == "close":
                break
            if mode == "nul-offload":
                c.sendall(record(6, b"Status: 200 OK\r\nX-Accel-Redirect: "
                                 b"small.txt\0.mp4\r\n\r\n") + record(6, b"") +
                          record(3, struct.pack(">IB3x", 0, 0)))
                continue
            if mode == "noend":
                c.sendall(record(6, b"Status: 200 OK\r\nContent-Length: 11"
                                 b"\r\n\r\n" + body))
                break
            if mode == "split":
                for i in range(len(good)):
                    c.sendall(good[i:i + 1])
                    time.sleep(0.001)
    except OSError:
        pass
    c.close()


if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
