"""Back-office sessions kept on the server (table ``staff_sessions``).

Flask-Login still drives sign-in; its user id is a random token whose SHA-256 keys a row here.
A request is signed in only while that row exists, is not revoked, was used within the idle
timeout and is younger than the absolute lifetime. So a copied cookie stops working at sign-out,
and a password change or a deactivation (which revoke every row of the account) ends all its
sessions for good: reactivating the account does not bring an old cookie back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from intake.store.models import StaffSession, User, utcnow

#: A session ends this long after sign-in, however busy.
ABSOLUTE_LIFETIME = dt.timedelta(hours=8)
#: Ended sessions are kept this long (who was signed in, from where), then deleted at a later sign-in.
RETENTION = dt.timedelta(days=90)
#: ``last_seen_at`` is written at most this often (not on every request).
TOUCH_EVERY = dt.timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user: User, ip: str | None) -> str:
    """A new session for ``user``; returns the token for the cookie (the caller commits)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(delete(StaffSession).where(StaffSession.created_at < now - RETENTION))
    session.add(StaffSession(token_hash=_hash(token), user_id=user.id, created_at=now, last_seen_at=now,
                             ip=(ip or "")[:64] or None))
    return token


def resume(session: Session, token: str, idle: dt.timedelta) -> User | None:
    """The active user of a live session, or None (unknown, revoked, idle too long, too old)."""
    if not token or len(token) > 100:
        return None
    row = session.get(StaffSession, _hash(token))
    now = utcnow()
    if row is None or row.revoked_at is not None:
        return None
    if now - row.last_seen_at > idle or now - row.created_at > ABSOLUTE_LIFETIME:
        row.revoked_at = now
        session.commit()
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        session.commit()
    return user


def end(session: Session, token: str) -> None:
    """Revoke one session (sign-out); the caller commits."""
    session.execute(update(StaffSession).where(StaffSession.token_hash == _hash(token),
                                               StaffSession.revoked_at.is_(None)).values(revoked_at=utcnow()))


def end_all(session: Session, user_id: int) -> int:
    """Revoke every session of a user (password change, deactivation); the caller commits."""
    result = session.execute(update(StaffSession).where(StaffSession.user_id == user_id,
                                                        StaffSession.revoked_at.is_(None))
                             .values(revoked_at=utcnow()))
    return result.rowcount
