"""Stand-in for an OAuth2 token service (Microsoft identity platform shapes, ../shared/apis.md)
plus RFC 7662 token introspection for Dovecot's oauth2 passdb.

POST /token       form: grant_type=client_credentials, client_id, client_secret, scope
                  200 {"token_type":"Bearer","expires_in":N,"access_token":"..."}
                  401 {"error":"invalid_client","error_description":"AADSTS7000215: ...",
                       "error_codes":[7000215]} for a wrong secret
POST /introspect  form: token=...  ->  {"active": true, "username": USER} or {"active": false}
POST /_control    JSON {"revoke_all": true} forgets every token issued so far
GET  /_stats      JSON {"issued": n, "introspected": n}

usage: oauth.py --port 0 --client-id ID --client-secret S --user U [--expires-in N]
Prints "PORT n" once listening; stops when stdin closes.
"""

import argparse
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, args):
        self.args = args
        self.tokens = {}  # token -> expiry (Unix time)
        self.issued = 0
        self.introspected = 0
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def form(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode("utf-8", "replace")
        return raw, {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}

    def do_GET(self):
        st = self.server.state
        if self.path == "/_stats":
            with st.lock:
                return self.reply(200, {"issued": st.issued, "introspected": st.introspected})
        self.reply(404, {"error": "not_found"})

    def do_POST(self):
        st, a = self.server.state, self.server.state.args
        raw, f = self.form()
        if self.path == "/token":
            if f.get("grant_type") != "client_credentials":
                return self.reply(400, {"error": "unsupported_grant_type",
                                        "error_description": "AADSTS70003: grant type",
                                        "error_codes": [70003]})
            if f.get("client_id") != a.client_id or f.get("client_secret") != a.client_secret:
                return self.reply(401, {"error": "invalid_client",
                                        "error_description": "AADSTS7000215: Invalid client "
                                        "secret provided.", "error_codes": [7000215]})
            if not f.get("scope"):
                return self.reply(400, {"error": "invalid_scope",
                                        "error_description": "AADSTS1002012: scope",
                                        "error_codes": [1002012]})
            tok = "eyJ0" + secrets.token_urlsafe(24)
            with st.lock:
                st.tokens[tok] = time.time() + a.expires_in
                st.issued += 1
            return self.reply(200, {"token_type": "Bearer", "expires_in": a.expires_in,
                                    "ext_expires_in": a.expires_in, "access_token": tok})
        if self.path == "/introspect":
            tok = f.get("token", "")
            with st.lock:
                st.introspected += 1
                exp = st.tokens.get(tok)
            if exp and exp > time.time():
                return self.reply(200, {"active": True, "username": a.user,
                                        "exp": int(exp)})
            return self.reply(200, {"active": False})
        if self.path == "/_control":
            what = json.loads(raw or "{}")
            if what.get("revoke_all"):
                with st.lock:
                    st.tokens.clear()
            return self.reply(200, {"ok": True})
        self.reply(404, {"error": "not_found"})


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--expires-in", type=int, default=3599)
    args = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.state = State(args)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("PORT %d" % srv.server_address[1], flush=True)
    sys.stdin.read()
    srv.shutdown()


if __name__ == "__main__":
    main()
