#!/usr/bin/env python3
"""raw.py PORT [--split N] [--delay S] [--half-close]: a scripted HTTP peer.

Sends stdin to 127.0.0.1:PORT (optionally in pieces of N bytes with a delay
between them), then prints everything the server answers until it closes
the connection or goes quiet for --idle seconds.
"""
import argparse
import socket
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("--split", type=int, default=0)
ap.add_argument("--delay", type=float, default=0.0)
ap.add_argument("--idle", type=float, default=3.0)
ap.add_argument("--half-close", action="store_true")
a = ap.parse_args()

data = sys.stdin.buffer.read()
s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
if a.split > 0:
    for i in range(0, len(data), a.split):
        s.sendall(data[i:i + a.split])
        time.sleep(a.delay)
else:
    s.sendall(data)
if a.half_close:
    s.shutdown(socket.SHUT_WR)
s.settimeout(a.idle)
out = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
except socket.timeout:
    pass
except ConnectionResetError:
    out += b"\n[reset]"
s.close()
sys.stdout.buffer.write(out)
