"""A private dovecot IMAP server on a loopback port, for the benchmark.

Same recipe as ``/work/shared/TEST-SERVERS.md`` (and the test fixture): its own
config file, base/state/log directories in a temp directory, plain IMAP on
127.0.0.1, a passwd-file user, a static userdb with uid 65534 (imap-login
refuses root). Stopped with ``kill $(cat BASE_DIR/master.pid)``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
UID = GID = 65534


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Dovecot:
    root: Path
    port: int
    user: str = "forms"
    password: str = "bench-password"

    @property
    def base_dir(self) -> Path:
        return self.root / "run"

    def env(self) -> dict[str, str]:
        """The DOCINTAKE_* settings that point ``docintake poll`` at this server."""
        return {
            "DOCINTAKE_IMAP_HOST": "127.0.0.1",
            "DOCINTAKE_IMAP_PORT": str(self.port),
            "DOCINTAKE_IMAP_USER": self.user,
            "DOCINTAKE_IMAP_PASSWORD": self.password,
            "DOCINTAKE_IMAP_SECURITY": "none",
        }

    def mailbox(self):
        from imap_tools import MailBoxUnencrypted

        return MailBoxUnencrypted("127.0.0.1", self.port).login(self.user, self.password)

    def stop(self) -> None:
        pidfile = self.base_dir / "master.pid"
        try:
            pid = int(pidfile.read_text().strip())
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


def start_dovecot(root: Path, port: int | None = None) -> Dovecot:
    if not os.access(DOVECOT, os.X_OK):
        raise RuntimeError(f"dovecot not found at {DOVECOT} (apt-get install dovecot-imapd)")
    root = Path(root)
    port = port or free_port()
    server = Dovecot(root, port)
    mail = root / "mail"
    for d in (server.base_dir, root / "state", mail):
        d.mkdir(parents=True, exist_ok=True)
    os.chown(mail, UID, GID)
    os.chmod(root, 0o755)
    (root / "passwd").write_text(f"{server.user}:{{PLAIN}}{server.password}::::::\n")
    conf = root / "dovecot.conf"
    conf.write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {server.base_dir}
state_dir = {root / 'state'}
log_path = {root / 'dovecot.log'}
info_log_path = {root / 'dovecot.log'}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{mail}/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root / 'passwd'}
}}
userdb {{
  driver = static
  args = uid={UID} gid={GID} home={mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
""")
    # dovecot daemonizes; its children keep inherited fds open, so no pipes here
    with open(root / "start.log", "wb") as out:
        code = subprocess.call([DOVECOT, "-c", str(conf)], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                               timeout=30)
    if code != 0:
        raise RuntimeError(f"dovecot did not start: {(root / 'start.log').read_text()}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(100).startswith(b"* OK"):
                    return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
    raise RuntimeError(f"dovecot did not answer on 127.0.0.1:{port}\n{log[-2000:]}")
