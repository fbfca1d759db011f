"""worker.jobs.process_submission: the decision of ``docintake verify``, applied or rejected in one
transaction, exactly once, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy.exc as sa_exc

from intake.queue import (
    enqueue_submission,
    get_queue,
    redis_connection,
    stop_embedded_redis,
)
from tests.test_pipeline_support import (
    _descendants,
    add_submission,
    audit,
    changes,
    cli_env,
    customer_values,
    import_customers,
    national_id_of,
    pids_alive,
    profile,
    snapshot,
    submissions,
    wait_for,
    worker_burst,
)
from worker import jobs

CODE = "320000-12345"


@pytest.fixture
def wsettings(make_settings, db_backend, pki):
    return make_settings(db_backend, trust_lists=pki.trust_lists_path)


@pytest.fixture
def customers(wsettings):
    values = [customer_values(i) for i in range(3)]
    import_customers(wsettings, values)
    return values


def test_a_valid_form_is_applied_with_history(wsettings, customers, signed_form):
    values = dict(customers[0], phone="+37126111222", email="new@example.lv")
    pdf = signed_form(values)
    sid = add_submission(wsettings, pdf)
    assert jobs.run(wsettings, sid) == "applied"
    sub = submissions(wsettings)[sid]
    assert sub["status"] == "applied" and sub["main_reason"] is None and sub["reasons"] == []
    assert sub["national_id"] == national_id_of(values)
    assert sub["report"]["verdict"] == "accepted" and sub["report"]["fields"]["phone"] == "+37126111222"
    assert sub["signing_time"] is not None and sub["decided_at"] is not None and sub["attempts"] == 1
    prof = profile(wsettings, national_id_of(values))
    assert prof["fields"]["phone"] == "+37126111222" and prof["fields"]["email"] == "new@example.lv"
    history = changes(wsettings)
    assert len(history) == 1 and history[0]["submission_id"] == sid
    assert history[0]["before"]["phone"] == "+37129999990" and history[0]["after"]["phone"] == "+37126111222"
    events = audit(wsettings)
    assert [e["action"] for e in events] == ["submission_applied"] and events[0]["submission_id"] == sid


def test_running_the_job_twice_changes_nothing(wsettings, customers, signed_form):
    good = add_submission(wsettings, signed_form(customers[0]))
    bad = add_submission(wsettings, b"not a pdf at all")
    assert jobs.run(wsettings, good) == "applied"
    assert jobs.run(wsettings, bad) == "rejected"
    before = snapshot(wsettings)
    assert jobs.run(wsettings, good) == "noop"
    assert jobs.run(wsettings, bad) == "noop"
    assert jobs.run(wsettings, 999999) == "noop"
    assert snapshot(wsettings) == before


def test_verdicts_of_bad_documents_are_rejects_not_failures(wsettings, customers, signed_form, pki, person_for,
                                                            make_form):
    stranger = customer_values(50)
    cases = {
        "not_pdf": b"Hello, the form follows tomorrow.",
        "unsigned": make_form(customers[1]),
        "signer_mismatch": signed_form(customers[1], person=person_for(customers[2])),
        "untrusted_signer": signed_form(customers[1], variant="untrusted"),
        "field_invalid": signed_form(dict(customers[1], phone="12345")),
        "unknown_customer": signed_form(stranger),
    }
    ids = {reason: add_submission(wsettings, pdf) for reason, pdf in cases.items()}
    no_pdf = add_submission(wsettings, None)
    for sid in [*ids.values(), no_pdf]:
        assert jobs.run(wsettings, sid) == "rejected"
    state = submissions(wsettings)
    for reason, sid in ids.items():
        assert state[sid]["status"] == "rejected", reason
        assert state[sid]["main_reason"] == reason, (reason, state[sid]["reasons"])
        assert state[sid]["reasons"][0]["code"] == reason
        assert state[sid]["report"] is not None
    assert state[no_pdf]["main_reason"] == "no_pdf_attachment"
    assert changes(wsettings) == []
    assert {e["detail"]["main_reason"] for e in audit(wsettings)} == {*cases, "no_pdf_attachment"}


def test_duplicate_and_stale(wsettings, customers, signed_form):
    older = signed_form(dict(customers[0], phone="+37126000001"))
    time.sleep(1.1)
    newer = signed_form(dict(customers[0], phone="+37126000002"))
    first = add_submission(wsettings, newer)
    again = add_submission(wsettings, newer)  # the same document in another mail
    late = add_submission(wsettings, older)
    assert [jobs.run(wsettings, s) for s in (first, again, late)] == ["applied", "rejected", "rejected"]
    state = submissions(wsettings)
    assert state[again]["main_reason"] == "duplicate" and state[late]["main_reason"] == "stale"
    assert profile(wsettings, national_id_of(customers[0]))["fields"]["phone"] == "+37126000002"
    assert len(changes(wsettings)) == 1


def test_an_unexpected_error_is_a_reject_with_internal_error_and_masked_logs(wsettings, customers, signed_form,
                                                                            monkeypatch, caplog):
    sid = add_submission(wsettings, signed_form(customers[0]))

    def broken(content, settings, now=None):
        raise ValueError(f"cannot handle {CODE}")

    monkeypatch.setattr(jobs, "decide_document", broken)
    with caplog.at_level(logging.INFO):
        assert jobs.run(wsettings, sid) == "rejected"
    state = submissions(wsettings)[sid]
    assert state["main_reason"] == "internal_error"
    assert CODE not in caplog.text and "32000012345" not in caplog.text
    assert "internal_error" in caplog.text
    assert CODE not in str(state["report"])
    assert changes(wsettings) == []


def test_an_unexpected_error_while_applying_is_a_reject_too(wsettings, customers, signed_form, monkeypatch):
    from worker.profiles import SqlProfileStore

    sid = add_submission(wsettings, signed_form(customers[0]))

    def broken(self, session, **kw):
        raise KeyError("profile store bug")

    monkeypatch.setattr(SqlProfileStore, "apply", broken)
    assert jobs.run(wsettings, sid) == "rejected"
    assert submissions(wsettings)[sid]["main_reason"] == "internal_error"


def test_transient_errors_propagate_masked_for_rq_to_retry(wsettings, customers, signed_form, monkeypatch):
    sid = add_submission(wsettings, signed_form(customers[0]))

    def down(*args, **kwargs):
        raise sa_exc.OperationalError("UPDATE submissions ...", {"national_id": "LV-32000012345"},
                                      Exception(f"server closed the connection unexpectedly {CODE}"))

    monkeypatch.setattr(jobs, "finish", down)
    monkeypatch.setattr(jobs, "load_settings", lambda: wsettings)
    with pytest.raises(jobs.TransientError) as err:
        jobs.process_submission(sid)
    assert CODE not in str(err.value) and "32000012345" not in str(err.value)
    assert "OperationalError" in str(err.value)
    state = submissions(wsettings)[sid]
    assert state["status"] == "processing" and state["last_error"] and CODE not in state["last_error"]
    monkeypatch.undo()
    assert jobs.run(wsettings, sid) == "applied"  # the retry
    assert submissions(wsettings)[sid]["attempts"] == 2 and submissions(wsettings)[sid]["last_error"] is None


def test_concurrent_executions_apply_once(wsettings, customers, signed_form):
    """Two workers running the same submission at once (e.g. a lease taken over): one verdict."""
    sid = add_submission(wsettings, signed_form(customers[0]))
    same_doc = add_submission(wsettings, signed_form(customers[1]))
    twin = add_submission(wsettings, submissions_content(wsettings, same_doc))
    barrier = threading.Barrier(4)
    results: list[str] = []

    def go(s):
        barrier.wait()
        results.append(jobs.run(wsettings, s))

    threads = [threading.Thread(target=go, args=(s,)) for s in (sid, sid, same_doc, twin)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    state = submissions(wsettings)
    assert state[sid]["status"] == "applied"
    assert {state[same_doc]["main_reason"], state[twin]["main_reason"]} == {None, "duplicate"}
    assert len(changes(wsettings)) == 2
    assert sorted(results).count("noop") == 1


def submissions_content(settings, sid):
    from intake.store.db import session_scope
    from intake.store.models import Submission

    with session_scope(settings) as session:
        return session.get(Submission, sid).content


# ---- the worker command -------------------------------------------------------------------------
@pytest.mark.parametrize("worker_class", ["fork", "simple"])
def test_worker_command_processes_the_queue(make_settings, pki, signed_form, worker_class):
    settings = make_settings("sqlite", redis=True, trust_lists=pki.trust_lists_path)
    values = [customer_values(i) for i in range(2)]
    import_customers(settings, values)
    ids = [add_submission(settings, signed_form(v)) for v in values] + [add_submission(settings, b"junk")]
    for sid in ids:
        enqueue_submission(settings, sid)
    worker_burst(settings, "--worker-class", worker_class)
    state = submissions(settings)
    assert [state[s]["status"] for s in ids] == ["applied", "applied", "rejected"]
    queue = get_queue(settings)
    assert len(queue) == 0 and queue.failed_job_registry.count == 0


def test_worker_refuses_an_out_of_date_schema(make_settings):
    settings = make_settings("sqlite", upgrade=False)
    proc = worker_burst(settings, check=False, timeout=120)
    assert proc.returncode != 0
    assert "db upgrade" in proc.stderr + proc.stdout


def test_worker_stops_cleanly_on_sigterm(make_settings):
    settings = make_settings("sqlite")  # embedded Redis
    proc = subprocess.Popen([sys.executable, "-m", "intake.cli", "worker"], env=cli_env(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(settings.data_dir))
    try:
        from rq import Worker

        conn = redis_connection(settings)
        wait_for(lambda: Worker.count(connection=conn) >= 1, 120, what="the worker to register")
        time.sleep(1)
        family = [proc.pid, *_descendants(proc.pid)]  # the worker and its scheduler process
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert Worker.count(connection=conn) == 0
        wait_for(lambda: not pids_alive(family), 30, what="no process of the worker left")
    finally:
        if proc.poll() is None:
            proc.kill()
        stop_embedded_redis(settings)


def test_simple_worker_starts_afresh_after_recycle_after_jobs(make_settings, pki, signed_form):
    settings = make_settings("sqlite", redis=True, trust_lists=pki.trust_lists_path)
    ids = [add_submission(settings, b"junk %d" % i) for i in range(5)]
    proc = subprocess.Popen([sys.executable, "-m", "intake.cli", "worker", "--recycle-after", "2"],
                            env=cli_env(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=str(settings.data_dir))
    try:
        for sid in ids:
            enqueue_submission(settings, sid)
        wait_for(lambda: all(s["status"] == "rejected" for s in submissions(settings).values()), 240,
                 what="every submission decided")
        assert proc.poll() is None  # still the same process (re-executed in place)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert out.count("starting afresh") == 2
    finally:
        if proc.poll() is None:
            proc.kill()


def test_signed_at_is_never_later_than_the_mails_receipt(wsettings, customers, signed_form):
    """Issue 12: a claimed signing time after the mail arrived (a clock set ahead, short of the
    5-minute future limit) is capped at the receipt, so it cannot make the next genuine form stale."""
    import datetime as dt

    from sqlalchemy import update

    from intake.store.db import session_scope
    from intake.store.models import Submission

    first = add_submission(wsettings, signed_form(dict(customers[1], phone="+37126000011")))
    received = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=3)
    with session_scope(wsettings) as session:
        session.execute(update(Submission).where(Submission.id == first).values(received_at=received))
    assert jobs.run(wsettings, first) == "applied"
    signed_at = profile(wsettings, national_id_of(customers[1]))["signed_at"]
    assert abs((signed_at - received).total_seconds()) < 1e-3
    assert abs((submissions(wsettings)[first]["signing_time"] - received).total_seconds()) < 1e-3
    time.sleep(1.1)
    later = add_submission(wsettings, signed_form(dict(customers[1], phone="+37126000012")))
    assert jobs.run(wsettings, later) == "applied"
