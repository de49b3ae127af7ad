"""A real SMTP server on loopback for the tests (aiosmtpd, Debian python3-aiosmtpd).

usage: smtp.py --port 0 --out DIR [--tls-cert PEM --tls-key PEM] [--auth USER:PASS]
               [--tempfail ADDR[:N]]... [--reject ADDR]... [--no-starttls] [--watch-stdin]
               [--stall-data SECONDS]

Prints "PORT n" once listening on 127.0.0.1. Each accepted message is written to DIR as
one JSON file (NNNN.json, written under another name and renamed): mail_from, rcpt_tos,
data (the message as received, text), tls (whether STARTTLS was in use), auth (the user
name that authenticated, or null). With --tls-cert/--tls-key STARTTLS is offered and
required before MAIL; with --auth, AUTH PLAIN or LOGIN with those credentials is required
(and only offered after STARTTLS when TLS is on). --tempfail answers RCPT TO for ADDR with
451 (the first N times, default always); --reject answers 550. --watch-stdin exits when
stdin closes, so the server never outlives the test.
"""

import argparse
import asyncio
import json
import logging
import os
import ssl
import sys
import threading
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, out, tempfail, reject, stall=0.0):
        self.out = out
        self.stall = stall  # seconds to wait after storing a message, before answering
        self.tempfail = tempfail  # address -> remaining count (None: always)
        self.reject = set(reject)
        self.n = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        a = address.lower()
        if a in self.reject:
            return "550 5.1.1 <%s>: Recipient address rejected: no such user" % address
        if a in self.tempfail:
            left = self.tempfail[a]
            if left is None or left > 0:
                if left is not None:
                    self.tempfail[a] = left - 1
                return "451 4.7.1 <%s>: Recipient address deferred: try again" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        rec = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
               "data": envelope.original_content.decode("utf-8", "replace"),
               "tls": session.ssl is not None,
               "auth": session.auth_data.login.decode()
               if isinstance(session.auth_data, LoginPassword) else None}
        tmp = os.path.join(self.out, ".%04d.tmp" % self.n)
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(self.out, "%04d.json" % self.n))
        if self.stall:
            await asyncio.sleep(self.stall)  # the message is in; the answer is late
        return "250 2.0.0 Message accepted for delivery"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and mechanism in ("PLAIN", "LOGIN") and
              auth_data.login.decode() == user and auth_data.password.decode() == password)
        # handled=False on failure: aiosmtpd then answers 535 5.7.8 (its default, True,
        # means "already answered", and the client would wait for an answer forever)
        return AuthResult(success=ok, handled=ok, auth_data=auth_data if ok else None)
    return check


def parse_tempfail(values):
    out = {}
    for v in values:
        addr, _, n = v.partition(":") if v.count(":") == 1 else (v, "", "")
        out[addr.lower()] = int(n) if n else None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--no-starttls", action="store_true")
    ap.add_argument("--auth")
    ap.add_argument("--tempfail", action="append", default=[])
    ap.add_argument("--reject", action="append", default=[])
    ap.add_argument("--watch-stdin", action="store_true")
    ap.add_argument("--stall-data", type=float, default=0.0,
                    help="seconds to wait before answering the end of each message")
    ap.add_argument("--debug", action="store_true", help="log the SMTP dialogue on stderr")
    a = ap.parse_args()
    warnings.simplefilter("ignore")  # aiosmtpd's own deprecation notices
    logging.basicConfig(stream=sys.stderr)
    logging.getLogger("mail.log").setLevel(logging.DEBUG if a.debug else logging.CRITICAL)
    os.makedirs(a.out, exist_ok=True)

    tls = None
    if a.tls_cert and not a.no_starttls:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.tls_cert, a.tls_key)
    handler = Handler(a.out, parse_tempfail(a.tempfail), [r.lower() for r in a.reject],
                      a.stall_data)
    kw = {"hostname": "mail.test", "tls_context": tls, "require_starttls": tls is not None,
          "timeout": 30}
    if a.auth:
        user, _, password = a.auth.partition(":")
        kw.update(auth_required=True, auth_require_tls=tls is not None,
                  authenticator=authenticator(user, password))

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(handler, **kw), "127.0.0.1", a.port))
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
    if a.watch_stdin:
        def watch():
            sys.stdin.read()
            loop.call_soon_threadsafe(loop.stop)
        threading.Thread(target=watch, daemon=True).start()
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
