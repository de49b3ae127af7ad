#!/usr/bin/env python3
"""A case-system (CRM) stand-in for the tests of the http sink.

Standard library only. It answers in the vendors' documented shapes (../../../shared/
apis.md section 5):

  POST /api/v2/tickets          Zendesk: 201 {"ticket": {"id": N, ...}}
  POST /api/now/table/incident  ServiceNow: 201 {"result": {"sys_id", "number": "INC00100nn"}}
  POST anything else            201 {"id": N}

Idempotency like Zendesk: a successful answer is kept per Idempotency-Key; a replay with
the same body gets the first answer again with `x-idempotency-lookup: hit` (a first answer
says `miss`); the same key with another body gets 400 IdempotentRequestError. Only 2xx
answers are kept, so a retry after an injected failure is handled afresh.

Failure modes, set with --mode at start or with POST /_control at run time:
  ok        answer normally
  fail503   503 for a random --fail-rate share of requests, else ok
  503, 500, 502, 504, 408, 401, 403, 404, 409, 422, ...
            that status (any three digits) with an error body in the vendor's shape
  429       429 with Retry-After (default "1")
  400       400 with an error body
  timeout   create the case, then sleep --sleep seconds before answering (the client
            gives up; its retry finds the case through the Idempotency-Key)
  drop      close the connection without answering and without creating anything

POST /_control takes a JSON object with any of:
  {"mode": "503"}            the standing mode
  {"next": ["503", "ok"]}    modes used one per request before the standing mode
  {"fail_rate": 0.3}         share of requests that fail in fail503
  {"retry_after": "..."}     the Retry-After value sent with 429 and 503 ("" for none)
  {"sleep": 5}               seconds that timeout mode waits
  {"reset": true}            forget every Idempotency-Key
It answers 200 {"ok": true}. Control requests are not written to the log.

--token T makes every other request need `Authorization: Bearer T` (401 otherwise).

--log FILE gets one JSON line per request (written and flushed before the answer is
sent): method, path, status (null for drop), mode, idempotency_key, authorization
("yes"/"no"), content_type, x_headers (any X-* request headers), lookup ("hit", "miss" or null), and body (the parsed JSON, or
null). --port 0 picks a free port; the first line on stdout is then "PORT n".
--watch-stdin makes it exit when its stdin reaches end of file, so a test that dies
cannot leave it running.
"""

import argparse
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20


