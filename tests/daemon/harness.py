"""Shared pieces of the daemon tests: a temp folder with a config, the CRM stand-in, the
daemon process and `intake submit`. Standard library only."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CRM = os.path.join(HERE, "..", "peers", "crm.py")


def item(source_id, body, **extra):
    it = {"id": source_id, "channel": "email", "subject": "Repair", "body": body,
          "from": {"name": "Test Resident", "address": "resident@example.org"}}
    it.update(extra)
    return it


def free_port():
    """A loopback TCP port free at the time of the call."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop_peer(proc):
    """Ends a stand-in started with --watch-stdin: closes its stdin (it exits), then
    kills it if it has not within 5 s."""
    proc.stdin.close()
    proc.stdout.close()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Crm:
    """tests/peers/crm.py on a free loopback port."""

    def __init__(self, folder, *args):
        self.log = os.path.join(folder, "crm.jsonl")
        self.proc = subprocess.Popen(
            [sys.executable, CRM, "--port", "0", "--log", self.log, "--watch-stdin"] +
            list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def control(self, **what):
        import urllib.request
        req = urllib.request.Request(self.url + "/_control", json.dumps(what).encode(),
                                     {"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()

    def requests(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(l) for l in f if l.strip()]

    def cases(self):
        """Accepted first answers (not replays): one per case created."""
        return [r for r in self.requests()
                if r["status"] and 200 <= r["status"] < 300 and r.get("lookup") != "hit"]

    def stop(self):
        stop_peer(self.proc)


class Gateway:
    """A config in a temp folder, and the daemon run from it."""

    def __init__(self, intake, config_text, folder=None):
        self.intake = intake
        self.tmp = None
        if folder is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="intake-daemon-")
            folder = self.tmp.name
        self.dir = folder
        self.config = os.path.join(folder, "intake.ini")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.proc = None
        self.stderr_path = os.path.join(folder, "daemon.log")

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def submit(self, source, obj, raw=None, timeout=60):
        data = raw if raw is not None else json.dumps(obj).encode()
        return subprocess.run([self.intake, "submit", "--config", self.config, "--source",
                               source], input=data, capture_output=True, timeout=timeout)

    def start(self, *args):
        self.err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([self.intake, "run", "--config", self.config] +
                                     list(args), stdout=subprocess.PIPE, stderr=self.err)
        return self.proc

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc.stdout.close()
        self.err.close()
        self.proc = None
        return rc

    def log_lines(self):
        with open(self.stderr_path, "rb") as f:
            data = f.read()
        out = []
        for l in data.decode("utf-8", "replace").splitlines():
            try:
                out.append(json.loads(l))
            except ValueError:
                out.append({"unparsed": l})
        return out

    def events(self, name):
        return [l for l in self.log_lines() if l.get("event") == name]

    def spool(self, *args):
        return subprocess.run([self.intake, "spool"] + list(args) + ["--config", self.config],
                              capture_output=True, text=True, timeout=60)

    def db(self):
        return sqlite3.connect(self.path("spool.db"), timeout=30)

    def wait_for(self, pred, timeout=60, what="condition"):
        end = time.time() + timeout
        while time.time() < end:
            if pred():
                return
            if self.proc and self.proc.poll() is not None:
                raise AssertionError("daemon exited with %s while waiting for %s"
                                     % (self.proc.returncode, what))
            time.sleep(0.1)
        raise AssertionError("timed out waiting for " + what)

    def cleanup(self):
        self.stop(signal.SIGKILL)
        if self.tmp:
            self.tmp.cleanup()


def config(sinks="", sources="", extra=""):
    return """
[spool]
path = spool.db

[http]
enabled = no

[log]
level = debug

[source "mta"]
type = pipe
channel = email
%s
%s
%s
""" % (sources, sinks, extra)


def http_sink(url, name="crm", **keys):
    settings = {"timeout": 3, "retry_min_delay": 1, "retry_max_delay": 2}
    settings.update(keys)
    lines = ['[sink "%s"]' % name, "type = http", "url = %s" % url]
    lines += ["%s = %s" % kv for kv in settings.items()]
    return "\n".join(lines) + "\n"
