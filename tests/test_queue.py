"""intake.queue: ids only, by name, JSON, one live job per submission; the shared embedded Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import redis
from rq.job import Job

from intake.config import load_settings
from intake.queue import (
    JOB_FUNC,
    TRANSIENT_ERRORS,
    embedded_socket_path,
    enqueue_submission,
    enqueue_submissions,
    get_queue,
    job_status,
    redis_connection,
    release_embedded_redis,
    retry_intervals,
    stop_embedded_redis,
)
from tests.test_pipeline_support import add_submission, submissions, wait_for

PDF = b"%PDF-1.7\n" + b"x" * 2000 + b"\n%%EOF\n"


@pytest.fixture(params=["redis-server", "embedded"])
def qsettings(request, make_settings):
    settings = make_settings("sqlite", redis=request.param == "redis-server", job_retries=3, job_timeout=77)
    yield settings
    if request.param == "embedded":
        stop_embedded_redis(settings)


def _all_redis_bytes(conn: redis.Redis) -> bytes:
    out = []
    for key in conn.scan_iter(count=1000):
        kind = conn.type(key)
        if kind == b"string":
            out.append(conn.get(key) or b"")
        elif kind == b"hash":
            out.extend(v for kv in conn.hgetall(key).items() for v in kv)
        elif kind == b"list":
            out.extend(conn.lrange(key, 0, -1))
        elif kind == b"zset":
            out.extend(conn.zrange(key, 0, -1))
        elif kind == b"set":
            out.extend(conn.smembers(key))
    return b"\n".join(out)


def test_enqueue_carries_only_the_id_by_name_as_json(qsettings):
    sid = add_submission(qsettings, PDF)
    assert enqueue_submission(qsettings, sid) == f"submission-{sid}"
    conn = redis_connection(qsettings)
    queue = get_queue(qsettings, connection=conn)
    assert queue.job_ids == [f"submission-{sid}"]
    job = queue.fetch_job(f"submission-{sid}")
    assert job.func_name == JOB_FUNC == "worker.jobs.process_submission"
    assert list(job.args) == [sid] and not job.kwargs
    assert job.timeout == 77
    assert job.retries_left == 3 and job.retry_intervals == retry_intervals(qsettings)
    # The serialized payload is JSON, and nothing of the document is anywhere in Redis.
    data = conn.hget(Job.key_for(f"submission-{sid}"), "data")
    import zlib

    payload = json.loads(zlib.decompress(data))
    assert payload[0] == JOB_FUNC or JOB_FUNC in json.dumps(payload)
    assert b"%PDF" not in _all_redis_bytes(conn)
    assert submissions(qsettings)[sid]["status"] == "queued"


def test_one_live_job_per_submission(qsettings):
    sid = add_submission(qsettings, PDF)
    conn = redis_connection(qsettings)
    queue = get_queue(qsettings, connection=conn)
    enqueue_submission(qsettings, sid)
    enqueue_submission(qsettings, sid)
    enqueue_submissions(qsettings, [sid, sid])
    assert queue.job_ids == [f"submission-{sid}"]
    # started: a worker has it; not duplicated (unless the reconciler replaces a dead one)
    job = queue.fetch_job(f"submission-{sid}")
    queue.remove(job)
    job.set_status("started")
    enqueue_submission(qsettings, sid)
    assert queue.job_ids == [] and job_status(qsettings, sid) == "started"
    enqueue_submission(qsettings, sid, replace_started=True)
    assert queue.job_ids == [f"submission-{sid}"] and job_status(qsettings, sid) == "queued"
    # finished or failed: replaced by a fresh job
    for final in ("finished", "failed", "stopped", "canceled"):
        queue.remove(f"submission-{sid}")
        Job.fetch(f"submission-{sid}", connection=conn, serializer=queue.serializer).set_status(final)
        enqueue_submission(qsettings, sid)
        assert queue.job_ids == [f"submission-{sid}"], final
        assert job_status(qsettings, sid) == "queued"


def test_enqueue_only_moves_received_to_queued(qsettings):
    done = add_submission(qsettings, PDF, status="applied")
    busy = add_submission(qsettings, PDF, status="processing")
    enqueue_submission(qsettings, done)
    enqueue_submission(qsettings, busy)
    state = submissions(qsettings)
    assert state[done]["status"] == "applied" and state[busy]["status"] == "processing"


def test_retry_backoff(make_settings, monkeypatch):
    settings = make_settings("sqlite", job_retries=4)
    assert retry_intervals(settings) == [5, 30, 120, 600]
    monkeypatch.setenv("DOCINTAKE_RETRY_BACKOFF", "1,2")
    assert retry_intervals(settings) == [5, 30, 120, 600]  # the setting only, never the environment itself
    settings = load_settings(data_dir=settings.data_dir, job_retries=4)  # the environment, through the settings
    assert retry_intervals(settings) == [1, 2, 2, 2]


def test_redis_down_is_a_transient_error_and_the_submission_waits(make_settings):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    settings = make_settings("sqlite", redis_url=f"redis://127.0.0.1:{port}/0")
    sid = add_submission(settings, PDF)
    with pytest.raises(TRANSIENT_ERRORS):
        enqueue_submission(settings, sid)
    assert submissions(settings)[sid]["status"] == "received"


CLIENT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from intake.config import Settings
    from intake.queue import redis_connection
    s = Settings(data_dir=Path(sys.argv[1]), secret_key="x")
    c = redis_connection(s)
    print(c.incr("counter"), c.info("server")["process_id"], flush=True)
    time.sleep(float(sys.argv[2]))
""")


def test_embedded_redis_is_shared_by_processes_and_stops_with_the_last(tmp_path):
    data = tmp_path / "data"
    procs = [subprocess.Popen([sys.executable, "-c", CLIENT, str(data), "3"], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(int(o[0]) for o in outs) == [1, 2, 3]  # one server, one counter
    assert len({o[1] for o in outs}) == 1  # one server process
    sock = embedded_socket_path(type("S", (), {"data_dir": data})())
    assert sock.parent == data.resolve()
    # The last user shut it down, saving its data; the next user starts it again with the data.
    wait_for(lambda: not sock.exists(), 30, what="the embedded redis to stop")
    assert (data / "redis.db").exists()
    out = subprocess.run([sys.executable, "-c", CLIENT, str(data), "0"], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out[0] == "4"
    wait_for(lambda: not sock.exists(), 30, what="the embedded redis to stop")


def test_embedded_redis_survives_a_killed_user_and_long_paths(tmp_path):
    from intake.config import Settings

    data = tmp_path / ("d" * 120)
    settings = Settings(data_dir=data, secret_key="x")
    sock = embedded_socket_path(settings)
    assert len(str(sock)) < 108 and str(sock).startswith("/tmp/docintake-")
    killed = subprocess.Popen([sys.executable, "-c", CLIENT, str(data), "60"], stdout=subprocess.PIPE, text=True)
    first = killed.stdout.readline().split()
    killed.kill()
    killed.wait()
    conn = redis_connection(settings)  # attaches to the server the killed process started
    assert conn.info("server")["process_id"] == int(first[1])
    assert conn.incr("counter") == 2
    conn.close()
    release_embedded_redis(settings)  # this process was the last user: the server stops
    assert not sock.exists()
