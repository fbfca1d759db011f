"""Pages anyone may see: how to send the form, the blank form, health and metrics."""

from __future__ import annotations

import hashlib
import threading

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import text

from intake.web.auth import bearer_matches
from intake.web.db import db, settings

bp = Blueprint("public", __name__)

LANGS = ("lv", "en")
_blank_cache: dict[tuple[str, str], tuple[bytes, str]] = {}
_blank_lock = threading.Lock()


def _form_identity() -> tuple[str, str]:
    from forms.schema import FORM_ID, FORM_VERSION

    return FORM_ID, FORM_VERSION


@bp.route("/")
def home():
    form_id, version = _form_identity()
    return render_template("home.html", form_id=form_id, form_version=version)


def blank_form(lang: str) -> tuple[bytes, str]:
    """(PDF bytes, ETag) of the blank form, generated once per form version and language."""
    from forms.schema import FORM_VERSION

    key = (FORM_VERSION, lang)
    cached = _blank_cache.get(key)
    if cached is None:
        with _blank_lock:
            cached = _blank_cache.get(key)
            if cached is None:
                from forms.blank import render_blank

                data = render_blank(lang)
                cached = (data, hashlib.sha256(data).hexdigest()[:32])
                _blank_cache[key] = cached
    return cached


@bp.route("/form/customer-data-update.pdf")
def blank():
    lang = request.args.get("lang", "lv")
    if lang not in LANGS:
        abort(400)
    form_id, version = _form_identity()
    data, etag = blank_form(lang)
    response = Response(data, mimetype="application/pdf")
    response.set_etag(etag)
    # Short: a new form version must reach customers quickly (an old one is refused as unknown_form).
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Content-Disposition"] = f'attachment; filename="{form_id}-{version}-{lang}.pdf"'
    return response.make_conditional(request)


@bp.route("/favicon.ico")
def favicon():
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.route("/healthz")
def healthz():
    checks: dict[str, str] = {}
    try:
        db().execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # the message may name the server, never credentials
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        from intake.queue import redis_connection

        connection = redis_connection(settings())
        try:
            connection.ping()
        finally:
            connection.close()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    response = jsonify(status="ok" if ok else "unavailable", **checks)
    response.status_code = 200 if ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/metrics")
def metrics_view():
    from intake import metrics

    token = settings().metrics_token
    if token and not bearer_matches(token):
        abort(401)
    body, content_type = metrics.exposition(settings())
    response = Response(body, content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response
