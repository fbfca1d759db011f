"""intake.mailin.poller with the Maildir source, the real databases and real Redis; intake.mailin.locks."""

from __future__ import annotations

import mailbox
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from intake.mailin import poller
from intake.mailin.locks import LockLost, MailboxLock
from intake.mailin.poller import poll_once
from intake.mailin.sources import MaildirSource, source_from_settings
from intake.store.db import session_scope
from intake.store.models import Mail, Submission

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def make_mail(n: int, *pdfs: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Anna <anna@example.lv>"
    msg["Subject"] = f"Veidlapa {n}"
    msg["Message-ID"] = f"<{n}@example.lv>"
    msg.set_content("Sveiki")
    for i, data in enumerate(pdfs):
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=f"f{i}.pdf")
    return msg.as_bytes()


@pytest.fixture
def maildir_settings(make_settings, db_backend):
    settings = make_settings(db_backend, redis=True)
    mailbox.Maildir(settings.resolved_maildir, create=True)
    return settings


@pytest.fixture
def conn(maildir_settings):
    c = redis_lib.Redis.from_url(maildir_settings.redis_url)
    yield c
    c.close()


def deliver(settings, raw: bytes) -> str:
    return mailbox.Maildir(settings.resolved_maildir, create=True).add(raw)


def files(settings, sub: str) -> list[str]:
    return sorted(p.name for p in (Path(settings.resolved_maildir) / sub).iterdir())


def db_counts(settings) -> tuple[int, int]:
    with session_scope(settings) as s:
        return (s.scalar(select(func.count()).select_from(Mail)),
                s.scalar(select(func.count()).select_from(Submission)))


def test_maildir_end_to_end(maildir_settings, conn):
    from intake.queue import job_status

    k1 = deliver(maildir_settings, make_mail(1, PDF, PDF + b"b"))
    k2 = deliver(maildir_settings, make_mail(2))  # no PDF
    source = source_from_settings(maildir_settings)
    assert isinstance(source, MaildirSource)
    result = poll_once(maildir_settings, source, redis=conn)
    assert (result.mails, result.submissions, result.skipped, result.error) == (2, 2, 0, None)
    assert files(maildir_settings, "new") == []
    assert files(maildir_settings, "cur") == sorted([f"{k1}:2,S", f"{k2}:2,S"])
    with session_scope(maildir_settings) as s:
        subs = s.scalars(select(Submission).order_by(Submission.id)).all()
        assert [(x.status, x.part_index) for x in subs] == [("queued", 1), ("queued", 2), ("rejected", -1)]
        assert {m.uid for m in s.scalars(select(Mail))} == {k1, k2}
        assert {m.mailbox for m in s.scalars(select(Mail))} == {source.mailbox_name}
    for sub in subs[:2]:
        assert job_status(maildir_settings, sub.id, connection=conn) == "queued"
    # nothing new: the next cycle does nothing
    assert poll_once(maildir_settings, source, redis=conn).mails == 0
    assert db_counts(maildir_settings) == (2, 3)


def test_maildir_moves_to_cur_only_after_commit(maildir_settings, conn, monkeypatch):
    deliver(maildir_settings, make_mail(1, PDF))
    deliver(maildir_settings, make_mail(2, PDF))
    source = MaildirSource(maildir_settings.resolved_maildir)
    seen_at_mark: list[tuple[int, list[str]]] = []
    real_mark = source.mark_processed

    def mark(uids):
        # at this moment the database (another session) must already hold these mails
        with session_scope(maildir_settings) as s:
            recorded = s.scalar(select(func.count()).select_from(Mail).where(Mail.uid.in_(list(uids))))
        seen_at_mark.append((recorded, list(uids)))
        real_mark(uids)

    monkeypatch.setattr(source, "mark_processed", mark)
    poll_once(maildir_settings, source, redis=conn)
    assert seen_at_mark and all(n == len(uids) for n, uids in seen_at_mark)

    # a failing database: the mail stays in new/
    k3 = deliver(maildir_settings, make_mail(3, PDF))

    def broken(*a, **kw):
        raise OperationalError("INSERT", {}, Exception("database is down"))

    monkeypatch.setattr(poller, "record_mail", broken)
    result = poll_once(maildir_settings, MaildirSource(maildir_settings.resolved_maildir), redis=conn)
    assert (result.mails, result.skipped) == (0, 1)
    assert files(maildir_settings, "new") == [k3]
    monkeypatch.undo()
    result = poll_once(maildir_settings, MaildirSource(maildir_settings.resolved_maildir), redis=conn)
    assert (result.mails, result.submissions) == (1, 1)
    assert files(maildir_settings, "new") == []


