"""A process killed in the middle of a transaction must not leave it open on PostgreSQL because a
child it forked (RQ's scheduler) still holds a copy of its socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from intake.store.db import IDLE_IN_TRANSACTION_TIMEOUT_MS, get_engine

# The parent: locks a row in an open transaction, forks a long-lived child (as RQ starts its
# scheduler), says so and waits to be killed.
PARENT = textwrap.dedent("""
    import multiprocessing, sys, time
    import sqlalchemy as sa
    from intake.config import Settings
    from intake.store.db import get_engine

    engine = get_engine(Settings(database_url=sys.argv[1], data_dir=sys.argv[2], secret_key="x"))
    conn = engine.connect()
    conn.execute(sa.text("UPDATE fork_lock SET v = v + 1 WHERE id = 1"))  # row lock, not committed
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(120,), daemon=False)
    child.start()
    print(child.pid, flush=True)
    time.sleep(120)
""")


@pytest.fixture
def pg(make_settings):
    settings = make_settings("postgresql")
    engine = get_engine(settings)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS fork_lock"))
        conn.execute(sa.text("CREATE TABLE fork_lock (id int PRIMARY KEY, v int)"))
        conn.execute(sa.text("INSERT INTO fork_lock VALUES (1, 0)"))
    yield settings
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS fork_lock"))


def test_a_killed_parent_releases_its_locks_though_its_fork_lives_on(pg):
    proc = subprocess.Popen([sys.executable, "-c", PARENT, pg.resolved_database_url, str(pg.data_dir)],
                            stdout=subprocess.PIPE, text=True)
    child_pid = int(proc.stdout.readline())
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert _alive(child_pid)  # the fork lives on
        with get_engine(pg).begin() as conn:
            conn.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
            started = time.monotonic()
            conn.execute(sa.text("UPDATE fork_lock SET v = v + 10 WHERE id = 1"))  # waits only if still locked
            waited = time.monotonic() - started
        with get_engine(pg).connect() as conn:
            assert conn.execute(sa.text("SELECT v FROM fork_lock")).scalar() == 10  # the killed one's +1 is gone
        assert waited < 10
    finally:
        for pid in (child_pid, proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_postgresql_ends_transactions_left_idle(pg):
    with get_engine(pg).connect() as conn:
        value = conn.execute(sa.text("SHOW idle_in_transaction_session_timeout")).scalar()
    assert value == f"{IDLE_IN_TRANSACTION_TIMEOUT_MS // 60000}min"
