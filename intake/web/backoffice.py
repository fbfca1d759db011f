"""The back office: dashboard, rejects queue, a reject's evidence, clear and reprocess, staff accounts.

Every route needs a signed-in staff member (:func:`intake.web.auth.requires`);
every state change is a POST with a CSRF token and writes an audit event in the
same transaction. Nothing is deleted. Personal codes are shown to staff but
never written to a log.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select, update
from sqlalchemy.orm import defer
from werkzeug.routing import IntegerConverter
from werkzeug.utils import secure_filename
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from intake import metrics
from intake.db import session_factory, session_scope
from intake.mailstore import raw_chunks
from intake.models import Mail, Status, Submission, User, utcnow
from intake.trust_status import freshness
from intake.web import chart, queries, render, sessions
from intake.web.auth import (MIN_PASSWORD, ROLES, audit, check_password_policy, check_user_name, hash_password,
                             requires)
from intake.web.db import db, settings

log = logging.getLogger(__name__)
bp = Blueprint("backoffice", __name__, url_prefix="/backoffice")


@bp.record_once
def _register_converters(state) -> None:
    state.app.url_map.converters["id"] = IdConverter

OUTCOMES = {
    "resolved": "Resolved",
    "customer_contacted": "Customer contacted",
    "suspected_fraud": "Suspected fraud",
}
CLEARABLE = (Status.rejected.value, Status.failed.value)
REPROCESSABLE = (Status.rejected.value, Status.failed.value)


class ClearForm(FlaskForm):
    outcome = SelectField("Outcome", choices=list(OUTCOMES), validators=[DataRequired()])
    note = TextAreaField("Note", validators=[DataRequired(), Length(min=3, max=4000)])


class ReprocessForm(FlaskForm):
    note = StringField("Why (optional)", validators=[Optional(), Length(max=1000)])


class ActionForm(FlaskForm):
    """A button that changes state: the CSRF token and nothing else."""


class NewUserForm(FlaskForm):
    name = StringField("User name", validators=[DataRequired(), Length(min=2, max=100)])
    role = SelectField("Role", choices=list(ROLES))
    password = PasswordField("Initial password", validators=[DataRequired(), Length(min=MIN_PASSWORD, max=1000)])


# ---- dashboard ------------------------------------------------------------------------------------
@bp.route("/")
@requires("view")
def dashboard():
    history = current_app.extensions.setdefault("docintake.history", queries.HistoryCache())
    data = queries.dashboard(db(), history)
    try:
        queue = metrics.queue_stats(settings())
    except Exception:
        log.warning("queue statistics unavailable", exc_info=True)
        queue = None
    try:
        stale_lists = [row for row in freshness(settings()) if row["stale"]]
    except Exception:
        log.warning("trusted-list snapshot unreadable", exc_info=True)
        stale_lists = []
    return render_template("dashboard.html", d=data, queue=queue, chart=chart.build(data["days"]),
                           colour=chart.colour, stale_lists=stale_lists)


# ---- rejects queue --------------------------------------------------------------------------------
class IdConverter(IntegerConverter):
    """``<id:name>``: a positive integer a database key can hold; anything larger is a 404, not a 500."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        super().__init__(url_map, min=1, max=2**31 - 1)


#: Dates the filters accept: a day either side must still be a date (9999-12-31 + 1 day is not).
DATE_RANGE = (dt.date(1900, 1, 1), dt.date(9998, 12, 31))


def _parse_date(name: str) -> dt.date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        abort(400)
    if not DATE_RANGE[0] <= day <= DATE_RANGE[1]:
        abort(400)
    return day


