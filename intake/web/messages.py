"""Back office: every message docintake sent (or held back), and the fraud team's JSON API.

- ``/backoffice/messages``: the list, filtered by status and customer; failed ones first in the
  status filter; a clerk may retry a failed message or resend a sent one (POST, CSRF, audited).
- ``messages_for_customer(session, national_id)`` and ``contact_mark(session, national_id)``: for
  the customer page.
- ``/api/contact-alerts[/<national id>]``: profiles whose contact changed recently, for the fraud
  team's tools; a bearer token (``DOCINTAKE_FRAUD_API_TOKEN``); unset: 404.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from forms.identity import parse_national_id
from intake.mailout.replies import recently_changed
from intake.store.models import ContactAlert, MessageStatus, OutboundMessage, utcnow
from intake.web.auth import audit, bearer_matches, requires
from intake.web.db import db, settings

log = logging.getLogger(__name__)

bp = Blueprint("messages", __name__, url_prefix="/backoffice/messages")
api = Blueprint("fraud_api", __name__, url_prefix="/api")
PAGE = 50
STATUSES = tuple(s.value for s in MessageStatus)


class ActionForm(FlaskForm):
    """A button that changes state: the CSRF token and nothing else."""


@bp.after_request
def _no_store(response):  # personal data, this blueprint only
    response.headers["Cache-Control"] = "no-store"
    return response


def messages_for_customer(session: Session, national_id: str, limit: int = 200) -> list[OutboundMessage]:
    """Every message for one customer, newest first (their applied/rejected replies, alarms, campaigns)."""
    nid = parse_national_id(national_id)
    return list(session.scalars(select(OutboundMessage).where(OutboundMessage.national_id == nid)
                                .order_by(OutboundMessage.id.desc()).limit(limit)))


def contact_mark(session: Session, national_id: str) -> ContactAlert | None:
    """The "contact recently changed" mark in force for this customer, None if there is none."""
    alerts = recently_changed(session, parse_national_id(national_id))
    return alerts[0] if alerts else None


@bp.route("/")
@requires("view")
def index():
    status = request.args.get("status", "")
    customer = request.args.get("customer", "").strip()
    page = max(1, request.args.get("page", 1, type=int))
    q = select(OutboundMessage)
    mark = None
    if status in STATUSES:
        q = q.where(OutboundMessage.status == status)
    if customer:
        try:
            nid = parse_national_id(customer)
        except ValueError:
            q = q.where(func.lower(OutboundMessage.recipient) == customer.lower())
        else:
            q = q.where(OutboundMessage.national_id == nid)
            mark = contact_mark(db(), nid)
    total = db().scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = db().scalars(q.order_by(OutboundMessage.id.desc()).offset((page - 1) * PAGE).limit(PAGE)).all()
    counts = dict(db().execute(select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)).all())
    return render_template("messages.html", rows=rows, total=total, page=page, pages=max(1, -(-total // PAGE)),
                           status=status, customer=customer, statuses=STATUSES, counts=counts, form=ActionForm(),
                           mark=mark)


@bp.route("/<int:message_id>/retry", methods=["POST"])
@requires("clear")
def retry(message_id: int):
    """A failed message is tried again; a sent one is sent again (same Message-ID, same bytes)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    message = db().get(OutboundMessage, message_id)
    if message is None or message.status == MessageStatus.suppressed.value:
        abort(404)
    previous = message.status
    back = _back(message)
    moved = db().execute(update(OutboundMessage)
                         .where(OutboundMessage.id == message_id, OutboundMessage.status == previous)
                         .values(status=MessageStatus.pending.value, attempts=0, updated_at=utcnow())
                         .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        db().rollback()
        flash(_("The message changed meanwhile; nothing was done."), "error")
        return redirect(back, 303)
    audit(current_user.name, "message_resend" if previous == "sent" else "message_retry", message.submission_id,
          message=message_id, previous_status=previous, kind=message.kind)
    db().commit()
    try:
        from intake.mailout.jobs import enqueue_messages

        enqueue_messages(settings(), [message_id], replace_started=True)
        flash(_("Message %(id)s was queued for sending.", id=message_id), "ok")
    except Exception:  # noqa: BLE001 - the row is pending: the reconciler enqueues it later
        log.exception("could not enqueue message %s", message_id)
        flash(_("Message %(id)s is marked for sending; the queue is unavailable, it goes when it is back.", id=message_id),
              "warning")
    return redirect(back, 303)


def _back(message: OutboundMessage) -> str:
    """Where the clerk came from: the message's own customer page (``back=customer``, never a URL
    taken from the request), else the Messages list with its filter."""
    if request.args.get("back") == "customer" and message.national_id:
        return url_for("backoffice.customer", national_id=message.national_id)
    return url_for("messages.index", status=request.args.get("status", ""))


# ---- the fraud team's API ------------------------------------------------------------------------
def _authorised() -> None:
    token = settings().fraud_api_token
    if not token:
        abort(404)
    if not bearer_matches(token):
        abort(401)


def _alert_json(a: ContactAlert) -> dict:
    return {"national_id": a.national_id, "fields": a.fields, "changed_at": a.changed_at.isoformat(),
            "until": a.until.isoformat(), "submission_id": a.submission_id}


@api.route("/contact-alerts")
def alerts():
    """Every profile marked "contact recently changed" now (``?since=ISO`` for the newer ones)."""
    _authorised()
    q = select(ContactAlert).where(ContactAlert.until > utcnow()).order_by(ContactAlert.changed_at.desc())
    since = request.args.get("since")
    if since:
        try:
            q = q.where(ContactAlert.changed_at >= dt.datetime.fromisoformat(since))
        except ValueError:
            abort(400)
    return jsonify({"alerts": [_alert_json(a) for a in db().scalars(q.limit(10000))]})


@api.route("/contact-alerts/<national_id>")
def alert_for(national_id: str):
    _authorised()
    try:
        nid = parse_national_id(national_id)
    except ValueError:
        abort(400)
    found = recently_changed(db(), nid)
    return jsonify({"national_id": nid, "contact_recently_changed": bool(found),
                    "alerts": [_alert_json(a) for a in found]})


@api.after_request
def _api_no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_context_processor
def _campaign_stats():
    """``campaign_stats()`` for the dashboard's include (``_campaign_rate.html``), computed on use."""
    def campaign_stats():
        from intake.campaigns.tracking import stats

        return stats(db())[:5]

    return {"campaign_stats": campaign_stats}


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(api)
