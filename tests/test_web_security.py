"""The back office's security findings of issue 12, on real PostgreSQL and SQLite with a real Redis:
server-side sessions, the append-only audit table, bounded page renders, /metrics, login
throttling, passwords and user names, bad ids and dates, streamed downloads, the SQLite file mode."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from intake.models import AuditEvent, StaffSession, User
from tests.test_web_support import (  # noqa: F401  (fixtures)
    PASSWORD,
    add_submission,
    app,
    client_for,
    db,
    login,
    post,
    staff,
    web_settings,
)

COOKIE = "docintake_session"


def _copy_of(app, client):
    """A second browser holding a copy of ``client``'s session cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return other


# ---- 1. sessions on the server ------------------------------------------------------------------
def test_a_copied_cookie_stops_working_at_sign_out(app, staff, db):
    clerk = client_for(app, staff["clerk"])
    thief = _copy_of(app, clerk)
    assert thief.get("/backoffice/").status_code == 200  # the copy works while the session lives
    assert post(clerk, "/backoffice/logout").status_code == 302
    assert thief.get("/backoffice/").status_code == 302
    assert db.scalar(select(StaffSession.revoked_at)) is not None


def test_deactivation_ends_sessions_and_reactivation_does_not_revive_them(app, staff, db):
    clerk = client_for(app, staff["clerk"])
    copy = _copy_of(app, clerk)
    admin = client_for(app, staff["admin"])
    clara = db.scalar(select(User).where(User.name == "clara"))
    assert post(admin, f"/backoffice/users/{clara.id}/deactivate", token_from="/backoffice/users").status_code == 303
    assert post(admin, f"/backoffice/users/{clara.id}/activate", token_from="/backoffice/users").status_code == 303
    assert clerk.get("/backoffice/").status_code == 302
    assert copy.get("/backoffice/").status_code == 302
    assert client_for(app, "clara").get("/backoffice/").status_code == 200  # a new sign-in works


def test_a_password_change_ends_every_session(app, staff, web_settings, run_cli):
    clerk = client_for(app, staff["clerk"])
    assert clerk.get("/backoffice/").status_code == 200
    new = "a brand new passphrase 2026"
    run_cli(web_settings, "users", "set-password", "clara", "--password-stdin", input=new + "\n")
    assert clerk.get("/backoffice/").status_code == 302
    assert login(app.test_client(), "clara", new).status_code == 302


def test_an_idle_session_ends(app, staff, db):
    clerk = client_for(app, staff["clerk"])
    assert clerk.get("/backoffice/").status_code == 200
    idle = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=31)
    db.execute(update(StaffSession).values(last_seen_at=idle))
    db.commit()
    assert clerk.get("/backoffice/").status_code == 302


# ---- 9. the audit table is append-only; views are audited ------------------------------------------
def test_audit_events_cannot_be_changed_or_deleted(app, staff, db):
    sub = add_submission(db)
    db.commit()
    clerk = client_for(app, staff["clerk"])
    assert clerk.get(f"/backoffice/submissions/{sub.id}").status_code == 200
    viewed = db.scalar(select(AuditEvent).where(AuditEvent.action == "viewed"))
    assert viewed is not None and viewed.actor == "clara" and viewed.submission_id == sub.id
    for statement in ("UPDATE audit_events SET actor = 'nobody'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text(statement))
            db.flush()
        db.rollback()
    if db.get_bind().dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text("TRUNCATE audit_events CASCADE"))
        db.rollback()
    assert db.scalar(select(AuditEvent.actor).where(AuditEvent.id == viewed.id)) == "clara"
    db.add(AuditEvent(actor="system:test", action="appended", detail={}))
    db.commit()  # appending still works
