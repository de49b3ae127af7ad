"""The smtp sink end to end: the real daemon delivering to a real SMTP server on loopback
(tests/peers/smtp.py, aiosmtpd) with STARTTLS (a CA and certificates made here with
openssl, trusted through ca_file) and AUTH. Items go in through the pipe source as JSON
e-mail items (the shared e-mail item contract).

Covered: the acknowledgement's content and headers; the response date across the
Christmas bank holidays, against a date computed here; suppression of an out-of-office, a
bounce, a no-reply sender and a second message in the same thread (also after a restart);
451 then delivered; 550 dead letter; a certificate that does not verify (nothing sent);
a server without STARTTLS; the team note for urgent items; no addresses in the logs.

usage: test_smtp.py INTAKE_BINARY [unittest args]
"""

import datetime
import email
import email.header
import email.policy
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from harness import Gateway, config, stop_peer

INTAKE = None
HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "..", "peers", "smtp.py")
CERTS = None  # folder with ca.pem, server.pem/key and rogue.pem/key

FROM = "complaints@riverside.example"
RESIDENT = "ann.resident@example.org"
COMPLAINT = ("I am writing to make a formal complaint. Nobody came to fix the leak in my "
             "kitchen despite three appointments and I have had no reply to my emails.")


def peer_python():
    """An interpreter that has aiosmtpd (Debian's python3-aiosmtpd is for /usr/bin/python3)."""
    for exe in (sys.executable, "/usr/bin/python3"):
        if subprocess.run([exe, "-c", "import aiosmtpd"], capture_output=True).returncode == 0:
            return exe
    raise unittest.SkipTest("aiosmtpd is not installed (Debian: python3-aiosmtpd)")


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def make_certs(folder):
    """A CA, a server certificate it signs for localhost and 127.0.0.1, and a self-signed
    'rogue' certificate for the same names that no configured CA trusts."""
    p = lambda n: os.path.join(folder, n)
    ext = p("ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("ca.key"),
            "-out", p("ca.pem"), "-days", "2", "-subj", "/CN=intake test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", p("server.key"),
            "-out", p("server.csr"), "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey",
            p("ca.key"), "-CAcreateserial", "-out", p("server.pem"), "-days", "2",
            "-extfile", ext)
    # trusted, but for another name only
    with open(p("other.cnf"), "w") as f:
        f.write("subjectAltName=DNS:mail.other.example\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", p("wrongname.key"),
            "-out", p("wrongname.csr"), "-subj", "/CN=mail.other.example")
    openssl("x509", "-req", "-in", p("wrongname.csr"), "-CA", p("ca.pem"), "-CAkey",
            p("ca.key"), "-CAcreateserial", "-out", p("wrongname.pem"), "-days", "2",
            "-extfile", p("other.cnf"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("rogue.key"),
            "-out", p("rogue.pem"), "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")


class SmtpPeer:
    """tests/peers/smtp.py on a free loopback port, writing what it accepts to out/."""

    def __init__(self, folder, *args, cert="server", starttls=True):
        self.out = os.path.join(folder, "mail-%d" % time.monotonic_ns())
        cmd = [peer_python(), PEER, "--port", "0", "--out", self.out, "--watch-stdin",
               "--auth", "intake:s3cret-Pw"]
        if starttls:
            cmd += ["--tls-cert", os.path.join(CERTS, cert + ".pem"),
                    "--tls-key", os.path.join(CERTS, cert + ".key")]
        self.proc = subprocess.Popen(cmd + list(args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])

    def mails(self):
        out = []
        for path in sorted(glob.glob(os.path.join(self.out, "*.json"))):
            with open(path) as f:
                out.append(json.load(f))
        return out

    def stop(self):
        stop_peer(self.proc)


def smtp_sink(port, name="ack", **keys):
    settings = {"server": "127.0.0.1:%d" % port, "from": FROM,
                "from_name": "Riverside Homes \u2013 Customer Feedback",
                "reply_to": "feedback@riverside.example", "username": "intake",
                "password": "${INTAKE_TEST_SMTP_PASSWORD}", "ca_file": "%s/ca.pem" % CERTS,
                "timeout": 5, "retry_min_delay": 1, "retry_max_delay": 1}
    settings.update(keys)
    lines = ['[sink "%s"]' % name, "type = smtp"]
    lines += ["%s = %s" % kv for kv in settings.items()]
    return "\n".join(lines) + "\n"


def email_item(source_id, body=COMPLAINT, sender=RESIDENT, subject="Leak still not fixed",
               message_id=None, in_reply_to=None, references=(), automated=None, **extra):
    it = {"id": source_id, "channel": "email", "public": False, "subject": subject,
          "body": body, "from": {"name": "Ann Resident", "address": sender},
          "email": {"to": [{"name": None, "address": FROM}], "cc": [], "date": None,
                    "size": len(body), "oversize": False, "problems": []},
          "thread": {"message_id": message_id or "<%s@example.org>" % source_id,
                     "in_reply_to": in_reply_to, "references": list(references)},
          "attachments": []}
    if automated:
        it["automated"] = automated
    it.update(extra)
    return it


# England and Wales bank holidays around the test's dates, typed in here from the
# government's list (not read from rules/calendars), so the check is independent.
HOLIDAYS = {datetime.date(2025, 12, 25), datetime.date(2025, 12, 26),
            datetime.date(2026, 1, 1), datetime.date(2026, 4, 3), datetime.date(2026, 4, 6),
            datetime.date(2026, 5, 4), datetime.date(2026, 5, 25)}


def add_working_days(day, n):
    """The n-th working day after `day` (a day off counts from the next working day)."""
    while day.weekday() >= 5 or day in HOLIDAYS:
        day += datetime.timedelta(days=1)
    while n > 0:
        day += datetime.timedelta(days=1)
        if day.weekday() < 5 and day not in HOLIDAYS:
            n -= 1
    return day


def words(day):
    return "%s %d %s %d" % (day.strftime("%A"), day.day, day.strftime("%B"), day.year)


# INTAKE_VALGRIND=/usr/bin/valgrind runs the daemon under valgrind; a valgrind error makes
# it exit 99, which tearDown reports.
VALGRIND = os.environ.get("INTAKE_VALGRIND")


class ValgrindGateway(Gateway):
    def start(self, *args):
        self.err = open(self.stderr_path, "ab")
        cmd = [VALGRIND, "-q", "--error-exitcode=99", "--leak-check=full",
               "--errors-for-leak-kinds=definite,indirect", self.intake, "run",
               "--config", self.config] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err)
        return self.proc


