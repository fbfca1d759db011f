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

Failed sign-ins slow down, they never lock (:mod:`intake.web.throttle`): a wait grows per
(name, client address) and per address, so neither a guesser of a named account nor a spray
from one address can lock out the account's owner or the staff behind the same proxy. Behind a
reverse proxy, set ``trusted_proxies`` so the client address is the real one.
Every sign-in and failure is an audit event. Messages never tell an unknown name from a wrong
password. Sessions live on the server (:mod:`intake.web.sessions`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import math
import re
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from flask_wtf import FlaskForm
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from intake import metrics
from intake.store.models import AuditEvent, User, utcnow
from intake.web import sessions, throttle
from intake.web.db import db

ROLES = ("clerk", "supervisor", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "clear": frozenset(ROLES),
    "clear_fraud": frozenset({"supervisor", "admin"}),
    "reprocess": frozenset({"supervisor", "admin"}),
    "manage_users": frozenset({"admin"}),
}
MIN_PASSWORD = 12
#: zxcvbn's score (0..4) a password needs: 3 is "safely unguessable: moderate protection from an
#: offline slow-hash scenario".
MIN_STRENGTH = 3
CONTEXT_WORDS = ("docintake", "backoffice", "bank", "admin", "password")
USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,99}")

#: Checked against when the name is unknown, so both paths cost one hash.
_DUMMY_HASH = generate_password_hash("docintake-dummy-password")

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__, url_prefix="/backoffice")


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def check_password_policy(password: str, user_name: str = "") -> str | None:
    """None if acceptable, else the reason.

    Strength is zxcvbn's estimate (a kept library with its own lists of common passwords, names
    and words, and the checks for repeats, sequences and dates) with the user name and this
    product's words as context: ``aaaaaaaaaaaa``, ``123456789012`` and the user name are refused.
    """
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if user_name and user_name.casefold() in password.casefold():
        return "a password must not contain the user name"
    from zxcvbn import zxcvbn

    # zxcvbn's time grows with the length; the first 100 characters tell enough
    result = zxcvbn(password[:100], user_inputs=[user_name, *CONTEXT_WORDS])
    if result["score"] < MIN_STRENGTH:
        hint = (result.get("feedback") or {}).get("warning") or "it is a common or predictable password"
        return f"this password is too easy to guess ({hint.rstrip('.')})"
    return None


def check_user_name(name: str) -> str | None:
    """None if acceptable: lower-case ASCII letters, digits, ``.``, ``_``, ``-`` (2..100 characters).

    No letters of other scripts (a Cyrillic ``а`` looks like ``a``) and no invisible characters.
    """
    if USER_NAME.fullmatch(name):
        return None
    return ("a user name has 2 to 100 characters: lower-case letters a-z, digits and . _ - "
            "(starting with a letter or digit)")


class Staff(UserMixin):
    """The signed-in staff member (a detached copy of the User row) and their session's token."""

    def __init__(self, user: User, token: str) -> None:
        self.user_id = user.id
        self.name = user.name
        self.role = user.role
        self.token = token

    def get_id(self) -> str:
        # Flask-Login keeps this in the cookie: the server-side session's token (intake.web.sessions).
        return self.token

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS.get(permission, frozenset())


def init_app(app) -> None:
    manager = LoginManager()
    manager.login_view = "auth.login"
    manager.login_message = "Please sign in."
    manager.login_message_category = "info"
    manager.session_protection = "strong"
    manager.user_loader(_load_user)
    manager.init_app(app)
    settings = app.extensions["docintake.settings"]
    app.extensions["docintake.login_throttle"] = throttle.LoginThrottle(
        connect=lambda: _redis(settings))

    @app.context_processor
    def _staff():
        return {"staff": current_user}


def _redis(settings):
    from intake.queue import redis_connection

    return redis_connection(settings)


def _load_user(token: str) -> Staff | None:
    idle = dt.timedelta(minutes=current_app.extensions["docintake.settings"].session_idle_minutes)
    user = sessions.resume(db(), token, idle)
    return Staff(user, token) if user is not None else None


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


def bearer_matches(token: str) -> bool:
    """The request carries ``Authorization: Bearer <token>`` (compared in constant time)."""
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def safe_next(target: str | None) -> str:
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target:
            return target
    return url_for("backoffice.dashboard")


FAILED_MESSAGE = "Sign-in failed. Check the name and password."


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("backoffice.dashboard"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        ip = request.remote_addr or "unknown"  # the client's, through ProxyFix when trusted_proxies is set
        _warn_untrusted_proxy()
        name = form.name.data.strip()
        limiter: throttle.LoginThrottle = current_app.extensions["docintake.login_throttle"]
        wait = limiter.wait(name, ip)
        if wait > 0:
            metrics.login_attempt(False)
            flash(f"Too many failed sign-ins. Wait {math.ceil(wait)} seconds and try again.", "error")
            return render_template("login.html", form=form), 429
        staff = _authenticate(name, form.password.data, ip)
        if staff is not None:
            limiter.succeeded(name, ip)
            session.clear()  # a fresh session for the signed-in user
            login_user(staff)
            session.permanent = True
            return redirect(safe_next(request.args.get("next")))
        limiter.failed(name, ip)
        flash(FAILED_MESSAGE, "error")
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("login.html", form=form), status


_proxy_warned = False


def _warn_untrusted_proxy() -> None:
    """Once per process: a proxy forwards the client's address but ``trusted_proxies`` is 0, so every
    sign-in seems to come from the proxy and the per-address wait falls on all staff at once."""
    global _proxy_warned
    settings = current_app.extensions["docintake.settings"]
    if not _proxy_warned and not settings.trusted_proxies and "X-Forwarded-For" in request.headers:
        _proxy_warned = True
        log.warning("sign-ins arrive through a proxy (X-Forwarded-For) but trusted_proxies is 0: "
                    "set DOCINTAKE_TRUSTED_PROXIES to the number of proxies in front of the web")


def _authenticate(name: str, password: str, ip: str) -> Staff | None:
    session_db = db()
    user = session_db.scalar(select(User).where(User.name == name))
    now = utcnow()
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        audit("anonymous", "login_failed", name=name[:100], ip=ip, why="unknown or inactive account")
        session_db.commit()
        metrics.login_attempt(False)
        return None
    if user.locked_until is not None and user.locked_until > now:  # set by schema < 0004 only
        check_password_hash(_DUMMY_HASH, password)
        audit(user.name, "login_refused", ip=ip, why="account locked", until=user.locked_until.isoformat())
        session_db.commit()
        metrics.login_attempt(False)
        return None
    if check_password_hash(user.password_hash, password):
        user.failed_logins = 0
        token = sessions.start(session_db, user, ip)
        audit(user.name, "login", ip=ip)
        session_db.commit()
        metrics.login_attempt(True)
        return Staff(user, token)
    session_db.execute(update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1))
    audit(user.name, "login_failed", ip=ip, why="wrong password")
    session_db.commit()
    metrics.login_attempt(False)
    return None


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    audit(current_user.name, "logout")
    sessions.end(db(), current_user.token)
    db().commit()
    logout_user()
    session.clear()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))
