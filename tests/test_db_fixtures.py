"""The service fixtures themselves: each backend gives a clean database at the newest schema."""

import json

import redis
from sqlalchemy import func, select

from intake.config import load_settings
from intake.db import schema_status, session_scope
from intake.models import AuditEvent
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
