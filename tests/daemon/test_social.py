"""Social sources and the public-post actions sink end to end: the real daemon polling the
Facebook, X and Mastodon stand-ins (tests/peers/social.py) on loopback.

- first run and restart with no duplicates, pagination to the end (short and empty pages
  included), cursors read back after the restart;
- rate limits honoured, checked by the stand-ins' request logs: no request while the
  window was used up, 429 waited out until reset + 1 s, Graph throttling codes backed off;
- token expiry isolated to one source: "needs_reauth" in /readyz, /metrics and one log
  line, while the other sources carry on;
- hide and private reply sent exactly once for a comment with a phone number (also when
  the reply's answer is lost), nothing for a comment without one; Mastodon and X replies
  exactly once.

usage: test_social.py INTAKE_BINARY [unittest args]
"""

import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

from harness import Gateway, free_port, stop_peer

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "..", "peers", "social.py")
OPEN = ("pending", "sending")  # delivery states not settled yet
INTAKE = None
TOKEN = "Tok-Owl-7731"          # never in a log
PHONE = "07700 900123"
PAGE = "1234567890"
ME = "2244994945"



class Peer:
    """tests/peers/social.py playing one vendor on a free port."""

    def __init__(self, folder, api, *args):
        self.log = os.path.join(folder, api + ".jsonl")
        self.proc = subprocess.Popen(
            [sys.executable, PEER, "--api", api, "--port", "0", "--log", self.log,
             "--token", TOKEN, "--page-id", PAGE, "--user-id", ME, "--watch-stdin"] +
            [str(a) for a in args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.url = "http://127.0.0.1:%d" % int(line.split()[1])

    def control(self, **what):
        req = urllib.request.Request(self.url + "/_control", json.dumps(what).encode(),
                                     {"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()

    def requests(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(l) for l in f if l.strip()]

    def gets(self):
        return [r for r in self.requests() if r["method"] == "GET"]

    def posts(self):
        return [r for r in self.requests() if r["method"] == "POST"]

    def stop(self):
        stop_peer(self.proc)


# ---- data in the vendors' shapes ----

def fb_comment(i, text, post="%s_111" % PAGE, who=None):
    return {"id": "111_%d" % i, "message": text, "created_time": int(time.time()) - 600 + i,
            "from": who or {"id": "55%d" % i, "name": "Resident %d" % i},
            "permalink_url": "https://www.facebook.com/%s/posts/111?comment_id=%d" % (PAGE, i)}


def fb_data(n):
    now = int(time.time())
    posts = [{"id": "%s_111" % PAGE, "message": "Repairs update", "created_time": now - 3600,
              "from": {"id": PAGE, "name": "Riverside Homes"},
              "permalink_url": "https://www.facebook.com/%s/posts/111" % PAGE},
             {"id": "%s_999" % PAGE, "message": "Old news", "created_time": now - 40 * 86400,
              "from": {"id": PAGE, "name": "Riverside Homes"}}]
    comments = [fb_comment(i, "The lift at block %d is broken again" % i) for i in range(n)]
    comments.append(fb_comment(90, "We are on it", who={"id": PAGE, "name": "Riverside"}))
    return {"posts": posts, "comments": {"%s_111" % PAGE: comments,
                                         "%s_999" % PAGE: [fb_comment(99, "too old")]}}


# X sends &, < and > escaped; the item must hold what the tenant wrote (an "&amp;" they
# typed themselves included).
X_ESCAPED = "@riverside rent & repairs <urgent> -> 3 weeks, I wrote &amp; in my letter"


def x_mention(i, text=None):
    return {"id": str(1000 + i), "text": text or "@riverside damp in flat %d" % i,
            "author_id": "77", "created_at": "2026-11-20T10:%02d:00.000Z" % i,
            "conversation_id": str(1000 + i)}


X_USERS = [{"id": "77", "username": "tenant77", "name": "Tess Tenant"}]


def masto_note(i, html=None, visibility="public"):
    acct = {"id": "971724", "username": "zsc", "acct": "zsc@example.social",
            "display_name": "Zed"}
    return {"id": str(i), "type": "mention", "created_at": "2026-11-20T10:%02d:00.000Z" % i,
            "account": acct,
            "status": {"id": str(50000 + i), "visibility": visibility,
                       "url": "https://example.social/@zsc/%d" % (50000 + i),
                       "created_at": "2026-11-20T10:%02d:00.000Z" % i,
                       "content": html or "<p>Hi <span class=\"h-card\"><a href=\"https://"
                       "x/@riverside\">@riverside</a></span> the heating &amp; hot water "
                       "are off in flat %d, help!</p>" % i,
                       "account": acct, "mentions": [], "in_reply_to_id": None}}


def write(folder, name, obj):
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def sources(fb=None, x=None, masto=None, extra=""):
    out = []
    if fb:
        out.append('[source "fb"]\ntype = facebook\nbase_url = %s/v19.0\ntoken = %s\n'
                   'page_id = %s\npoll_interval = 1\nthrottle_wait = 3\n' % (fb.url, TOKEN, PAGE))
    if x:
        out.append('[source "tw"]\ntype = x\nbase_url = %s\ntoken = %s\nuser_id = %s\n'
                   'poll_interval = 1\nmax_results = 5\n' % (x.url, TOKEN, ME))
    if masto:
        out.append('[source "md"]\ntype = mastodon\nbase_url = %s\ntoken = %s\n'
                   'poll_interval = 1\n' % (masto.url, TOKEN))
    return "\n".join(out) + extra


def config(srcs, http_port=None, sinks=""):
    return ("[spool]\npath = spool.db\n\n[http]\n%s\n[log]\nlevel = debug\n\n%s\n%s\n" %
            ("listen = 127.0.0.1:%d\n" % http_port if http_port else "enabled = no\n",
             srcs, sinks))


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="intake-social-")
        self.dir = self.tmp.name
        self.peers = []
        self.gw = None

    def tearDown(self):
        if self.gw:
            self.gw.cleanup()
            self.check_logs_clean()
        for p in self.peers:
            p.stop()
        self.tmp.cleanup()

    def check_logs_clean(self):
        with open(self.gw.stderr_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        for secret in (TOKEN, PHONE, "lift at block", "heating", "damp in flat"):
            self.assertNotIn(secret, text)

    def peer(self, api, *args):
        p = Peer(self.dir, api, *args)
        self.peers.append(p)
        return p

    def gateway(self, text):
        self.gw = Gateway(INTAKE, text, self.dir)
        self.gw.start()
        return self.gw

    def rows(self, source):
        if not os.path.exists(self.gw.path("spool.db")):
            return []
        try:
            with self.gw.db() as db:
                return db.execute("SELECT source_id, item_json FROM items WHERE source=? "
                                  "ORDER BY source_id", (source,)).fetchall()
        except sqlite3.OperationalError:  # the daemon is still making the schema
            return []

    def ids(self, source):
        return [r[0] for r in self.rows(source)]

    def item(self, source, sid):
        for r in self.rows(source):
            if r[0] == sid:
                return json.loads(r[1])
        return None

    def wait_count(self, source, n, timeout=60):
        self.gw.wait_for(lambda: len(self.ids(source)) >= n, timeout,
                         "%d items from %s" % (n, source))


class FirstRunAndRestart(Base):
    def test_all_pages_once_and_no_duplicates_after_restart(self):
        fb = self.peer("facebook", "--page-size", 3,
                       "--data", write(self.dir, "fb.json", fb_data(7)))
        fb.control(empty_page=True)
        x = self.peer("x", "--page-size", 3, "--data", write(
            self.dir, "x.json", {"mentions": [x_mention(i) for i in range(3)] + [x_mention(
                3, X_ESCAPED)] + [x_mention(i) for i in range(4, 7)],
                                 "users": X_USERS}))
        notes = [masto_note(i) for i in range(1, 8)]
        notes[2] = masto_note(3, "<p>private word</p>", visibility="direct")
        md = self.peer("mastodon", "--page-size", 3,
                       "--data", write(self.dir, "md.json", {"notifications": notes}))
        self.gateway(config(sources(fb, x, md)))
        for src in ("fb", "tw", "md"):
            self.wait_count(src, 7)
        self.assertEqual(self.ids("fb"), sorted("111_%d" % i for i in range(7)))
        self.assertEqual(self.ids("tw"), sorted(str(1000 + i) for i in range(7)))
        self.assertEqual(self.ids("md"), sorted(str(50000 + i) for i in range(1, 8)))
        self.check_items()
        self.check_paging(fb, x, md)
        self.assertEqual(self.gw.stop(), 0)

        before = {p: len(p.gets()) for p in (fb, x, md)}
        fb.control(add={"comments": {"%s_111" % PAGE: [fb_comment(8, "new one")]}})
        x.control(add={"mentions": [x_mention(8)]})
        md.control(add={"notifications": [masto_note(9)]})
        self.gw.start()
        for src in ("fb", "tw", "md"):
            self.wait_count(src, 8)
        time.sleep(2.5)  # a few more polls: nothing may come twice
        for src in ("fb", "tw", "md"):
            self.assertEqual(len(self.ids(src)), 8, src)
        with self.gw.db() as db:
            self.assertEqual(db.execute("SELECT count(*) FROM items").fetchone()[0], 24)
        # the cursors were read back: X asks since the newest, Mastodon from the last id
        x_after = x.gets()[before[x]]
        self.assertEqual(x_after["query"]["since_id"], ["1006"])
        md_after = md.gets()[before[md]]
        self.assertEqual(md_after["query"]["min_id"], ["7"])

    def check_items(self):
        c = self.item("fb", "111_2")
        self.assertTrue(c["public"])
        self.assertEqual(c["channel"], "facebook")
        self.assertEqual(c["from"], {"name": "Resident 2", "handle": "552"})
        self.assertEqual(c["thread"]["post_id"], "%s_111" % PAGE)
        self.assertEqual(c["thread"]["page_id"], PAGE)
        self.assertIn("comment_id=2", c["permalink"])
        self.assertIsNone(self.item("fb", "111_90"))   # the page's own comment
        self.assertIsNone(self.item("fb", "111_99"))   # a post outside the window
        t = self.item("tw", "1003")
        self.assertEqual(t["from"], {"name": "Tess Tenant", "handle": "@tenant77"})
        self.assertEqual(t["permalink"], "https://x.com/tenant77/status/1003")
        self.assertEqual(t["thread"]["conversation_id"], "1003")
        self.assertEqual(t["received_at"], "2026-11-20T10:03:00.000Z")
        self.assertEqual(t["body"], X_ESCAPED)
        m = self.item("md", "50004")
        self.assertEqual(m["body"], "Hi @riverside the heating & hot water are off in "
                                    "flat 4, help!")
        self.assertTrue(m["public"])
        self.assertEqual(m["from"]["handle"], "@zsc@example.social")
        self.assertEqual(m["thread"]["notification_id"], "4")
        self.assertFalse(self.item("md", "50003")["public"])  # visibility: direct
        with self.gw.db() as db:
            self.gw.wait_for(lambda: db.execute(
                "SELECT count(*) FROM items WHERE state='processed'").fetchone()[0] == 21)
            rec = json.loads(db.execute(
                "SELECT record_json FROM records r JOIN items i ON i.id = r.item "
                "WHERE i.source_id = '1003'").fetchone()[0])
        self.assertEqual(rec["permalink"], "https://x.com/tenant77/status/1003")
        self.assertEqual(rec["thread"]["conversation_id"], "1003")

    def check_paging(self, fb, x, md):
        comments = [r for r in fb.gets() if r["path"].endswith("/%s_111/comments" % PAGE)]
        # first walk: an empty first page with `next`, then 3 + 3 + 1 (+ the page's own)
        first = comments[:4]
        self.assertNotIn("after", first[0]["query"])
        self.assertTrue(all("after" in r["query"] for r in first[1:]))
        self.assertTrue(all(r["query"]["filter"] == ["stream"] for r in comments))
        xs = x.gets()
        self.assertNotIn("pagination_token", xs[0]["query"])
        self.assertEqual(sum(1 for r in xs[:3] if "pagination_token" in r["query"]), 2)
        mins = [r["query"]["min_id"][0] for r in md.gets()[:4]]
        self.assertEqual(mins, ["0", "3", "6", "7"])


class XSearch(Base):
    def test_search_pages_with_its_own_cursor(self):
        mentions = [x_mention(i) for i in range(3)]
        mentions += [x_mention(i, "Riverside Homes never fixed the roof %d" % i)
                     for i in range(3, 8)]
        x = self.peer("x", "--page-size", 2, "--data", write(
            self.dir, "x.json", {"mentions": mentions, "users": X_USERS}))
        extra = 'search_query = "Riverside Homes"\n'
        self.gateway(config(sources(x=x).rstrip("\n") + "\n" + extra))
        self.wait_count("tw", 8)
        self.gw.wait_for(lambda: any(r["query"].get("since_id") == ["1007"] for r in x.gets()
                                     if r["path"].endswith("/search/recent")), 30,
                         "a search with the stored since_id")
        search = [r for r in x.gets() if r["path"].endswith("/search/recent")]
        self.assertEqual(search[0]["query"]["query"], ['"Riverside Homes"'])
        self.assertTrue(any("next_token" in r["query"] for r in search))
        self.assertFalse(any("pagination_token" in r["query"] for r in search))
        with self.gw.db() as db:
            cur = dict(db.execute("SELECT key, value FROM cursors WHERE source='tw'"))
        self.assertEqual(cur, {"mentions_since_id": "1007", "search_since_id": "1007"})


class XBacklog(Base):
    def test_a_backlog_longer_than_a_poll_is_read_to_the_end(self):
        # 60 mentions one per page: more pages than one poll reads (max_pages, 50)
        x = self.peer("x", "--page-size", 1, "--data", write(
            self.dir, "x.json", {"mentions": [x_mention(i) for i in range(60)],
                                 "users": X_USERS}))
        self.gateway(config(sources(x=x)))
        self.wait_count("tw", 60, timeout=90)
        self.assertEqual(self.ids("tw"), sorted(str(1000 + i) for i in range(60)))
        cursor = lambda: dict(self.gw.db().execute(
            "SELECT key, value FROM cursors WHERE source='tw'")).get("mentions_since_id")
        self.gw.wait_for(lambda: cursor() == "1059", 30, "the cursor at the newest")
        # the second poll resumed the walk at its 51st page: no poll started again from
        # the newest with a since_id it had not reached
        gets = x.gets()
        firsts = [g for g in gets if "pagination_token" not in g["query"]]
        self.assertNotIn("since_id", firsts[0]["query"])
        self.assertTrue(all(g["query"].get("since_id") == ["1059"] for g in firsts[1:]),
                        [g["query"].get("since_id") for g in firsts])
        # new mentions after the backlog: read, and the cursor moves on
        new = [dict(x_mention(i), id=str(1000 + i + 60)) for i in range(3)]
        x.control(add={"mentions": new})
        self.wait_count("tw", 63)
        self.gw.wait_for(lambda: cursor() == "1062", 30, "the cursor at the newest")
        self.assertEqual(len(self.ids("tw")), 63)


class XStaleToken(Base):
    def test_a_refused_saved_token_starts_the_walk_again(self):
        x = self.peer("x", "--page-size", 1, "--data", write(
            self.dir, "x.json", {"mentions": [x_mention(i) for i in range(7)],
                                 "users": X_USERS}))
        self.gateway(config(sources(x=x)))
        self.wait_count("tw", 7)
        self.assertEqual(self.gw.stop(), 0)
        # a walk left pending (no since_id yet, newest 1006, next page 1003), whose token
        # X no longer knows
        token = base64.urlsafe_b64encode(b"0:1003").decode().rstrip("=")
        with self.gw.db() as db:
            db.execute("UPDATE cursors SET value=? WHERE source='tw' AND "
                       "key='mentions_since_id'", ("- 1006 " + token,))
        x.control(expire_page_tokens=True)
        before = len(x.gets())
        self.gw.start()
        cursor = lambda: dict(self.gw.db().execute(
            "SELECT key, value FROM cursors WHERE source='tw'")).get("mentions_since_id")
        self.gw.wait_for(lambda: cursor() == "1006", 30, "the walk done again")
        gets = x.gets()[before:]
        self.assertEqual(gets[0]["query"]["pagination_token"], [token])
        self.assertEqual(gets[0]["status"], 400)
        self.assertNotIn("pagination_token", gets[1]["query"])  # from the newest again
        self.assertNotIn("since_id", gets[1]["query"])
        self.assertEqual(len(self.ids("tw")), 7)


class RateLimits(Base):
    def test_x_budget_and_429(self):
        x = self.peer("x", "--page-size", 2, "--rate-limit", 2, "--rate-window", 3,
                      "--data", write(self.dir, "x.json", {
                          "mentions": [x_mention(i) for i in range(7)], "users": X_USERS}))
        self.gateway(config(sources(x=x)))
        self.wait_count("tw", 7)
        self.assertGreaterEqual(len(x.gets()), 4)
        self.assertEqual([r for r in x.gets() if r["over_budget"]], [])
        n = len(x.gets())
        x.control(force_429=1)
        self.gw.wait_for(lambda: len(x.gets()) >= n + 2, 30, "a request after the 429")
        reqs = x.gets()
        forced = [i for i, r in enumerate(reqs) if r["forced"]]
        self.assertEqual(len(forced), 1)
        hit = reqs[forced[0]]
        self.assertEqual(hit["status"], 429)
        self.assertGreaterEqual(reqs[forced[0] + 1]["t"], hit["reset"] + 1 - 0.01)
        self.assertEqual([r for r in reqs if r["over_budget"]], [])
        self.assertTrue(self.gw.events("source_rate_limited"))

    def test_mastodon_budget(self):
        md = self.peer("mastodon", "--page-size", 2, "--rate-limit", 2, "--rate-window", 3,
                       "--data", write(self.dir, "md.json", {
                           "notifications": [masto_note(i) for i in range(1, 8)]}))
        self.gateway(config(sources(masto=md)))
        self.wait_count("md", 7)
        self.gw.wait_for(lambda: len(md.gets()) >= 6, 30, "more polls")
        self.assertEqual([r for r in md.gets() if r["over_budget"] or r["status"] == 429], [])

    def test_graph_throttling_codes_back_off(self):
        fb = self.peer("facebook", "--page-size", 3,
                       "--data", write(self.dir, "fb.json", fb_data(4)))
        fb.control(throttle=[4])
        self.gateway(config(sources(fb=fb)))
        self.wait_count("fb", 4)
        reqs = fb.gets()
        self.assertEqual(reqs[0]["status"], 400)  # code 4 on a 400: no 429 at all
        self.assertGreaterEqual(reqs[1]["t"], reqs[0]["t"] + 3 - 0.05)
        # usage at 90 %: the next poll waits throttle_wait too
        fb.control(usage=90)
        n = len(fb.gets())
        self.gw.wait_for(lambda: len(fb.gets()) >= n + 4, 30, "polls at high usage")
        reqs = fb.gets()
        feeds = [r for r in reqs[n:] if r["path"].endswith("/feed")]
        self.assertGreaterEqual(len(feeds), 2)
        self.assertGreaterEqual(feeds[1]["t"] - feeds[0]["t"], 3 - 0.05)


class TokenExpiry(Base):
    def test_one_source_needs_reauth_others_carry_on(self):
        fb = self.peer("facebook", "--data", write(self.dir, "fb.json", fb_data(2)))
        fb.control(expire_token=True)
        x = self.peer("x", "--data", write(self.dir, "x.json", {
            "mentions": [x_mention(i) for i in range(3)], "users": X_USERS}))
        md = self.peer("mastodon", "--data", write(self.dir, "md.json", {
            "notifications": [masto_note(i) for i in range(1, 4)]}))
        port = free_port()
        self.gateway(config(sources(fb, x, md), http_port=port))
        self.wait_count("tw", 3)
        self.wait_count("md", 3)
        self.gw.wait_for(lambda: len(fb.gets()) >= 3, 30, "three facebook polls")
        ready = json.loads(urllib.request.urlopen(
            "http://127.0.0.1:%d/readyz" % port, timeout=5).read())
        states = {s["name"]: s["state"] for s in ready["sources"]}
        self.assertEqual(states["fb"], "needs_reauth")
        self.assertEqual(states["tw"], "ok")
        self.assertEqual(states["md"], "ok")
        metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                         timeout=5).read().decode()
        self.assertRegex(metrics, r'intake_part_up\{kind="source",name="fb",type="facebook",'
                                  r'state="needs_reauth"\} 0')
        lines = [e for e in self.gw.events("part_state")
                 if e.get("name") == "fb" and e.get("state") == "needs_reauth"]
        self.assertEqual(len(lines), 1)
        self.assertIn("190", lines[0]["reason"])
        self.assertEqual(self.ids("fb"), [])
        fb.control(expire_token=False)
        self.wait_count("fb", 2)

        def back_to_ok():
            fb_states = [e["state"] for e in self.gw.events("part_state")
                         if e.get("name") == "fb"]
            return "ok" in fb_states[fb_states.index("needs_reauth"):]
        self.gw.wait_for(back_to_ok, 20, "facebook back to ok")


    def test_x_and_mastodon_401(self):
        fb = self.peer("facebook", "--data", write(self.dir, "fb.json", fb_data(2)))
        x = self.peer("x", "--data", write(self.dir, "x.json", {
            "mentions": [x_mention(1)], "users": X_USERS}))
        md = self.peer("mastodon", "--data", write(self.dir, "md.json", {
            "notifications": [masto_note(1)]}))
        x.control(expire_token=True)
        md.control(expire_token=True)
        self.gateway(config(sources(fb, x, md)))
        self.wait_count("fb", 2)
        self.gw.wait_for(lambda: len(x.gets()) >= 2 and len(md.gets()) >= 2, 30, "polls")
        states = {}
        for e in self.gw.events("part_state"):
            states[e.get("name")] = e
        self.assertEqual(states["tw"]["state"], "needs_reauth")
        self.assertIn("401", states["tw"]["reason"])
        self.assertEqual(states["md"]["state"], "needs_reauth")
        self.assertEqual(states["fb"]["state"], "ok")
        self.assertEqual(self.ids("tw") + self.ids("md"), [])


class Actions(Base):
    def sink(self, fb=None, x=None, md=None):
        lines = ['[sink "social"]', "type = social_actions", "retry_min_delay = 1",
                 "retry_max_delay = 2", "timeout = 10"]
        if fb:
            lines += ["facebook_token = %s" % TOKEN, "facebook_base_url = %s/v19.0" % fb.url]
        if x:
            lines += ["x_token = %s" % TOKEN, "x_base_url = %s" % x.url,
                      "x_reply_template = social_public_reply.txt"]
        if md:
            lines += ["mastodon_token = %s" % TOKEN, "mastodon_base_url = %s" % md.url,
                      "mastodon_reply_template = social_public_reply.txt"]
        return "\n".join(lines) + "\n"

    def deliveries(self):
        if not os.path.exists(self.gw.path("spool.db")):
            return {}
        try:
            with self.gw.db() as db:
                return {r[0] + "/" + r[1]: (r[2], r[3]) for r in db.execute(
                    "SELECT i.source, i.source_id, d.state, d.last_error FROM deliveries d "
                    "JOIN items i ON i.id = d.item")}
        except sqlite3.OperationalError:
            return {}

    def test_hide_and_reply_once_nothing_without_personal_data(self):
        data = fb_data(0)
        data["comments"]["%s_111" % PAGE] = [
            fb_comment(1, "Mould everywhere, ring me on %s please" % PHONE),
            fb_comment(2, "The bins were not collected this week")]
        fb = self.peer("facebook", "--data", write(self.dir, "fb.json", data))
        fb.control(drop_reply=1, fail_reply=0)
        x = self.peer("x", "--data", write(self.dir, "x.json", {
            "mentions": [x_mention(1, "@riverside leak, call %s" % PHONE),
                         x_mention(2, "@riverside bins not collected")], "users": X_USERS}))
        md = self.peer("mastodon", "--data", write(self.dir, "md.json", {
            "notifications": [masto_note(1, "<p>leak! call %s</p>" % PHONE),
                              masto_note(2, "<p>bins not collected</p>"),
                              masto_note(3, "<p>my number %s</p>" % PHONE, "direct")]}))
        md.control(drop_reply=1)
        self.gateway(config(sources(fb, x, md), sinks=self.sink(fb, x, md)))
        self.gw.wait_for(lambda: len(self.deliveries()) == 7 and all(
            s not in OPEN for s, _ in self.deliveries().values()), 90, "every delivery")
        d = self.deliveries()
        self.assertEqual(d["fb/111_1"][0], "done")
        self.assertEqual(d["fb/111_2"], ("done", "skipped: no personal data found"))
        self.assertEqual(d["tw/1002"], ("done", "skipped: no personal data found"))
        self.assertEqual(d["md/50002"], ("done", "skipped: no personal data found"))
        self.assertEqual(d["md/50003"], ("done", "skipped: not a public post"))
        self.assertEqual(d["tw/1001"][0], "done")
        self.assertEqual(d["md/50001"][0], "done")
        self.check_once(fb, x, md)
        # a restart sends nothing again
        self.assertEqual(self.gw.stop(), 0)
        counts = [len(p.posts()) for p in (fb, x, md)]
        self.gw.start()
        self.gw.wait_for(lambda: len(md.gets()) >= 2 and len(x.gets()) >= 2, 30, "polls")
        time.sleep(2)
        self.assertEqual([len(p.posts()) for p in (fb, x, md)], counts)

    def test_visitor_post_hidden_and_answered_by_post_id(self):
        data = fb_data(0)
        data["comments"] = {}
        data["posts"].append({
            "id": "%s_222" % PAGE, "message": "Damp in my bedroom, ring me on %s" % PHONE,
            "created_time": int(time.time()) - 300, "from": {"id": "5551", "name": "Ann"},
            "permalink_url": "https://www.facebook.com/%s/posts/222" % PAGE})
        fb = self.peer("facebook", "--data", write(self.dir, "fb.json", data))
        self.gateway(config(sources(fb), sinks=self.sink(fb)))
        key = "fb/%s_222" % PAGE
        self.gw.wait_for(lambda: self.deliveries().get(key, ("pending",))[0] not in OPEN,
                         60, "the visitor post's delivery")
        self.assertEqual(self.deliveries()[key][0], "done", self.deliveries()[key])
        posts = fb.posts()
        hides = [p for p in posts if p["path"] == "/v19.0/%s_222" % PAGE]
        replies = [p for p in posts if p["path"].endswith("/messages")]
        self.assertGreaterEqual(len(hides), 1)
        self.assertTrue(all(p["status"] == 200 for p in hides))
        self.assertEqual(len(replies), 1)
        self.assertEqual(replies[0]["status"], 200)
        self.assertEqual(replies[0]["body"]["recipient"], {"post_id": "%s_222" % PAGE})
        self.assertNotIn(PHONE, json.dumps(posts))

    def test_mastodon_unknown_visibility_is_answered_privately(self):
        # "local" (a fork's local-only visibility): a public item, but the reply must not
        # be wider than followers-only
        md = self.peer("mastodon", "--data", write(self.dir, "md.json", {
            "notifications": [masto_note(1, "<p>leak! call %s</p>" % PHONE, "local")]}))
        self.gateway(config(sources(masto=md), sinks=self.sink(md=md)))
        self.gw.wait_for(lambda: self.deliveries().get("md/50001", ("pending",))[0] not in OPEN,
                         60, "the delivery")
        self.assertEqual(self.deliveries()["md/50001"][0], "done")
        toots = md.posts()
        self.assertEqual(len(toots), 1)
        self.assertEqual(toots[0]["body"]["visibility"], "private")

    def test_crash_after_the_reply_went_out(self):
        """Attempt 1: hidden, the reply fails (500). Attempt 2: hidden, the reply is carried
        out but the daemon is killed before the answer. After the restart that attempt's
        outcome is unknown: a dead letter, nothing sent. An operator's retry (attempt 3)
        hides again (idempotent) and its reply is refused as a repeat: one reply in all."""
        data = fb_data(0)
        data["comments"]["%s_111" % PAGE] = [fb_comment(1, "Leak! ring %s" % PHONE)]
        fb = self.peer("facebook", "--data", write(self.dir, "fb.json", data))
        fb.control(fail_reply=1, slow_reply=1, slow_seconds=30)
        self.gateway(config(sources(fb), sinks=self.sink(fb)))
        self.gw.wait_for(lambda: any(p.get("accepted") for p in fb.posts()), 60,
                         "the reply carried out")
        self.gw.stop(signal.SIGKILL)
        self.assertEqual(self.deliveries()["fb/111_1"][0], "sending")
        self.gw.start()
        self.gw.wait_for(lambda: self.deliveries()["fb/111_1"][0] == "dead", 60,
                         "the unknown outcome as a dead letter")
        self.assertEqual(len([p for p in fb.posts() if p["path"].endswith("/messages")]), 2)
        self.assertEqual(self.gw.spool("retry", "--all-dead").returncode, 0)
        self.gw.wait_for(lambda: self.deliveries()["fb/111_1"][0] == "done", 60,
                         "the operator's retry")
        replies = [p for p in fb.posts() if p["path"].endswith("/messages")]
        hides = [p for p in fb.posts() if p["path"].endswith("/111_1")]
        self.assertEqual([r["status"] for r in replies], [500, None, 400])
        self.assertEqual(sum(1 for r in replies if r.get("accepted")), 1)
        self.assertEqual(len(hides), 3)

    def check_once(self, fb, x, md):
        posts = fb.posts()
        hides = [p for p in posts if p["path"] == "/v19.0/111_1"]
        replies = [p for p in posts if p["path"].endswith("/messages")]
        self.assertGreaterEqual(len(hides), 1)
        self.assertTrue(all(p["body"] == {"is_hidden": "true"} for p in hides))
        self.assertEqual(len(replies), 2)  # the answer of the first was lost
        self.assertEqual(sum(1 for p in replies if p.get("accepted")), 1)
        self.assertEqual(replies[1]["status"], 400)  # "already replied": counted as done
        self.assertTrue(all(p["body"]["recipient"] == {"comment_id": "111_1"}
                            for p in replies))
        self.assertNotIn(PHONE, json.dumps(posts))
        self.assertFalse([p for p in posts if "111_2" in json.dumps(p)])
        tweets = x.posts()
        self.assertEqual(len(tweets), 1)
        self.assertEqual(tweets[0]["body"]["reply"], {"in_reply_to_tweet_id": "1001"})
        self.assertTrue(tweets[0]["body"]["text"].startswith("@tenant77 Thank you"))
        self.assertNotRegex(tweets[0]["body"]["text"][10:], r"\d")
        toots = md.posts()
        self.assertEqual(len(toots), 2)  # the first answer was lost: the retry is a replay
        self.assertEqual(sum(1 for p in toots if p.get("accepted")), 1)
        self.assertTrue(toots[1].get("replay"))
        self.assertEqual(toots[0]["idempotency_key"], toots[1]["idempotency_key"])
        self.assertEqual(toots[0]["body"]["in_reply_to_id"], "50001")
        self.assertTrue(toots[0]["body"]["status"].startswith("@zsc@example.social "))
        self.assertNotRegex(toots[0]["body"]["status"], r"\d")
        self.assertNotIn(PHONE, json.dumps(tweets + toots))

    def test_x_reply_with_unknown_outcome_is_not_retried(self):
        x = self.peer("x", "--data", write(self.dir, "x.json", {
            "mentions": [x_mention(1, "@riverside leak, call %s" % PHONE)],
            "users": X_USERS}))
        x.control(drop_reply=1)
        self.gateway(config(sources(x=x), sinks=self.sink(x=x)))
        self.gw.wait_for(lambda: self.deliveries().get("tw/1001", ("pending",))[0] not in OPEN,
                         60, "the delivery")
        state, error = self.deliveries()["tw/1001"]
        self.assertEqual(state, "dead")
        self.assertIn("outcome unknown", error)
        time.sleep(2)
        self.assertEqual(len(x.posts()), 1)


class ConfigCheck(unittest.TestCase):
    def check(self, text):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "intake.ini")
            with open(path, "w") as f:
                f.write("[spool]\npath = spool.db\n[http]\nenabled = no\n" + text)
            r = subprocess.run([INTAKE, "config", "check", "--config", path],
                               capture_output=True, text=True)
            return r.returncode, r.stdout + r.stderr

    def test_bad_sections_are_refused_with_their_line(self):
        rc, out = self.check('[source "m"]\ntype = mastodon\nbase_url = ftp://h\n'
                             'token = %s\n[source "t"]\ntype = x\nuser_id = me\ntoken = t\n'
                             '[source "f"]\ntype = facebook\npage_id = 12\n' % TOKEN)
        self.assertNotEqual(rc, 0)
        self.assertIn(':5: source "m": base_url', out)
        self.assertIn(':9: source "t": user_id', out)
        self.assertIn('source "f"', out)          # token is required
        self.assertNotIn(TOKEN, out)

    def test_reply_texts_must_be_fixed(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "reply.txt"), "w") as f:
                f.write("Hello {{author.name}}, please DM us\n")
            rc, out = self.check('[sink "s"]\ntype = social_actions\nmastodon_token = t\n'
                                 'mastodon_base_url = https://h\nmastodon_reply_template = '
                                 '%s/reply.txt\n' % d)
        self.assertNotEqual(rc, 0)
        self.assertIn("{{", out)
        rc, out = self.check('[sink "s"]\ntype = social_actions\n')
        self.assertNotEqual(rc, 0)
        self.assertIn("no platform configured", out)
        rc, out = self.check('[sink "s"]\ntype = social_actions\nfacebook_token = t\n')
        self.assertEqual(rc, 0, out)  # the shipped private reply text


if __name__ == "__main__":
    INTAKE = os.path.abspath(sys.argv.pop(1))
    unittest.main()
