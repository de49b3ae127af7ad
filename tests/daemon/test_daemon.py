"""The daemon end to end: `intake submit` exit codes, the drop-folder source, the jsonl and
http sinks against the CRM stand-in (retry, Retry-After, dead letter, operator retry),
SIGHUP rule reloads, graceful stop, and logs without message text.

usage: test_daemon.py INTAKE_BINARY [unittest args]
"""

import json
import os
import shutil
import signal
import sqlite3
import sys
import threading
import time
import unittest

from harness import Crm, Gateway, config, free_port, http_sink, item

INTAKE = None
SECRET = "Xylophone-Quartz-7731"  # a marker that must never reach a log line


class Submit(unittest.TestCase):
    def setUp(self):
        self.gw = Gateway(INTAKE, config(extra='[source "tiny"]\ntype = pipe\nmax_size = 200\n'
                                         '[source "drop"]\ntype = maildir\npath = drop\n'))

    def tearDown(self):
        self.gw.cleanup()

    def test_stored_then_duplicate(self):
        r = self.gw.submit("mta", item("m-1", "The boiler is broken"))
        self.assertEqual(r.returncode, 0, r.stderr)
        rid, what = r.stdout.decode().split()
        self.assertEqual(what, "stored")
        self.assertEqual(rid[14], "7")  # UUIDv7
        r2 = self.gw.submit("mta", item("m-1", "The boiler is broken"))
        self.assertEqual(r2.returncode, 0)
        self.assertEqual(r2.stdout.decode().split(), [rid, "duplicate"])
        n = self.gw.db().execute("SELECT COUNT(*) FROM items").fetchone()[0]
        self.assertEqual(n, 1)

    def test_channel_comes_from_the_source(self):
        it = item("m-2", "hello")
        del it["channel"]
        self.assertEqual(self.gw.submit("mta", it).returncode, 0)
        row = self.gw.db().execute("SELECT channel FROM items").fetchone()
        self.assertEqual(row[0], "email")

    def test_input_that_can_never_be_accepted_is_65(self):
        for raw in [b"not json", b"[1,2]", b'{"id": "x", "channel": "email"}',
                    b'{"id": "", "channel": "email", "body": "x"}',
                    b'{"id": "x", "channel": "email", "body": "x", "received_at": "soon"}',
                    b'{"id": "x", "id": "y", "channel": "email", "body": "x"}']:
            r = self.gw.submit("mta", None, raw=raw)
            self.assertEqual(r.returncode, 65, raw)
            self.assertNotIn(b"Traceback", r.stderr)
        r = self.gw.submit("tiny", item("big", "x" * 500))
        self.assertEqual(r.returncode, 65)
        self.assertIn(b"max_size", r.stderr)
        # an item over 8 MiB is refused for good, not retried
        r = self.gw.submit("mta", item("esc", "\u0001" * (2 << 20)))
        self.assertEqual(r.returncode, 65, r.stderr[-300:])

    def test_error_messages_do_not_quote_the_input(self):
        r = self.gw.submit("mta", None, raw=('{"id": "x", "body": "%s"' % SECRET).encode())
        self.assertEqual(r.returncode, 65)
        self.assertNotIn(SECRET.encode(), r.stderr)

    def test_temporary_failures_are_75(self):
        r = self.gw.submit("nosuch", item("a", "b"))
        self.assertEqual(r.returncode, 75)
        r = self.gw.submit("drop", item("a", "b"))  # not a pipe source
        self.assertEqual(r.returncode, 75)
        # the spool is locked by another writer for longer than the busy timeout
        self.assertEqual(self.gw.submit("mta", item("first", "x")).returncode, 0)
        db = sqlite3.connect(self.gw.path("spool.db"), isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        try:
            r = self.gw.submit("mta", item("locked", "x"))
        finally:
            db.execute("ROLLBACK")
            db.close()
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn(b"temporary", r.stderr)
        self.assertEqual(self.gw.submit("mta", item("locked", "x")).returncode, 0)

    def test_unwritable_spool_is_75(self):
        os.mkdir(self.gw.path("spool.db"))  # a folder where the database should be
        self.assertEqual(self.gw.submit("mta", item("a", "b")).returncode, 75)

    def test_usage(self):
        import subprocess
        r = subprocess.run([INTAKE, "submit", "--config", self.gw.config], capture_output=True)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([INTAKE, "submit", "--help"], capture_output=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"75", r.stdout)


DROP_CONFIG = config(
    sources='[source "drop"]\ntype = maildir\npath = drop\npoll_interval = 1\n',
    sinks='[sink "audit"]\ntype = jsonl\npath = records.jsonl\n')


class DropFolderToJsonl(unittest.TestCase):
    def setUp(self):
        self.gw = Gateway(INTAKE, DROP_CONFIG)
        os.mkdir(self.gw.path("drop"))

    def tearDown(self):
        self.gw.cleanup()

    def drop(self, name, obj=None, raw=None):
        with open(self.gw.path("drop", name), "wb") as f:
            f.write(raw if raw is not None else json.dumps(obj).encode())

    def test_until_idle_delivers_everything(self):
        self.drop("a.json", item("a", "I want to make a formal complaint about the damp "
                                 "and mould in my bedroom, nobody has come back to me."))
        self.drop("b.json", item("b", "Could you send someone to fix my kitchen tap please? "
                                 "It is dripping."))
        self.drop("noid.json", {"channel": "webchat", "body": "Thank you, the repair team "
                                "were brilliant."})
        self.drop("bad.json", raw=b"{broken")
        self.drop("ignored.txt", raw=b"not an item")
        self.gw.start("--until-idle")
        out, _ = self.gw.proc.communicate(timeout=60)
        self.assertEqual(self.gw.proc.returncode, 0)
        self.gw.stop()
        with open(self.gw.path("records.jsonl")) as f:
            recs = {r["source_id"]: r for r in map(json.loads, f)}
        self.assertEqual(set(recs), {"a", "b", "noid.json"})
        a = recs["a"]
        self.assertEqual(a["schema"], "intake.record/1")
        self.assertEqual(a["category"], "complaint")
        self.assertIn("damp_mould", a["flags"])
        self.assertTrue(a["deadlines"]["acknowledge_by"] and a["deadlines"]["respond_by"])
        self.assertEqual(a["source"], "drop")
        self.assertEqual(a["author"]["email"], "resident@example.org")
        self.assertEqual(recs["b"]["category"], "service_request")
        self.assertIsNone(recs["b"]["deadlines"]["acknowledge_by"])
        self.assertEqual(recs["noid.json"]["category"], "compliment")
        self.assertEqual(sorted(os.listdir(self.gw.path("drop", "done"))),
                         ["a.json", "b.json", "noid.json"])
        self.assertEqual(os.listdir(self.gw.path("drop", "failed")), ["bad.json"])
        self.assertTrue(os.path.exists(self.gw.path("drop", "ignored.txt")))
        text = out.decode()
        self.assertIn("complaint", text)
        self.assertIn("audit:done", text)
        self.assertEqual(len(self.gw.events("file_rejected")), 1)

    def test_hostile_files_do_not_stall_the_folder(self):
        os.mkfifo(self.gw.path("drop", "a-fifo.json"))
        os.symlink("/etc/passwd", self.gw.path("drop", "b-link.json"))
        with open(self.gw.path("drop", "c-huge.json"), "w") as f:  # over max_size
            f.write('{"id": "huge", "channel": "email", "body": "%s"}' % ("x" * (9 << 20)))
        self.drop("d-good.json", item("good", "Please can someone fix the fence."))
        self.gw.start("--until-idle")
        self.gw.proc.communicate(timeout=60)
        self.assertEqual(self.gw.stop(), 0)
        with open(self.gw.path("records.jsonl")) as f:
            self.assertEqual([json.loads(l)["source_id"] for l in f], ["good"])
        self.assertEqual(sorted(os.listdir(self.gw.path("drop", "failed"))),
                         ["a-fifo.json", "b-link.json", "c-huge.json"])
        for e in self.gw.events("file_rejected"):
            self.assertNotIn("file", e)  # writers choose names: they stay out of logs

    def test_one_daemon_per_spool(self):
        first = self.gw.start()
        self.gw.wait_for(lambda: self.gw.events("started"), what="start")
        import subprocess
        second = subprocess.run([INTAKE, "run", "--config", self.gw.config],
                                capture_output=True, timeout=30)
        self.assertEqual(second.returncode, 1)
        self.assertIn(b"another intake run is using this spool", second.stderr)
        self.assertIsNone(first.poll())
        self.assertEqual(self.gw.stop(), 0)

    def test_maildir_layout_moves_to_cur(self):
        for sub in ("new", "cur", "tmp"):
            os.makedirs(self.gw.path("drop", sub))
        with open(self.gw.path("drop", "new", "1700000000.M1P1.host"), "w") as f:
            json.dump({"channel": "email", "body": "My rent account is wrong."}, f)
        self.gw.start("--until-idle")
        self.gw.proc.communicate(timeout=60)
        self.gw.stop()
        self.assertEqual(os.listdir(self.gw.path("drop", "cur")),
                         ["1700000000.M1P1.host:2,S"])
        self.assertEqual(os.listdir(self.gw.path("drop", "new")), [])


class Redaction(unittest.TestCase):
    """Public posts reach the case system redacted; private mail as written."""

    def tearDown(self):
        self.gw.cleanup()

    def run_items(self, privacy=""):
        cfg = config(sinks='[sink "audit"]\ntype = jsonl\npath = records.jsonl\n',
                     extra=privacy)
        self.gw = Gateway(INTAKE, cfg)
        body = "Still no hot water. Ring me on 07700 900461 or email jo.bloggs@example.org"
        self.gw.submit("mta", item("pub", body, public=True, channel="facebook"))
        self.gw.submit("mta", item("priv", body))
        self.gw.start("--until-idle")
        self.gw.proc.communicate(timeout=60)
        self.gw.stop()
        with open(self.gw.path("records.jsonl")) as f:
            return {r["source_id"]: r for r in map(json.loads, f)}, body

    def test_public_items_are_redacted_by_default(self):
        recs, body = self.run_items()
        pub, priv = recs["pub"], recs["priv"]
        self.assertNotIn("07700 900461", pub["text"])
        self.assertNotIn("jo.bloggs@example.org", pub["text"])
        self.assertIn("[PHONE]", pub["text"])
        self.assertIn("[EMAIL]", pub["text"])
        types = sorted(r["type"] for r in pub["redactions"])
        self.assertEqual(types, ["email", "phone"])
        raw = body.encode()
        for r in pub["redactions"]:  # byte offsets into the original body
            span = raw[r["start"]:r["end"]].decode()
            self.assertIn(span, ("07700 900461", "jo.bloggs@example.org"))
        self.assertNotIn("original_text", pub)
        self.assertEqual(priv["text"], body)
        self.assertEqual(priv["redactions"], [])

    def test_keep_original_and_redact_all(self):
        recs, body = self.run_items("[privacy]\nredact = all\nkeep_original = yes\n")
        for r in recs.values():
            self.assertIn("[PHONE]", r["text"])
            self.assertEqual(r["original_text"], body)


class HttpSink(unittest.TestCase):
    def setUp(self):
        self.crm = Crm(self._tmp(), "--token", "s3cret")

    def _tmp(self):
        import tempfile
        self.tmpdir = tempfile.mkdtemp(prefix="intake-crm-")
        return self.tmpdir

    def tearDown(self):
        self.gw.cleanup()
        self.crm.stop()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def gateway(self, **keys):
        keys.setdefault("token", "${CRM_TOKEN}")
        os.environ["CRM_TOKEN"] = "s3cret"
        self.gw = Gateway(INTAKE, config(sinks=http_sink(self.crm.url + "/api/v2/tickets",
                                                         **keys)))
        return self.gw

    def wait_delivery(self, state, n=1):
        def ok():
            return self.gw.db().execute("SELECT COUNT(*) FROM deliveries WHERE state=?",
                                        (state,)).fetchone()[0] >= n
        self.gw.wait_for(ok, what="%d deliveries %s" % (n, state))

    def test_retry_then_delivered_once_with_the_same_key(self):
        gw = self.gateway(case_id_pointer="/ticket/id")
        self.crm.control(next=["503", "drop", "429"])
        self.assertEqual(gw.submit("mta", item("r-1", "My heating has stopped")).returncode, 0)
        gw.start()
        self.wait_delivery("done")
        gw.stop()
        reqs = self.crm.requests()
        self.assertEqual([r["status"] for r in reqs], [503, None, 429, 201])
        keys = {r["idempotency_key"] for r in reqs}
        self.assertEqual(len(keys), 1)
        self.assertEqual(reqs[-1]["authorization"], "yes")
        self.assertEqual(reqs[-1]["body"]["source_id"], "r-1")
        row = gw.db().execute("SELECT case_id, attempts, status FROM deliveries").fetchone()
        # libcurl itself retries once when a reused connection is dropped, so the drop and
        # the 429 may be one attempt
        self.assertIn(row[1], (3, 4))
        self.assertEqual(row[2], 201)
        self.assertTrue(row[0] and row[0].isdigit(), row[0])  # /ticket/id of the answer
        retries = gw.events("delivery_retry")
        self.assertEqual(len(retries), row[1] - 1)

    def test_retry_after_is_honoured(self):
        gw = self.gateway()
        self.crm.control(next=["429"], retry_after="3")
        gw.submit("mta", item("ra-1", "Please fix the door"))
        gw.start()
        self.wait_delivery("done")
        gw.stop()
        reqs = self.crm.requests()
        self.assertEqual([r["status"] for r in reqs], [429, 201])
        times = [e["ts"] for e in gw.events("delivery_retry")] + \
                [e["ts"] for e in gw.events("delivered")]
        gap = _seconds(times[1]) - _seconds(times[0])
        self.assertGreaterEqual(gap, 2.9)

    def test_client_error_is_a_dead_letter_until_an_operator_retries(self):
        gw = self.gateway()
        self.crm.control(mode="400")
        gw.submit("mta", item("d-1", "There is a leak " + SECRET))
        gw.start()
        self.wait_delivery("dead")
        r = gw.spool("list", "--state", "dead")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("crm:dead", r.stdout)
        rid = r.stdout.split("\n")[1].split()[0]
        shown = gw.spool("show", rid)
        self.assertIn("400", shown.stdout)
        self.assertNotIn(SECRET, shown.stdout)
        self.crm.control(mode="ok")
        r = gw.spool("retry", "--all-dead")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_delivery("done")
        gw.stop()
        self.assertEqual(len(self.crm.cases()), 1)
        with open(gw.stderr_path, "rb") as f:
            logs = f.read()
        self.assertNotIn(SECRET.encode(), logs)
        self.assertNotIn(b"resident@example.org", logs)
        self.assertNotIn(b"s3cret", logs)

    def test_wrong_token_is_dead(self):
        gw = self.gateway(token="wrong")
        gw.submit("mta", item("t-1", "Hello"))
        gw.start()
        self.wait_delivery("dead")
        gw.stop()
        row = gw.db().execute("SELECT status, last_error FROM deliveries").fetchone()
        self.assertEqual(row[0], 401)

    def test_max_attempts_then_dead(self):
        gw = self.gateway(max_attempts="2")
        self.crm.control(mode="503")
        gw.submit("mta", item("x-1", "Hello"))
        gw.start()
        self.wait_delivery("dead")
        gw.stop()
        row = gw.db().execute("SELECT attempts, last_error FROM deliveries").fetchone()
        self.assertEqual(row[0], 2)



class Monitor(unittest.TestCase):
    """/healthz, /readyz and /metrics on the running daemon, over real HTTP."""

    def tearDown(self):
        self.gw.cleanup()

    def get(self, path):
        import urllib.error
        import urllib.request
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path),
                                        timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def test_health_readiness_and_metrics(self):
        self.port = free_port()
        cfg = config(sinks='[sink "audit"]\ntype = jsonl\npath = records.jsonl\n')
        cfg = cfg.replace("enabled = no", "listen = 127.0.0.1:%d" % self.port)
        self.gw = Gateway(INTAKE, cfg)
        self.gw.submit("mta", item("m-1", "I wish to complain: the damp and mould is back "
                                   "and no one has called me. " + SECRET))
        self.gw.start()
        self.gw.wait_for(lambda: self.gw.events("delivered"), what="delivery")
        self.assertEqual(self.get("/healthz"), (200, "ok\n"))
        status, body = self.get("/readyz")
        self.assertEqual(status, 200)
        ready = json.loads(body)
        self.assertTrue(ready["ready"])
        self.assertEqual({s["name"] for s in ready["sources"]}, {"mta"})
        self.assertEqual({s["name"] for s in ready["sinks"]}, {"audit"})
        status, text = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertIn('intake_spool_items{source="mta",channel="email"} 1', text)
        self.assertIn('intake_spool_records{category="complaint"} 1', text)
        self.assertIn('intake_spool_deliveries{sink="audit",state="done"} 1', text)
        self.assertNotIn(SECRET, text)
        self.assertNotIn("resident@example.org", text)
        self.assertEqual(self.get("/nope")[0], 404)
        self.assertEqual(self.gw.stop(), 0)

    def test_port_in_use_fails_the_start(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        self.port = s.getsockname()[1]
        cfg = config().replace("enabled = no", "listen = 127.0.0.1:%d" % self.port)
        self.gw = Gateway(INTAKE, cfg)
        self.gw.start()
        self.assertEqual(self.gw.proc.wait(30), 1)
        s.close()
        self.assertTrue(self.gw.events("http_failed"))


def _seconds(ts):
    import datetime
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


class Lifecycle(unittest.TestCase):
    def setUp(self):
        self.rules = None

    def tearDown(self):
        self.gw.cleanup()

    def test_sighup_reload_keeps_old_rules_when_new_ones_are_bad(self):
        import tempfile
        self.tmp = tempfile.TemporaryDirectory(prefix="intake-rules-")
        rules = os.path.join(self.tmp.name, "rules")
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "rules")
        shutil.copytree(src, rules)
        self.gw = Gateway(INTAKE, config(
            sinks='[sink "audit"]\ntype = jsonl\npath = records.jsonl\n',
            extra="[rules]\npath = %s\n" % rules))
        self.gw.start()
        self.gw.wait_for(lambda: self.gw.events("started"), what="start")
        with open(os.path.join(rules, "99-broken.rules"), "w") as f:
            f.write("rule broken\n  pattern (unclosed\n")
        self.gw.proc.send_signal(signal.SIGHUP)
        self.gw.wait_for(lambda: self.gw.events("rules_reload_failed"), what="refusal")
        self.gw.submit("mta", item("h-1", "I want to complain about the repairs service."))
        self.gw.wait_for(lambda: self.gw.events("delivered"), what="delivery")
        os.remove(os.path.join(rules, "99-broken.rules"))
        self.gw.proc.send_signal(signal.SIGHUP)
        self.gw.wait_for(lambda: self.gw.events("rules_reloaded"), what="reload")
        self.assertEqual(self.gw.stop(), 0)
        self.assertTrue(self.gw.events("stopped"))
        self.tmp.cleanup()

    def refusing_crm(self):
        """A CRM answering 503 (stopped at the test's end), and the gateway run against it
        until one delivery waits for a retry, then stopped with SIGINT."""
        crm_dir = __import__("tempfile").mkdtemp()
        crm = Crm(crm_dir, "--mode", "503")
        self.addCleanup(shutil.rmtree, crm_dir, ignore_errors=True)
        self.addCleanup(crm.stop)
        self.gw = Gateway(INTAKE, config(sinks=http_sink(crm.url)))
        self.gw.submit("mta", item("s-1", "hello"))
        self.gw.start()
        self.gw.wait_for(lambda: self.gw.events("delivery_retry"), what="a retry")
        self.assertEqual(self.gw.stop(signal.SIGINT), 0)
        return crm

    def test_sigterm_leaves_undelivered_work_in_the_spool(self):
        crm = self.refusing_crm()
        row = self.gw.db().execute("SELECT state FROM deliveries").fetchone()
        self.assertEqual(row[0], "pending")
        crm.control(mode="ok")
        self.gw.start()
        self.gw.wait_for(lambda: self.gw.events("delivered"), what="delivery")
        self.gw.stop()
        self.assertEqual(len(crm.cases()), 1)

    def test_until_idle_does_not_wait_for_a_sink_taken_out_of_the_config(self):
        self.refusing_crm()
        # the CRM sink is taken out; the audit file is the only sink now
        with open(self.gw.config, "w") as f:
            f.write(config(sinks='[sink "audit"]\ntype = jsonl\npath = records.jsonl\n'))
        self.gw.submit("mta", item("s-2", "Thank you, the repair team were brilliant."))
        self.gw.start("--until-idle")
        self.gw.proc.communicate(timeout=60)
        self.assertEqual(self.gw.proc.returncode, 0)
        left = self.gw.events("deliveries_left")
        self.assertEqual(len(left), 1)
        self.assertEqual(left[0]["count"], "1")
        rows = dict(self.gw.db().execute("SELECT sink, state FROM deliveries"))
        self.assertEqual(rows, {"crm": "pending", "audit": "done"})

    def test_bad_config_does_not_start(self):
        self.gw = Gateway(INTAKE, "[spool]\npath = spool.db\nbogus = 1\n")
        self.gw.start()
        self.assertEqual(self.gw.proc.wait(30), 1)
        self.gw.stop()
        with open(self.gw.stderr_path, "rb") as f:
            self.assertIn(b"intake.ini:3", f.read())

    def test_retention_purges_delivered_items_and_keeps_dead_letters(self):
        cfg = config(sinks='[sink "audit"]\ntype = jsonl\npath = records.jsonl\n')
        self.gw = Gateway(INTAKE, cfg.replace("path = spool.db",
                                              "path = spool.db\nretention_days = 30"))
        old = "2020-01-06T10:00:00Z"
        self.gw.submit("mta", item("old", "hello", received_at=old))
        self.gw.submit("mta", item("new", "hello"))
        self.gw.start("--until-idle")
        self.gw.proc.communicate(timeout=60)
        self.gw.stop()
        db = self.gw.db()
        db.execute("UPDATE deliveries SET state='dead' WHERE item = (SELECT id FROM items "
                   "WHERE source_id='new')")
        # retention counts from the end of delivery: move it back a year
        db.execute("UPDATE deliveries SET updated_unix = updated_unix - 86400 * 400")
        db.execute("UPDATE records SET created_unix = created_unix - 86400 * 400")
        db.commit()
        self.gw.submit("mta", item("old2", "hello", received_at=old))
        self.gw.start("--until-idle")  # purges at start, then processes old2
        self.gw.proc.communicate(timeout=60)
        self.gw.stop()
        rows = sorted(r[0] for r in self.gw.db().execute("SELECT source_id FROM items"))
        self.assertEqual(rows, ["new", "old2"])  # the dead letter stays; old2 is fresh work
        self.assertTrue(self.gw.events("spool_purged"))
        # a late re-delivery of the purged item is still a duplicate, not a second case
        r = self.gw.submit("mta", item("old", "hello", received_at=old))
        self.assertEqual(r.stdout.decode().split()[1], "duplicate")

    def test_poison_item_is_quarantined_and_the_rest_flow(self):
        self.gw = Gateway(INTAKE, config(sinks='[sink "audit"]\ntype = jsonl\n'
                                         'path = records.jsonl\n'))
        self.gw.submit("mta", item("ok-1", "hello"))
        db = self.gw.db()
        # an item that was claimed three times already (the classifier crashed on it)
        db.execute("UPDATE items SET attempts = 3")
        db.commit()
        self.gw.submit("mta", item("ok-2", "second"))
        self.gw.start()
        self.gw.wait_for(lambda: self.gw.events("delivered"), what="delivery")
        self.gw.stop()
        rows = dict(self.gw.db().execute("SELECT source_id, state FROM items"))
        self.assertEqual(rows, {"ok-1": "quarantined", "ok-2": "processed"})


if __name__ == "__main__":
    INTAKE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
