"""Engine, sessions and schema migrations (Alembic) for the system of record.

Every command but ``docintake db upgrade`` / ``db status`` refuses to run on a schema that is
not at the newest migration: it starts with :func:`open_store` (or the click decorator
:func:`store_command`), so that all say the same when the schema is out of date, newer than
the code, or the database cannot be reached.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Settings, load_settings

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaOutOfDate(RuntimeError):
    """The database schema is not the one this code needs (older, newer, or absent)."""


class SchemaTooNew(SchemaOutOfDate):
    """The database schema was upgraded by a newer docintake than this one."""


class StoreUnavailable(RuntimeError):
    """The database cannot be reached."""


_ENGINES: dict[str, Engine] = {}

#: Execution option: on SQLite, open the transaction with BEGIN IMMEDIATE at once (session_scope).
_IMMEDIATE = "docintake_sqlite_immediate"
#: Statements that write; on SQLite the first one in a transaction opens it (BEGIN IMMEDIATE).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT", "CREATE", "DROP", "ALTER", "WITH")


def _driver_begin(conn) -> None:
    """BEGIN IMMEDIATE on the driver connection, unless the connection asked for AUTOCOMMIT."""
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT" or \
            conn.engine.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return
    dbapi_conn = conn.connection.dbapi_connection
    # SQLAlchemy sets isolation_level back to "" after an AUTOCOMMIT use; keep the driver out of it
    if dbapi_conn.isolation_level is not None:
        dbapi_conn.isolation_level = None
    if not dbapi_conn.in_transaction:
        dbapi_conn.execute("BEGIN IMMEDIATE")


#: Server connections this process opened (psycopg connections; weak, so closed ones just go).
_SERVER_CONNECTIONS: "weakref.WeakSet[Any]" = weakref.WeakSet()
#: A transaction left idle this long is ended by PostgreSQL: no docintake transaction waits on
#: anything outside the database, so such a one belongs to a client that is gone or stuck, and
#: its row locks would stop every worker that needs the same rows.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 10 * 60 * 1000


def _forget_inherited_connections() -> None:
    """In every forked child (RQ's scheduler, a work horse, a pool worker): close the child's copies
    of the parent's database sockets and drop the parent's pools, without a word to the server.

    Otherwise the child keeps the parent's TCP connections open: a worker killed in the middle of a
    transaction would leave that transaction open on the server, holding its row locks, for as
    long as its RQ scheduler process lives (seen in the soak test: every worker then waited on
    those rows). Replacing the copies sends nothing (the parent's session is untouched), and
    psycopg does not terminate a connection garbage-collected in another process.
    """
    connections = list(_SERVER_CONNECTIONS)
    _SERVER_CONNECTIONS.clear()
    if connections:
        null = os.open(os.devnull, os.O_RDWR)
        try:
            for conn in connections:
                try:
                    fd = conn.pgconn.socket
                except Exception:  # noqa: BLE001 - already closed
                    continue
                # /dev/null in the socket's place, not a bare close: the number stays taken, so a
                # stray use of the old connection in the child can never reach a file opened later
                with contextlib.suppress(OSError):
                    os.dup2(null, fd)
        finally:
            os.close(null)
    dispose_engines()


os.register_at_fork(after_in_child=_forget_inherited_connections)


def _create_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600; SQLite gives its -wal and -shm
    files the same mode). An existing file keeps its mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _create_engine(url: str) -> Engine:
    # hide_parameters: SQL parameters (personal codes among them) never appear in exception
    # texts, and so never in logs or the error RQ keeps.
    if not url.startswith("sqlite"):
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True,
                               connect_args={"options": f"-c idle_in_transaction_session_timeout="
                                                        f"{IDLE_IN_TRANSACTION_TIMEOUT_MS}"})
        event.listen(engine, "connect", lambda dbapi_conn, _record: _SERVER_CONNECTIONS.add(dbapi_conn))
        return engine
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _create_private(Path(path))
    # isolation_level=None: the sqlite3 driver never emits BEGIN or COMMIT on its own (its
    # "legacy" transaction control runs reads before the first write outside the transaction and
    # lets a SAVEPOINT opened outside a BEGIN commit everything at its RELEASE); _begin and
    # _begin_before_first_write below emit BEGIN IMMEDIATE themselves (SQLAlchemy's recipe).
    engine = create_engine(url, connect_args={"timeout": 30, "isolation_level": None}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # SQLite's lower() folds ASCII only ("Šmits" stays "Šmits"): search uses this one instead.
        dbapi_conn.create_function("unicode_lower", 1, lambda s: s.lower() if isinstance(s, str) else s,
                                   deterministic=True)
        # synchronous stays FULL (SQLite's default): every commit is on disk before the poller
        # marks a mail processed. NORMAL would save the WAL fsync per commit but may roll back
        # the last commits on a power loss, after their mails left the inbox.
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        # session_scope(): the whole transaction holds SQLite's single writer lock from its first
        # statement, so what it reads cannot change before it writes (a deferred transaction that
        # read first would get SQLITE_BUSY when it writes after another writer's commit).
        if conn.get_execution_options().get(_IMMEDIATE):
            _driver_begin(conn)

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_before_first_write(conn, cursor, statement, parameters, context, executemany):
        # Other transactions (the web's request sessions, engine.begin()): reads run outside a
        # database transaction until the first write, as the sqlite3 driver did, and the first
        # write opens BEGIN IMMEDIATE, so that a later SAVEPOINT stays inside it.
        if conn.in_transaction() and not cursor.connection.in_transaction \
                and statement.lstrip()[:9].upper().startswith(_WRITES):
            _driver_begin(conn)

    return engine


def get_engine(settings: Settings) -> Engine:
    """One pooled engine per database URL and process."""
    url = settings.resolved_database_url
    if url not in _ENGINES:
        _ENGINES[url] = _create_engine(url)
    return _ENGINES[url]


def dispose_engines(match: Callable[[str], bool] | None = None, *, close: bool = False) -> None:
    """Drop the pooled connections without closing them (what every forked child does at once, see
    :func:`_forget_inherited_connections`, so that it never uses or closes the parent's).

    ``close=True`` really closes the connections and forgets the engines (e.g. before dropping a
    database); ``match`` limits either to the engines whose URL it accepts.
    """
    for url, engine in list(_ENGINES.items()):
        if match is None or match(url):
            engine.dispose(close=close)
            if close:
                del _ENGINES[url]


def session_factory(settings: Settings) -> sessionmaker[Session]:
    return sessionmaker(get_engine(settings), expire_on_commit=False)


_SCOPE_ENGINES: dict[str, tuple[Engine, Engine]] = {}


def _scope_engine(settings: Settings) -> Engine:
    """The engine session_scope uses: on SQLite the same pool, with BEGIN IMMEDIATE."""
    engine = get_engine(settings)
    if engine.dialect.name != "sqlite":
        return engine
    url = settings.resolved_database_url
    base, scoped = _SCOPE_ENGINES.get(url, (None, None))
    if base is not engine:
        scoped = engine.execution_options(**{_IMMEDIATE: True})
        _SCOPE_ENGINES[url] = (engine, scoped)
    return scoped


@contextlib.contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A transaction: commit on success, roll back on any exception.

    On SQLite it is BEGIN IMMEDIATE: it holds the database's single writer lock from its first
    statement to its end (other writers wait, readers do not), so keep it short: no decisions,
    no network inside.
    """
    session = Session(_scope_engine(settings), expire_on_commit=False)
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def alembic_config(settings: Settings) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", settings.resolved_database_url.replace("%", "%%"))
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    with get_engine(settings).begin() as conn:
        cfg = alembic_config(settings)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def schema_status(settings: Settings) -> tuple[str | None, str]:
    """(current revision in the database, newest revision in the code)."""
    head = ScriptDirectory.from_config(alembic_config(settings)).get_current_head()
    with get_engine(settings).connect() as conn:
        current = _quiet_context(conn).get_current_revision()
    return current, head


def _quiet_context(conn) -> MigrationContext:
    """A MigrationContext without Alembic's "Context impl ..." INFO lines, which every command
    would otherwise print, since every command reads the revision."""
    log = logging.getLogger("alembic.runtime.migration")
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        return MigrationContext.configure(conn)
    finally:
        log.setLevel(level)


def require_current_schema(settings: Settings) -> None:
    current, head = schema_status(settings)
    if current == head:
        return
    script = ScriptDirectory.from_config(alembic_config(settings))
    known = current is None or any(rev.revision == current for rev in script.walk_revisions())
    if not known:
        raise SchemaTooNew(
            f"the database schema is at {current}, which this version of docintake does not know "
            f"(its newest is {head}): the database was upgraded by a newer docintake ({_safe_url(settings)})"
        )
    raise SchemaOutOfDate(
        f"the database schema is at {current or 'nothing'}, the code needs {head}: "
        f"run `docintake db upgrade` first ({_safe_url(settings)})"
    )


def open_store(settings: Settings | None = None) -> Settings:
    """The settings (loaded when not given), after checking the database is reachable and current.

    Every command but ``docintake db upgrade`` / ``db status`` starts with this (or
    :func:`store_command`); raises :class:`SchemaOutOfDate` or :class:`StoreUnavailable`.
    """
    if settings is None:
        settings = load_settings()
    with reachable(settings):
        require_current_schema(settings)
    return settings


@contextlib.contextmanager
def reachable(settings: Settings) -> Iterator[None]:
    """Turn the driver's "cannot connect" (OperationalError) into :class:`StoreUnavailable`."""
    try:
        yield
    except OperationalError as exc:
        raise StoreUnavailable(
            f"cannot reach the database {_safe_url(settings)}: {str(exc.orig or exc).strip().splitlines()[0]}"
        ) from exc


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Turn an unusable store (schema out of date or too new, database unreachable) or invalid
    settings into a :class:`click.ClickException`: the message, exit status 1, no traceback."""
    import click

    try:
        yield
    except (SchemaOutOfDate, StoreUnavailable, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def store_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Click command decorator: load the settings, refuse an unusable schema with a clear message
    (exit status 1), and pass ``settings`` to the command as its first argument."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with store_errors():
            settings = open_store()
        return func(settings, *args, **kwargs)

    return wrapper


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)
