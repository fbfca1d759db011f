"""Staff sign-in, roles and the login rate limits.

Roles (hierarchical; each includes the one before):

=================================  =====  ==========  =====
permission                         clerk  supervisor  admin
=================================  =====  ==========  =====
view dashboard, rejects, evidence    x        x         x
download the original PDF           x        x         x
clear: resolved, customer contacted  x        x         x
clear: suspected fraud                        x         x
reprocess (re-queue) a submission             x         x
manage staff accounts                                   x
=================================  =====  ==========  =====

Clearing as *suspected fraud* starts the bank's fraud procedure and
reprocessing changes what the pipeline does with a customer's document, so
both need a supervisor; a clerk who suspects fraud leaves a note and asks one.

Rate limits: an account is locked for ``LOCK_MINUTES`` after ``MAX_FAILED``
wrong passwords in a row (``User.failed_logins`` / ``locked_until``, so every
web process sees it); a client address is refused for a while after
``IP_MAX_FAILED`` failures within ``IP_WINDOW`` seconds (per process, in memory).
Every sign-in, failure and lockout is an audit event. Messages never tell an
unknown name from a wrong password.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import hashlib
import threading
import time
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from intake import metrics
from intake.models import AuditEvent, User, utcnow
from intake.web.db import db

ROLES = ("clerk", "supervisor", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "clear": frozenset(ROLES),
    "clear_fraud": frozenset({"supervisor", "admin"}),
    "reprocess": frozenset({"supervisor", "admin"}),
    "manage_users": frozenset({"admin"}),
}
MAX_FAILED = 5
LOCK_MINUTES = 15
IP_MAX_FAILED = 20
IP_WINDOW = 15 * 60
MIN_PASSWORD = 12

#: Checked against when the name is unknown, so both paths cost one hash.
_DUMMY_HASH = generate_password_hash("docintake-dummy-password")

bp = Blueprint("auth", __name__, url_prefix="/backoffice")


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def check_password_policy(password: str) -> str | None:
    """None if acceptable, else the reason."""
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    return None


class Staff(UserMixin):
    """The signed-in staff member (a detached copy of the User row)."""

    def __init__(self, user: User) -> None:
        self.user_id = user.id
        self.name = user.name
        self.role = user.role
        self.fingerprint = _fingerprint(user)

    def get_id(self) -> str:
        # A changed password or a deactivation ends every session of the account.
        return f"{self.user_id}:{self.fingerprint}"

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS.get(permission, frozenset())


def _fingerprint(user: User) -> str:
    return hashlib.sha256(f"{user.password_hash}|{user.active}".encode()).hexdigest()[:16]


class IpThrottle:
    """Failed sign-ins per client address in a sliding window (per process)."""

    def __init__(self, limit: int = IP_MAX_FAILED, window: float = IP_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, collections.deque] = {}
        self._lock = threading.Lock()

    def _recent(self, ip: str, now: float) -> collections.deque:
        q = self._failures.setdefault(ip, collections.deque())
        while q and q[0] < now - self.window:
            q.popleft()
        return q

    def blocked(self, ip: str) -> bool:
        with self._lock:
            return len(self._recent(ip, time.monotonic())) >= self.limit

    def failed(self, ip: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent(ip, now).append(now)
            if len(self._failures) > 10_000:  # bound memory under a spray of addresses
                for key in [k for k, v in self._failures.items() if not v][:5000]:
                    del self._failures[key]


def init_app(app) -> None:
    manager = LoginManager()
    manager.login_view = "auth.login"
    manager.login_message = "Please sign in."
    manager.login_message_category = "info"
    manager.session_protection = "strong"
    manager.user_loader(_load_user)
    manager.init_app(app)
    app.extensions["docintake.ip_throttle"] = IpThrottle()

    @app.context_processor
    def _staff():
        return {"staff": current_user}


def _load_user(user_id: str) -> Staff | None:
    try:
        raw_id, fingerprint = user_id.split(":", 1)
        user = db().get(User, int(raw_id))
    except (ValueError, TypeError):
        return None
    if user is None or not user.active or _fingerprint(user) != fingerprint:
        return None
    return Staff(user)


def requires(permission: str):
    """``@requires("reprocess")``: sign-in needed (redirect), then the role (403)."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not current_user.can(permission):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def audit(actor: str, action: str, submission_id: int | None = None, **detail) -> None:
    """Add an audit event to the request's session (the caller commits)."""
    db().add(AuditEvent(actor=actor[:100], action=action, submission_id=submission_id, detail=detail))


class LoginForm(FlaskForm):
    name = StringField("User name", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


def safe_next(target: str | None) -> str:
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target:
            return target
    return url_for("backoffice.dashboard")


FAILED_MESSAGE = (f"Sign-in failed. Check the name and password; after {MAX_FAILED} failures an account "
                  f"is locked for {LOCK_MINUTES} minutes.")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("backoffice.dashboard"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        ip = request.remote_addr or "unknown"
        throttle: IpThrottle = current_app.extensions["docintake.ip_throttle"]
        if throttle.blocked(ip):
            metrics.login_attempt("ip_blocked")
            flash("Too many failed sign-ins from this address. Try again later.", "error")
            return render_template("login.html", form=form), 429
        staff = _authenticate(form.name.data.strip(), form.password.data, ip)
        if staff is not None:
            session.clear()  # a fresh session for the signed-in user
            login_user(staff)
            session.permanent = True
            return redirect(safe_next(request.args.get("next")))
        throttle.failed(ip)
        flash(FAILED_MESSAGE, "error")
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("login.html", form=form), status


def _authenticate(name: str, password: str, ip: str) -> Staff | None:
    session_db = db()
    user = session_db.scalar(select(User).where(User.name == name))
    now = utcnow()
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        audit("anonymous", "login_failed", name=name[:100], ip=ip, why="unknown or inactive account")
        session_db.commit()
        metrics.login_attempt("failed")
        return None
    if user.locked_until is not None and user.locked_until > now:
        check_password_hash(_DUMMY_HASH, password)
        audit(user.name, "login_refused", ip=ip, why="account locked", until=user.locked_until.isoformat())
        session_db.commit()
        metrics.login_attempt("locked")
        return None
    if check_password_hash(user.password_hash, password):
        user.failed_logins = 0
        user.locked_until = None
        audit(user.name, "login", ip=ip)
        session_db.commit()
        metrics.login_attempt("ok")
        return Staff(user)
    session_db.execute(update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1))
    session_db.refresh(user)
    locked = user.failed_logins >= MAX_FAILED
    if locked:
        user.locked_until = now + dt.timedelta(minutes=LOCK_MINUTES)
        user.failed_logins = 0
    audit(user.name, "login_failed", ip=ip, why="wrong password", locked=locked)
    session_db.commit()
    metrics.login_attempt("locked_now" if locked else "failed")
    return None


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    audit(current_user.name, "logout")
    db().commit()
    logout_user()
    session.clear()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))
