"""The Flask app: public pages for customers, the back office for staff.

``create_app(settings)`` returns a WSGI app (``docintake web`` serves it; any
WSGI server can too: ``gunicorn 'intake.web:create_app()'``).

Public: ``/`` (how to send the form, LV/EN), ``/form/customer-data-update.pdf``
(the blank), ``/healthz``, ``/metrics``. Everything under ``/backoffice`` needs
a staff login; roles are in :mod:`intake.web.auth`.
"""

from __future__ import annotations

import datetime as dt
import time

from flask import Flask, g, request
from flask_wtf.csrf import CSRFProtect

from intake.config import Settings, load_settings

#: Displayed times and "today" are those of the bank's office.
TIMEZONE_NAME = "Europe/Riga"

#: No script at all, no inline style, nothing framed, forms post only to us.
CSP = (
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; img-src 'self'; style-src 'self'"
)


def create_app(settings: Settings | None = None) -> Flask:
    from intake import metrics
    from intake.web import auth, backoffice, i18n, messages, public

    settings = settings or load_settings()
    metrics.configure(settings)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="docintake_session",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=8),
        WTF_CSRF_TIME_LIMIT=8 * 3600,
        MAX_CONTENT_LENGTH=256 * 1024,  # staff post notes, never files
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.extensions["docintake.settings"] = settings
    CSRFProtect(app)
    i18n.init_app(app)
    auth.init_app(app)
    i18n.localize_login(app)
    app.register_blueprint(public.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(backoffice.bp)
    messages.init_app(app)
    _install_helpers(app, settings)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The client's address (login throttling, audit) from the proxies' X-Forwarded-For.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)
    return app


def _install_helpers(app: Flask, settings: Settings) -> None:
    from flask_babel import lazy_gettext as _l
    from flask_wtf.csrf import CSRFError

    from intake import metrics
    from intake.web import filters
    from intake.web.db import close_session

    filters.register(app)
    app.teardown_appcontext(close_session)

    @app.context_processor
    def _globals():
        return {"intake_address": settings.intake_address}

    @app.before_request
    def _start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def _security_headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h["X-Frame-Options"] = "DENY"
        h["X-Content-Type-Options"] = "nosniff"
        h["Referrer-Policy"] = "same-origin"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        h["Cross-Origin-Resource-Policy"] = "same-origin"
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        if settings.secure_cookies:
            h["Strict-Transport-Security"] = "max-age=31536000"
        if request.blueprint in ("backoffice", "auth"):
            # Personal data: never in a shared or browser cache.
            h["Cache-Control"] = "no-store"
        metrics.http_request(request.endpoint, response.status_code)
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(exc):
        from flask import render_template

        return render_template("error.html", code=400, title=_l("Request refused"),
                               message=_l("The form had expired or was not sent from this site. "
                                          "Go back, reload the page and try again.")), 400

    for code, title, message in (
        (403, _l("Not allowed"), _l("Your role does not allow this action.")),
        (404, _l("Not found"), _l("There is no such page.")),
        (405, _l("Not allowed"), _l("This method is not allowed here.")),
        (400, _l("Bad request"), _l("The request could not be understood.")),
        (413, _l("Too large"), _l("The request is too large.")),
        (429, _l("Too many requests"), _l("Too many requests; try again later.")),
        (500, _l("Something went wrong"), _l("The error was logged. Try again, or tell the administrator.")),
    ):
        app.register_error_handler(code, _error_page(code, title, message))


def _error_page(code: int, title: str, message: str):
    def handler(exc):
        from flask import render_template

        return render_template("error.html", code=code, title=title, message=message), code

    return handler
