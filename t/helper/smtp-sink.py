#!/usr/bin/python3
"""smtp-sink.py: a real SMTP server (Debian's python3-aiosmtpd) for the
integration tests. Each accepted message is written to DIR as NNNN.eml
(written aside, then renamed, so a reader never sees half a message).
Every DATA and its answer is logged on stdout as

    DATA <message-id> <rcpt> <code>

Behaviours for chosen recipients (substring match on the RCPT address):
  --tempfail-rcpt S --tempfail-count N  DATA answered 451 for the first N
                                        attempts of each Message-ID
  --always-tempfail-rcpt S              DATA always answered 451
  --reject-rcpt S                       RCPT answered 550
  --delay-rcpt S --delay SEC            wait SEC before storing and
                                        accepting (a client that goes away
                                        meanwhile gets nothing stored)
  --hold-rcpt S --hold SEC              store first, then wait SEC before
                                        answering 250 ("HOLD <id>" logged
                                        once stored)

Security:
  --tls-cert F --tls-key F              offer STARTTLS and require it
                                        before MAIL (every DATA line says
                                        tls=yes or tls=no)
  --auth USER:PASSWORD                  require SMTP AUTH (PLAIN/LOGIN,
                                        only after STARTTLS when TLS is on);
                                        "AUTH ok|fail <login>" is logged

usage: smtp-sink.py --port P --dir DIR [behaviours]
Stops on SIGTERM or SIGINT.
"""
import argparse
import asyncio
import os
import re
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

MSGID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.I | re.M)


class Sink:
    def __init__(self, args):
        self.a = args
        self.tries = {}
        self.n = 0
        self.lock = threading.Lock()

    def say(self, *words):
        print(*words, flush=True)

    def match(self, pattern, rcpts):
        return pattern is not None and any(pattern in r for r in rcpts)

    async def handle_RCPT(self, server, session, envelope, address, opts):
        if self.a.reject_rcpt is not None and self.a.reject_rcpt in address:
            self.say("RCPT", address, 550)
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def store(self, content):
        with self.lock:
            self.n += 1
            n = self.n
        path = os.path.join(self.a.dir, "%04d.eml" % n)
        with open(path + ".tmp", "wb") as f:
            f.write(content)
        os.rename(path + ".tmp", path)

    async def handle_DATA(self, server, session, envelope):
        m = MSGID.search(envelope.content)
        mid = m.group(1).decode() if m else "-"
        rcpts = envelope.rcpt_tos
        rcpt = ",".join(rcpts)
        if self.match(self.a.always_tempfail_rcpt, rcpts):
            self.say("DATA", mid, rcpt, 451)
            return "451 4.3.0 try again later"
        if self.match(self.a.tempfail_rcpt, rcpts):
            k = self.tries.get(mid, 0) + 1
            self.tries[mid] = k
            if k <= self.a.tempfail_count:
                self.say("DATA", mid, rcpt, 451)
                return "451 4.3.0 try again later"
        if self.match(self.a.delay_rcpt, rcpts):
            self.say("DELAY", mid)
            await asyncio.sleep(self.a.delay)
        self.store(envelope.content)
        if self.match(self.a.hold_rcpt, rcpts):
            self.say("HOLD", mid)
            await asyncio.sleep(self.a.hold)
        self.say("DATA", mid, rcpt, 250,
                 "tls=yes" if session.ssl is not None else "tls=no")
        return "250 OK stored"

    def authenticate(self, server, session, envelope, mechanism, data):
        user, _, password = self.a.auth.partition(":")
        login = getattr(data, "login", b"") or b""
        ok = (login.decode("utf-8", "replace") == user and
              (getattr(data, "password", b"") or b"") == password.encode())
        self.say("AUTH", "ok" if ok else "fail",
                 login.decode("utf-8", "replace"))
        return AuthResult(success=ok)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--tempfail-rcpt")
    p.add_argument("--tempfail-count", type=int, default=1)
    p.add_argument("--always-tempfail-rcpt")
    p.add_argument("--reject-rcpt")
    p.add_argument("--delay-rcpt")
    p.add_argument("--delay", type=float, default=5)
    p.add_argument("--hold-rcpt")
    p.add_argument("--hold", type=float, default=5)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--auth")
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    # Numbering goes on after what an earlier run stored.
    sink = Sink(args)
    sink.n = len([f for f in os.listdir(args.dir) if f.endswith(".eml")])
    kw = {}
    if args.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        kw.update(tls_context=ctx, require_starttls=True)
    if args.auth:
        kw.update(authenticator=sink.authenticate, auth_required=True,
                  auth_require_tls=bool(args.tls_cert))
    ctl = Controller(sink, hostname="127.0.0.1", port=args.port, **kw)
    ctl.start()
    print("LISTEN", args.port, flush=True)
    done = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: done.set())
    done.wait()
    ctl.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
