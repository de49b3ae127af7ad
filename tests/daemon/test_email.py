"""E-mail end to end: `intake submit --format eml` (an MTA pipe) of the MIME fixtures into
the spool, then the daemon's records (jsonl sink): subject, sender, thread with the case
reference from the subject or a configured pattern, attachments, automated messages as
category other; the maildir source's Maildir mode through the same parser; broken input
gives exit 65 or a record, never a crash.

usage: test_email.py INTAKE_BINARY [unittest args]
"""

import json
import os
import shutil
import sys
import unittest

from harness import Gateway, config

INTAKE = None
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "mime")


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


class Eml(unittest.TestCase):
    def setUp(self):
        self.gw = None

    def tearDown(self):
        if self.gw:
            self.gw.cleanup()

    def gateway(self, extra=""):
        self.gw = Gateway(INTAKE, config(
            sinks='[sink "audit"]\ntype = jsonl\npath = records.jsonl\n',
            extra='[source "small"]\ntype = pipe\nmax_size = 2000\n' + extra))
        return self.gw

    def submit(self, name, source="mta", raw=None):
        data = raw if raw is not None else fixture(name)
        import subprocess
        return subprocess.run([INTAKE, "submit", "--config", self.gw.config, "--source",
                               source, "--format", "eml"], input=data, capture_output=True,
                              timeout=60)

    def records(self):
        self.gw.start("--until-idle")
        self.gw.proc.communicate(timeout=120)
        self.gw.stop()
        with open(self.gw.path("records.jsonl")) as f:
            return {r["source_id"]: r for r in map(json.loads, f)}

    def test_messages_become_records(self):
        self.gateway()
        for name in ("normal-lf.eml", "outlook-reply.eml", "attachment.eml", "auto-reply.eml",
                     "dsn-bounce.eml", "rfc2047.eml"):
            r = self.submit(name)
            self.assertEqual(r.returncode, 0, (name, r.stderr))
            self.assertTrue(r.stdout.decode().split()[1] == "stored")
        again = self.submit("normal-crlf.eml")  # the same Message-ID: a duplicate
        self.assertEqual(again.returncode, 0)
        self.assertEqual(again.stdout.decode().split()[1], "duplicate")
        recs = self.records()
        self.assertEqual(len(recs), 6)

        normal = recs["normal-1@mail.example.org"]
        self.assertEqual(normal["channel"], "email")
        self.assertEqual(normal["subject"], "Complaint CMP-20481: still no heating")
        self.assertEqual(normal["author"]["email"], "jo.bloggs@example.org")
        self.assertEqual(normal["author"]["name"], "Jo Bloggs")
        self.assertIsNone(normal["automated"])
        self.assertNotEqual(normal["category"], "other")  # a heating complaint
        self.assertEqual(normal["thread"]["message_id"], "<normal-1@mail.example.org>")
        self.assertEqual(normal["thread"]["case_reference"], "CMP-20481")
        self.assertNotIn("automated", normal["rules"])

        reply = recs["DB9PR01MB1234ABCD@DB9PR01MB1234.eurprd01.prod.exchangelabs.com"]
        self.assertEqual(reply["thread"]["in_reply_to"], "<ack-2@example-housing.org.uk>")
        self.assertEqual(reply["thread"]["references"],
                         ["<ack-1@example-housing.org.uk>", "<ack-2@example-housing.org.uk>"])
        self.assertEqual(reply["thread"]["case_reference"], "CAS-0042")  # from the subject
        self.assertTrue(reply["text"].startswith("Thank you. The leak is still there"))

        att = recs["attach-1@mail.example.org"]["attachments"]
        self.assertEqual([(a["name"], a["type"], a["size"]) for a in att],
                         [("bathroom.jpg", "image/jpeg", 3000)])
        self.assertEqual(len(att[0]["sha256"]), 64)

        for sid, reason in (("auto-1@example.org", "auto_submitted"),
                            ("dsn-1@mx.example-housing.org.uk", "delivery_report")):
            rec = recs[sid]
            self.assertEqual(rec["automated"], reason)
            self.assertEqual(rec["category"], "other")
            self.assertIn("automated", rec["rules"])

        self.assertEqual(recs["rfc2047-1@mail.example.org"]["subject"],
                         "\u00a350 charge for a r\u00e9pair not done")

    def test_configured_case_reference(self):
        self.gateway(extra="[rules]\ncase_reference = \\b(?:CMP|CAS)-\\d{4,}\\b\n")
        self.assertEqual(self.submit("normal-lf.eml").returncode, 0)
        self.assertEqual(self.submit("html-only.eml").returncode, 0)
        recs = self.records()
        self.assertEqual(recs["normal-1@mail.example.org"]["thread"]["case_reference"],
                         "CMP-20481")
        self.assertIsNone(recs["html-1@mail.example.org"]["thread"]["case_reference"])

    def test_bad_case_reference_pattern_is_refused(self):
        for pattern in ("(unclosed", "(CMP)-(\\d+)"):
            self.gateway(extra="[rules]\ncase_reference = %s\n" % pattern)
            r = self.submit("normal-lf.eml")
            self.assertEqual(r.returncode, 75, pattern)
            self.assertIn(b"case_reference", r.stderr)
            self.gw.cleanup()
            self.gw = None

    def test_hostile_input_never_crashes(self):
        self.gateway()
        codes = {}
        for name in sorted(os.listdir(FIXTURES)):
            if name.endswith(".eml"):
                codes[name] = self.submit(name).returncode
        for raw in (b"", b"\x00\xff" * 100, b"no header at all\n", b"Subject: x\n" * 3):
            codes[repr(raw[:10])] = self.submit(None, raw=raw).returncode
        for what, rc in codes.items():
            self.assertIn(rc, (0, 65), what)
        self.assertEqual(codes["not-a-message.eml"], 65)
        self.assertEqual(codes["b''"], 65)
        self.assertEqual(codes["deep-nesting.eml"], 0)
        recs = self.records()
        self.assertIn("trunc-1@mail.example.org", recs)
        self.assertIn("utf16-1@mail.example.org", recs)

    def test_message_over_max_size_is_kept_as_oversize(self):
        self.gateway()
        r = self.submit("attachment.eml", source="small")  # 4 KB, max_size 2000
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = self.records()["attach-1@mail.example.org"]
        self.assertEqual(rec["subject"], "Photos of the mould")
        self.assertEqual(rec["text"], "")

    def test_maildir_takes_messages(self):
        self.gw = Gateway(INTAKE, config(
            sinks='[sink "audit"]\ntype = jsonl\npath = records.jsonl\n',
            extra='[source "box"]\ntype = maildir\npath = box\n'))
        for sub in ("new", "cur", "tmp"):
            os.makedirs(self.gw.path("box", sub))
        shutil.copy(os.path.join(FIXTURES, "outlook-reply.eml"),
                    self.gw.path("box", "new", "1700000001.M1P1.host"))
        shutil.copy(os.path.join(FIXTURES, "list-mail.eml"),
                    self.gw.path("box", "new", "1700000002.M2P1.host"))
        shutil.copy(os.path.join(FIXTURES, "not-a-message.eml"),
                    self.gw.path("box", "new", "1700000003.M3P1.host"))
        recs = self.records()
        self.assertEqual(recs["list-1@example.org"]["automated"], "list")
        self.assertEqual(recs["list-1@example.org"]["category"], "other")
        self.assertIn("DB9PR01MB1234ABCD@DB9PR01MB1234.eurprd01.prod.exchangelabs.com", recs)
        self.assertEqual(sorted(os.listdir(self.gw.path("box", "cur"))),
                         ["1700000001.M1P1.host:2,S", "1700000002.M2P1.host:2,S"])
        self.assertEqual(os.listdir(self.gw.path("box", "failed")), ["1700000003.M3P1.host"])


if __name__ == "__main__":
    INTAKE = os.path.abspath(sys.argv.pop(1))
    unittest.main()