@bp.route("/rejects")
@requires("view")
def rejects():
    view = request.args.get("status", "open")
    if view not in queries.STATUS_VIEWS:
        abort(400)
    reason = request.args.get("reason") or None
    if reason is not None and reason not in queries.known_reasons():
        abort(400)
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        abort(400)
    flt = queries.RejectFilter(view=view, reason=reason, date_from=_parse_date("from"),
                               date_to=_parse_date("to"), page=page)
    result = queries.rejects_page(db(), flt)

    def page_url(number: int, **changes) -> str:
        args = {"status": flt.view, "reason": flt.reason or "", "from": request.args.get("from", ""),
                "to": request.args.get("to", ""), "page": number}
        args.update(changes)
        return url_for("backoffice.rejects", **{k: v for k, v in args.items() if v not in ("", None)})

    return render_template("rejects.html", r=result, views=list(queries.STATUS_VIEWS), page_url=page_url,
                           date_from=request.args.get("from", ""), date_to=request.args.get("to", ""))


# ---- one submission ------------------------------------------------------------------------------
def _submission_or_404(submission_id: int) -> Submission:
    submission = queries.submission_detail(db(), submission_id)
    if submission is None:
        abort(404)
    return submission


def _previewable(data: bytes | None) -> bytes | None:
    """What the page images show: the document, or the PDF inside a signed container."""
    from verify.container import looks_like_zip
    from verify.container.archive import contained_pdf

    if data is not None and looks_like_zip(data):
        return contained_pdf(data) or data
    return data


def _rendered(submission: Submission) -> render.Rendered:
    return render.rendered(
        settings().data_dir, render.key_for(submission.sha256, submission.id),
        lambda: _previewable(queries.submission_content(db(), submission.id)),
    )


def _field_rows(submission: Submission, profile) -> list[dict]:
    """Extracted fields next to the current profile, in the form's order, changed ones marked."""
    report = submission.report or {}
    fields = report.get("fields") or {}
    current = (profile.fields if profile else None) or {}
    try:
        from forms.schema import FIELD_NAMES
    except ImportError:  # pragma: no cover
        FIELD_NAMES = ()
    names = [n for n in FIELD_NAMES if n in fields or n in current]
    names += sorted(n for n in set(fields) | set(current) if n not in names)
    rows = []
    for name in names:
        new, old = fields.get(name), current.get(name)
        rows.append({"name": name, "new": new, "old": old, "in_form": name in fields,
                     "changed": profile is not None and name in fields and new != old})
    return rows


def _reprocessable(sub: Submission) -> bool:
    """A reject or failure with a document: a mail without a PDF would only be refused again."""
    return sub.status in REPROCESSABLE and sub.part_index >= 0


@bp.route("/submissions/<id:submission_id>")
@requires("view")
def submission(submission_id: int):
    sub = _submission_or_404(submission_id)
    audit(current_user.name, "viewed", sub.id)  # who looked at a customer's document, as for downloads
    db().commit()
    # The fields are compared with the customer the form names (not the signer: on a signer_mismatch
    # that is another person); without a readable identity on the form, with the signer's.
    form_id = queries.form_identity(sub.report)
    profile_id = form_id or sub.national_id or ((sub.report or {}).get("signer") or {}).get("national_id")
    profile = queries.profile_for(db(), profile_id)
    return render_template(
        "reject.html", s=sub, report=sub.report or {}, profile=profile, rows=_field_rows(sub, profile),
        form_id=form_id, profile_id=profile_id,
        pages=_rendered(sub), trail=queries.audit_trail(db(), sub.id), outcomes=OUTCOMES,
        has_validation_report=db().scalar(
            select(Submission.validation_report.is_not(None)).where(Submission.id == sub.id)),
        clear_form=ClearForm(), reprocess_form=ReprocessForm(),
        can_clear=sub.status in CLEARABLE, can_reprocess=_reprocessable(sub),
    )


@bp.route("/submissions/<id:submission_id>/pages/<id:number>.png")
@requires("view")
def page_image(submission_id: int, number: int):
    sub = _submission_or_404(submission_id)
    path = _rendered(sub).page_path(number)
    if path is None or not path.is_file():
        abort(404)
    response = send_file(path, mimetype="image/png", max_age=3600)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.route("/submissions/<id:submission_id>/original")
