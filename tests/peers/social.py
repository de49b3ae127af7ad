#!/usr/bin/env python3
"""Stand-ins for the Facebook Graph API, the X API v2 and the Mastodon API, for the tests
of the facebook / x / mastodon sources and the social_actions sink.

Standard library only. One process plays one vendor (--api facebook|x|mastodon), in the
shapes of ../../../shared/apis.md sections 1-3:

facebook  GET  /vNN.0/{page-id}/feed?fields&since&limit[&after]
          GET  /vNN.0/{post-id}/comments?fields&filter&order&limit[&after]
               {"data": [...], "paging": {"cursors": {"before", "after"}, "next": URL}};
               `next` is left out only on the last page; with "empty_page" a walk starts
               with an empty page that still has `next` (a short page is not the end).
               created_time is "2024-01-15T10:30:00+0000". Every answer carries
               X-App-Usage {"call_count", "total_cputime", "total_time"} (percentages) and
               X-Business-Use-Case-Usage.
          POST /vNN.0/{comment-id}  is_hidden=true   -> {"success": true}
          POST /vNN.0/{page-id}/messages {"recipient": {"comment_id"} or {"post_id"},
               "message": {"text"}} -> {"recipient_id", "message_id"}: comment_id for a
               comment, post_id for a visitor post; a known post's id given as comment_id
               (or a known comment's as post_id) gets error 100, as Graph answers a wrong
               object type. One private reply per comment or post: a second
               one gets error code 10900 "Activity already replied to" [unverified: the
               code the real API gives for this case is not documented in apis.md].
          Errors: {"error": {"message", "type": "OAuthException", "code", "error_subcode",
               "fbtrace_id", "is_transient"}}; throttling (code 4, 17, 32, 613, 80001) is a
               400 or 403, never 429; an expired token is code 190 subcode 463 with 400.
x         GET  /2/users/{id}/mentions?since_id&max_results&pagination_token&...
          GET  /2/tweets/search/recent?query&since_id&max_results&next_token
               {"data": [...], "includes": {"users": [...]}, "meta": {"newest_id",
               "oldest_id", "result_count", "next_token"}}; nothing: {"meta":
               {"result_count": 0}}. x-rate-limit-limit / -remaining / -reset (epoch s) on
               every answer, per endpoint; over: 429 {"title": "Too Many Requests", ...}.
               401 {"title": "Unauthorized", ...}.
          POST /2/tweets {"text", "reply": {"in_reply_to_tweet_id"}} -> 201 {"data": {"id",
               "text"}}
mastodon  GET  /api/v1/notifications?types[]=mention&min_id&max_id&limit
               an array, newest first; min_id gives the `limit` notifications just above
               it; Link: <...max_id=..>; rel="next", <...min_id=..>; rel="prev" (none on an
               empty page). X-RateLimit-Limit / -Remaining / -Reset (ISO 8601) on every
               answer; over: 429 {"error": "Too many requests"}; 401 {"error": "The access
               token is invalid"}. Status content is HTML.
          POST /api/v1/statuses {"status", "in_reply_to_id", "visibility"} with
               Idempotency-Key: the same key answers the first status again, posting
               nothing (Mastodon keeps keys for an hour).

All: --token T (default "secret-token") must come as Authorization: Bearer T. --page-size N
caps every page below what the client asks for. --rate-limit N --rate-window S: N requests
per S seconds per endpoint (x, mastodon; facebook's X-App-Usage grows with them).

POST /_control (JSON) changes the state: {"add": {...}} adds data (facebook: {"posts":
[...]} or {"comments": {post_id: [...]}}; x: {"mentions": [...], "users": [...]};
mastodon: {"notifications": [...]}), {"expire_token": true|false}, {"force_429": n} (the
next n GETs get 429 with a reset --rate-window from now), {"throttle": [codes]} (facebook:
the next GETs get these error codes), {"usage": pct} (facebook: X-App-Usage call_count),
{"drop_reply": n} (the next n replies are carried out, then the connection is closed
without an answer: a lost response), {"fail_reply": n} (the next n replies get 500 without
being carried out), {"slow_reply": n, "slow_seconds": s} (the next n Facebook private
replies are carried out and logged, then answered only after s seconds), {"empty_page":
bool}, {"expire_page_tokens": true} (x: the page tokens given so far get 400 Invalid
Request, as X answers a token it no longer knows). --data FILE seeds the same shapes at
start.

--log FILE: one JSON line per request, written before the answer: t (time.time()), method,
path, query (dict of lists), status, over_budget (a GET that came while the window was
used up), forced (an injected error), and for POSTs the parsed body and the
Idempotency-Key. --port 0 picks a free port and prints "PORT n". --watch-stdin exits at
end of stdin.
"""

