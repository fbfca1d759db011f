"""The real pipeline for the benchmark: mailbox -> ``docintake poll`` -> database -> Redis/RQ ->
``docintake worker`` processes -> profile store, each run in its own installation.

An installation (:class:`Installation`) is a data directory plus a database (a SQLite file, or
a throw-away PostgreSQL database), a Redis (the embedded one, or a db number reserved on a Redis
server with the same protocol the test fixtures use) and a mailbox (a Maildir folder, or a
private dovecot). Everything runs as the real CLI in subprocesses, so what is measured is what
a deployment does.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from worker.bench.corpus import SignedForm, maildir_deliver, make_mail

#: The same reservation keys as tests/fixtures/services.py, so a benchmark and a test session
#: never share a Redis db.
_REDIS_LOCK = "docintake:test:db-reserved:{}"
REDIS_DBS = range(1, 16)


@dataclass(frozen=True)
class Config:
    mailbox: str = "maildir"  # maildir | imap
    database: str = "sqlite"  # sqlite | postgresql
    redis: str = "embedded"  # embedded | server

    @property
    def name(self) -> str:
        return f"{self.mailbox}+{self.database}+{self.redis}"


@dataclass
class Services:
    """Where the shared servers are (PostgreSQL admin URL, Redis server URL)."""

    postgres_admin: str = "postgresql://postgres@127.0.0.1:5432/test"
    redis_server: str = "redis://127.0.0.1:6379"


@dataclass
class Installation:
    config: Config
    root: Path
    trust_lists: Path
    services: Services
    env: dict[str, str] = field(default_factory=dict)
    _pg_name: str | None = None
    _redis_db: int | None = None
    _redis_token: str | None = None
    _dovecot: object | None = None
    _procs: list[subprocess.Popen] = field(default_factory=list)

    # ---- set-up and tear-down -----------------------------------------------------------------
    def __enter__(self) -> "Installation":
        self.root.mkdir(parents=True, exist_ok=True)
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        env = {
            "DOCINTAKE_DATA_DIR": str(data),
            "DOCINTAKE_TRUST_LISTS": str(self.trust_lists),
            "DOCINTAKE_SECRET_KEY": "bench",
            "DOCINTAKE_LOG_LEVEL": "WARNING",
            "DOCINTAKE_MAILDIR": str(self.root / "Maildir"),
            "DOCINTAKE_POLL_INTERVAL": "0.5",
            "DOCINTAKE_RECONCILE_INTERVAL": "5",
            "DOCINTAKE_IMAP_BATCH": "200",
        }
        if self.config.database == "postgresql":
            self._pg_name = f"docintake_bench_{os.getpid()}_{secrets.token_hex(3)}"
            with self._pg_admin() as conn:
                conn.execute(f'CREATE DATABASE "{self._pg_name}"')
            from sqlalchemy.engine import make_url

            env["DOCINTAKE_DATABASE_URL"] = make_url(self.services.postgres_admin).set(
                drivername="postgresql+psycopg", database=self._pg_name).render_as_string(hide_password=False)
        if self.config.redis == "server":
            self._redis_db = self._reserve_redis()
            env["DOCINTAKE_REDIS_URL"] = f"{self.services.redis_server.rstrip('/')}/{self._redis_db}"
        if self.config.mailbox == "imap":
            from worker.bench.imap import start_dovecot

            self._dovecot = start_dovecot(self.root / "dovecot")
            env.update(self._dovecot.env())
        self.env = env
        self.cli("db", "upgrade", check=True)
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
        # the embedded Redis stops when its last user exits; make sure of it
        pidfile = Path(self.env.get("DOCINTAKE_DATA_DIR", "/nonexistent")) / "redis.pid"
        if self.config.redis == "embedded" and pidfile.exists():
            try:
                os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
            except (ValueError, OSError):
                pass
        from intake.store.db import dispose_engines

        try:
            dispose_engines()
        except Exception:  # noqa: BLE001 - best effort
            pass
        if self._pg_name:
            try:
                with self._pg_admin() as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')
            except Exception:  # noqa: BLE001
                pass
        if self._redis_db is not None:
            import redis

            try:
                redis.Redis.from_url(self.services.redis_server, db=self._redis_db).flushdb()
                admin = redis.Redis.from_url(self.services.redis_server, db=0)
                if admin.get(_REDIS_LOCK.format(self._redis_db)) == self._redis_token.encode():
                    admin.delete(_REDIS_LOCK.format(self._redis_db))
            except Exception:  # noqa: BLE001
                pass
        if self._dovecot is not None:
            self._dovecot.stop()

    def _pg_admin(self):
        import psycopg

        return psycopg.connect(self.services.postgres_admin, autocommit=True, connect_timeout=5)

    def _reserve_redis(self) -> int:
        import redis

        admin = redis.Redis.from_url(self.services.redis_server, db=0, socket_timeout=5)
        self._redis_token = f"bench-{os.getpid()}-{secrets.token_hex(4)}"
        for number in REDIS_DBS:
            if admin.set(_REDIS_LOCK.format(number), self._redis_token, nx=True, ex=3600):
                redis.Redis.from_url(self.services.redis_server, db=number).flushdb()
                return number
        raise RuntimeError(f"every Redis db 1..15 on {self.services.redis_server} is reserved")

    # ---- settings, CLI, processes ---------------------------------------------------------------
    @property
    def settings(self):
        from intake.config import load_settings

        return load_settings(env=self.env)

    def full_env(self, extra: dict | None = None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("DOCINTAKE_")}
        base.update(self.env)
        base["PYTHONUNBUFFERED"] = "1"
        base.update(extra or {})
        return base

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "intake.cli", *args]

    def cli(self, *args: str, check: bool = False, timeout: float = 600) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*args), env=self.full_env(), capture_output=True, text=True,
                              timeout=timeout, cwd=self.root)
        if check and proc.returncode != 0:
            raise RuntimeError(f"docintake {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        return proc

    def spawn(self, *args: str, log_name: str | None = None, extra_env: dict | None = None) -> subprocess.Popen:
        log = open(self.root / f"{log_name or args[0]}.log", "ab")
        proc = subprocess.Popen(self.argv(*args), env=self.full_env(extra_env), stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, cwd=self.root)
        log.close()
        self._procs.append(proc)
        return proc

    def stop_all(self, sig: int = signal.SIGTERM, wait: float = 20) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(sig)
        deadline = time.monotonic() + wait
        for proc in self._procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()

    # ---- data -------------------------------------------------------------------------------------
    def import_customers(self, forms: Iterable[SignedForm]) -> None:
        from intake.store.db import session_scope
        from worker.profiles import SqlProfileStore

        rows = [(f.national_id, {"first_name": f.values["first_name"], "last_name": f.values["last_name"]})
                for f in forms]
        with session_scope(self.settings) as session:
            SqlProfileStore().import_rows(session, rows)

    def deliver(self, raw: bytes, name: str) -> float:
        """Put one mail into the mailbox; returns the wall-clock time it landed."""
        if self.config.mailbox == "imap":
            mb = self._imap()
            mb.append(raw, "INBOX")
            return time.time()
        maildir_deliver(Path(self.env["DOCINTAKE_MAILDIR"]), raw, name)
        return time.time()

    _imap_box = None

    def _imap(self):
        if self._imap_box is None:
            self._imap_box = self._dovecot.mailbox()
        return self._imap_box

    def counts(self) -> dict[str, int]:
        from sqlalchemy import func, select

        from intake.store.db import session_scope
        from intake.store.models import Mail, ProfileChange, Submission

        with session_scope(self.settings) as session:
            by_status = dict(session.execute(select(Submission.status, func.count()).group_by(Submission.status)).all())
            reasons = dict(session.execute(select(Submission.main_reason, func.count())
                                           .where(Submission.main_reason.is_not(None))
                                           .group_by(Submission.main_reason)).all())
            mails = session.scalar(select(func.count()).select_from(Mail))
            changes = session.scalar(select(func.count()).select_from(ProfileChange)
                                     .where(ProfileChange.source == "form"))
        return {"mails": mails, "profile_changes": changes, **{f"status_{k}": v for k, v in by_status.items()},
                **{f"reason_{k}": v for k, v in reasons.items()}}

    def decided(self) -> int:
        from sqlalchemy import func, select

        from intake.store.db import session_scope
        from intake.store.models import WAITING, Submission

        with session_scope(self.settings) as session:
            total = session.scalar(select(func.count()).select_from(Submission))
            waiting = session.scalar(select(func.count()).select_from(Submission)
                                     .where(Submission.status.in_(WAITING)))
        return total - waiting

    def queue_length(self) -> int:
        from intake.queue import get_queue, redis_connection

        settings = self.settings
        conn = redis_connection(settings)
        try:
            return get_queue(settings, connection=conn).count
        finally:
            conn.close()

    def applied_times(self) -> dict[str, float]:
        """Message-ID -> wall-clock time its verdict was recorded (profile change, else the reject)."""
        from sqlalchemy import select

        from intake.store.db import session_scope
        from intake.store.models import Mail, ProfileChange, Submission

        out: dict[str, float] = {}
        with session_scope(self.settings) as session:
            rows = session.execute(
                select(Mail.message_id, ProfileChange.applied_at, Submission.decided_at)
                .join(Submission, Submission.mail_id == Mail.id)
                .outerjoin(ProfileChange, ProfileChange.submission_id == Submission.id)
            ).all()
        for mid, applied_at, decided_at in rows:
            when = applied_at or decided_at
            if mid and when is not None:
                out[mid] = when.timestamp()
        return out


def poll_once_args() -> list[str]:
    """The argv of one pass of the poller over the mailbox."""
    return ["poll", "--once"]


# ---- throughput ---------------------------------------------------------------------------------------
def run_throughput(inst: Installation, forms: Sequence[SignedForm], workers: int, *, mode: str = "overlap",
                   progress=None, timeout: float = 1800) -> dict:
    """All mails in the mailbox first (a backlog), then through the pipeline:

    ``overlap`` (mail to profile): the poller's pass (``docintake poll --once``) and ``workers``
    ``docintake worker --burst`` processes start together; a burst worker that finds the queue
    empty while the poller still feeds it is started again. Timed from the poller's start to the
    last verdict.
    ``staged``: the poller's pass first (timed on its own), then the burst workers on the full
    queue, timed from their start to the last verdict: how the worker stage scales.
    """
    inst.import_customers(forms)
    for f in forms:
        inst.deliver(make_mail(f.pdf, index=f.index), f"bench-{f.index}.mail")
    n = len(forms)
    t0 = time.monotonic()
    poller = inst.spawn(*poll_once_args(), log_name="poll")
    poll_done = None
    if mode == "staged":
        poller.wait(timeout)
        poll_done = time.monotonic() - t0
        if poller.returncode != 0:
            raise RuntimeError(f"docintake poll exited {poller.returncode}; see {inst.root / 'poll.log'}")
    t_work = time.monotonic()
    wall_work = time.time()
    slots: list[subprocess.Popen | None] = [None] * workers
    starts = 0
    done = 0
    while True:
        if poll_done is None and poller.poll() is not None:
            poll_done = time.monotonic() - t0
            if poller.returncode != 0:
                raise RuntimeError(f"docintake poll exited {poller.returncode}; see {inst.root / 'poll.log'}")
        queued = inst.queue_length()
        for k, proc in enumerate(slots):
            if (proc is None and starts < workers) or (proc is not None and proc.poll() is not None and queued > 0):
                slots[k] = inst.spawn("worker", "--burst", log_name=f"worker{k}")
                starts += 1
        new_done = inst.decided()
        if progress is not None and new_done > done:
            progress.update(new_done - done)
        done = new_done
        running = [p for p in slots if p is not None and p.poll() is None]
        if poll_done is not None and done >= n and not running:
            break
        if poll_done is not None and not running and queued == 0 and done < n:
            inst.cli("reconcile")  # nothing queued, nobody working, verdicts missing
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{inst.config.name}: {done}/{n} decided after {timeout}s")
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    work = time.monotonic() - t_work
    times = sorted(inst.applied_times().values())
    counts = inst.counts()
    out = {
        "config": inst.config.name,
        "mode": mode,
        "workers": workers,
        "forms": n,
        "seconds": round(elapsed, 3),
        "poll_seconds": round(poll_done, 3),
        "worker_starts": starts,
        "counts": counts,
    }
    if mode == "staged":
        out["worker_seconds"] = round(work, 3)
        out["throughput_per_s"] = round(n / work, 3)  # the worker stage
        if len(times) > 1:
            out["steady_per_s"] = round((len(times) - 1) / (times[-1] - times[0]), 3)
        out["first_verdict_after_s"] = round(times[0] - wall_work, 3) if times else None
    else:
        out["throughput_per_s"] = round(n / elapsed, 3)  # mail to profile
    return out


# ---- latency at a steady load ---------------------------------------------------------------------------
def run_latency(inst: Installation, forms: Sequence[SignedForm], rate: float, workers: int = 2, *,
                progress=None, settle: float = 120) -> dict:
    """``docintake poll`` (looping every DOCINTAKE_POLL_INTERVAL) and ``workers`` workers running;
    one mail lands every 1/rate seconds; latency = verdict recorded - mail landed."""
    inst.import_customers(forms)
    poller = inst.spawn("poll", log_name="poll-loop")
    procs = [inst.spawn("worker", log_name=f"lworker{k}") for k in range(workers)]
    time.sleep(3.0)  # let them start (imports, warm-up) before the first mail
    landed: dict[str, float] = {}
    t_next = time.monotonic()
    for f in forms:
        now = time.monotonic()
        if now < t_next:
            time.sleep(t_next - now)
        t_next += 1.0 / rate
        mid = f"<bench-latency-{f.index}-{secrets.token_hex(4)}@example.lv>"
        landed[mid] = inst.deliver(make_mail(f.pdf, index=f.index, message_id=mid), f"lat-{f.index}.mail")
        if progress is not None:
            progress.update(1)
    deadline = time.monotonic() + settle
    while inst.decided() < len(forms) and time.monotonic() < deadline:
        if poller.poll() is not None or any(p.poll() is not None for p in procs):
            break
        time.sleep(0.2)
    times = inst.applied_times()
    lat = sorted(times[m] - t for m, t in landed.items() if m in times)
    inst.stop_all()
    return {
        "config": inst.config.name,
        "workers": workers,
        "rate_per_s": rate,
        "mails": len(forms),
        "decided": len(lat),
        "poll_interval_s": float(inst.env["DOCINTAKE_POLL_INTERVAL"]),
        "latencies_s": [round(x, 4) for x in lat],
    }
