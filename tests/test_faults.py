"""Faults: a worker killed with SIGKILL mid-job, a work horse killed, Redis flushed or restarted
empty, the database unreachable for a while. Every time: nothing lost, applied exactly once."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from rq.job import Job

from intake.queue import (
    enqueue_submission,
    get_queue,
    job_id_for,
    job_status,
    redis_connection,
    stop_embedded_redis,
)
from intake.queue.reconcile import reconcile
from tests.fixtures.services import run_cli
from tests.test_pipeline_support import (
    add_submission,
    changes,
    customer_values,
    hooked_worker,
    import_customers,
    kill_group,
    national_id_of,
    pids_alive,
    profile,
    submissions,
    wait_for,
    worker_burst,
)
from worker import jobs


@pytest.fixture
def fsettings(make_settings, db_backend, pki):
    return make_settings(db_backend, redis=True, trust_lists=pki.trust_lists_path, lease_seconds=1)


def _one_customer_submission(settings, signed_form, i=0):
    values = customer_values(i)
    import_customers(settings, [values])
    sid = add_submission(settings, signed_form(dict(values, phone="+37126777888")))
    return values, sid


@pytest.mark.parametrize("where", ["decide", "apply"])
def test_worker_killed_mid_job_then_reconcile_applies_exactly_once(fsettings, signed_form, tmp_path, where):
    """SIGKILL of the worker and its work horse while deciding, or after the profile store applied
    the update but before the commit. The transaction dies with the process; the reconciler finds
    the submission past its lease and a new worker applies it once."""
    values, sid = _one_customer_submission(fsettings, signed_form)
    enqueue_submission(fsettings, sid)
    marker = tmp_path / "reached"
    proc = hooked_worker(fsettings, where, marker, "--burst")
    try:
        wait_for(marker.exists, 180, what=f"the worker to reach {where}")
        time.sleep(0.3)
    finally:
        kill_group(proc)
    state = submissions(fsettings)[sid]
    assert state["status"] == "processing" and state["attempts"] == 1
    assert changes(fsettings) == []  # nothing committed: the apply died with its transaction
    assert profile(fsettings, national_id_of(values))["version"] == 1
    assert job_status(fsettings, sid) == "started"  # RQ still thinks it runs

    time.sleep(1.2)  # the lease (1 s) expires
    assert reconcile(fsettings) == 1
    assert job_status(fsettings, sid) == "queued"
    worker_burst(fsettings)
    state = submissions(fsettings)[sid]
    assert state["status"] == "applied" and state["attempts"] == 2
    assert len(changes(fsettings)) == 1
    assert profile(fsettings, national_id_of(values))["fields"]["phone"] == "+37126777888"
    assert reconcile(fsettings) == 0
    # a stray copy of the job changes nothing either
    enqueue_submission(fsettings, sid)
    worker_burst(fsettings)
    assert len(changes(fsettings)) == 1 and submissions(fsettings)[sid]["attempts"] == 2


def test_killed_work_horse_is_retried_by_rq(make_settings, pki, signed_form, tmp_path):
    """Only the work horse dies (OOM killer): RQ's worker sees it and schedules the retry; the
    burst worker waits for it and the second attempt applies the form."""
    settings = make_settings("sqlite", redis=True, trust_lists=pki.trust_lists_path, retry_backoff=(1,))
    values, sid = _one_customer_submission(settings, signed_form)
    enqueue_submission(settings, sid)
    marker, once = tmp_path / "reached", tmp_path / "once"
    proc = hooked_worker(settings, "decide", marker, "--burst", "--worker-class", "fork", once=once)
    try:
        horse = int(wait_for(lambda: marker.exists() and marker.read_text(), 180, what="the horse"))
        assert horse != proc.pid
        os.kill(horse, signal.SIGKILL)
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, out
    finally:
        if proc.poll() is None:
            kill_group(proc)
    state = submissions(settings)[sid]
    assert state["status"] == "applied" and state["attempts"] == 2
    assert len(changes(settings)) == 1


@pytest.mark.parametrize("redis_kind", ["redis-server", "embedded"])
def test_redis_flushed_between_poll_and_work_loses_nothing(make_settings, pki, signed_form, redis_kind):
    settings = make_settings("sqlite", redis=redis_kind == "redis-server", trust_lists=pki.trust_lists_path)
    try:
        values = [customer_values(i) for i in range(3)]
        import_customers(settings, values)
        ids = [add_submission(settings, signed_form(v)) for v in values] + [add_submission(settings, b"junk")]
        for sid in ids:
            enqueue_submission(settings, sid)
        received = add_submission(settings, signed_form(customer_values(40)))  # never enqueued at all
        conn = redis_connection(settings)
        assert len(get_queue(settings, connection=conn)) == 4
        conn.flushdb()
        conn.close()
        out = run_cli(settings, "reconcile", check=True)
        assert "5 submission(s) enqueued" in out.stdout
        assert run_cli(settings, "reconcile", check=True).stdout.startswith("0 ")  # nothing twice
        worker_burst(settings)
        state = submissions(settings)
        assert [state[s]["status"] for s in ids] == ["applied", "applied", "applied", "rejected"]
        assert state[received]["main_reason"] == "unknown_customer"
        assert len(changes(settings)) == 3
    finally:
        if redis_kind == "embedded":
            stop_embedded_redis(settings)


def test_embedded_redis_restarted_without_its_data(make_settings, pki, signed_form):
    settings = make_settings("sqlite", trust_lists=pki.trust_lists_path)
    try:
        values, sid = _one_customer_submission(settings, signed_form)
        enqueue_submission(settings, sid)
        stop_embedded_redis(settings)
        Path(settings.data_dir, "redis.db").unlink()
        assert job_status(settings, sid) is None  # a fresh, empty server
        assert reconcile(settings) == 1
        worker_burst(settings)
        assert submissions(settings)[sid]["status"] == "applied"
    finally:
        stop_embedded_redis(settings)


def test_reconcile_leaves_live_jobs_alone(make_settings, pki, signed_form):
    settings = make_settings("sqlite", redis=True, lease_seconds=3600)
    queued = add_submission(settings, b"a")
    enqueue_submission(settings, queued)
    running = add_submission(settings, b"b", status="processing")
    conn = redis_connection(settings)
    queue = get_queue(settings, connection=conn)
    enqueue_submission(settings, running)
    queue.remove(job_id_for(running))
    Job.fetch(job_id_for(running), connection=conn, serializer=queue.serializer).set_status("started")
    retrying = add_submission(settings, b"c")
    enqueue_submission(settings, retrying)
    queue.remove(job_id_for(retrying))
    Job.fetch(job_id_for(retrying), connection=conn, serializer=queue.serializer).set_status("scheduled")
    decided = add_submission(settings, b"d", status="rejected")
    assert reconcile(settings) == 0
    assert queue.job_ids == [job_id_for(queued)]
    assert job_status(settings, running) == "started" and job_status(settings, retrying) == "scheduled"
    assert job_status(settings, decided) is None
    # A failed job (RQ gave up) of a submission still waiting is replaced.
    Job.fetch(job_id_for(retrying), connection=conn, serializer=queue.serializer).set_status("failed")
    assert reconcile(settings) == 1 and job_status(settings, retrying) == "queued"


# ---- the database unreachable for a while -------------------------------------------------------
class TcpProxy:
    """A loopback TCP proxy to PostgreSQL that can be taken down (connections dropped, port closed)
    and brought back on the same port."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self._listener is not None:
            try:  # wakes the accept() blocked in the other thread (close() alone would not)
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def test_database_unreachable_for_a_while_is_retried_and_nothing_is_lost(make_settings, pki, signed_form,
                                                                        tmp_path):
    from sqlalchemy.engine import make_url

    direct = make_settings("postgresql", redis=True, trust_lists=pki.trust_lists_path, job_retries=8,
                           retry_backoff=(1, 2))
    url = make_url(direct.database_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    settings = direct.with_(database_url=url.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False))
    values, sid = _one_customer_submission(settings, signed_form)
    enqueue_submission(settings, sid)
    marker, once = tmp_path / "reached", tmp_path / "once"
    proc = hooked_worker(settings, "decide", marker, "--burst", once=once, sleep=3)
    try:
        wait_for(marker.exists, 180, what="the job to start deciding")
        proxy.stop()  # the database goes away in the middle of the job
        time.sleep(6)  # several retries fail meanwhile
        assert submissions(direct)[sid]["status"] == "processing"
        proxy.start()
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, out
        assert "TransientError" in out or "transient failure" in out
    finally:
        if proc.poll() is None:
            kill_group(proc)
        proxy.stop()
    state = submissions(direct)[sid]
    assert state["status"] == "applied", state
    assert state["last_error"] is None and state["attempts"] >= 2
    assert len(changes(direct)) == 1
    assert profile(direct, national_id_of(values))["fields"]["phone"] == "+37126777888"
    assert get_queue(direct).failed_job_registry.count == 0


def test_the_job_run_twice_in_a_row_by_rq_changes_nothing(fsettings, signed_form):
    values, sid = _one_customer_submission(fsettings, signed_form)
    enqueue_submission(fsettings, sid)
    worker_burst(fsettings)
    first = submissions(fsettings)[sid]
    enqueue_submission(fsettings, sid)  # the finished job is replaced by a new one
    worker_burst(fsettings)
    assert submissions(fsettings)[sid] == first
    assert jobs.run(fsettings, sid) == "noop"
    assert len(changes(fsettings)) == 1