import argparse
import base64
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def iso(t, ms=True):
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    return s + (".%03dZ" % int((t % 1) * 1000) if ms else "Z")


def fb_time(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(t))


def b64(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def x_text(t):
    """A post as X's API sends it: &, < and > in its text escaped as HTML entities (X
    escapes them and no others)."""
    esc = t["text"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return dict(t, text=esc)


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).decode()


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.api = args.api
        self.token = args.token
        self.expired = False
        self.page_size = args.page_size
        self.limit = args.rate_limit
        self.window = args.rate_window
        self.windows = {}          # endpoint -> [start, used]
        self.force_429 = 0
        self.throttle = []
        self.usage = None
        self.drop_reply = 0
        self.fail_reply = 0
        self.slow_reply = 0
        self.slow_seconds = 0.0
        self.empty_page = False
        self.token_generation = 0  # x: page tokens of an older generation get 400
        self.page_id = args.page_id
        self.user_id = args.user_id
        self.posts = []            # facebook: {"id", "message", "created_time", "from", ...}
        self.comments = {}         # facebook: post id -> [comment]
        self.hidden = set()
        self.replied = {}          # facebook comment id -> message id
        self.mentions = []         # x
        self.users = {}
        self.notifications = []    # mastodon
        self.statuses = {}         # idempotency key -> status (mastodon)
        self.counter = 1000
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None

    def write(self, entry):
        if self.log:
            with self.lock:
                self.log.write(json.dumps(entry, sort_keys=True) + "\n")
                self.log.flush()

    def add(self, what):
        with self.lock:
            self.posts += what.get("posts", [])
            for pid, cs in what.get("comments", {}).items():
                self.comments.setdefault(pid, []).extend(cs)
            self.mentions += what.get("mentions", [])
            for u in what.get("users", []):
                self.users[u["id"]] = u
            self.notifications += what.get("notifications", [])

    def control(self, req):
        if "add" in req:
            self.add(req["add"])
        with self.lock:
            if "expire_token" in req:
                self.expired = bool(req["expire_token"])
            self.force_429 = int(req.get("force_429", self.force_429))
            self.throttle = list(req.get("throttle", self.throttle))
            self.usage = req.get("usage", self.usage)
            self.drop_reply = int(req.get("drop_reply", self.drop_reply))
            self.fail_reply = int(req.get("fail_reply", self.fail_reply))
            self.slow_reply = int(req.get("slow_reply", self.slow_reply))
            self.slow_seconds = float(req.get("slow_seconds", self.slow_seconds))
            self.empty_page = bool(req.get("empty_page", self.empty_page))
            if req.get("expire_page_tokens"):
                self.token_generation += 1

    def spend(self, endpoint):
        """Counts one request against the endpoint's window. Returns (limit, remaining,
        reset, over): over is True when the window was already used up."""
        with self.lock:
            now = time.time()
            w = self.windows.get(endpoint)
            if w is None or now >= w[0] + self.window:
                w = self.windows[endpoint] = [now, 0]
            over = w[1] >= self.limit
            if not over:
                w[1] += 1
            return self.limit, self.limit - w[1], w[0] + self.window, over

    def next_id(self):
        with self.lock:
            self.counter += 1
            return self.counter


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "social-standin/1"
    state = None

    def log_message(self, fmt, *args):
        pass

    # ---- plumbing ----

    def answer(self, status, obj, headers=(), entry=None):
        data = json.dumps(obj).encode()
        if entry is not None:
            entry["status"] = status
            self.state.write(entry)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def authorised(self):
        st = self.state
        return (self.headers.get("Authorization") == "Bearer " + st.token and
                not st.expired)

    def base(self):
        return "http://%s" % self.headers.get("Host")

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        ctype = self.headers.get("Content-Type") or ""
        if "json" in ctype:
            try:
                return json.loads(raw or b"null")
            except ValueError:
                return None
        return {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}

    def entry(self, method, u, body=None):
        return {"t": time.time(), "method": method, "path": u.path,
                "query": urllib.parse.parse_qs(u.query), "body": body,
                "idempotency_key": self.headers.get("Idempotency-Key"),
                "over_budget": False, "forced": False}

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        e = self.entry("GET", u)
        getattr(self, "get_" + self.state.api)(u, urllib.parse.parse_qs(u.query), e)

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        b = self.body()
        if u.path == "/_control":
            self.state.control(b or {})
            self.answer(200, {"ok": True})
            return
        e = self.entry("POST", u, b)
        getattr(self, "post_" + self.state.api)(u, b, e)

    def page(self, items, offset):
        n = self.state.page_size
        return items[offset:offset + n], offset + n < len(items)

    # ---- facebook ----

    def fb_error(self, status, code, message, e, sub=None, transient=False, headers=()):
        err = {"message": message, "type": "OAuthException", "code": code,
               "fbtrace_id": "AbCdEf123"}
        if sub:
            err["error_subcode"] = sub
        if transient:
            err["is_transient"] = True
        self.answer(status, {"error": err}, headers, e)

    def fb_usage(self):
        st = self.state
        with st.lock:
            used = sum(w[1] for w in st.windows.values())
            pct = st.usage if st.usage is not None else min(100, used * 100 // max(1, st.limit))
        app = json.dumps({"call_count": pct, "total_cputime": 1, "total_time": 1})
        buc = json.dumps({st.page_id: [{"type": "pages", "call_count": pct,
                                        "total_cputime": 1, "total_time": 1,
                                        "estimated_time_to_regain_access": 0}]})
        return [("X-App-Usage", app), ("X-Business-Use-Case-Usage", buc)]

    def get_facebook(self, u, q, e):
        st = self.state
        parts = u.path.strip("/").split("/")
        st.spend("graph")
        headers = self.fb_usage()
        if not self.authorised():
            return self.fb_error(400, 190, "Error validating access token: Session has "
                                 "expired.", e, sub=463, headers=headers)
        with st.lock:
            code = st.throttle.pop(0) if st.throttle else None
        if code is not None:
            e["forced"] = True
            return self.fb_error(403 if code == 32 else 400, code, "(#%d) Application "
                                 "request limit reached" % code, e, transient=True,
                                 headers=headers)
        if len(parts) != 3:
            return self.fb_error(400, 100, "Unsupported get request.", e)
        node, edge = parts[1], parts[2]
        after = int(unb64(q["after"][0])) if "after" in q else None
        if edge == "feed" and node == st.page_id:
            since = int(q.get("since", ["0"])[0])
            with st.lock:
                rows = sorted([p for p in st.posts if p["created_time"] >= since],
                              key=lambda p: -p["created_time"])
            data = [dict(p, created_time=fb_time(p["created_time"])) for p in rows]
        elif edge == "comments":
            with st.lock:
                rows = sorted(st.comments.get(node, []), key=lambda c: -c["created_time"])
                data = [dict(c, created_time=fb_time(c["created_time"]),
                             is_hidden=c["id"] in st.hidden, can_reply_privately=True)
                        for c in rows]
        else:
            return self.fb_error(400, 100, "Unsupported get request.", e)
        if after is None and st.empty_page and data:
            chunk, more, offset = [], True, -st.page_size
        else:
            offset = after or 0
            chunk, more = self.page(data, offset)
        out = {"data": chunk}
        cur = {"before": b64(str(max(offset, 0))), "after": b64(str(offset + st.page_size))}
        if chunk or more:
            out["paging"] = {"cursors": cur}
        if more:
            nq = dict((k, v[0]) for k, v in q.items())
            nq["after"] = cur["after"]
            out["paging"]["next"] = "%s%s?%s" % (self.base(), u.path, urllib.parse.urlencode(nq))
        self.answer(200, out, headers, e)

    def post_facebook(self, u, b, e):
        st = self.state
        parts = u.path.strip("/").split("/")
        if not self.authorised():
            return self.fb_error(400, 190, "Error validating access token: Session has "
                                 "expired.", e, sub=463)
        if len(parts) == 2 and isinstance(b, dict) and str(b.get("is_hidden")) == "true":
            with st.lock:
                st.hidden.add(parts[1])
            return self.answer(200, {"success": True}, (), e)
        if len(parts) == 3 and parts[1] == st.page_id and parts[2] == "messages":
            return self.fb_reply(b, e)
        self.fb_error(400, 100, "Invalid parameter", e)

    def fb_reply(self, b, e):
        st = self.state
        rcpt = (b or {}).get("recipient") or {}
        cid = rcpt.get("comment_id") or rcpt.get("post_id")
        text = ((b or {}).get("message") or {}).get("text")
        if not cid or not text:
            return self.fb_error(400, 100, "(#100) The parameter recipient is required", e)
        with st.lock:
            post_ids = {p["id"] for p in st.posts}
            comment_ids = {c["id"] for cs in st.comments.values() for c in cs}
        if ("comment_id" in rcpt and cid in post_ids) or \
                ("post_id" in rcpt and cid in comment_ids):
            return self.fb_error(400, 100, "(#100) Invalid parameter", e)
        with st.lock:
            fail = st.fail_reply > 0
            st.fail_reply -= 1 if fail else 0
            dup = cid in st.replied
            drop = not fail and not dup and st.drop_reply > 0
            st.drop_reply -= 1 if drop else 0
            slow = not fail and not dup and not drop and st.slow_reply > 0
            st.slow_reply -= 1 if slow else 0
            if not fail and not dup:
                st.replied[cid] = "m_%d" % (st.counter + 1)
                st.counter += 1
        if fail:
            e["forced"] = True
            return self.fb_error(500, 2, "An unexpected error has occurred. Please retry "
                                 "your request later.", e, transient=True)
        if dup:
            return self.fb_error(400, 10900, "(#10900) Activity already replied to", e)
        if drop:
            e["forced"] = True
            e["status"] = None
            e["accepted"] = True
            st.write(e)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        e["accepted"] = True
        answer = {"recipient_id": "PSID1", "message_id": st.replied[cid]}
        if slow:  # carried out and logged, then a long wait before the answer
            e["forced"] = True
            e["status"] = None
            st.write(e)
            time.sleep(st.slow_seconds)
            try:
                self.answer(200, answer)
            except OSError:
                pass
            return
        self.answer(200, answer, (), e)

    # ---- x ----

    def x_rate(self, endpoint, e):
        st = self.state
        limit, remaining, reset, over = st.spend(endpoint)
        with st.lock:
            forced = st.force_429 > 0
            st.force_429 -= 1 if forced else 0
        if forced:
            reset = time.time() + st.window
            with st.lock:
                st.windows[endpoint] = [time.time(), st.limit]
            remaining = 0
        headers = [("x-rate-limit-limit", str(limit)),
                   ("x-rate-limit-remaining", str(max(0, remaining))),
                   ("x-rate-limit-reset", str(int(reset)))]
        e["over_budget"] = over
        e["forced"] = forced
        e["reset"] = int(reset)
        return headers, over or forced

    def get_x(self, u, q, e):
        st = self.state
        endpoint = "search" if u.path == "/2/tweets/search/recent" else "mentions"
        headers, limited = self.x_rate(endpoint, e)
        if limited:
            return self.answer(429, {"title": "Too Many Requests", "type": "about:blank",
                                     "status": 429, "detail": "Too Many Requests"}, headers, e)
        if not self.authorised():
            return self.answer(401, {"title": "Unauthorized", "type": "about:blank",
                                     "status": 401, "detail": "Unauthorized"}, headers, e)
        if endpoint == "mentions" and u.path != "/2/users/%s/mentions" % st.user_id:
            return self.answer(404, {"title": "Not Found Error", "type": "about:blank",
                                     "status": 404, "detail": "Not Found"}, headers, e)
        since = int(q.get("since_id", ["0"])[0])
        word = q.get("query", [""])[0].strip('"').lower()
        with st.lock:
            rows = sorted([t for t in st.mentions if int(t["id"]) > since and
                           (endpoint == "mentions" or word in t["text"].lower())],
                          key=lambda t: -int(t["id"]))
        # the token names the next post (as X's, it stays valid while new posts arrive)
        tok = q.get("pagination_token" if endpoint == "mentions" else "next_token")
        if tok:
            gen, _, at = unb64(tok[0]).partition(":")
            if int(gen) != st.token_generation:
                name = "pagination_token" if endpoint == "mentions" else "next_token"
                return self.answer(400, {
                    "errors": [{"parameters": {name: [tok[0]]},
                                "message": "The `%s` query parameter value [%s] is not "
                                           "valid" % (name, tok[0])}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request"},
                    headers, e)
            rows = [t for t in rows if int(t["id"]) <= int(at)]
        size = min(st.page_size, int(q.get("max_results", ["10"])[0]))
        chunk, more = rows[:size], size < len(rows)
        if not chunk:
            return self.answer(200, {"meta": {"result_count": 0}}, headers, e)
        users = [st.users[t["author_id"]] for t in chunk if t["author_id"] in st.users]
        meta = {"newest_id": chunk[0]["id"], "oldest_id": chunk[-1]["id"],
                "result_count": len(chunk)}
        if more:
            meta["next_token"] = b64("%d:%s" % (st.token_generation, rows[size]["id"]))
        self.answer(200, {"data": [x_text(t) for t in chunk], "includes": {"users": users},
                          "meta": meta}, headers, e)

    def post_x(self, u, b, e):
        st = self.state
        if not self.authorised():
            return self.answer(401, {"title": "Unauthorized", "type": "about:blank",
                                     "status": 401, "detail": "Unauthorized"}, (), e)
        if u.path != "/2/tweets" or not isinstance(b, dict) or not b.get("text"):
            return self.answer(400, {"title": "Invalid Request", "type": "about:blank",
                                     "status": 400, "detail": "bad request"}, (), e)
        e["accepted"] = True
        with st.lock:
            drop = st.drop_reply > 0
            st.drop_reply -= 1 if drop else 0
        if drop:
            e["forced"] = True
            e["status"] = None
            st.write(e)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.answer(201, {"data": {"id": str(st.next_id()), "text": b["text"]}}, (), e)

    # ---- mastodon ----

    def get_mastodon(self, u, q, e):
        st = self.state
        limit, remaining, reset, over = st.spend("notifications")
        with st.lock:
            forced = st.force_429 > 0
            st.force_429 -= 1 if forced else 0
        headers = [("X-RateLimit-Limit", str(limit)),
                   ("X-RateLimit-Remaining", str(max(0, remaining))),
                   ("X-RateLimit-Reset", iso(reset))]
        e["over_budget"], e["forced"] = over, forced
        if over or forced:
            return self.answer(429, {"error": "Too many requests"}, headers, e)
        if not self.authorised():
            return self.answer(401, {"error": "The access token is invalid"}, headers, e)
        if u.path != "/api/v1/notifications":
            return self.answer(404, {"error": "Record not found"}, headers, e)
        types = q.get("types[]", [])
        size = min(st.page_size, int(q.get("limit", ["40"])[0]))
        with st.lock:
            rows = sorted([n for n in st.notifications if not types or n["type"] in types],
                          key=lambda n: int(n["id"]))
        if "min_id" in q:
            lo = int(q["min_id"][0])
            chunk = [n for n in rows if int(n["id"]) > lo][:size]
        else:
            hi = int(q["max_id"][0]) if "max_id" in q else None
            chunk = [n for n in rows if hi is None or int(n["id"]) < hi][-size:]
        chunk = list(reversed(chunk))
        if chunk:
            link = "%s%s" % (self.base(), u.path)
            headers.append(("Link", '<%s?max_id=%s>; rel="next", <%s?min_id=%s>; rel="prev"'
                            % (link, chunk[-1]["id"], link, chunk[0]["id"])))
        self.answer(200, chunk, headers, e)

    def post_mastodon(self, u, b, e):
        st = self.state
        if not self.authorised():
            return self.answer(401, {"error": "The access token is invalid"}, (), e)
        if u.path != "/api/v1/statuses" or not isinstance(b, dict) or not b.get("status"):
            return self.answer(422, {"error": "Validation failed: Text can't be blank"}, (), e)
        key = self.headers.get("Idempotency-Key")
        with st.lock:
            old = st.statuses.get(key) if key else None
            fail = st.fail_reply > 0
            st.fail_reply -= 1 if fail else 0
        if fail:
            e["forced"] = True
            return self.answer(503, {"error": "Service unavailable"}, (), e)
        if old:
            e["replay"] = True
            return self.answer(200, old, (), e)
        status = {"id": str(st.next_id()), "content": "<p>%s</p>" % b["status"],
                  "in_reply_to_id": b.get("in_reply_to_id"),
                  "visibility": b.get("visibility", "public")}
        with st.lock:
            if key:
                st.statuses[key] = status
            drop = st.drop_reply > 0
            st.drop_reply -= 1 if drop else 0
        e["accepted"] = True
        if drop:
            e["forced"] = True
            e["status"] = None
            st.write(e)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.answer(200, status, (), e)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--api", choices=["facebook", "x", "mastodon"], required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--data")
    ap.add_argument("--token", default="secret-token")
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--rate-limit", type=int, default=1000)
    ap.add_argument("--rate-window", type=float, default=900)
    ap.add_argument("--page-id", default="1234567890")
    ap.add_argument("--user-id", default="2244994945")
    ap.add_argument("--watch-stdin", action="store_true")
    args = ap.parse_args()
    Handler.state = State(args)
    if args.data:
        with open(args.data) as f:
            Handler.state.add(json.load(f))
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print("PORT %d" % srv.server_address[1], flush=True)
    if args.watch_stdin:
        def watch():
            sys.stdin.read()
            srv.shutdown()
        threading.Thread(target=watch, daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