def test_crash_between_commit_and_mark(maildir_settings, conn, monkeypatch):
    for n in range(3):
        deliver(maildir_settings, make_mail(n, PDF + bytes([n])))
    source = MaildirSource(maildir_settings.resolved_maildir)

    def crash(uids):
        raise OSError("disk went away")

    monkeypatch.setattr(source, "mark_processed", crash)
    result = poll_once(maildir_settings, source, redis=conn)
    assert result.error and result.mails == 3
    assert len(files(maildir_settings, "new")) == 3  # committed, not marked
    result = poll_once(maildir_settings, MaildirSource(maildir_settings.resolved_maildir), redis=conn)
    assert (result.mails, result.submissions, result.marked) == (0, 0, 3)  # only marked now
    assert files(maildir_settings, "new") == []
    assert db_counts(maildir_settings) == (3, 3)


def test_same_mail_twice_and_same_pdf_in_two_mails(maildir_settings, conn):
    raw = make_mail(1, PDF)
    deliver(maildir_settings, raw)
    deliver(maildir_settings, raw)  # the very same bytes delivered twice
    deliver(maildir_settings, make_mail(2, PDF))  # another mail, same PDF
    result = poll_once(maildir_settings, MaildirSource(maildir_settings.resolved_maildir), redis=conn)
    assert (result.mails, result.submissions, result.marked) == (3, 2, 3)
    assert db_counts(maildir_settings) == (2, 2)
    assert files(maildir_settings, "new") == []


def test_enqueue_failure_keeps_the_submission_received(maildir_settings, conn, monkeypatch):
    import intake.queue

    def down(*a, **kw):
        raise redis_lib.ConnectionError("redis went away")

    monkeypatch.setattr(intake.queue, "enqueue_submission", down)
    deliver(maildir_settings, make_mail(1, PDF))
    result = poll_once(maildir_settings, MaildirSource(maildir_settings.resolved_maildir), redis=conn)
    assert (result.mails, result.submissions, result.enqueue_failed, result.marked) == (1, 1, 1, 1)
    with session_scope(maildir_settings) as s:
        assert s.scalars(select(Submission.status)).all() == ["received"]


def test_submissions_are_marked_queued_once_per_batch_and_a_failed_mark_loses_nothing(
        maildir_settings, conn, monkeypatch):
    import intake.queue
    from intake.queue import job_status
    from intake.queue.reconcile import reconcile

    calls: list[list[int]] = []
    real = intake.queue.mark_queued
    monkeypatch.setattr(intake.queue, "mark_queued", lambda settings, ids: (calls.append(list(ids)), real(settings, ids)))
    for n in range(5):
        deliver(maildir_settings, make_mail(n, PDF + bytes([n])))
    result = poll_once(maildir_settings, MaildirSource(maildir_settings.resolved_maildir, batch=2), redis=conn)
    assert (result.mails, result.submissions, result.enqueue_failed) == (5, 5, 0)
    assert [len(c) for c in calls] == [2, 2, 1]  # one transaction per batch of mails
    with session_scope(maildir_settings) as s:
        assert s.scalars(select(Submission.status)).all() == ["queued"] * 5

    # the database refuses the mark: the jobs are pushed, the submissions stay received, the mail is
    # marked processed, and the reconciler marks them without pushing a second job
    def refused(*a, **kw):
        raise OperationalError("UPDATE", {}, Exception("database is locked"))

    monkeypatch.setattr(intake.queue, "mark_queued", refused)
    deliver(maildir_settings, make_mail(9, PDF + b"9"))
    result = poll_once(maildir_settings, MaildirSource(maildir_settings.resolved_maildir), redis=conn)
    assert (result.mails, result.submissions, result.error, result.marked) == (1, 1, None, 1)
    with session_scope(maildir_settings) as s:
        [sub] = s.scalars(select(Submission).where(Submission.status == "received")).all()
    assert job_status(maildir_settings, sub.id, connection=conn) == "queued"
    length = intake.queue.queue_length(maildir_settings, connection=conn)
    monkeypatch.setattr(intake.queue, "mark_queued", real)  # the database answers again
    assert reconcile(maildir_settings, connection=conn) == 0
    assert intake.queue.queue_length(maildir_settings, connection=conn) == length
    with session_scope(maildir_settings) as s:
        assert s.get(Submission, sub.id).status == "queued"


def test_cur_without_processed_flag_is_taken(maildir_settings, conn):
    md = Path(maildir_settings.resolved_maildir)
    (md / "cur" / "1700000000.x1.host:2,").write_bytes(make_mail(1, PDF))  # read by a client, not by us
    (md / "cur" / "1700000000.x2.host:2,S").write_bytes(make_mail(2, PDF))  # processed earlier
    result = poll_once(maildir_settings, MaildirSource(md), redis=conn)
    assert (result.mails, result.submissions) == (1, 1)
    assert files(maildir_settings, "cur") == ["1700000000.x1.host:2,S", "1700000000.x2.host:2,S"]