class SmtpCase(unittest.TestCase):
    peer_args = ()
    peer_kw = {}
    sink_keys = {}
    extra = ""

    def setUp(self):
        os.environ["INTAKE_TEST_SMTP_PASSWORD"] = "s3cret-Pw"
        self.tmp = tempfile.mkdtemp(prefix="intake-smtp-")
        self.peer = SmtpPeer(self.tmp, *self.peer_args, **self.peer_kw)
        kind = ValgrindGateway if VALGRIND else Gateway
        self.gw = kind(INTAKE, config(sinks=smtp_sink(self.peer.port, **self.sink_keys),
                                      extra=self.extra), folder=self.tmp)

    def tearDown(self):
        rc = self.gw.stop(timeout=60)
        self.gw.cleanup()
        self.peer.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if VALGRIND:
            self.assertEqual(rc, 0, "the daemon under valgrind exited with %s" % rc)

    def submit(self, it):
        r = self.gw.submit("mta", it)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.decode().split()[0]

    def delivery(self, rid, sink="ack"):
        row = self.gw.db().execute(
            "SELECT d.state, d.attempts, d.status, d.last_error, d.response FROM deliveries d"
            " JOIN items i ON i.id = d.item WHERE i.record_id = ? AND d.sink = ?",
            (rid, sink)).fetchone()
        return dict(zip(("state", "attempts", "status", "error", "response"), row)) \
            if row else None

    def record(self, rid):
        row = self.gw.db().execute("SELECT r.record_json FROM records r JOIN items i ON"
                                   " i.id = r.item WHERE i.record_id = ?", (rid,)).fetchone()
        return json.loads(row[0]) if row else None

    def wait_state(self, rid, state, sink="ack", timeout=60):
        try:
            self.gw.wait_for(lambda: (self.delivery(rid, sink) or {}).get("state") == state,
                             timeout, "delivery %s %s" % (sink, state))
        except AssertionError as e:
            raise AssertionError("%s; delivery %s; log tail %s" % (
                e, self.delivery(rid, sink), self.gw.log_lines()[-8:])) from None
        return self.delivery(rid, sink)

    def assert_logs_hold_no_addresses(self):
        with open(self.gw.stderr_path, "rb") as f:
            log = f.read()
        for secret in (b"ann.resident", b"example.org", b"s3cret-Pw", b"Leak still"):
            self.assertNotIn(secret, log)


