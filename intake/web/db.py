"""One database session per request (opened on first use, closed at teardown)."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session

from intake.config import Settings
from intake.store.db import session_factory


def settings() -> Settings:
    return current_app.extensions["docintake.settings"]


def db() -> Session:
    """The request's session; callers commit what they change (nothing commits implicitly)."""
    if "db" not in g:
        g.db = session_factory(settings())()
    return g.db


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()
