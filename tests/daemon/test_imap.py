"""The imap source against a real Dovecot (tests/peers/dovecot.py) started on loopback ports
with a throw-away config: plain, STARTTLS and implicit TLS with a certificate made here
(and refused when it does not verify or names another host), fetch then \\Seen or move,
restart without duplicates, mail read by someone else, a UIDVALIDITY change, IDLE wake-up,
Dovecot killed mid-fetch, an oversize message, XOAUTH2 through Dovecot's oauth2 passdb
against tests/peers/oauth.py, a missing mailbox beside a working one, the hostile MIME
fixtures, and logs without message text or secrets.

usage: test_imap.py INTAKE_BINARY [unittest args]
"""

import email.utils
import glob
import json
import os
import re
import subprocess
import sys
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))

from dovecot import DOVECOT, Dovecot, free_port  # noqa: E402
from harness import Gateway, config  # noqa: E402

INTAKE = None
USER, PASSWORD = "complaints@example.org", "Imap-Passw0rd-7781"
MARKER = "Pelican-Harmonica-2290"  # message text that must never reach a log
FIXTURES = os.path.join(HERE, "..", "fixtures", "mime")


def message(n, body=None, subject=None, mid=None, extra=""):
    mid = mid or "<m%s.%d@resident.example>" % (n, os.getpid())
    body = body or ("The boiler at my flat has failed again and nobody came. %s %s"
                    % (MARKER, n))
    return ("From: Resident %s <resident%s@example.net>\r\nTo: %s\r\n"
            "Subject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n%s"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"
            % (n, n, USER, subject or "Complaint %s" % n, email.utils.formatdate(), mid,
               extra, body)).encode()


def imap_source(port, name="box", **keys):
    settings = {"host": "127.0.0.1", "port": port, "tls": "none", "username": USER,
                "password": PASSWORD, "after": "seen", "poll_interval": 1, "timeout": 10}
    settings.update(keys)
    return "\n[source \"%s\"]\ntype = imap\n%s\n" % (
        name, "\n".join("%s = %s" % kv for kv in settings.items()))


class ImapCase(unittest.TestCase):
    oauth_url = None

    def setUp(self):
        self.dv = Dovecot({USER: PASSWORD}, self.oauth_url).start()
        self.gw = None

    def tearDown(self):
        if self.gw:
            self.gw.cleanup()
        self.dv.cleanup()

    # -- helpers --

    def append(self, *msgs, box="INBOX", flags=None):
        c = self.dv.client(USER)
        for m in msgs:
            typ, _ = c.append(box, flags, None, m)
            self.assertEqual(typ, "OK")
        c.logout()

    def gateway(self, sources, extra=""):
        self.gw = Gateway(INTAKE, config(sources=sources, extra=extra))
        return self.gw

    def run_until_idle(self, timeout=90):
        self.gw.start("--until-idle")
        try:
            rc = self.gw.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.gw.stop()
            self.fail("the daemon did not become idle: " + self.tail())
        self.gw.stop()
        self.assertEqual(rc, 0, self.tail())

    def tail(self):
        return json.dumps(self.gw.log_lines()[-15:], indent=1)

    def items(self, source="box"):
        if not os.path.exists(self.gw.path("spool.db")):
            return []
        with self.gw.db() as db:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name='items'").fetchone():
                return []
            rows = db.execute("SELECT source_id, item_json, state FROM items WHERE source=?"
                              " ORDER BY id", (source,)).fetchall()
        return [(sid, json.loads(js), state) for sid, js, state in rows]

    def flags(self, box="INBOX"):
        c = self.dv.client(USER)
        c.select(box)
        typ, data = c.fetch("1:*", "(FLAGS)")
        c.logout()
        return [d.decode() for d in data if d]

    def count(self, box):
        c = self.dv.client(USER)
        typ, data = c.select(box)
        c.logout()
        return int(data[0]) if typ == "OK" else -1


