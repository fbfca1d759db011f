"""A private dovecot IMAP server on a loopback port: the one starter for the benchmark and the tests.

``start_dovecot(root, users=...)`` writes everything below ``root`` (the config file, base_dir,
state_dir, the log, the passwd file and the users' homes), then runs ``dovecot -c <config>`` and
waits for the greeting on 127.0.0.1. It follows ``/work/shared/TEST-SERVERS.md``:

- plain IMAP on 127.0.0.1 only (``ssl = no``, no imaps listener), PLAIN/LOGIN allowed in clear;
- a ``passwd-file`` passdb holding every user given, written *before* the start (dovecot re-reads
  the file at most once a second, so a user added while it runs may not log in at once);
- a static userdb: uid/gid 65534 when run as root (imap-login refuses root), else the current user
  (then dovecot's internal and login users are the current user too); home ``root/home/<user>``,
  Maildir storage in ``~/Maildir``;
- the inbox namespace with ``/`` as hierarchy separator and a ``\\Trash`` special-use folder;
  IMAP as dovecot ships it (MOVE, UIDPLUS, keywords...), 100 connections per user and address
  (the benchmark's pollers and its feeder share one user).

``Dovecot.stop()`` SIGTERMs the master (``base_dir/master.pid``) and waits for it; the directory is
the caller's (the test fixture removes its temp directory, the benchmark its installation).
``Dovecot.kick(user)`` drops a user's connections (and waits until they are gone).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

DOVECOT = os.environ.get("DOCINTAKE_TEST_DOVECOT") or shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
HOST = "127.0.0.1"
#: The benchmark's one user.
BENCH_USER = ("forms", "bench-password")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def mail_ids() -> tuple[int, int]:
    """uid/gid that owns the mail: 65534 as root (imap-login refuses root), else the current user."""
    return (65534, 65534) if os.getuid() == 0 else (os.getuid(), os.getgid())


@dataclass
class Dovecot:
    root: Path
    port: int
    mail_uid: int
    mail_gid: int
    #: (user, password) in passwd order; the first is the one ``env``/``mailbox`` use by default.
    users: list[tuple[str, str]] = field(default_factory=list)
    host: str = HOST

    @property
    def base_dir(self) -> Path:
        return self.root / "run"

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def passwd(self) -> Path:
        return self.root / "passwd"

    @property
    def master_pid_file(self) -> Path:
        return self.base_dir / "master.pid"

    @property
    def user(self) -> str:
        return self.users[0][0]

    @property
    def password(self) -> str:
        return self.users[0][1]

    def add_user(self, user: str, password: str) -> None:
        home = self.root / "home" / user
        home.mkdir(parents=True, exist_ok=True)
        os.chown(home, self.mail_uid, self.mail_gid)
        with self.passwd.open("a") as fh:
            fh.write(f"{user}:{{PLAIN}}{password}::::::\n")
        self.users.append((user, password))

    def env(self) -> dict[str, str]:
        """The DOCINTAKE_* settings that point ``docintake poll`` at this server (first user)."""
        return {
            "DOCINTAKE_IMAP_HOST": self.host,
            "DOCINTAKE_IMAP_PORT": str(self.port),
            "DOCINTAKE_IMAP_USER": self.user,
            "DOCINTAKE_IMAP_PASSWORD": self.password,
            "DOCINTAKE_IMAP_SECURITY": "none",
        }

    def mailbox(self, user: str | None = None, password: str | None = None, *,
                initial_folder: str | None = "INBOX", timeout: float | None = None):
        """A logged-in imap_tools mailbox (plain IMAP), by default as the first user."""
        from imap_tools import MailBoxUnencrypted

        if user is None:
            user, password = self.user, self.password
        return MailBoxUnencrypted(self.host, self.port, timeout=timeout).login(user, password,
                                                                               initial_folder=initial_folder)

    def doveadm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([DOVEADM, "-c", str(self.config), *args], capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def connections(self, user: str) -> list[int]:
        """pids of the processes serving ``user``'s IMAP connections (``doveadm who``)."""
        lines = self.doveadm("who", "-1", user, check=False).stdout.splitlines()[1:]  # after the header
        return [int(f[2]) for f in (line.split() for line in lines) if len(f) >= 3 and f[0] == user and f[2].isdigit()]

    def kick(self, user: str, wait: float = 10) -> None:
        """Drop every IMAP connection of ``user`` and wait until their processes are gone:
        ``doveadm kick`` only signals them, so a command sent at once could still be answered."""
        self.doveadm("kick", user)
        deadline = time.monotonic() + wait
        while self.connections(user) and time.monotonic() < deadline:
            time.sleep(0.02)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join((self.root / "dovecot.log").read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """SIGTERM the master and wait (up to 5 s) until it is gone. Leaves ``root`` in place."""
        try:
            pid = int(self.master_pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def config_text(server: Dovecot) -> str:
    root, uid, gid = server.root, server.mail_uid, server.mail_gid
    as_root = os.getuid() == 0
    me = pwd.getpwuid(os.getuid()).pw_name
    users = "" if as_root else f"default_internal_user = {me}\ndefault_login_user = {me}\n"
    return f"""# docintake private instance (generated by worker/bench/imap.py)
base_dir = {server.base_dir}
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = {server.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {min(uid, 500) if not as_root else 100}
last_valid_uid = 0
first_valid_gid = 0
{users}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {server.passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Trash {{
    special_use = \\Trash
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {server.host}
    port = {server.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
"""


def _make_reachable(root: Path) -> list[Path]:
    """dovecot's unprivileged processes (auth as ``dovecot``, imap-login as ``dovenull``, imap as
    the mail user) must traverse every directory down to ``root``. Checks the existing ancestors
    before anything is written: a private temp directory (``tempfile.mkdtemp``/``TemporaryDirectory``,
    mode 0700, as the benchmark's work directory is) gets o+x (traverse, not list); any other closed
    directory is an error that names it. Returns the directories still to be made (root first)."""
    tmp = Path(tempfile.gettempdir()).resolve()
    missing = []
    for d in (root, *root.parents):
        if not d.exists():
            missing.append(d)
            continue
        st = d.stat()
        if st.st_mode & stat.S_IXOTH:
            continue
        if d == root or (st.st_uid == os.geteuid() and tmp in d.parents):
            os.chmod(d, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
        else:
            raise RuntimeError(f"dovecot's unprivileged processes cannot reach {root}: {d} is not "
                               f"traversable by others (mode {stat.S_IMODE(st.st_mode):o}); use another directory")
    return missing


def start_dovecot(root: Path, port: int | None = None, users: Iterable[tuple[str, str]] = (BENCH_USER,),
                  *, wait: float = 20) -> Dovecot:
    """Write the instance below ``root`` (created if missing), start it, wait for its greeting.

    Raises RuntimeError when the binary is missing or the server does not start or answer
    (a half-started server is stopped first)."""
    if not os.access(DOVECOT, os.X_OK):
        raise RuntimeError(f"dovecot not found at {DOVECOT} (apt-get install -y dovecot-imapd)")
    root = Path(root).resolve()
    uid, gid = mail_ids()
    server = Dovecot(root, port or free_port(), uid, gid)
    for d in reversed(_make_reachable(root)):
        d.mkdir(mode=0o755)
        os.chmod(d, 0o755)  # whatever the umask
    for d in (server.base_dir, root / "state", root / "home"):
        d.mkdir(exist_ok=True)
    os.chmod(root, 0o755)  # dovecot's unprivileged processes must reach their sockets
    os.chown(root / "home", uid, gid)
    server.passwd.write_text("")
    os.chmod(server.passwd, 0o644)
    for user, password in users:
        server.add_user(user, password)
    server.config.write_text(config_text(server))
    # dovecot daemonizes and its children keep inherited descriptors: a file, not a pipe we would wait on
    with (root / "start.log").open("w+") as out:
        code = subprocess.call([DOVECOT, "-c", str(server.config)], stdin=subprocess.DEVNULL, stdout=out,
                               stderr=subprocess.STDOUT, timeout=60)
        out.seek(0)
        started = out.read()
    if code != 0:
        raise RuntimeError(f"dovecot did not start (exit {code}): {started}")
    deadline = time.monotonic() + wait
    while True:
        try:
            with socket.create_connection((server.host, server.port), timeout=2) as s:
                if s.recv(100).startswith(b"* OK"):
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"dovecot did not answer on {server.host}:{server.port}:\n{server.log_tail()}")
