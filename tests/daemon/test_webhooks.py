"""Webhook sources end to end: the real daemon on a loopback port, one webhook source per
format (generic hub-sha256, generic standard-webhooks, meta, intercom), a jsonl sink and
an http sink to the CRM stand-in. Every status (200, duplicate 200, 401, 413 with a length
and chunked, 415, 400, 503 with Retry-After), the Meta GET handshake, replays, a slow
client cut off, 20 parallel signed POSTs landing through group commit, and logs without
bodies or secrets.

usage: test_webhooks.py INTAKE_BINARY [unittest args]
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import unittest

from harness import Crm, Gateway, free_port, http_sink

INTAKE = None
SECRET = "Quasar-Walnut-4417"          # generic hub-sha256 secret: never in a log
APP_SECRET = "Meta-Appsecret-9921"     # meta app secret
ICOM_SECRET = "Intercom-Client-5550"
SW_KEY = b"standard-webhooks-key-0123456789"
SW_SECRET = "whsec_" + base64.b64encode(SW_KEY).decode()
VERIFY = "Verify-Token-3141"
MARKER = "Zebra-Marmalade-6060"        # body text that must never reach a log



def hub(secret, body, algo=hashlib.sha256, prefix="sha256="):
    return prefix + hmac.new(secret.encode(), body, algo).hexdigest()


def standard(body, msg_id, ts=None):
    ts = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(SW_KEY, ("%s.%s." % (msg_id, ts)).encode() + body, hashlib.sha256)
    return {"webhook-id": msg_id, "webhook-timestamp": ts,
            "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode()}


def config(port, crm_url):
    return """
[spool]
path = spool.db

[http]
listen = 127.0.0.1:%d
connection_timeout = 2
per_ip_limit = 64

[log]
level = debug

[source "chat"]
type = webhook
path = /hooks/chat
secret = %s
max_body = 4096

[source "sw"]
type = webhook
path = /hooks/sw
signature = standard-webhooks
secret = %s

[source "fb"]
type = webhook
path = /hooks/fb
format = meta
secret = %s
verify_token = %s

[source "icom"]
type = webhook
path = /hooks/icom
format = intercom
secret = %s