class Fetching(ImapCase):
    def test_plain_fetch_then_seen(self):
        self.append(message(1), message(2), message(3))
        self.gateway(imap_source(self.dv.imap_port))
        self.run_until_idle()
        got = self.items()
        self.assertEqual([sid for sid, _, _ in got],
                         ["m%d.%d@resident.example" % (n, os.getpid()) for n in (1, 2, 3)])
        for sid, it, state in got:
            self.assertEqual(it["channel"], "email")
            self.assertEqual(it["imap"]["mailbox"], "INBOX")
            self.assertIn(MARKER, it["body"])
            self.assertEqual(state, "processed")
        flags = self.flags()
        self.assertEqual(len(flags), 3)
        self.assertTrue(all("\\Seen" in f for f in flags), flags)

    def test_implicit_tls_verified_then_move(self):
        self.append(message(1), message(2))
        self.gateway(imap_source(self.dv.imaps_port, host="localhost", tls="implicit",
                                 ca_file=self.dv.ca, after="move:Processed"))
        self.run_until_idle()
        self.assertEqual(len(self.items()), 2)
        self.assertEqual(self.count("INBOX"), 0)
        self.assertEqual(self.count("Processed"), 2)

    def test_starttls_verified(self):
        self.append(message(1))
        self.gateway(imap_source(self.dv.imap_port, host="localhost", tls="starttls",
                                 ca_file=self.dv.ca))
        self.run_until_idle()
        self.assertEqual(len(self.items()), 1)

    def test_untrusted_certificate_is_refused(self):
        self.append(message(1))
        # No ca_file: the system CAs do not know the test CA.
        self.gateway(imap_source(self.dv.imaps_port, host="localhost", tls="implicit"))
        self.gw.start()
        self.gw.wait_for(lambda: self.gw.events("imap_connect_failed"), 30, "a refusal")
        self.gw.stop()
        ev = self.gw.events("imap_connect_failed")[0]
        self.assertIn("not trusted", ev.get("reason", ""))
        self.assertEqual(self.items(), [])
        self.assertNotIn("\\Seen", "".join(self.flags()))

    def test_certificate_for_another_host_is_refused(self):
        other = Dovecot({USER: PASSWORD}, cert_names=("mail.example.net",), cert_ips=()).start()
        try:
            c = other.client(USER)
            c.append("INBOX", None, None, message(1))
            c.logout()
            # The CA is trusted; the name in the certificate is not the one asked for.
            self.gateway(imap_source(other.imaps_port, host="localhost", tls="implicit",
                                     ca_file=other.ca))
            self.gw.start()
            self.gw.wait_for(lambda: self.gw.events("imap_connect_failed"), 30, "a refusal")
            self.gw.stop()
        finally:
            other.cleanup()
        ev = self.gw.events("imap_connect_failed")[0]
        self.assertIn("not trusted", ev.get("reason", ""))
        self.assertIn("hostname", ev.get("reason", "").lower())
        self.assertEqual(self.items(), [])

    def test_restart_resumes_without_duplicates(self):
        self.append(message(1), message(2))
        self.gateway(imap_source(self.dv.imap_port, after="keep"))
        self.run_until_idle()
        self.append(message(3), message(4))
        self.run_until_idle()
        self.run_until_idle()
        ids = [sid for sid, _, _ in self.items()]
        self.assertEqual(len(ids), 4)
        self.assertEqual(len(set(ids)), 4)
        with self.gw.db() as db:
            cur = db.execute("SELECT value FROM cursors WHERE source='box'").fetchone()[0]
        self.assertTrue(cur.endswith(":4"), cur)

    def test_mail_read_by_someone_else_is_still_fetched(self):
        self.append(message(1), flags="(\\Seen)")
        self.append(message(2))
        self.gateway(imap_source(self.dv.imap_port))
        self.run_until_idle()
        self.assertEqual(len(self.items()), 2)

    def test_uidvalidity_change_rescans_without_duplicates(self):
        c = self.dv.client(USER)
        c.create("Cases")
        c.logout()
        a, b = message(1, mid="<a@x>"), message(2, mid="<b@x>")
        self.append(a, b, box="Cases")
        self.gateway(imap_source(self.dv.imap_port, mailbox="INBOX, Cases", after="keep"))
        self.run_until_idle()
        self.assertEqual(len(self.items()), 2)
        c = self.dv.client(USER)
        c.delete("Cases")
        c.create("Cases")  # a new mailbox: a new UIDVALIDITY
        c.logout()
        self.append(a, b, message(3, mid="<c@x>"), box="Cases")
        self.run_until_idle()
        self.assertEqual(sorted(sid for sid, _, _ in self.items()), ["a@x", "b@x", "c@x"])
        self.assertTrue(self.gw.events("imap_uidvalidity_changed"))

    def test_oversize_message_is_recorded_from_its_header(self):
        big = message(1, body="x" * 20000 + " " + MARKER)
        self.append(big, message(2))
        self.gateway(imap_source(self.dv.imap_port, max_message_size=4096))
        self.run_until_idle()
        got = {sid: it for sid, it, _ in self.items()}
        self.assertEqual(len(got), 2)
        first = got["m1.%d@resident.example" % os.getpid()]
        self.assertTrue(first["email"]["oversize"])
        self.assertGreater(first["email"]["size"], 20000)
        self.assertNotIn(MARKER, first["body"])
        self.assertEqual(first["subject"], "Complaint 1")

    def uidvalidity(self, box="INBOX"):
        c = self.dv.client(USER)
        c.select(box)
        uv = int(c.response("UIDVALIDITY")[1][0])
        c.logout()
        return uv

    def crashed_before(self, mark):
        """Leaves the spool as a daemon that died while fetching would: a "try" mark."""
        r = self.gw.submit("mta", {"id": "first", "channel": "email", "body": "x"})
        self.assertEqual(r.returncode, 0, r.stderr)  # the spool now exists
        with self.gw.db() as db:
            db.execute("INSERT INTO cursors VALUES('box', 'try:INBOX', ?)", (mark,))

    def test_a_message_that_keeps_killing_the_fetch_is_recorded_as_poison(self):
        self.append(message(1), message(2), message(3))
        self.gateway(imap_source(self.dv.imap_port))
        # One process already died in a batch begun at UID 1 (spanning 1..2), and the
        # mark says the one that wrote it (another run) died too.
        self.crashed_before("%d:1:2:1:0:0:earlier-run" % self.uidvalidity())
        self.run_until_idle()
        got = {it["imap"]["uid"]: it for _, it, _ in self.items()}
        self.assertEqual(sorted(got), [1, 2, 3])
        self.assertEqual(got[1]["email"]["problems"], ["poison"])
        self.assertEqual(got[1]["body"], "")
        self.assertIn(MARKER, got[2]["body"])
        self.assertIn(MARKER, got[3]["body"])
        self.assertEqual(len(self.gw.events("imap_poison_message")), 1)

    def test_one_unfinished_batch_is_retried_one_message_at_a_time(self):
        self.append(message(1), message(2), message(3))
        self.gateway(imap_source(self.dv.imap_port))
        self.crashed_before("%d:1:3:0:0:0:earlier-run" % self.uidvalidity())
        self.run_until_idle()
        got = [it for _, it, _ in self.items()]
        self.assertEqual(len(got), 3)
        self.assertTrue(all(MARKER in it["body"] for it in got))
        self.assertEqual(self.gw.events("imap_poison_message"), [])

    def test_a_message_the_server_keeps_refusing_is_recorded_as_fetch_failed(self):
        self.append(message(1), message(2), message(3))
        self.gateway(imap_source(self.dv.imap_port))
        # Three orderly failures at UID 1 (the server refused it or sent no body).
        self.crashed_before("%d:1:1:0:3:0:-" % self.uidvalidity())
        self.run_until_idle()
        got = {it["imap"]["uid"]: it for _, it, _ in self.items()}
        self.assertEqual(sorted(got), [1, 2, 3])
        self.assertEqual(got[1]["email"]["problems"], ["fetch_failed"])
        self.assertIn(MARKER, got[2]["body"])

    def test_an_orderly_end_is_not_a_crash(self):
        self.append(message(1), message(2))
        self.gateway(imap_source(self.dv.imap_port))
        # Two crashes would make UID 1 poison; a mark closed in order ("-") counts none.
        self.crashed_before("%d:1:2:1:0:0:-" % self.uidvalidity())
        self.run_until_idle()
        got = [it for _, it, _ in self.items()]
        self.assertEqual(len(got), 2)
        self.assertTrue(all(MARKER in it["body"] for it in got))

    def test_tls_none_only_for_a_loopback_address(self):
        self.gateway(imap_source(self.dv.imap_port, host="127.mail.example.org"))
        r = subprocess.run([INTAKE, "config", "check", "--config", self.gw.config],
                           capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("loopback", r.stdout + r.stderr)

    def test_missing_mailbox_does_not_stop_the_others(self):
        port = free_port()
        self.append(message(1))
        extra = "[http]\nlisten = 127.0.0.1:%d\n" % port
        cfg = config(sources=imap_source(self.dv.imap_port, mailbox="Nowhere, INBOX"))
        cfg = cfg.replace("[http]\nenabled = no\n", extra)
        self.gw = Gateway(INTAKE, cfg)
        self.gw.start()
        self.gw.wait_for(lambda: len(self.items()) == 1, 30, "the INBOX item")
        url = "http://127.0.0.1:%d" % port
        state = {}
        for _ in range(50):
            state = json.loads(self.fetch(url + "/readyz"))
            parts = {p["name"]: p["state"] for p in state["sources"]}
            if parts.get("box/Nowhere") == "error" and parts.get("box/INBOX") == "ok":
                break
            time.sleep(0.2)
        metrics = self.fetch(url + "/metrics")
        time.sleep(2)
        self.gw.stop()
        # The failing first mailbox (IDLE cannot watch it) is no reason to reconnect: one
        # login for the test's append, one or two for the daemon.
        logins = self.dv.log().count("imap-login: Info: Login:")
        self.assertLessEqual(logins, 3, "reconnecting in a loop: %d logins" % logins)
        self.assertEqual(parts.get("box/Nowhere"), "error", state)
        self.assertEqual(parts.get("box/INBOX"), "ok", state)
        self.assertIn('box/Nowhere', metrics)

    @staticmethod
    def fetch(url):
        try:
            return urllib.request.urlopen(url, timeout=5).read().decode()
        except urllib.error.HTTPError as e:
            return e.read().decode()

    def test_zz_logs_hold_no_text_or_secret(self):
        self.append(message(1))
        self.gateway(imap_source(self.dv.imap_port))
        self.run_until_idle()
        with open(self.gw.stderr_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        for s in [MARKER, PASSWORD, "resident1@example.net", "Resident 1"]:
            self.assertNotIn(s, log)


class Live(ImapCase):
    def test_idle_wakes_the_source(self):
        self.gateway(imap_source(self.dv.imap_port, poll_interval=3600, idle="yes"))
        self.gw.start()
        time.sleep(2)  # first round done, the source now waits in IDLE
        self.assertEqual(self.items(), [])
        t0 = time.time()
        self.append(message(1))
        self.gw.wait_for(lambda: len(self.items()) == 1, 20, "the IDLE wake-up")
        # Far sooner than the 3600 s poll: IDLE woke it.
        self.assertLess(time.time() - t0, 20)
        self.gw.stop()

    def test_dovecot_killed_mid_fetch_then_recovery(self):
        n = 60
        self.append(*[message(i, body=("%s %d " % (MARKER, i)) + "y" * 200000)
                      for i in range(n)])
        self.gateway(imap_source(self.dv.imap_port, batch_size=5, after="keep",
                                 reconnect_max_delay=2))
        self.gw.start()
        self.gw.wait_for(lambda: len(self.items()) >= 5, 60, "the first batch")
        self.dv.kill()
        got_at_kill = len(self.items())
        time.sleep(1.5)
        self.dv.start()
        self.gw.wait_for(lambda: len(self.items()) == n, 120, "all %d messages" % n)
        self.gw.stop()
        ids = [sid for sid, _, _ in self.items()]
        self.assertEqual(len(set(ids)), n)
        self.assertLess(got_at_kill, n, "the kill came after the fetch ended")
        self.assertTrue(self.gw.events("imap_connect_failed") or
                        any(e.get("state") == "error" for e in self.gw.log_lines()))


class Hostile(ImapCase):
    def test_hostile_fixtures_end_as_records_or_quarantine(self):
        paths = sorted(glob.glob(os.path.join(FIXTURES, "*.eml")))
        if not paths:
            self.skipTest("no tests/fixtures/mime/*.eml")
        msgs = [open(p, "rb").read() for p in paths]
        # A 30 MB attachment, made here (never committed).
        import base64
        blob = base64.encodebytes(os.urandom(30 * 1024 * 1024 // 4 * 3)).replace(b"\n", b"\r\n")
        msgs.append(b"From: a@example.net\r\nSubject: big\r\nMessage-ID: <big@x>\r\n"
                    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
                    b"--BB\r\nContent-Type: text/plain\r\n\r\nSee the photos.\r\n--BB\r\n"
                    b"Content-Type: application/octet-stream; name=a.bin\r\n"
                    b"Content-Transfer-Encoding: base64\r\n\r\n" + blob + b"--BB--\r\n")
        self.append(*msgs)
        self.gateway(imap_source(self.dv.imap_port, after="keep"))
        self.run_until_idle(timeout=240)
        got = self.items()
        c = self.dv.client(USER)
        c.select("INBOX")
        typ, data = c.uid("SEARCH", None, "ALL")
        c.logout()
        self.assertEqual(len(data[0].split()), len(msgs))
        # Every message is an item; two messages with one Message-ID are one item.
        mids = [re.search(rb"(?im)^message-id:\s*<([^>\r\n]+)>", m) for m in msgs]
        distinct = len({m.group(1) for m in mids if m}) + sum(1 for m in mids if not m)
        self.assertEqual(len(got), distinct)
        self.assertTrue(all(state in ("processed", "quarantined") for _, _, state in got),
                        [s for _, _, s in got])
        big = [it for sid, it, _ in got if sid == "big@x"]
        self.assertEqual(len(big), 1)
        self.assertTrue(big[0]["email"]["oversize"])


@unittest.skipUnless(os.environ.get("VALGRIND"), "set VALGRIND to run the daemon under it")
class Valgrind(ImapCase):
    """The whole IMAP path under valgrind: TLS, STARTTLS, fetch, move, IDLE, stop."""

    def wrapped(self):
        path = os.path.join(self.dv.dir, "intake-vg.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexec %s -q --error-exitcode=99 --leak-check=full "
                    "--errors-for-leak-kinds=definite,indirect %s \"$@\"\n"
                    % (os.environ["VALGRIND"], INTAKE))
        os.chmod(path, 0o755)
        return path

    def test_tls_fetch_move_clean_under_valgrind(self):
        self.append(message(1), message(2, body="x" * 9000), message(3))
        c = self.dv.client(USER)
        c.create("Other")
        c.logout()
        self.append(message(4), box="Other")
        src = imap_source(self.dv.imaps_port, host="localhost", tls="implicit",
                          ca_file=self.dv.ca, after="move:Processed", max_message_size=4096)
        src += imap_source(self.dv.imap_port, name="box2", host="localhost", tls="starttls",
                           ca_file=self.dv.ca, mailbox="Other", after="keep")
        self.gw = Gateway(self.wrapped(), config(sources=src))
        self.run_until_idle(timeout=300)
        self.assertEqual(len(self.items()), 3)
        self.assertEqual(len(self.items("box2")), 1)
        self.assertEqual(self.count("Processed"), 3)


class OAuth(ImapCase):
    CLIENT, SECRET = "intake-test-app", "Client-Secret-5512"
    EXPIRES_IN = 3599

    def setUp(self):
        self.oauth = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "..", "peers", "oauth.py"), "--port", "0",
             "--client-id", self.CLIENT, "--client-secret", self.SECRET, "--user", USER,
             "--expires-in", str(self.EXPIRES_IN)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.oauth.stdout.readline()
        self.assertTrue(line.startswith("PORT "), line)
        self.base = "http://127.0.0.1:%d" % int(line.split()[1])
        self.oauth_url = self.base + "/introspect"
        super().setUp()

    def tearDown(self):
        super().tearDown()
        self.oauth.stdin.close()
        self.oauth.wait(10)

    def source(self, secret):
        return imap_source(self.dv.imap_port, auth="xoauth2", password=None,
                           token_url=self.base + "/token", client_id=self.CLIENT,
                           client_secret=secret, scope="https://outlook.office365.com/.default")

    def test_xoauth2_login_with_a_client_credentials_token(self):
        self.append(message(1))
        self.gateway(self.source(self.SECRET).replace("password = None\n", ""))
        self.run_until_idle()
        self.assertEqual(len(self.items()), 1)
        stats = json.loads(urllib.request.urlopen(self.base + "/_stats", timeout=5).read())
        self.assertGreaterEqual(stats["issued"], 1)
        self.assertGreaterEqual(stats["introspected"], 1)

    def stats(self):
        return json.loads(urllib.request.urlopen(self.base + "/_stats", timeout=5).read())

    def reconnect_once(self):
        """Runs the source, breaks its connection (Dovecot restarted), and waits until it
        has taken a message sent after the restart."""
        self.append(message(1))
        self.gateway(self.source(self.SECRET).replace("password = None\n", "") +
                     "idle = no\nreconnect_max_delay = 1\n")
        self.gw.start()
        self.gw.wait_for(lambda: len(self.items()) == 1, 30, "the first message")
        self.dv.kill()
        time.sleep(2.5)
        self.dv.start()
        self.append(message(2))
        self.gw.wait_for(lambda: len(self.items()) == 2, 30, "the message after restart")
        self.gw.stop()

    def test_a_valid_token_is_reused_on_reconnect(self):
        self.reconnect_once()
        self.assertEqual(self.stats()["issued"], 1)

    def test_wrong_client_secret_needs_reauthorisation(self):
        self.append(message(1))
        self.gateway(self.source("wrong-secret").replace("password = None\n", ""))
        self.gw.start()
        self.gw.wait_for(lambda: self.gw.events("imap_needs_reauth"), 30, "needs_reauth")
        self.gw.stop()
        ev = self.gw.events("imap_needs_reauth")[0]
        self.assertIn("invalid_client", ev.get("reason", ""))
        with open(self.gw.stderr_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        self.assertNotIn("wrong-secret", log)
        self.assertEqual(self.items(), [])


class OAuthShortLived(OAuth):
    """A 61 s token is renewed a minute ahead of expiry: at once, on the next login."""
    EXPIRES_IN = 61

    def test_a_valid_token_is_reused_on_reconnect(self):
        self.skipTest("the token here is always within its renewal margin")

    def test_a_token_near_expiry_is_renewed_on_reconnect(self):
        self.reconnect_once()
        self.assertEqual(self.stats()["issued"], 2, self.tail())


if __name__ == "__main__":
    INTAKE = os.path.abspath(sys.argv.pop(1))
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)
    if not os.path.exists(DOVECOT):
        print("SKIP: no Dovecot (%s); install dovecot-imapd (.ci/deps does)" % DOVECOT)
        sys.exit(77)
    unittest.main()
