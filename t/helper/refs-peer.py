#!/usr/bin/env python3
"""refs-peer.py PORT LOG: a reference list (GET /internal/media-refs of
elp-course and elp-user) whose later page breaks in scripted ways, for
the sweep of elp-content.

Answers GET /FAULT?limit=N[&after=NAME] on 127.0.0.1:PORT and appends the
request target to LOG, one line each. The first page (no after) is
{"files":["peer-1.jpg","peer-2.jpg"],"next":"peer-2.jpg"} in the services'
envelope; the page after peer-2.jpg depends on FAULT:
  good      {"files":["peer-3.jpg"],"next":null}: the list ends well
  status    500 with the error envelope
  garbage   a body that is not JSON
  stuck     {"files":[],"next":"peer-2.jpg"}: next does not advance
  skip      {"files":["peer-3.jpg"],"next":"peer-9.jpg"}: next is not
            the page's last name
  unsorted  {"files":["peer-1.jpg"],"next":null}: not after the last page
  nonext    {"files":["peer-3.jpg"]}: next missing
  toomany   more names than the limit asked for, next null
"""
import http.server
import json
import sys
import urllib.parse

port, log = int(sys.argv[1]), sys.argv[2]

LATER = {
    "good": {"files": ["peer-3.jpg"], "next": None},
    "stuck": {"files": [], "next": "peer-2.jpg"},
    "skip": {"files": ["peer-3.jpg"], "next": "peer-9.jpg"},
    "unsorted": {"files": ["peer-1.jpg"], "next": None},
    "nonext": {"files": ["peer-3.jpg"]},
}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with open(log, "a") as f:
            f.write(self.path + "\n")
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        fault = u.path.strip("/")
        limit = int(q.get("limit", ["1000"])[0])
        if "after" not in q:
            page = {"files": ["peer-1.jpg", "peer-2.jpg"],
                    "next": "peer-2.jpg"}
        elif fault == "status":
            self.answer(500, {"status": 500, "errorBody": {
                "errorMessage": "Internal server error"}})
            return
        elif fault == "garbage":
            self.answer(200, b"{\"responseBody\": {\"files\": [")
            return
        elif fault == "toomany":
            page = {"files": ["peer-%d.jpg" % (i + 3)
                              for i in range(limit + 1)], "next": None}
        else:
            page = LATER[fault]
        self.answer(200, {"status": 200, "responseBody": page})


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