class Acknowledgement(SmtpCase):
    def test_content_headers_and_due_date_across_christmas(self):
        self.gw.start()
        # Received Monday 22 December 2025 (10:00 London): acknowledge within 5 working
        # days, answer within 10 working days of that, Christmas and New Year off.
        received = datetime.date(2025, 12, 22)
        rid = self.submit(email_item("m-1", subject="Leak \u2013 still not fixed",
                                     message_id="<m-1@example.org>",
                                     references=["<older@example.org>"],
                                     received_at="2025-12-22T10:00:00Z"))
        d = self.wait_state(rid, "done")
        self.assertEqual(d["status"], 250)
        ack_by = add_working_days(received, 5)
        respond_by = add_working_days(ack_by, 10)
        self.assertEqual(respond_by, datetime.date(2026, 1, 15))  # the hand count
        rec = self.record(rid)
        self.assertEqual(rec["category"], "complaint")
        self.assertEqual(rec["deadlines"]["acknowledge_by"], ack_by.isoformat())
        self.assertEqual(rec["deadlines"]["respond_by"], respond_by.isoformat())

        mails = self.peer.mails()
        self.assertEqual(len(mails), 1)
        m = mails[0]
        self.assertTrue(m["tls"])
        self.assertEqual(m["auth"], "intake")
        self.assertEqual(m["mail_from"], FROM)
        self.assertEqual(m["rcpt_tos"], [RESIDENT])
        msg = email.message_from_string(m["data"], policy=email.policy.default)
        self.assertEqual(str(msg["Subject"]), "Re: Leak \u2013 still not fixed")
        self.assertEqual(msg["To"], RESIDENT)
        self.assertEqual(msg["From"].addresses[0].addr_spec, FROM)
        self.assertEqual(msg["From"].addresses[0].display_name,
                         "Riverside Homes \u2013 Customer Feedback")
        self.assertEqual(msg["Reply-To"], "feedback@riverside.example")
        self.assertEqual(msg["In-Reply-To"], "<m-1@example.org>")
        self.assertEqual(msg["References"].split(),
                         ["<older@example.org>", "<m-1@example.org>"])
        self.assertEqual(msg["Auto-Submitted"], "auto-replied")
        self.assertEqual(msg["Message-ID"], "<%s.ack@riverside.example>" % rid)
        self.assertIsNotNone(msg["Date"].datetime)
        self.assertEqual(msg.get_content_type(), "text/plain")
        self.assertEqual(msg.get_content_charset(), "utf-8")
        body = msg.get_content()
        self.assertIn("Your reference: %s" % rid, body)
        self.assertIn("recorded it as a complaint", body)
        self.assertIn("by %s." % words(respond_by), body)
        self.assertIn("Thursday 15 January 2026", body)
        self.assertIn("on Monday 22 December 2025", body)
        self.assertIn("Housing Ombudsman Service", body)
        self.assertIn("0300 111 3000", body)
        self.assertIn("info@housing-ombudsman.org.uk", body)
        self.assertNotIn("{{", body)
        for line in m["data"].split("\r\n"):
            self.assertLessEqual(len(line), 78)
        self.assert_logs_hold_no_addresses()

    def test_stage2_and_mp_enquiry_use_their_clocks(self):
        self.gw.start()
        # Received Friday 3 April 2026 (Good Friday): counting starts Tuesday 7 April.
        received = datetime.date(2026, 4, 3)
        s2 = self.submit(email_item(
            "s2", subject="Escalation", received_at="2026-04-03T09:00:00Z",
            body="I am not happy with your stage 1 response to my complaint about the "
                 "repairs and I want to escalate it to stage 2."))
        mp = self.submit(email_item(
            "mp", subject="Constituent enquiry", sender="jane.smith.mp@parliament.example",
            received_at="2026-04-03T09:00:00Z",
            body="I am writing on behalf of my constituent who has complained to me that "
                 "her repair has not been done. Please could you look into this. Yours "
                 "sincerely, Jane Smith MP"))
        self.wait_state(s2, "done")
        self.wait_state(mp, "done")
        ack_by = add_working_days(received, 5)
        self.assertEqual(self.record(s2)["deadlines"]["respond_by"],
                         add_working_days(ack_by, 20).isoformat())
        self.assertEqual(self.record(mp)["category"], "mp_enquiry")
        self.assertEqual(self.record(mp)["deadlines"]["respond_by"],
                         add_working_days(ack_by, 10).isoformat())
        bodies = {m["rcpt_tos"][0]: email.message_from_string(
            m["data"], policy=email.policy.default).get_content() for m in self.peer.mails()}
        self.assertEqual(len(bodies), 2)
        self.assertIn("a request to take your complaint to stage 2", bodies[RESIDENT])
        self.assertIn(words(add_working_days(ack_by, 20)), bodies[RESIDENT])
        mp_body = bodies["jane.smith.mp@parliament.example"]
        self.assertIn("an enquiry from an MP or councillor", mp_body)
        self.assertIn(words(add_working_days(ack_by, 10)), mp_body)

    def test_suppression_rules(self):
        self.gw.start()
        first = self.submit(email_item("t-1", message_id="<t-1@example.org>"))
        self.wait_state(first, "done")
        skipped = {
            "automated message": email_item("ooo", subject="Out of office",
                                            body="I am away until Monday.",
                                            automated="auto_submitted"),
            "no-reply or system": email_item("bounce", sender="MAILER-DAEMON@mx.example.org",
                                             subject="Undelivered Mail Returned to Sender",
                                             body=COMPLAINT),
            "no-reply": email_item("nr", sender="no-reply@bank.example.org"),
            "our own address": email_item("own", sender=FROM.upper()),
            "already acknowledged in this thread": email_item(
                "t-2", subject="Re: Leak still not fixed", message_id="<t-2@example.org>",
                in_reply_to="<t-1@example.org>", references=["<t-1@example.org>"]),
            "not an e-mail item": dict(email_item("chat"), channel="webchat"),
            "category not acknowledged": email_item(
                "thanks", subject="Thank you",
                body="Thank you so much to the repairs team, the new boiler is brilliant."),
        }
        rids = {why: self.submit(it) for why, it in skipped.items()}
        for why, rid in rids.items():
            d = self.wait_state(rid, "done")
            self.assertTrue(d["error"].startswith("skipped: "), (why, d))
            self.assertIn(why, d["error"], why)
        self.assertEqual(len(self.peer.mails()), 1)
        # the thread is remembered across a restart (spool sink marks)
        self.assertEqual(self.gw.stop(), 0)
        self.gw.start()
        third = self.submit(email_item("t-3", message_id="<t-3@example.org>",
                                       in_reply_to="<t-2@example.org>",
                                       references=["<t-1@example.org>", "<t-2@example.org>"]))
        self.assertIn("already acknowledged", self.wait_state(third, "done")["error"])
        # a new thread from the same sender is acknowledged
        other = self.submit(email_item("u-1", message_id="<u-1@example.org>"))
        self.wait_state(other, "done")
        self.assertEqual(len(self.peer.mails()), 2)
        self.assertEqual([m["rcpt_tos"] for m in self.peer.mails()], [[RESIDENT]] * 2)
        self.assert_logs_hold_no_addresses()


