#!/usr/bin/env python3
"""notify-sink.py SOCKET OUT: a stand-in for systemd's notification socket.

Binds a unix datagram socket at SOCKET and appends every message it gets
(sd_notify(3) lines such as READY=1) to OUT, one line each, until killed.
"""
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
while True:
    msg = s.recv(4096).decode("utf-8", "replace")
    with open(out, "a") as f:
        for line in msg.splitlines():
            f.write(line + "\n")
