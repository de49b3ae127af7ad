"""A real Dovecot IMAP server for the tests: a throw-away config in a temp folder,
passwd-file users, Maildir storage, plain IMAP and IMAPS on free loopback ports with a
certificate made here by openssl (with its own CA, so that clients can verify it), and
optionally the oauth2 passdb pointed at a token-introspection stand-in.

Run as root (CI), the mail user is `mail` (Dovecot refuses uid 0); otherwise the current
user. Standard library only.

usage (by hand): dovecot.py [--oauth2 URL]   prints the ports and waits for Enter
"""

import os
import pwd
import grp
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_certs(folder, names=("localhost",), ips=("127.0.0.1",)):
    """A CA and a server certificate for `names`/`ips` signed by it. Returns (ca, crt, key)."""
    ca_key, ca = os.path.join(folder, "ca.key"), os.path.join(folder, "ca.crt")
    key, csr, crt = (os.path.join(folder, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(folder, "san.ext")
    with open(ext, "w") as f:
        alt = ["DNS:" + n for n in names] + ["IP:" + i for i in ips]
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
                % ",".join(alt))
    run = lambda *a: subprocess.run(["openssl"] + list(a), check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "2", "-subj", "/CN=intake test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj",
        "/CN=%s" % names[0])
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out",
        crt, "-days", "2", "-extfile", ext)
    return ca, crt, key


CONFIG = """
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{d}/tls/server.crt
ssl_key = <{d}/tls/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login{mechs}
mail_location = maildir:{d}/mail/%n
first_valid_uid = {uid}
first_valid_gid = {gid}
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
mail_privileged_group =
mail_plugins =
protocol imap {{
  mail_max_userip_connections = 50
  imap_idle_notify_interval = 1 secs
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
{oauth2_passdb}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%n
}}
"""

OAUTH2_PASSDB = """passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.conf.ext
}}"""

OAUTH2_CONF = """introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
"""


class Dovecot:
    """One Dovecot instance. users: {login: password}. oauth2_url: introspection URL."""

    def __init__(self, users, oauth2_url=None, folder=None, cert_names=("localhost",),
                 cert_ips=("127.0.0.1",)):
        self.tmp = None
        if folder is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="intake-dovecot-")
            folder = self.tmp.name
        self.dir = folder
        self.users = dict(users)
        self.oauth2_url = oauth2_url
        self.imap_port, self.imaps_port = free_port(), free_port()
        self.proc = None
        os.makedirs(os.path.join(folder, "tls"), exist_ok=True)
        self.ca, _, _ = make_certs(os.path.join(folder, "tls"), cert_names, cert_ips)
        self._write_config()

    def _ids(self):
        if os.geteuid() == 0:
            mail = pwd.getpwnam("mail")
            return (mail.pw_uid, mail.pw_gid, "dovecot", "dovecot", "dovenull")
        me = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(os.getegid()).gr_name
        return (os.geteuid(), os.getegid(), me, group, me)

    def _write_config(self):
        d = self.dir
        uid, gid, internal, igroup, login = self._ids()
        self.uid, self.gid = uid, gid
        for sub in ("run", "state", "mail", "home"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        for sub in ("mail", "home"):
            os.chown(os.path.join(d, sub), uid, gid) if os.geteuid() == 0 else None
        os.chmod(d, 0o755)
        with open(os.path.join(d, "passwd"), "w") as f:
            for user, pw in self.users.items():
                f.write("%s:{PLAIN}%s::::::\n" % (user, pw))
        oauth = ""
        if self.oauth2_url:
            with open(os.path.join(d, "oauth2.conf.ext"), "w") as f:
                f.write(OAUTH2_CONF.format(url=self.oauth2_url))
            oauth = OAUTH2_PASSDB.format(d=d)
        with open(os.path.join(d, "dovecot.conf"), "w") as f:
            f.write(CONFIG.format(d=d, uid=uid, gid=gid, internal=internal,
                                  internal_group=igroup, login=login, imap=self.imap_port,
                                  imaps=self.imaps_port, oauth2_passdb=oauth,
                                  mechs=" xoauth2 oauthbearer" if self.oauth2_url else ""))

    def start(self, timeout=20):
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", os.path.join(self.dir, "dovecot.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited: %s\n%s" % (
                    self.proc.returncode, self.proc.stderr.read().decode("utf-8", "replace")
                    + self.log()))
            if self._listening(self.imap_port) and self._listening(self.imaps_port):
                return self
            time.sleep(0.1)
        raise RuntimeError("dovecot did not listen: " + self.log())

    @staticmethod
    def _listening(port):
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            return False

    def _descendants(self, pid):
        out, todo = [], [pid]
        while todo:
            p = todo.pop()
            r = subprocess.run(["pgrep", "-P", str(p)], capture_output=True, text=True)
            kids = [int(k) for k in r.stdout.split()]
            out += kids
            todo += kids
        return out

    def kill(self):
        """SIGKILL the master and every process under it (imap, imap-login, auth...), so
        that open sessions break as in a crash of the whole server."""
        if self.proc and self.proc.poll() is None:
            pids = self._descendants(self.proc.pid)
            self.proc.kill()
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()
            self.proc.stderr.close()
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc:
            self.proc.stderr.close()
        self.proc = None

    def log(self):
        p = os.path.join(self.dir, "dovecot.log")
        return open(p, encoding="utf-8", errors="replace").read() if os.path.exists(p) else ""

    def maildir(self, user):
        return os.path.join(self.dir, "mail", user.split("@")[0])

    def client(self, user):
        """An imaplib client logged in as `user` (plain, loopback)."""
        import imaplib
        c = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)
        c.login(user, self.users[user])
        return c

    def cleanup(self):
        self.kill()
        if self.tmp:
            self.tmp.cleanup()


if __name__ == "__main__":
    url = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--oauth2" else None
    dv = Dovecot({"complaints@example.org": "secret"}, url).start()
    print("IMAP %d IMAPS %d CA %s" % (dv.imap_port, dv.imaps_port, dv.ca), flush=True)
    try:
        sys.stdin.readline()
    finally:
        dv.cleanup()