class LoopGuard(SmtpCase):
    def test_a_reply_to_our_acknowledgement_is_not_acknowledged(self):
        # an autoresponder that marks nothing (no Auto-Submitted, no References) and
        # answers our acknowledgement with only In-Reply-To: <our ack's Message-ID>
        self.gw.start()
        first = self.submit(email_item("loop-1"))
        self.wait_state(first, "done")
        ack = email.message_from_string(self.peer.mails()[0]["data"],
                                        policy=email.policy.default)
        reply = self.submit(email_item("loop-2", subject="Re: Leak still not fixed",
                                       in_reply_to=ack["Message-ID"]))
        d = self.wait_state(reply, "done")
        self.assertEqual(d["error"], "skipped: a reply to our acknowledgement")
        self.assertEqual(len(self.peer.mails()), 1)

    def test_at_most_three_acknowledgements_per_sender_a_day(self):
        self.gw.start()
        rids = [self.submit(email_item("cap-%d" % i)) for i in range(4)]
        states = [self.wait_state(rid, "done") for rid in rids]
        self.assertEqual(len(self.peer.mails()), 3)
        capped = [d for d in states if "sender_daily_max" in (d["error"] or "")]
        self.assertEqual(len(capped), 1, states)
        # another sender is not affected
        other = self.submit(email_item("cap-other", sender="bob.tenant@example.org"))
        self.wait_state(other, "done")
        self.assertEqual(len(self.peer.mails()), 4)
        self.assert_logs_hold_no_addresses()


