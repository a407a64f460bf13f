#!/usr/bin/env python3
"""registry-peer.py PORT LOG CTL [SOCKET]: a scripted registry for tests.

Answers elp-confd's registry API on 127.0.0.1:PORT and appends one line
per call to LOG: "MS METHOD PATH auth=BEARER|- sock=yes|no BODY", MS the
wall clock in ms, sock whether SOCKET (the pool's unix socket) still
exists at that moment. Behaviour is steered by files in directory CTL:
  down     every call answers 503 (the registry is "down")
  forget   the next renewal answers 404 (the lease is lost); the file is
           removed then
  grant    a number of seconds: the lease granted (default: as asked)
  conflict POST answers 409
It also answers GET /registry (the leases it holds), POST
/registry/SERVICE/ID/drain, and POST /token (client credentials: the
token is "tok-" + client_id when client_secret is "s3cret").
"""
import http.server
import json
import os
import sys
import time
import urllib.parse
import uuid

port, log, ctl = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sock = sys.argv[4] if len(sys.argv) > 4 else ""
leases = {}
info = {}


def ctl_has(name):
    return os.path.exists(os.path.join(ctl, name))


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def record(self, body):
        auth = self.headers.get("Authorization", "-").replace(" ", "_")
        s = "yes" if sock and os.path.exists(sock) else "no"
        with open(log, "a") as f:
            f.write("%d %s %s auth=%s sock=%s %s\n" % (
                int(time.time() * 1000), self.command, self.path, auth, s,
                body.decode(errors="replace").replace("\n", " ") or "-"))

    def handle_one(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(n) if n else b""
        self.record(body)
        parts = [p for p in self.path.split("/") if p]
        if self.command == "POST" and parts == ["token"]:
            form = urllib.parse.parse_qs(body.decode())
            if form.get("client_secret") != ["s3cret"]:
                return self.answer(401, {"error": "invalid_client"})
            return self.answer(200, {"access_token": "tok-" +
                                     form["client_id"][0],
                                     "expires_in": 300})
        if ctl_has("down"):
            return self.answer(503, {"httpStatus": "SERVICE_UNAVAILABLE",
                                     "responseBody": {"message": "down"}})
        if self.command == "POST" and len(parts) == 2:
            if ctl_has("conflict"):
                return self.answer(409, {"httpStatus": "CONFLICT"})
            req = json.loads(body or b"{}")
            lease = req.get("lease", 30)
            if ctl_has("grant"):
                lease = int(open(os.path.join(ctl, "grant")).read())
            lid = uuid.uuid4().hex
            leases[lid] = lease
            info[lid] = (parts[1], req.get("address"), "up")
            return self.answer(201, {"httpStatus": "CREATED",
                                     "responseBody": {"leaseId": lid,
                                                      "lease": lease,
                                                      "expires": "2030-01-01T00:00:00Z"}})
        if self.command == "PUT" and len(parts) == 3:
            if ctl_has("forget"):
                os.unlink(os.path.join(ctl, "forget"))
                leases.clear()
            if parts[2] not in leases:
                return self.answer(404, {"httpStatus": "NOT_FOUND"})
            return self.answer(200, {"httpStatus": "OK",
                                     "responseBody": {"leaseId": parts[2],
                                                      "lease": leases[parts[2]]}})
        if self.command == "GET" and parts == ["registry"]:
            svcs = {}
            for lid, (svc, addr, state) in info.items():
                if lid in leases:
                    svcs.setdefault(svc, []).append({
                        "address": addr, "leaseId": lid, "state": state,
                        "expires": "2030-01-01T00:00:00Z", "static": False})
            return self.answer(200, {"httpStatus": "OK",
                                     "responseBody": {"services": svcs}})
        if self.command == "POST" and len(parts) == 4 and parts[3] == "drain":
            return self.answer(200, {"httpStatus": "OK"})
        if self.command == "DELETE" and len(parts) == 3:
            leases.pop(parts[2], None)
            return self.answer(204)
        return self.answer(400, {"httpStatus": "BAD_REQUEST"})

    do_POST = do_PUT = do_DELETE = do_GET = handle_one


http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
