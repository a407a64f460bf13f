#!/usr/bin/env python3
"""oidc.py: a scripted OpenID Connect relying party for the elp-auth tests.

    oidc.py ISSUER verify TOKEN           verify RS256 with the JWKS, print
                                          header+payload as JSON
    oidc.py ISSUER authorize JAR [k=v]... GET the authorization endpoint with
                                          the cookies of JAR (a JSON file);
                                          print status, Location, form fields
    oidc.py ISSUER login JAR USER PASS [k=v]...
                                          authorize, post the form, print the
                                          redirect's parameters as JSON
    oidc.py ISSUER flow JAR USER PASS     login + code exchange; print the
                                          token response plus code, verifier,
                                          nonce and state as JSON
    oidc.py ISSUER token [k=v]...         POST the token endpoint (form);
                                          print {"status":..,"body":..}
    oidc.py ISSUER get JAR URL            GET with the cookies; status + Location

k=v pairs override authorization parameters (e.g. redirect_uri=...,
code_challenge=); a value of "-" removes the parameter. OIDC_SOURCE=ADDR
in the environment makes every connection from that local address (e.g.
127.0.0.2), so the gateway sees a chosen client address.
"""
import base64
import hashlib
import html.parser
import http.client
import json
import os
import secrets
import sys
import urllib.parse

REDIRECT = "http://localhost:4200/general/callback"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Jar:
    def __init__(self, path):
        self.path = path
        self.c = {}
        if path and os.path.exists(path):
            with open(path) as f:
                self.c = json.load(f)

    def header(self):
        return "; ".join("%s=%s" % kv for kv in self.c.items())

    def take(self, resp):
        for k, v in resp.getheaders():
            if k.lower() != "set-cookie":
                continue
            parts = [p.strip() for p in v.split(";")]
            name, _, value = parts[0].partition("=")
            attrs = {p.partition("=")[0].lower(): p.partition("=")[2]
                     for p in parts[1:]}
            if attrs.get("max-age") == "0":
                self.c.pop(name, None)
            else:
                self.c[name] = value
        if self.path:
            with open(self.path, "w") as f:
                json.dump(self.c, f)


def request(url, method="GET", body=None, headers=None, jar=None):
    u = urllib.parse.urlsplit(url)
    src = os.environ.get("OIDC_SOURCE")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20,
                                      source_address=(src, 0) if src
                                      else None)
    h = dict(headers or {})
    if jar is not None and jar.c:
        h["Cookie"] = jar.header()
    path = u.path + ("?" + u.query if u.query else "")
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    if jar is not None:
        jar.take(resp)
    conn.close()
    return resp, data


class FormParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields = {}
        self.action = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        if tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")


def discovery(issuer):
    _, data = request(issuer + "/.well-known/openid-configuration")
    return json.loads(data)


def verify(issuer, token):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    h, p, s = token.split(".")
    header = json.loads(b64url_decode(h))
    assert header["alg"] == "RS256", header
    _, data = request(discovery(issuer)["jwks_uri"])
    keys = [k for k in json.loads(data)["keys"] if k["kid"] == header["kid"]]
    assert keys, "kid %s not in the JWKS" % header["kid"]
    k = keys[0]
    pub = rsa.RSAPublicNumbers(int.from_bytes(b64url_decode(k["e"]), "big"),
                               int.from_bytes(b64url_decode(k["n"]), "big"))
    pub.public_key().verify(b64url_decode(s), (h + "." + p).encode(),
                            padding.PKCS1v15(), hashes.SHA256())
    return {"header": header, "payload": json.loads(b64url_decode(p))}


def auth_params(over):
    verifier = b64url(secrets.token_bytes(32))
    nonce = b64url(secrets.token_bytes(12))
    p = {
        "response_type": "code", "client_id": "spa-client",
        "state": nonce, "nonce": nonce, "redirect_uri": REDIRECT,
        "scope": "openid profile email offline_access",
        "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
    }
    for kv in over:
        k, _, v = kv.partition("=")
        if v == "-":
            p.pop(k, None)
        else:
            p[k] = v
    return p, verifier


