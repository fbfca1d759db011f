"""Engine, sessions and schema migrations (Alembic) for the system of record.

Every command but ``docintake db upgrade`` refuses to run on a schema that is
not at the newest migration (:func:`require_current_schema`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Settings

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaOutOfDate(RuntimeError):
    pass


_ENGINES: dict[str, Engine] = {}


def _create_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return engine


def get_engine(settings: Settings) -> Engine:
    """One pooled engine per database URL and process."""
    url = settings.resolved_database_url
    if url not in _ENGINES:
        _ENGINES[url] = _create_engine(url)
    return _ENGINES[url]


def dispose_engines(match: Callable[[str], bool] | None = None, *, close: bool = False) -> None:
    """In a forked child: drop inherited pooled connections without closing the parent's sockets.

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


@contextlib.contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A transaction: commit on success, roll back on any exception."""
    session = session_factory(settings)()
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
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head


def require_current_schema(settings: Settings) -> None:
    current, head = schema_status(settings)
    if current != head:
        raise SchemaOutOfDate(
            f"the database schema is at {current or 'nothing'}, the code needs {head}: "
            f"run `docintake db upgrade` first ({_safe_url(settings)})"
        )


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)
