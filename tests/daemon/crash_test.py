"""The crash test: while items are submitted continuously, the daemon is killed with
SIGKILL at random moments and restarted, and the CRM stand-in fails a share of requests
(503, chosen at random). At the end every submitted item has reached the CRM, and no item
produced two cases: each source_id was sent with exactly one Idempotency-Key, and the CRM
created one case per key.

usage: crash_test.py INTAKE_BINARY [--items N] [--kills K] [--fail-rate F] [--seed S]
"""

import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time

from harness import Crm, Gateway, config, http_sink, item


def submitter(gw, n, done, failures):
    """Submits n items like an MTA: a 75 is retried, anything else but 0 is a failure."""
    for i in range(n):
        for _ in range(50):
            r = gw.submit("mta", item("crash-%04d" % i, "My boiler has failed, item %d" % i))
            if r.returncode == 0:
                break
            if r.returncode != 75:
                failures.append((i, r.returncode, r.stderr[-200:]))
                break
            time.sleep(0.05)
        else:
            failures.append((i, "gave up", b""))
        time.sleep(random.uniform(0, 0.03))
    done.set()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("intake")
    ap.add_argument("--items", type=int, default=150)
    ap.add_argument("--kills", type=int, default=12)
    ap.add_argument("--fail-rate", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int(time.time())
    random.seed(seed)
    print("seed %d, %d items, %d kills, CRM failing %.0f%%" % (seed, a.items, a.kills,
                                                               a.fail_rate * 100))
    tmp = tempfile.TemporaryDirectory(prefix="intake-crash-")
    crm = Crm(tmp.name, "--mode", "fail503", "--fail-rate", str(a.fail_rate))
    gw = Gateway(os.path.abspath(a.intake),
                 config(sinks=http_sink(crm.url + "/api/v2/tickets", retry_max_delay=1,
                                        max_attempts=1000)), folder=tmp.name)
    done, failures = threading.Event(), []
    t = threading.Thread(target=submitter, args=(gw, a.items, done, failures))
    try:
        gw.start()
        t.start()
        kills = 0
        while kills < a.kills:
            time.sleep(random.uniform(0.05, 0.6))
            gw.stop(signal.SIGKILL)
            kills += 1
            gw.start()
        t.join()
        print("submitted; %d kills done; waiting for delivery" % kills)
        want = {"crash-%04d" % i for i in range(a.items)}

        def delivered():
            got = {r["body"]["source_id"] for r in crm.cases() if r.get("body")}
            return want <= got
        gw.wait_for(delivered, timeout=240, what="every item at the CRM")
        rc = gw.stop()
    finally:
        gw.stop(signal.SIGKILL)
        crm.stop()
    keys = {}
    for r in crm.requests():
        if r.get("body"):
            keys.setdefault(r["body"]["source_id"], set()).add(r["idempotency_key"])
    twice = {k: v for k, v in keys.items() if len(v) != 1}
    cases = {}
    for r in crm.cases():
        cases[r["idempotency_key"]] = cases.get(r["idempotency_key"], 0) + 1
    dup_cases = {k: n for k, n in cases.items() if n > 1}
    statuses = {}
    for r in crm.requests():
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    print("CRM requests by status: %s" % statuses)
    print("items %d, distinct source_ids at the CRM %d, submit failures %d" %
          (a.items, len(keys), len(failures)))
    ok = not failures and not twice and not dup_cases and len(keys) == a.items and rc == 0
    if failures:
        print("submit failures:", failures[:5])
    if twice:
        print("source_ids sent with several keys:", list(twice.items())[:5])
    if dup_cases:
        print("keys that made several cases:", list(dup_cases.items())[:5])
    tmp.cleanup()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