def authorize(issuer, jar, over):
    p, verifier = auth_params(over)
    resp, data = request(discovery(issuer)["authorization_endpoint"] + "?" +
                         urllib.parse.urlencode(p), jar=jar)
    form = FormParser()
    form.feed(data.decode("utf-8", "replace"))
    return {"status": resp.status, "location": resp.getheader("Location"),
            "fields": form.fields, "action": form.action,
            "body": data.decode("utf-8", "replace"),
            "headers": dict((k.lower(), v) for k, v in resp.getheaders()),
            "params": p, "verifier": verifier}


def redirect_params(loc):
    q = urllib.parse.urlsplit(loc).query
    return dict(urllib.parse.parse_qsl(q))


def login(issuer, jar, user, pw, over):
    a = authorize(issuer, jar, over)
    if a["status"] == 200 and "csrf" in a["fields"]:
        origin = issuer.split("/realms/")[0]
        body = urllib.parse.urlencode(dict(a["fields"], username=user,
                                           password=pw))
        resp, data = request(origin + a["action"], "POST", body,
                             {"Content-Type":
                              "application/x-www-form-urlencoded"}, jar)
        a["status"] = resp.status
        a["location"] = resp.getheader("Location")
        a["body"] = data.decode("utf-8", "replace")
    a["redirect"] = redirect_params(a["location"]) if a["location"] else {}
    return a


def token(issuer, pairs, headers=None):
    body = urllib.parse.urlencode(pairs)
    h = {"Content-Type": "application/x-www-form-urlencoded"}
    h.update(headers or {})
    resp, data = request(discovery(issuer)["token_endpoint"], "POST", body, h)
    try:
        j = json.loads(data)
    except ValueError:
        j = data.decode("utf-8", "replace")
    return {"status": resp.status, "body": j,
            "headers": dict((k.lower(), v) for k, v in resp.getheaders())}


def flow(issuer, jar, user, pw, over):
    a = login(issuer, jar, user, pw, over)
    r = a["redirect"]
    out = {"login_status": a["status"], "redirect": r,
           "verifier": a["verifier"], "nonce": a["params"].get("nonce"),
           "state": a["params"].get("state")}
    if "code" in r:
        out["token"] = token(issuer, {
            "grant_type": "authorization_code", "code": r["code"],
            "redirect_uri": a["params"]["redirect_uri"],
            "code_verifier": a["verifier"], "client_id": "spa-client"})
    return out


def main(argv):
    issuer, cmd, args = argv[1], argv[2], argv[3:]
    if cmd == "verify":
        out = verify(issuer, args[0])
    elif cmd == "authorize":
        out = authorize(issuer, Jar(args[0]), args[1:])
    elif cmd == "login":
        out = login(issuer, Jar(args[0]), args[1], args[2], args[3:])
    elif cmd == "flow":
        out = flow(issuer, Jar(args[0]), args[1], args[2], args[3:])
    elif cmd == "token":
        hdr = {}
        pairs = []
        for kv in args:
            k, _, v = kv.partition("=")
            if k == "basic":
                hdr["Authorization"] = "Basic " + base64.b64encode(
                    v.encode()).decode()
            else:
                pairs.append((k, v))
        out = token(issuer, pairs, hdr)
    elif cmd == "submit":
        # submit JAR URL: GETs the page at URL and posts its form back.
        jar = Jar(args[0])
        resp, data = request(args[1], jar=jar)
        p = FormParser()
        p.feed(data.decode("utf-8", "replace"))
        target = urllib.parse.urljoin(args[1], p.action or "")
        resp, data = request(target, "POST",
                             urllib.parse.urlencode(p.fields),
                             {"Content-Type":
                              "application/x-www-form-urlencoded"}, jar)
        out = {"status": resp.status, "location": resp.getheader("Location"),
               "fields": p.fields, "body": data.decode("utf-8", "replace")}
    elif cmd == "get":
        resp, data = request(args[1], jar=Jar(args[0]))
        out = {"status": resp.status, "location": resp.getheader("Location"),
               "body": data.decode("utf-8", "replace")}
    else:
        sys.exit("unknown command " + cmd)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main(sys.argv)