class AbusiveSuppression(SmtpCase):
    sink_keys = {"suppress_abusive": "yes", "categories": "complaint,service_request"}

    def test_abusive_is_not_acknowledged(self):
        self.gw.start()
        rid = self.submit(email_item(
            "ab", body="You useless idiots, I will come down there and sort you out. "
                       "Nobody came to fix my leak and I want to complain."))
        d = self.wait_state(rid, "done")
        self.assertIn("abusive", self.record(rid)["flags"])
        self.assertEqual(d["error"], "skipped: abusive flag")
        self.assertEqual(self.peer.mails(), [])


class TempFailThenDelivered(SmtpCase):
    peer_args = ("--tempfail", RESIDENT + ":2")

    def test_451_is_retried_then_delivered(self):
        self.gw.start()
        rid = self.submit(email_item("r-1"))
        d = self.wait_state(rid, "done", timeout=90)
        self.assertEqual(d["attempts"], 3, [e for e in self.gw.log_lines()
                                            if e.get("record") == rid])
        self.assertEqual(d["status"], 250)
        self.assertEqual(len(self.peer.mails()), 1)
        retries = [e for e in self.gw.events("delivery_retry") if e.get("record") == rid]
        self.assertEqual(len(retries), 2)
        self.assertIn("SMTP 451", retries[0]["reason"])
        self.assert_logs_hold_no_addresses()


class RejectedIsDead(SmtpCase):
    peer_args = ("--reject", RESIDENT)

    def test_550_is_a_dead_letter(self):
        self.gw.start()
        rid = self.submit(email_item("d-1"))
        d = self.wait_state(rid, "dead")
        self.assertEqual(d["attempts"], 1)
        self.assertEqual(d["status"], 550)
        self.assertEqual(d["error"], "recipient (RCPT TO) refused: SMTP 550")
        self.assertIn("550", d["response"])
        self.assertNotIn("ann.resident", d["response"])
        self.assertEqual(self.peer.mails(), [])
        self.assert_logs_hold_no_addresses()


class UntrustedCertificate(SmtpCase):
    peer_kw = {"cert": "rogue"}

    def test_nothing_is_sent_and_the_error_says_why(self):
        self.gw.start()
        rid = self.submit(email_item("c-1"))
        self.gw.wait_for(lambda: (self.delivery(rid) or {}).get("attempts", 0) >= 1, 60,
                         "an attempt")
        d = self.delivery(rid)
        self.assertEqual(d["state"], "pending")
        self.assertIn("certificate does not verify", d["error"])
        self.assertEqual(self.peer.mails(), [])
        self.assert_logs_hold_no_addresses()


class RefusedPassword(SmtpCase):
    """A refused AUTH (the password being rotated): retried, not sent unauthenticated and
    dead-lettered on the server's 530."""
    sink_keys = {"password": "old-password"}

    def test_refused_auth_is_retried(self):
        self.gw.start()
        rid = self.submit(email_item("p-1"))
        self.gw.wait_for(lambda: (self.delivery(rid) or {}).get("attempts", 0) >= 1, 60,
                         "an attempt")
        d = self.delivery(rid)
        self.assertEqual(d["state"], "pending", d)
        self.assertIn("AUTH failed (SMTP 535)", d["error"])
        self.assertEqual(self.peer.mails(), [])
        self.assert_logs_hold_no_addresses()


class WrongHostName(SmtpCase):
    """The certificate is signed by the trusted CA but for another name: refused."""
    peer_kw = {"cert": "wrongname"}

    def test_name_mismatch(self):
        self.gw.start()
        rid = self.submit(email_item("h-1"))
        self.gw.wait_for(lambda: (self.delivery(rid) or {}).get("attempts", 0) >= 1, 60,
                         "an attempt")
        d = self.delivery(rid)
        self.assertEqual(d["state"], "pending")
        self.assertIn("certificate does not verify: IP address mismatch", d["error"])
        self.assertEqual(self.peer.mails(), [])


class NoStarttls(SmtpCase):
    peer_kw = {"starttls": False}

    def test_starttls_is_required(self):
        self.gw.start()
        rid = self.submit(email_item("s-1"))
        self.gw.wait_for(lambda: (self.delivery(rid) or {}).get("attempts", 0) >= 1, 60,
                         "an attempt")
        d = self.delivery(rid)
        self.assertEqual(d["state"], "pending")
        self.assertIn("does not offer STARTTLS", d["error"])
        self.assertEqual(self.peer.mails(), [])