def test_lock_keeps_a_second_poller_out(maildir_settings, conn):
    source = MaildirSource(maildir_settings.resolved_maildir)
    deliver(maildir_settings, make_mail(1, PDF))
    holder = MailboxLock(conn, source.mailbox_name, ttl=30)
    assert holder.acquire()
    try:
        result = poll_once(maildir_settings, MaildirSource(maildir_settings.resolved_maildir), redis=conn)
        assert result.busy and result.mails == 0
        assert len(files(maildir_settings, "new")) == 1
    finally:
        holder.release()
    assert poll_once(maildir_settings, source, redis=conn).mails == 1


class SlowMaildir(MaildirSource):
    def __init__(self, *a, started: threading.Event, **kw):
        super().__init__(*a, **kw)
        self.started = started

    def fetch(self, known_uids):
        for mail in super().fetch(known_uids):
            self.started.set()
            time.sleep(0.2)
            yield mail


def test_two_concurrent_pollers(maildir_settings, conn):
    for n in range(5):
        deliver(maildir_settings, make_mail(n, PDF + bytes([n])))
    started = threading.Event()
    results = {}

    def run_a():
        c = redis_lib.Redis.from_url(maildir_settings.redis_url)
        results["a"] = poll_once(maildir_settings, SlowMaildir(maildir_settings.resolved_maildir, started=started),
                                 redis=c)

    thread = threading.Thread(target=run_a)
    thread.start()
    assert started.wait(20)
    results["b"] = poll_once(maildir_settings, MaildirSource(maildir_settings.resolved_maildir), redis=conn)
    thread.join(60)
    assert results["b"].busy and results["b"].mails == 0
    assert results["a"].mails == 5 and not results["a"].busy
    assert db_counts(maildir_settings) == (5, 5)


def test_lock_ttl_keep_alive_and_loss(redis_url):
    conn = redis_lib.Redis.from_url(redis_url)
    lock = MailboxLock(conn, "maildir:/x", ttl=1)
    assert lock.acquire()
    other = MailboxLock(conn, "maildir:/x", ttl=1)
    assert not other.acquire()
    for _ in range(4):  # 1.6 s > ttl: still ours because it is kept alive
        time.sleep(0.4)
        lock.keep_alive()
    assert not other.acquire()
    lock.release()
    assert other.acquire()
    conn.delete(other.key)  # expired, and someone else took it
    assert MailboxLock(conn, "maildir:/x", ttl=5).acquire()
    with pytest.raises(LockLost):
        other.keep_alive(force=True)


def test_redis_down_skips_the_cycle(maildir_settings):
    deliver(maildir_settings, make_mail(1, PDF))
    dead = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    result = poll_once(maildir_settings, MaildirSource(maildir_settings.resolved_maildir), redis=dead)
    assert result.error and result.mails == 0
    assert len(files(maildir_settings, "new")) == 1


def test_poll_command_once(maildir_settings, run_cli):
    deliver(maildir_settings, make_mail(1, PDF))
    proc = run_cli(maildir_settings, "poll", "--once")
    assert proc.returncode == 0, proc.stderr
    assert "1 mail(s), 1 submission(s), 0 skipped" in proc.stdout
    assert files(maildir_settings, "new") == []
    assert db_counts(maildir_settings) == (1, 1)


def test_poll_command_refuses_an_old_schema(make_settings, run_cli):
    settings = make_settings("sqlite", redis=True, upgrade=False)
    proc = run_cli(settings, "poll", "--once")
    assert proc.returncode != 0
    assert "docintake db upgrade" in proc.stderr


def test_poll_loop_stops_cleanly_on_ctrl_c(maildir_settings, settings_env):
    import os
    import signal
    import subprocess
    import sys

    deliver(maildir_settings, make_mail(1, PDF))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCINTAKE_")}
    env.update(settings_env(maildir_settings.with_(poll_interval=0.2)))
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "intake.cli", "poll"], env=env, cwd=maildir_settings.data_dir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while files(maildir_settings, "new") and time.monotonic() < deadline:
            time.sleep(0.1)
        deliver(maildir_settings, make_mail(2, PDF + b"2"))  # taken by a later cycle of the loop
        while files(maildir_settings, "new") and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "poller stopped" in err and "Traceback" not in err
    assert files(maildir_settings, "new") == []
    assert db_counts(maildir_settings) == (2, 2)
