"""The service fixtures themselves: each backend gives a clean database at the newest schema."""

import json

import redis
from sqlalchemy import func, select

from intake.config import load_settings
from intake.store.db import schema_status, session_scope
from intake.store.models import AuditEvent
from tests.fixtures.services import run_cli, settings_env


def test_db_settings_is_clean_and_current(db_settings):
    current, head = schema_status(db_settings)
    assert current == head
    with session_scope(db_settings) as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0
        session.add(AuditEvent(actor="test", action="poke"))


def test_db_settings_is_clean_again(db_settings):
    """The row the previous test wrote is gone (PostgreSQL: truncated; SQLite: a new file)."""
    with session_scope(db_settings) as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_redis_url_is_flushed(redis_url):
    conn = redis.Redis.from_url(redis_url)
    assert conn.dbsize() == 0
    conn.set("k", "v")


def test_settings_env_round_trips(make_settings, tmp_path):
    settings = make_settings("sqlite", trust_roots=(tmp_path / "a.pem", tmp_path / "dir"), allow_fetching=True)
    assert load_settings(env=settings_env(settings)) == settings


def test_run_cli_uses_the_settings(db_settings):
    proc = run_cli(db_settings, "db", "status", check=True)
    current, head = schema_status(db_settings)
    assert proc.stdout.strip() == f"database: {current}; code: {head}"


def _pytest_outcome(tmp_path, env):
    """Run a one-test session that needs PostgreSQL and Redis, with the given server addresses."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "test_needs_services.py").write_text(
        "def test_pg(make_settings):\n    make_settings('postgresql')\n\n"
        "def test_redis(redis_url):\n    pass\n")
    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.fixtures.services", "-q", "-rA", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path / "test_needs_services.py")],
        cwd=root, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def test_a_missing_service_fails_never_skips(tmp_path):
    proc = _pytest_outcome(tmp_path, {"DOCINTAKE_TEST_POSTGRES": "postgresql://postgres@127.0.0.1:1/test",
                                      "DOCINTAKE_TEST_REDIS": "redis://127.0.0.1:1"})
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("1 failed, 1 error")  # PostgreSQL at call, Redis at setup
    assert "skipped" not in proc.stdout
    assert "PostgreSQL is not reachable at postgresql://postgres@127.0.0.1:1/test" in proc.stdout
    assert "Redis is not reachable at redis://127.0.0.1:1" in proc.stdout
