#!/usr/bin/env python3
"""loginload.py: bogus logins in flight while a genuine client works.

    loginload.py ISSUER SECONDS ATTACKERS ATTACK_SRC GENUINE_SRC STATE
    loginload.py burst ISSUER SRC USER PASSWORD N

The burst form posts N password grants (admin-cli) for USER back to back
from SRC in one process and prints their statuses as a JSON list.

ATTACKERS threads post password grants (client admin-cli) with unknown
user names and wrong passwords from local address ATTACK_SRC, as fast as
they are answered, for SECONDS. Meanwhile, from GENUINE_SRC, one client
loops over: GET the JWKS, refresh a token (rotating it), and once
exchange an authorization code. STATE is a JSON file with
{"refresh_token", "code", "verifier", "redirect_uri"}.

Prints JSON: "attack" {status: count}, "retry_after" (every 429 carried
Retry-After), and per genuine call kind the statuses and the maximum and
median latency in seconds.
"""
import http.client
import json
import secrets
import sys
import threading
import time
import urllib.parse


def post_form(host, port, src, path, pairs, timeout=30):
    conn = http.client.HTTPConnection(host, port, timeout=timeout,
                                      source_address=(src, 0))
    conn.request("POST", path, body=urllib.parse.urlencode(pairs),
                 headers={"Content-Type":
                          "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    data = r.read()
    ra = r.getheader("Retry-After")
    conn.close()
    return r.status, data, ra


def get(host, port, src, path, timeout=30):
    conn = http.client.HTTPConnection(host, port, timeout=timeout,
                                      source_address=(src, 0))
    conn.request("GET", path)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def burst(argv):
    issuer, src, user, pw, n = argv[2], argv[3], argv[4], argv[5], int(argv[6])
    u = urllib.parse.urlsplit(issuer)
    out = []
    for _ in range(n):
        st, _, _ = post_form(u.hostname, u.port, src,
                             u.path + "/protocol/openid-connect/token", {
                                 "grant_type": "password",
                                 "client_id": "admin-cli",
                                 "username": user, "password": pw})
        out.append(st)
    print(json.dumps(out))


def main(argv):
    if argv[1] == "burst":
        burst(argv)
        return
    issuer, secs, nattack = argv[1], float(argv[2]), int(argv[3])
    asrc, gsrc, state = argv[4], argv[5], json.load(open(argv[6]))
    u = urllib.parse.urlsplit(issuer)
    host, port = u.hostname, u.port
    tok = u.path + "/protocol/openid-connect/token"
    certs = u.path + "/protocol/openid-connect/certs"
    stop = time.monotonic() + secs
    lock = threading.Lock()
    attack = {}
    retry_ok = [True]

    def attacker():
        while time.monotonic() < stop:
            try:
                st, _, ra = post_form(host, port, asrc, tok, {
                    "grant_type": "password", "client_id": "admin-cli",
                    "username": "ghost-%s@example.com" % secrets.token_hex(6),
                    "password": "Wrong#pass1"})
            except OSError:
                st, ra = "error", None
            with lock:
                attack[str(st)] = attack.get(str(st), 0) + 1
                if st == 429 and ra is None:
                    retry_ok[0] = False

    threads = [threading.Thread(target=attacker) for _ in range(nattack)]
    for t in threads:
        t.start()
    time.sleep(min(1.0, secs / 4))
    calls = {"jwks": [], "refresh": [], "code": []}
    rt = state["refresh_token"]
    code_done = False
    while time.monotonic() < stop:
        t0 = time.monotonic()
        st, _ = get(host, port, gsrc, certs)
        calls["jwks"].append((st, time.monotonic() - t0))
        t0 = time.monotonic()
        st, data, _ = post_form(host, port, gsrc, tok, {
            "grant_type": "refresh_token", "client_id": "spa-client",
            "refresh_token": rt})
        calls["refresh"].append((st, time.monotonic() - t0))
        if st == 200:
            rt = json.loads(data)["refresh_token"]
        if not code_done:
            code_done = True
            t0 = time.monotonic()
            st, _, _ = post_form(host, port, gsrc, tok, {
                "grant_type": "authorization_code", "client_id": "spa-client",
                "code": state["code"], "code_verifier": state["verifier"],
                "redirect_uri": state["redirect_uri"]})
            calls["code"].append((st, time.monotonic() - t0))
        time.sleep(0.05)
    for t in threads:
        t.join()
    out = {"attack": attack, "retry_after": retry_ok[0]}
    for k, v in calls.items():
        lat = sorted(x[1] for x in v)
        out[k] = {"statuses": sorted(set(x[0] for x in v)), "n": len(v),
                  "max": round(lat[-1], 3) if lat else None,
                  "median": round(lat[len(lat) // 2], 3) if lat else None}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main(sys.argv)