@requires("view")
def original(submission_id: int):
    sub = _submission_or_404(submission_id)
    size = queries.content_size(db(), sub.id)
    if size is None:
        abort(404)
    audit(current_user.name, "downloaded", sub.id)
    db().commit()
    name = secure_filename(sub.filename or "") or f"submission-{sub.id}.pdf"
    sub_id, config = sub.id, settings()

    def slices():  # streamed as the .eml is, in a read-only session of its own (no writer lock held)
        with session_factory(config)() as session:
            yield from queries.content_slices(session, sub_id, size)

    # A download, never displayed in our origin: it is whatever the sender made it.
    response = Response(slices(), mimetype="application/octet-stream")
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = f'attachment; filename="{sub.id}-{name}"'
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@bp.route("/submissions/<id:submission_id>/validation-report.xml")
@requires("view")
def validation_report(submission_id: int):
    """The ETSI TS 119 102-2 validation report of the signature, as stored with the decision."""
    sub = _submission_or_404(submission_id)
    xml = db().scalar(select(Submission.validation_report).where(Submission.id == sub.id))
    if not xml:
        abort(404)
    audit(current_user.name, "downloaded_validation_report", sub.id)
    db().commit()
    response = Response(xml, mimetype="application/xml")
    response.headers["Content-Disposition"] = f'attachment; filename="validation-report-{sub.id}.xml"'
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@bp.route("/submissions/<id:submission_id>/mail.eml")
@requires("view")
def original_mail(submission_id: int):
    """The whole mail the submission came in, as it arrived (e.g. to see what a no-PDF mail carried)."""
    sub = _submission_or_404(submission_id)
    mail = db().get(Mail, sub.mail_id, options=[defer(Mail.raw)])
    if mail is None:
        abort(404)
    audit(current_user.name, "downloaded_mail", sub.id, mail_id=mail.id)
    db().commit()
    mail_id, config = mail.id, settings()

    def slices():  # streamed a slice at a time (a mail can be hundreds of MB), in a session of its own
        with session_scope(config) as session:
            yield from raw_chunks(session, mail_id)

    response = Response(slices(), mimetype="application/octet-stream")
    if mail.raw_size is not None:
        response.headers["Content-Length"] = str(mail.raw_size)
    response.headers["Content-Disposition"] = f'attachment; filename="mail-{mail.id}.eml"'
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@bp.route("/submissions/<id:submission_id>/clear", methods=["POST"])
@requires("clear")
def clear(submission_id: int):
    sub = _submission_or_404(submission_id)
    form = ClearForm()
    if not form.validate_on_submit():
        flash("A note and an outcome are required to clear a reject.", "error")
        return redirect(url_for("backoffice.submission", submission_id=sub.id), 303)
    if form.outcome.data == "suspected_fraud" and not current_user.can("clear_fraud"):
        abort(403)
    previous = sub.status
    now = utcnow()
    result = db().execute(
        update(Submission)
        .where(Submission.id == sub.id, Submission.status == previous, Submission.status.in_(CLEARABLE))
        .values(status=Status.cleared.value, cleared_by=current_user.name, cleared_at=now,
                clear_outcome=form.outcome.data, clear_note=form.note.data.strip(), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db().rollback()
        flash("This submission is not an open reject any more; nothing was changed.", "error")
        return redirect(url_for("backoffice.submission", submission_id=sub.id), 303)
    audit(current_user.name, "cleared", sub.id, outcome=form.outcome.data, note=form.note.data.strip(),
          previous_status=previous, main_reason=sub.main_reason)
    db().commit()
    metrics.staff_action("clear")
    flash(f"Submission {sub.id} cleared ({OUTCOMES[form.outcome.data].lower()}).", "ok")
    return redirect(url_for("backoffice.rejects"), 303)


@bp.route("/submissions/<id:submission_id>/reprocess", methods=["POST"])
@requires("reprocess")
def reprocess(submission_id: int):
    sub = _submission_or_404(submission_id)
    form = ReprocessForm()
    if not form.validate_on_submit():
        abort(400)
    if not _reprocessable(sub) and sub.status in REPROCESSABLE:
        flash("This mail has no PDF: verifying it again would change nothing. Answer the sender instead.",
              "error")
        return redirect(url_for("backoffice.submission", submission_id=sub.id), 303)
    previous = sub.status
    result = db().execute(
        update(Submission)
        .where(Submission.id == sub.id, Submission.status == previous, Submission.status.in_(REPROCESSABLE))
        .values(status=Status.queued.value, attempts=0, last_error=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db().rollback()
        flash("Only a rejected or failed submission can be reprocessed; nothing was changed.", "error")
        return redirect(url_for("backoffice.submission", submission_id=sub.id), 303)
    audit(current_user.name, "reprocess", sub.id, previous_status=previous, previous_reason=sub.main_reason,
          note=(form.note.data or "").strip())
    db().commit()
    metrics.staff_action("reprocess")
    try:
        from intake.queue import enqueue_submission

        enqueue_submission(settings(), sub.id)
        flash(f"Submission {sub.id} was queued for processing again.", "ok")
    except Exception:
        # The row is "queued" in the database: the reconciler enqueues it when Redis is back.
        log.exception("could not enqueue submission %s", sub.id)
        flash(f"Submission {sub.id} is marked for processing; the queue is unavailable, so it will be "
              "picked up when it is back.", "warning")
    return redirect(url_for("backoffice.submission", submission_id=sub.id), 303)


# ---- staff accounts (admin) ----------------------------------------------------------------------
@bp.route("/users", methods=["GET", "POST"])
@requires("manage_users")
def users():
    form = NewUserForm()
    if form.validate_on_submit():
        name = form.name.data.strip()
        problem = check_user_name(name) or check_password_policy(form.password.data, name)
        if problem:
            flash(problem, "error")
        elif db().scalar(select(User.id).where(User.name == name)) is not None:
            flash("That user name is taken.", "error")
        else:
            db().add(User(name=name, role=form.role.data, password_hash=hash_password(form.password.data)))
            audit(current_user.name, "user_created", name=name, role=form.role.data)
            db().commit()
            flash(f"User {name} created as {form.role.data}.", "ok")
            return redirect(url_for("backoffice.users"), 303)
    elif request.method == "POST":
        flash("Name, role and a password of at least %d characters are required." % MIN_PASSWORD, "error")
    staff = db().scalars(select(User).order_by(User.name)).all()
    now = utcnow()
    actions = {u.id: _user_actions(u, now) for u in staff}
    return render_template("users.html", users=staff, form=form, action_form=ActionForm(), now=now,
                           actions=actions)


def _user_actions(user: User, now: dt.datetime) -> list[str]:
    """What the signed-in admin may do to ``user``: never deactivate their own account."""
    actions = ["unlock"] if user.locked_until and user.locked_until > now else []
    if not user.active:
        actions.append("activate")
    elif user.id != current_user.user_id:
        actions.append("deactivate")
    return actions


@bp.route("/users/<id:user_id>/<any(unlock, deactivate, activate):action>", methods=["POST"])
@requires("manage_users")
def user_action(user_id: int, action: str):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    user = db().get(User, user_id)
    if user is None:
        abort(404)
    if action not in _user_actions(user, utcnow()):
        flash("You cannot deactivate your own account." if user.id == current_user.user_id
              else f"User {user.name}: {action} is not possible now.", "error")
        return redirect(url_for("backoffice.users"), 303)
    if action == "unlock":
        user.failed_logins, user.locked_until = 0, None
    else:
        user.active = action == "activate"
        if not user.active:
            sessions.end_all(db(), user.id)
    audit(current_user.name, f"user_{action}", name=user.name)
    db().commit()
    flash(f"User {user.name}: {action} done.", "ok")
    return redirect(url_for("backoffice.users"), 303)