class State:
    """Everything the handlers share, behind one lock."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.mode = args.mode
        self.next = []
        self.fail_rate = args.fail_rate
        self.retry_after = "1"
        self.sleep = args.sleep
        self.token = args.token
        self.counter = 0
        self.keys = {}  # key -> (body hash, status, headers, body bytes)
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None

    def take_mode(self):
        with self.lock:
            mode = self.next.pop(0) if self.next else self.mode
            if mode == "fail503":
                mode = "503" if random.random() < self.fail_rate else "ok"
            return mode

    def new_id(self):
        with self.lock:
            self.counter += 1
            return self.counter

    def write_log(self, entry):
        if self.log is None:
            return
        line = json.dumps(entry, sort_keys=True)
        with self.lock:
            self.log.write(line + "\n")
            self.log.flush()

    def control(self, req):
        modes = ([req["mode"]] if "mode" in req else []) + list(req.get("next", []))
        for m in modes:
            check_mode(str(m))
        with self.lock:
            if "mode" in req:
                self.mode = str(req["mode"])
            if "next" in req:
                self.next = [str(m) for m in req["next"]]
            if "fail_rate" in req:
                self.fail_rate = float(req["fail_rate"])
            if "retry_after" in req:
                self.retry_after = str(req["retry_after"])
            if "sleep" in req:
                self.sleep = float(req["sleep"])
            if req.get("reset"):
                self.keys.clear()


def check_mode(mode):
    """Raises ValueError for a mode crm.py does not know."""
    if mode in ("ok", "fail503", "timeout", "drop"):
        return mode
    if len(mode) == 3 and mode.isdigit() and 100 <= int(mode) <= 599:
        return mode
    raise ValueError("unknown mode %r" % mode)


def vendor(path):
    if path.startswith("/api/v2/tickets"):
        return "zendesk"
    if path.startswith("/api/now/table/incident"):
        return "servicenow"
    return "generic"


def created(path, body, n):
    """The 201 body of a new case."""
    kind = vendor(path)
    if kind == "zendesk":
        ticket = dict(body.get("ticket") or {}) if isinstance(body, dict) else {}
        ticket.update({"id": n, "status": "new"})
        return {"ticket": ticket}
    if kind == "servicenow":
        return {"result": {"sys_id": uuid.uuid4().hex,
                           "number": "INC%07d" % (10000 + n)}}
    return {"id": n}


def error_body(path, status, message, name=None):
    kind = vendor(path)
    if kind == "servicenow":
        return {"error": {"message": message, "detail": "status %d" % status},
                "status": "failure"}
    if kind == "zendesk":
        names = {400: "InvalidRequest", 401: "Couldn't authenticate you",
                 422: "RecordInvalid", 429: "TooManyRequests"}
        return {"error": name or names.get(status, "Error"), "description": message}
    return {"error": message, "status": status}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "crm-standin/1"
    state = None  # set in main

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    def send_json(self, status, obj, headers=()):
        self.send_raw(status, json.dumps(obj).encode(), headers)

    def read_body(self):
        """The raw body, or None after answering 411/413 itself."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.send_json(411, {"error": "Content-Length required"})
            self.close_connection = True
            return None
        if int(length) > MAX_BODY:
            self.send_json(413, {"error": "body too large"})
            self.close_connection = True
            return None
        return self.rfile.read(int(length))

    def do_GET(self):
        self.send_json(405, {"error": "POST only"})

    def do_POST(self):
        raw = self.read_body()
        if raw is None:
            return
        if self.path == "/_control":
            self.handle_control(raw)
            return
        entry = {
            "method": "POST",
            "path": self.path,
            "idempotency_key": self.headers.get("Idempotency-Key"),
            "authorization": "yes" if self.headers.get("Authorization") else "no",
            "content_type": self.headers.get("Content-Type"),
            "x_headers": {k.lower(): v for k, v in self.headers.items()
                          if k.lower().startswith("x-")},
            "lookup": None,
            "mode": None,
            "status": None,
        }
        try:
            entry["body"] = json.loads(raw)
        except ValueError:
            entry["body"] = None
        try:
            self.answer(raw, entry)
        except OSError:
            pass  # the client gave up (timeout mode): nothing to answer

    def handle_control(self, raw):
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise ValueError("not an object")
            self.state.control(req)
        except (ValueError, TypeError) as e:
            self.send_json(400, {"error": str(e)})
            return
        self.send_json(200, {"ok": True})

    def refuse(self, entry, status, message, headers=(), name=None):
        entry["status"] = status
        self.state.write_log(entry)
        self.send_json(status, error_body(self.path, status, message, name), headers)

    def answer(self, raw, entry):
        st = self.state
        if st.token and self.headers.get("Authorization") != "Bearer " + st.token:
            self.refuse(entry, 401, "bad or missing bearer token")
            return
        mode = entry["mode"] = st.take_mode()
        if mode == "drop":
            st.write_log(entry)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode not in ("ok", "timeout"):
            self.fail(entry, mode)
            return
        if entry["body"] is None:
            self.refuse(entry, 400, "body is not JSON")
            return
        if not (entry["content_type"] or "").startswith("application/json"):
            self.refuse(entry, 415, "Content-Type must be application/json")
            return
        self.create(raw, entry, mode)

    def fail(self, entry, mode):
        status = int(mode)
        headers = []
        with self.state.lock:
            retry_after = self.state.retry_after
        if status in (429, 503) and retry_after:
            headers.append(("Retry-After", retry_after))
        self.refuse(entry, status, "injected failure (%s)" % mode, headers)

    def create(self, raw, entry, mode):
        st = self.state
        key = entry["idempotency_key"]
        digest = hashlib.sha256(raw).hexdigest()
        with st.lock:
            kept = st.keys.get(key) if key else None
            if kept is None:
                st.counter += 1
                n = st.counter
        if kept is not None:
            self.replay(entry, kept, digest)
            return
        data = json.dumps(created(self.path, entry["body"], n)).encode()
        if key:
            with st.lock:
                # a racing request with the same key may have stored first: keep that one
                kept = st.keys.setdefault(key, (digest, 201, data))
            if kept[2] is not data:
                self.replay(entry, kept, digest)
                return
        entry["status"] = 201
        entry["lookup"] = "miss" if key else None
        st.write_log(entry)
        if mode == "timeout":
            with st.lock:
                delay = st.sleep
            time.sleep(delay)
        self.send_raw(201, data, [("x-idempotency-lookup", "miss")] if key else [])

    def replay(self, entry, kept, digest):
        if kept[0] != digest:
            self.refuse(entry, 400, "the Idempotency-Key was used with another body",
                        name="IdempotentRequestError")
            return
        entry["status"] = kept[1]
        entry["lookup"] = "hit"
        self.state.write_log(entry)
        self.send_raw(kept[1], kept[2], [("x-idempotency-lookup", "hit")])

    def send_raw(self, status, data, headers):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def watch_stdin():
    """Ends the process once stdin is closed (the test that started it has gone)."""
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


class QuietServer(ThreadingHTTPServer):
    """A client that goes away mid-request (a daemon killed by a test) is normal here."""

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description="CRM stand-in for the http sink tests")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--log", help="JSON Lines log of the requests")
    p.add_argument("--token", help="bearer token to require")
    p.add_argument("--mode", default="ok", type=check_mode, help="ok, fail503, 503, 429, 400, timeout, "
                   "drop, or any three-digit status")
    p.add_argument("--fail-rate", type=float, default=0.3, help="share failing in fail503")
    p.add_argument("--sleep", type=float, default=30.0, help="seconds timeout mode waits")
    p.add_argument("--watch-stdin", action="store_true",
                   help="exit when stdin reaches end of file")
    args = p.parse_args()
    Handler.state = State(args)
    server = QuietServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    if args.watch_stdin:
        threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