class TeamNote(SmtpCase):
    sink_keys = {"mode": "notify", "notify_to": "repairs-team@riverside.example"}
    extra = "[routing]\nurgent = repairs-emergency\nsafeguarding = safeguarding\n"

    def test_urgent_items_get_a_note_without_personal_data(self):
        self.gw.start()
        body = ("There is a strong smell of gas in my kitchen and the hob is leaking. "
                "Please send someone, my number is 07700 900123.")
        rid = self.submit(email_item("g-1", body=body, subject="Gas smell",
                                     received_at="2026-03-02T09:30:00Z"))
        plain = self.submit(email_item("p-1"))
        self.wait_state(rid, "done")
        d = self.wait_state(plain, "done")
        self.assertTrue(d["error"].startswith("skipped: "))
        rec = self.record(rid)
        self.assertIn("urgent", rec["flags"])
        self.assertEqual(rec["route"], "repairs-emergency")
        self.assertEqual(rec["deadlines"]["emergency_by"], "2026-03-03T09:30:00.000Z")
        self.assertIsNone(self.record(plain)["route"])
        mails = self.peer.mails()
        self.assertEqual(len(mails), 1)
        self.assertEqual(mails[0]["rcpt_tos"], ["repairs-team@riverside.example"])
        msg = email.message_from_string(mails[0]["data"], policy=email.policy.default)
        text = msg.get_content() + str(msg["Subject"])
        self.assertIn(rid, text)
        self.assertIn("repairs-emergency", text)
        self.assertIn("2026-03-03T09:30:00.000Z", text)
        self.assertEqual(msg["Auto-Submitted"], "auto-generated")
        for personal in ("gas in my kitchen", "07700", "Ann", "ann.resident", "Gas smell"):
            self.assertNotIn(personal, mails[0]["data"])


class CrashDuringSend(SmtpCase):
    """The daemon dies after the server took the message but before its answer: the
    attempt's outcome is unknown, so it becomes a dead letter, never a second mail."""
    peer_args = ("--stall-data", "30")
    sink_keys = {"timeout": 60}

    def test_an_attempt_the_daemon_died_in_is_not_sent_again(self):
        if VALGRIND:
            self.skipTest("SIGKILL under valgrind proves nothing more")
        rid = self.submit(email_item("crash-1"))
        self.gw.start()
        self.gw.wait_for(lambda: len(self.peer.mails()) == 1, 60, "the message at the server")
        self.assertEqual(self.delivery(rid)["state"], "sending")
        self.gw.stop(signal.SIGKILL)
        self.gw.start("--until-idle")
        self.assertEqual(self.gw.proc.wait(60), 0)
        self.gw.stop()
        d = self.delivery(rid)
        self.assertEqual(d["state"], "dead")
        self.assertIn("outcome unknown", d["error"])
        self.assertEqual(len(self.peer.mails()), 1)
        self.assertEqual(len(self.gw.events("delivery_outcome_unknown")), 1)


class ConfigCheck(unittest.TestCase):
    def test_bad_settings_are_refused_at_check(self):
        with tempfile.TemporaryDirectory() as d:
            cases = {
                "tls = none is only allowed for a loopback server":
                    {"server": "smtp.example.org:587", "tls": "none"},
                "from: not a plain address": {"from": "Complaints <c@example.org>"},
                "suppress: bad pattern": {"suppress": "(unclosed"},
                "categories: unknown name 'grumble'": {"categories": "complaint,grumble"},
                "unknown placeholder {{nope}}": {"template": "bad.txt"},
                "notify_to: mode = notify needs": {"mode": "notify"},
            }
            with open(os.path.join(d, "bad.txt"), "w") as f:
                f.write("Hello {{nope}}\n")
            for want, keys in cases.items():
                path = os.path.join(d, "intake.ini")
                with open(path, "w") as f:
                    f.write(config(sinks=smtp_sink(25, **keys)))
                r = subprocess.run([INTAKE, "config", "check", "--config", path],
                                   capture_output=True, text=True,
                                   env=dict(os.environ, INTAKE_TEST_SMTP_PASSWORD="x"))
                self.assertEqual(r.returncode, 1, (want, r.stdout, r.stderr))
                self.assertIn(want, r.stdout + r.stderr)


if __name__ == "__main__":
    INTAKE = os.path.abspath(sys.argv.pop(1))
    with tempfile.TemporaryDirectory(prefix="intake-smtp-certs-") as certs:
        CERTS = certs
        make_certs(certs)
        unittest.main(verbosity=2)
