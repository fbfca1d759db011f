"""intake.store.db: every command but ``db upgrade`` refuses a database whose schema is not current."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from intake.store.db import (
    SchemaOutOfDate,
    StoreUnavailable,
    get_engine,
    open_store,
    require_current_schema,
    schema_status,
    store_command,
    upgrade,
)
from tests.fixtures.services import run_cli, settings_env

#: Commands that must refuse an out-of-date schema (arguments that would otherwise work).
STORE_COMMANDS = [
    ("profiles", "show", "LV-32000012345"),
    ("submissions", "list"),
    ("submissions", "counts"),
    ("users", "list"),
    ("users", "unlock", "nobody"),
    ("web", "--port", "0"),
    ("poll", "--once"),
    ("reconcile",),
    ("worker", "--burst"),
]
#: ... and ``run`` (which upgrades only the embedded default database itself).
RUN = ("run", "--no-web", "--workers", "0")


@pytest.fixture
def empty_settings(make_settings, db_backend, request):
    """Settings on a database without any schema (SQLite: a new file; PostgreSQL: a new database)."""
    if db_backend == "sqlite":
        return make_settings("sqlite", upgrade=False)
    return make_settings("postgresql", database_url=request.getfixturevalue("pg_empty_database"), upgrade=False)


def test_empty_database_is_refused(empty_settings):
    with pytest.raises(SchemaOutOfDate, match=r"schema is at nothing, the code needs \w+: run `docintake db upgrade`"):
        require_current_schema(empty_settings)
    with pytest.raises(SchemaOutOfDate):
        open_store(empty_settings)


def test_upgrade_makes_it_current(empty_settings):
    upgrade(empty_settings)
    current, head = schema_status(empty_settings)
    assert current == head
    assert open_store(empty_settings) is empty_settings


def test_unknown_revision_is_refused(db_settings):
    with get_engine(db_settings).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'base0'"))
    with pytest.raises(SchemaOutOfDate, match="does not know"):  # unknown revision: a newer docintake's
        require_current_schema(db_settings)


def test_url_password_is_not_shown(make_settings, pg_empty_database):
    url = pg_empty_database.replace("postgres@", "postgres:hunter2@")
    settings = make_settings("postgresql", database_url=url, upgrade=False)
    with pytest.raises(SchemaOutOfDate) as caught:
        open_store(settings)
    assert "hunter2" not in str(caught.value) and "***" in str(caught.value)


def test_unreachable_database(make_settings):
    settings = make_settings("postgresql", database_url="postgresql+psycopg://postgres@127.0.0.1:1/nothing",
                             upgrade=False)
    with pytest.raises(StoreUnavailable, match="cannot reach the database postgresql"):
        open_store(settings)


def test_open_store_loads_settings_from_the_environment(db_settings, monkeypatch):
    for name, value in settings_env(db_settings).items():
        monkeypatch.setenv(name, value)
    assert open_store() == db_settings


def test_store_command_decorator(empty_settings, monkeypatch):
    for name, value in settings_env(empty_settings).items():
        monkeypatch.setenv(name, value)
    seen = []

    @click.command()
    @click.argument("word")
    @store_command
    def hello(settings, word):
        """Say hello."""
        seen.append((settings.database_url, word))

    result = CliRunner().invoke(hello, ["there"])
    assert result.exit_code == 1 and seen == []
    assert "Error: the database schema is at nothing" in result.output
    upgrade(empty_settings)
    result = CliRunner().invoke(hello, ["there"])
    assert result.exit_code == 0, result.output
    assert seen == [(empty_settings.database_url, "there")]
    assert hello.help == "Say hello."


@pytest.mark.parametrize("args", STORE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_cli_commands_refuse_an_old_schema(make_settings, tmp_path, args):
    settings = make_settings("sqlite", upgrade=False)
    proc = run_cli(settings, *args)
    assert proc.returncode == 1, proc
    assert "the database schema is at nothing" in proc.stderr and "run `docintake db upgrade` first" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_import_refuses_an_old_schema(make_settings, tmp_path):
    settings = make_settings("sqlite", upgrade=False)
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("id_country,personal_code\nLV,32000012345\n")
    proc = run_cli(settings, "profiles", "import", str(csv_file))
    assert proc.returncode == 1 and "run `docintake db upgrade` first" in proc.stderr


def test_cli_db_upgrade_then_commands_work(empty_settings):
    proc = run_cli(empty_settings, "db", "status")
    assert proc.returncode == 1 and "database: empty" in proc.stdout
    run_cli(empty_settings, "db", "upgrade", check=True)
    assert run_cli(empty_settings, "submissions", "list", "--json", check=True).stdout.strip() == "[]"


def test_sql_parameters_never_appear_in_errors(db_settings):
    """Personal codes are bound parameters: an error's text (logged, kept by RQ) must not carry them."""
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError) as caught:
        with get_engine(db_settings).connect() as conn:
            conn.execute(text("SELECT national_id FROM no_such_table WHERE national_id = :nid"),
                         {"nid": "LV-32000012345"})
    assert "32000012345" not in str(caught.value)
    assert "hidden" in str(caught.value)


