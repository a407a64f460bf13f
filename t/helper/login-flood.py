#!/usr/bin/env python3
"""login-flood.py ISSUER USER PASSWORD SECONDS: a login flood beside a
genuine user, for the gateway's rate-limit test.

For SECONDS, 6 threads bound to 127.0.0.2 send bogus logins: the login
form (fetched from the authorization endpoint, then posted with a wrong
password or an unknown user) and password grants on the token endpoint
(wrong password, unknown user). Meanwhile one client bound to 127.0.0.3,
holding USER's tokens (password grant of admin-cli), refreshes them with
each new refresh token and fetches the JWKS, one after the other.

Prints one JSON object: "flood" ("form:STATUS" and "token:STATUS" ->
count, "error" for no response), "genuine" (the same for the genuine client) and
"genuine_bad" (the first non-200 answers of the genuine client).
"""
import html.parser
import http.client
import json
import sys
import threading
import time
import urllib.parse

ISS, USER, PW, SECS = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
U = urllib.parse.urlsplit(ISS)
PATH = U.path
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
lock = threading.Lock()
flood, genuine, genuine_bad = {}, {}, []
stop = time.monotonic() + SECS


class Form(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields, self.action = {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        if tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")


def req(src, method, path, body=None, headers=None, cookie=None):
    c = http.client.HTTPConnection(U.hostname, U.port, timeout=20,
                                   source_address=(src, 0))
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = cookie
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    cookies = "; ".join(v.split(";")[0] for k, v in r.getheaders()
                        if k.lower() == "set-cookie")
    c.close()
    return r.status, data, cookies


def count(d, key):
    with lock:
        d[key] = d.get(key, 0) + 1


def login_form(src):
    """Fetches a login form: (action, fields, cookies) or None."""
    q = urllib.parse.urlencode({
        "response_type": "code", "client_id": "spa-client", "state": "s",
        "nonce": "n", "redirect_uri": "http://localhost:4200/general/callback",
        "scope": "openid",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256"})
    st, data, cookies = req(src, "GET", PATH + "/protocol/openid-connect/auth?"
                            + q)
    f = Form()
    f.feed(data.decode("utf-8", "replace"))
    if st != 200 or f.action is None:
        return None
    return f.action, f.fields, cookies


def flooder(n):
    i = 0
    while time.monotonic() < stop:
        i += 1
        user = "victim@example.com" if i % 2 else "nobody%d@example.com" % i
        try:
            if (i + n) % 2:
                form = login_form("127.0.0.2")
                if form is None:
                    count(flood, "no-form")
                    continue
                action, fields, cookies = form
                body = urllib.parse.urlencode(dict(fields, username=user,
                                                   password="wrong%d" % i))
                st, _, _ = req("127.0.0.2", "POST", action, body, FORM,
                               cookies)
                kind = "form"
            else:
                body = urllib.parse.urlencode({
                    "grant_type": "password", "client_id": "admin-cli",
                    "username": user, "password": "wrong%d" % i})
                st, _, _ = req("127.0.0.2", "POST",
                               PATH + "/protocol/openid-connect/token", body,
                               FORM)
                kind = "token"
            count(flood, "%s:%d" % (kind, st))
        except OSError:
            count(flood, "error")


def note(st, what, data):
    count(genuine, str(st))
    if st != 200 and len(genuine_bad) < 5:
        genuine_bad.append({"what": what, "status": st,
                            "body": data.decode("utf-8", "replace")[:300]})


def genuine_client():
    body = urllib.parse.urlencode({"grant_type": "password",
                                   "client_id": "admin-cli",
                                   "username": USER, "password": PW})
    st, data, _ = req("127.0.0.3", "POST",
                      PATH + "/protocol/openid-connect/token", body, FORM)
    note(st, "login", data)
    if st != 200:
        return
    rt = json.loads(data)["refresh_token"]
    while time.monotonic() < stop:
        try:
            body = urllib.parse.urlencode({"grant_type": "refresh_token",
                                           "client_id": "admin-cli",
                                           "refresh_token": rt})
            st, data, _ = req("127.0.0.3", "POST",
                              PATH + "/protocol/openid-connect/token", body,
                              FORM)
            note(st, "refresh", data)
            if st == 200:
                rt = json.loads(data)["refresh_token"]
            st, data, _ = req("127.0.0.3", "GET",
                              PATH + "/protocol/openid-connect/certs")
            note(st, "jwks", data)
        except OSError as e:
            note(0, "error", repr(e).encode())
        time.sleep(0.05)


threads = [threading.Thread(target=flooder, args=(n,)) for n in range(6)]
threads.append(threading.Thread(target=genuine_client))
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"flood": flood, "genuine": genuine,
                  "genuine_bad": genuine_bad}))