[sink "audit"]
type = jsonl
path = records.jsonl
%s
""" % (port, SECRET, SW_SECRET, APP_SECRET, VERIFY, ICOM_SECRET,
       http_sink(crm_url + "/cases") if crm_url else "")


class Webhooks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.crm_dir = tempfile.TemporaryDirectory(prefix="intake-crm-")
        cls.crm = Crm(cls.crm_dir.name)
        cls.port = free_port()
        cls.gw = Gateway(INTAKE, config(cls.port, cls.crm.url))
        cls.gw.start()
        cls.gw.wait_for(lambda: cls.gw.events("http_started"), what="the server")

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()
        cls.crm.stop()
        cls.crm_dir.cleanup()

    def post(self, path, body, headers=None, ctype="application/json"):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        h = {"Content-Type": ctype} if ctype else {}
        h.update(headers or {})
        c.request("POST", path, body=body, headers=h)
        r = c.getresponse()
        out = (r.status, r.read().decode(), r.getheader("Retry-After"))
        c.close()
        return out

    def chat(self, obj, **kw):
        body = json.dumps(obj).encode()
        return self.post("/hooks/chat", body, {"X-Signature-256": hub(SECRET, body)}, **kw)

    def items(self, source):
        with sqlite3.connect(self.gw.path("spool.db"), timeout=30) as db:
            rows = db.execute("SELECT source_id, item_json FROM items WHERE source=?",
                              (source,)).fetchall()
        return {sid: json.loads(js) for sid, js in rows}

    # ---- statuses ----

    def test_generic_stored_then_duplicate(self):
        msg = {"id": "g-1", "text": "The bathroom ceiling leaks " + MARKER,
               "author": {"name": "Pat Doe", "email": "pat@example.org"},
               "conversation_id": "conv-9", "created_at": "2026-11-20T10:00:00Z"}
        status, text, _ = self.chat(msg)
        self.assertEqual(status, 200, text)
        self.assertEqual(json.loads(text), {"stored": 1, "duplicates": 0})
        self.assertEqual(self.chat(msg)[:2], (200, '{"stored":0,"duplicates":1}\n'))
        it = self.items("chat")["g-1"]
        self.assertEqual(it["channel"], "webchat")
        self.assertEqual(it["from"]["address"], "pat@example.org")
        self.assertEqual(it["thread"]["conversation_id"], "conv-9")
        self.assertEqual(it["received_at"], "2026-11-20T10:00:00.000Z")

    def test_bad_or_missing_signature_is_401(self):
        body = json.dumps({"id": "g-2", "text": "x"}).encode()
        self.assertEqual(self.post("/hooks/chat", body)[0], 401)
        bad = hub(SECRET + "x", body)
        self.assertEqual(self.post("/hooks/chat", body, {"X-Signature-256": bad})[0], 401)
        good = hub(SECRET, body)
        self.assertEqual(self.post("/hooks/chat", body + b" ", {"X-Signature-256": good})[0],
                         401)
        self.assertNotIn("g-2", self.items("chat"))

    def test_wrong_content_type_is_415(self):
        body = json.dumps({"id": "g-3", "text": "x"}).encode()
        sig = {"X-Signature-256": hub(SECRET, body)}
        self.assertEqual(self.post("/hooks/chat", body, sig, ctype="text/plain")[0], 415)
        self.assertEqual(self.post("/hooks/chat", body, sig, ctype=None)[0], 415)
        self.assertEqual(self.post("/hooks/chat", body, sig,
                                   ctype="application/json; charset=utf-8")[0], 200)

    def test_malformed_is_400_with_a_reason(self):
        for body, reason in [(b"{not json", "malformed JSON"),
                             (json.dumps({"text": "no id"}).encode(), "missing id"),
                             (json.dumps({"id": "g-4"}).encode(), "missing text")]:
            status, text, _ = self.post("/hooks/chat", body,
                                        {"X-Signature-256": hub(SECRET, body)})
            self.assertEqual((status, text.strip()), (400, reason))

    def test_over_max_body_is_413(self):
        body = json.dumps({"id": "big", "text": "x" * 5000}).encode()
        sig = {"X-Signature-256": hub(SECRET, body)}
        self.assertEqual(self.post("/hooks/chat", body, sig)[0], 413)
        # chunked: no Content-Length, counted as it arrives
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        c.putrequest("POST", "/hooks/chat")
        c.putheader("Content-Type", "application/json")
        c.putheader("Transfer-Encoding", "chunked")
        c.putheader("X-Signature-256", sig["X-Signature-256"])
        c.endheaders()
        for i in range(0, len(body), 1000):
            part = body[i:i + 1000]
            c.send(b"%x\r\n%s\r\n" % (len(part), part))
        c.send(b"0\r\n\r\n")
        self.assertEqual(c.getresponse().status, 413)
        c.close()
        self.assertNotIn("big", self.items("chat"))

    def test_spool_locked_is_503_with_retry_after(self):
        db = sqlite3.connect(self.gw.path("spool.db"), isolation_level=None, timeout=30)
        db.execute("BEGIN IMMEDIATE")
        try:
            status, _, retry = self.chat({"id": "g-5", "text": "locked out"})
        finally:
            db.execute("ROLLBACK")
            db.close()
        self.assertEqual(status, 503)
        self.assertEqual(retry, "5")
        self.assertEqual(self.chat({"id": "g-5", "text": "locked out"})[0], 200)

    # ---- standard webhooks ----

    def test_standard_webhooks(self):
        body = json.dumps({"text": "Heating off since Monday"}).encode()
        h = standard(body, "msg_1")
        self.assertEqual(self.post("/hooks/sw", body, h)[0], 200)
        self.assertEqual(self.post("/hooks/sw", body, h)[:2],
                         (200, '{"stored":0,"duplicates":1}\n'))   # a replay
        self.assertIn("msg_1", self.items("sw"))  # webhook-id stands in for the id
        stale = standard(body, "msg_2", ts=int(time.time()) - 301)
        status, text, _ = self.post("/hooks/sw", body, stale)
        self.assertEqual((status, text.strip()), (401, "timestamp outside the tolerance"))
        future = standard(body, "msg_3", ts=int(time.time()) + 400)
        self.assertEqual(self.post("/hooks/sw", body, future)[0], 401)
        forged = dict(h, **{"webhook-id": "msg_4"})
        self.assertEqual(self.post("/hooks/sw", body, forged)[0], 401)
        self.assertEqual(self.post("/hooks/sw", body, {})[0], 401)

    # ---- meta ----

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        c.request("GET", path)
        r = c.getresponse()
        out = (r.status, r.read().decode())
        c.close()
        return out

    def test_meta_handshake(self):
        ok = "/hooks/fb?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=" + VERIFY
        self.assertEqual(self.get(ok), (200, "1158201444"))
        self.assertEqual(self.get(ok.replace(VERIFY, "wrong"))[0], 403)
        self.assertEqual(self.get(ok.replace("subscribe", "other"))[0], 403)
        self.assertEqual(self.get("/hooks/fb")[0], 403)
        self.assertEqual(self.get("/hooks/chat")[0], 405)  # no GET on other formats

    def meta(self, obj):
        body = json.dumps(obj).encode()
        return self.post("/hooks/fb", body, {"X-Hub-Signature-256": hub(APP_SECRET, body)})

    def test_meta_events(self):
        def comment(cid, frm, msg, verb="add"):
            return {"field": "feed", "value": {
                "item": "comment", "verb": verb, "comment_id": cid, "post_id": "PG_1",
                "parent_id": "PG_1", "from": {"id": frm, "name": "Jane Roe"},
                "message": msg, "created_time": 1511951015}}
        event = {"object": "page", "entry": [
            {"id": "PG", "time": 1511951015, "changes": [
                comment("PG_1_c1", "77", "Still no repair to the roof"),
                comment("PG_1_c2", "PG", "Sorry to hear this, please DM us")]},
            {"id": "PG", "time": 1458692752478, "messaging": [
                {"sender": {"id": "PSID9"}, "recipient": {"id": "PG"},
                 "timestamp": 1458692752478, "message": {"mid": "m_1", "text": "hello"}},
                {"sender": {"id": "PG"}, "recipient": {"id": "PSID9"},
                 "timestamp": 1458692752479,
                 "message": {"mid": "m_2", "text": "echo", "is_echo": True}}]}]}
        self.assertEqual(self.meta(event)[:2], (200, '{"stored":2,"duplicates":0}\n'))
        self.assertEqual(self.meta(event)[:2], (200, '{"stored":0,"duplicates":2}\n'))
        got = self.items("fb")
        self.assertEqual(set(got), {"PG_1_c1", "m_1"})
        self.assertTrue(got["PG_1_c1"]["public"])
        self.assertFalse(got["m_1"]["public"])
        self.assertEqual(got["m_1"]["channel"], "facebook")
        edit = {"object": "page", "entry": [{"id": "PG", "time": 1511951099, "changes": [
            comment("PG_1_c1", "77", "Still no repair to the roof!!", "edited")]}]}
        self.assertEqual(self.meta(edit)[0], 200)
        edits = [k for k in self.items("fb") if k.startswith("PG_1_c1#edit-")]
        self.assertEqual(len(edits), 1)
        self.assertEqual(self.items("fb")[edits[0]]["thread"]["edit_of"], "PG_1_c1")
        body = json.dumps(event).encode()
        self.assertEqual(self.post("/hooks/fb", body,
                                   {"X-Hub-Signature-256": hub(SECRET, body)})[0], 401)

    # ---- intercom ----

    def test_intercom(self):
        def send(obj):
            body = json.dumps(obj).encode()
            return self.post("/hooks/icom", body, {"X-Hub-Signature": hub(
                ICOM_SECRET, body, hashlib.sha1, "sha1=")})
        self.assertEqual(send({"type": "notification_event", "topic": "ping", "id": "n0",
                               "data": {"item": {"message": "ping"}}})[0], 200)
        note = {"type": "notification_event", "topic": "conversation.user.created",
                "id": "notif_1", "created_at": 1700000000, "data": {"item": {
                    "type": "conversation", "id": "5551",
                    "source": {"body": "<p>The lift is <b>broken</b> &amp; stuck</p>",
                               "author": {"id": "u1", "name": "Ali", "email": "a@example.org"}}}}}
        self.assertEqual(send(note)[:2], (200, '{"stored":1,"duplicates":0}\n'))
        self.assertEqual(send(note)[:2], (200, '{"stored":0,"duplicates":1}\n'))
        self.assertEqual(self.items("icom")["notif_1"]["body"], "The lift is broken & stuck")
        self.assertEqual(self.post("/hooks/icom", json.dumps(note).encode(),
                                   {"X-Hub-Signature": "sha1=00"})[0], 401)

    # ---- protection, throughput, delivery, logs ----

    def test_slow_client_is_cut_off(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        start = time.time()
        closed = False
        try:
            s.sendall(b"POST /hooks/chat HTTP/1.1\r\nHost: x\r\n")
            for _ in range(20):  # a header byte every 0.3 s: never idle, never done
                s.sendall(b"X")
                time.sleep(0.3)
        except OSError:
            closed = True
        if not closed:
            s.settimeout(5)
            try:
                closed = s.recv(100) == b""
            except OSError:
                closed = True
        s.close()
        self.assertTrue(closed)
        self.assertLess(time.time() - start, 8)

    def test_parallel_posts_all_land(self):
        results = []

        def one(i):
            results.append(self.chat({"id": "par-%d" % i, "text": "parallel %d" % i})[0])
        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 20)
        got = self.items("chat")
        self.assertEqual(sum(1 for k in got if k.startswith("par-")), 20)

    def test_delivered_to_the_crm(self):
        self.assertEqual(self.chat({"id": "crm-1", "text": "I want to complain about the "
                                    "repairs service"})[0], 200)

        def arrived():
            return any(r["body"] and r["body"].get("source_id") == "crm-1"
                       for r in self.crm.cases())
        self.gw.wait_for(arrived, what="delivery to the CRM")

    def test_zz_logs_hold_no_body_or_secret(self):
        self.assertEqual(self.chat({"id": "log-1", "text": MARKER})[0], 200)
        body = json.dumps({"id": "log-2", "text": MARKER}).encode()
        self.post("/hooks/chat", body, {"X-Signature-256": "sha256=" + "0" * 64})
        with open(self.gw.stderr_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        self.assertIn("webhook_refused", log)
        for s in [MARKER, SECRET, APP_SECRET, ICOM_SECRET, SW_SECRET, VERIFY,
                  "pat@example.org", "Pat Doe", "0" * 64]:
            self.assertNotIn(s, log)


class ConfigCheck(unittest.TestCase):
    def test_webhook_needs_the_http_server(self):
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "intake.ini")
            with open(path, "w") as f:
                f.write("[spool]\npath = spool.db\n[http]\nenabled = no\n"
                        '[source "chat"]\ntype = webhook\npath = /h\nsecret = s\n')
            r = subprocess.run([INTAKE, "config", "check", "--config", path],
                               capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("[http]", r.stdout + r.stderr)


if __name__ == "__main__":
    INTAKE = os.path.abspath(sys.argv.pop(1))
    unittest.main()