def test_migrations_match_the_models(db_settings):
    """The migrations build exactly the tables and indexes intake.store.models declares (nothing to autogenerate)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    from intake.store.models import Base

    with get_engine(db_settings).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []
    with get_engine(db_settings).connect() as conn:
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("submissions")}
    assert "ix_submissions_status_reason_received" in indexes


@pytest.mark.parametrize("args", [*STORE_COMMANDS, RUN], ids=lambda a: " ".join(a[:2]))
def test_cli_commands_refuse_a_newer_schema_and_an_unreachable_database(make_settings, args):
    settings = make_settings("sqlite")
    with get_engine(settings).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    proc = run_cli(settings, *args, timeout=60)
    assert proc.returncode == 1, proc
    assert "Error: the database schema is at 9999, which this version of docintake does not know" in proc.stderr
    assert "Traceback" not in proc.stderr
    gone = settings.with_(database_url="postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    proc = run_cli(gone, *args, timeout=60)
    assert proc.returncode == 1, proc
    assert "Error: cannot reach the database postgresql+psycopg://postgres@127.0.0.1:1/nothing" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---- SQLite transactions ---------------------------------------------------------------------------
def _sqlite_file(settings) -> str:
    return settings.resolved_database_url.split("///", 1)[-1]


def test_sqlite_savepoint_stays_inside_the_transaction(make_settings):
    """A SAVEPOINT (``session.begin_nested()``, as the poller's record_mail uses) must not commit
    the enclosing transaction on SQLite: the sqlite3 driver's own transaction handling made the
    RELEASE a COMMIT when the SAVEPOINT came before the first write, so a failure after it left
    half a mail recorded."""
    import sqlite3

    from intake.store.db import session_scope

    settings = make_settings("sqlite")
    with get_engine(settings).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t_sp (x INTEGER)")
    other = sqlite3.connect(_sqlite_file(settings))
    for scope in ("session_scope", "engine"):
        with pytest.raises(RuntimeError):
            if scope == "session_scope":
                with session_scope(settings) as session:
                    session.execute(text("SELECT count(*) FROM t_sp")).all()
                    with session.begin_nested():
                        session.execute(text("INSERT INTO t_sp VALUES (1)"))
                    assert other.execute("SELECT count(*) FROM t_sp").fetchone()[0] == 0
                    raise RuntimeError("after the savepoint")
            else:
                with get_engine(settings).begin() as conn:
                    conn.exec_driver_sql("SELECT count(*) FROM t_sp").all()
                    with conn.begin_nested():
                        conn.exec_driver_sql("INSERT INTO t_sp VALUES (1)")
                    assert other.execute("SELECT count(*) FROM t_sp").fetchone()[0] == 0
                    raise RuntimeError("after the savepoint")
        assert other.execute("SELECT count(*) FROM t_sp").fetchone()[0] == 0
    other.close()


def test_sqlite_session_scope_is_immediate(make_settings):
    """session_scope holds SQLite's writer lock from its first statement (BEGIN IMMEDIATE): what it
    reads cannot be changed by another writer before it writes, and its first write never fails
    with SQLITE_BUSY because another writer committed after its read."""
    import sqlite3

    from intake.store.db import session_scope

    settings = make_settings("sqlite")
    other = sqlite3.connect(_sqlite_file(settings), timeout=0.1, isolation_level=None)
    with session_scope(settings) as session:
        session.execute(text("SELECT 1")).all()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        # readers are not blocked (WAL)
        assert other.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()


def test_sqlite_autocommit_connections_stay_autocommit(make_settings):
    """An AUTOCOMMIT connection gets no BEGIN; the pooled connection is transactional again afterwards."""
    settings = make_settings("sqlite")
    engine = get_engine(settings)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("CREATE TABLE t_ac (x INTEGER)")
        assert not conn.connection.dbapi_connection.in_transaction
    with engine.connect() as conn:
        with conn.begin():
            conn.exec_driver_sql("INSERT INTO t_ac VALUES (1)")
            assert conn.connection.dbapi_connection.in_transaction
