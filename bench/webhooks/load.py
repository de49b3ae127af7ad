#!/usr/bin/env python3
# usage: load.py PORT SECRET CONCURRENCY SECONDS   (a `type = webhook` source at /hooks/b;
# generic format, hub-sha256). Prints accepted requests/s and p50/p99 latency.
"""Signed 1 KiB generic webhook POSTs with keep-alive from N threads for S seconds."""
import hashlib, hmac, http.client, json, sys, threading, time
port, secret, conc, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
lat, lock, stop = [], threading.Lock(), time.time() + secs
def worker(w):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = 0
    mine = []
    while time.time() < stop:
        body = json.dumps({"id": "b-%d-%d-%f" % (w, i, time.time()), "text": "x" * 950}).encode()
        sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        t = time.perf_counter()
        c.request("POST", "/hooks/b", body, {"Content-Type": "application/json", "X-Signature-256": sig})
        r = c.getresponse(); r.read()
        if r.status == 200:
            mine.append(time.perf_counter() - t)
        i += 1
    with lock:
        lat.extend(mine)
ts = [threading.Thread(target=worker, args=(w,)) for w in range(conc)]
[t.start() for t in ts]; [t.join() for t in ts]
lat.sort()
print("conc=%d accepted/s=%.0f p50=%.1fms p99=%.1fms" % (conc, len(lat) / secs,
      1000 * lat[len(lat) // 2], 1000 * lat[int(len(lat) * 0.99)]))
