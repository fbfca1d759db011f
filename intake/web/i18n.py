"""The back office in Latvian or English (Flask-Babel), chosen per session.

The English text in the templates and views is the message id; Latvian is in
``translations/lv/LC_MESSAGES/messages.po`` (compiled to ``messages.mo``; see the README's
web section for ``pybabel extract/update/compile``). The choice is kept in the
session; without one, the browser's Accept-Language decides, and English is the
fallback. Field, section and choice labels are never translated here: both
languages come from :mod:`forms.schema`.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, redirect, request, session
from flask_babel import Babel, get_locale, gettext
from flask_babel import lazy_gettext as _l

LANGUAGES: dict[str, str] = {"lv": "Latviešu", "en": "English"}
DEFAULT = "en"

bp = Blueprint("i18n", __name__)

#: Messages other modules pass through :func:`gettext` at display time (listed for the catalogue).
EXTERNAL_MESSAGES = (_l("Please sign in."),)  # Flask-Login's login_message (intake.web.auth)


def current_language() -> str:
    """"lv" or "en" for the current request."""
    locale = get_locale()
    return locale.language if locale is not None and locale.language in LANGUAGES else DEFAULT


def _select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT) if request else DEFAULT


@bp.route("/language", methods=["POST"])
def choose_language():
    """Keep the chosen language in the session and go back where the user was (same site only)."""
    from intake.web.auth import safe_next

    lang = request.form.get("lang", "")
    if lang not in LANGUAGES:
        abort(400)
    session["lang"] = lang
    return redirect(safe_next(request.form.get("next")), 303)


def localize_login(app: Flask) -> None:
    """Flask-Login's "please sign in" message in the user's language (after auth.init_app)."""
    app.login_manager.localize_callback = gettext


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Riga")
    Babel(app, locale_selector=_select_locale)
    app.register_blueprint(bp)

    @app.context_processor
    def _language():
        return {"lang": current_language(), "LANGUAGES": LANGUAGES}
