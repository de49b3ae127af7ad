#!/usr/bin/env python3
# usage: load.py PORT SECRET CONCURRENCY SECONDS [PATH]   (a `type = webhook` source at PATH,
# default /hooks/b; generic format, hub-sha256). Prints accepted requests/s and p50/p99
# latency of the 200s, then a RESULT line that bench/webhooks/run reads (the same as
# signed.lua's for wrk).
"""Signed 1 KiB generic webhook POSTs with keep-alive from N threads for S seconds."""
import hashlib, hmac, http.client, json, sys, threading, time
port, secret, conc, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
path = sys.argv[5] if len(sys.argv) > 5 else "/hooks/b"
lat, lock, stop, counts = [], threading.Lock(), time.time() + secs, {"all": 0, "bad": 0}
def worker(w):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = bad = 0
    mine = []
    while time.time() < stop:
        body = json.dumps({"id": "b-%d-%d-%f" % (w, i, time.time()), "text": "x" * 950}).encode()
        sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        t = time.perf_counter()
        c.request("POST", path, body, {"Content-Type": "application/json", "X-Signature-256": sig})
        r = c.getresponse(); r.read()
        if r.status == 200:
            mine.append(time.perf_counter() - t)
        else:
            bad += 1
        i += 1
    with lock:
        lat.extend(mine)
        counts["all"] += i
        counts["bad"] += bad
ts = [threading.Thread(target=worker, args=(w,)) for w in range(conc)]
[t.start() for t in ts]; [t.join() for t in ts]
lat.sort()
if not lat:
    lat = [0.0]
print("conc=%d accepted/s=%.0f p50=%.1fms p99=%.1fms" % (conc, len(lat) / secs,
      1000 * lat[len(lat) // 2], 1000 * lat[int(len(lat) * 0.99)]))
print("RESULT requests=%d non2xx=%d errors=0 seconds=%.3f p50_us=%d p99_us=%d" % (
      counts["all"], counts["bad"], secs, 1e6 * lat[len(lat) // 2],
      1e6 * lat[int(len(lat) * 0.99)]))
