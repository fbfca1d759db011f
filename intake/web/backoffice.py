"""The back office: dashboard, submissions, a submission's evidence, customers, clear and reprocess, staff.

Every route needs a signed-in staff member (:func:`intake.web.auth.requires`);
every state change is a POST with a CSRF token and writes an audit event in the
same transaction. Nothing is deleted. Personal codes are shown to staff but
never written to a log. Clearing as suspected fraud takes two supervisors (four
eyes): the first asks, a second approves or declines (:class:`intake.store.models.FraudClearance`).
Pages that show something still waiting for a verdict refresh themselves (a meta
refresh, so the CSP can keep ``script-src 'none'``).
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from werkzeug.routing import IntegerConverter
from werkzeug.utils import secure_filename
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from forms.identity import parse_national_id
from intake import metrics
from intake.store.db import session_factory, session_scope
from intake.store.mails import raw_chunks
from intake.store.models import (
    WAITING,
    FraudClearance,
    Mail,
    Status,
    Submission,
    User,
    utcnow,
)
from intake.trust.status import freshness
from intake.web import chart, evidence, queries, render, sessions
from intake.web import customers as customers_q
from intake.web.auth import (
    MIN_PASSWORD,
    ROLES,
    audit,
    check_password_policy,
    check_user_name,
    hash_password,
    requires,
)
from intake.web.db import db, settings
from intake.web.filters import ROLE_LABELS, outcome_label, role_label

log = logging.getLogger(__name__)
bp = Blueprint("backoffice", __name__, url_prefix="/backoffice")


@bp.record_once
def _register_converters(state) -> None:
    state.app.url_map.converters["id"] = IdConverter

OUTCOMES = ("resolved", "customer_contacted", "suspected_fraud")  # labels: filters.OUTCOME_LABELS
#: Seconds between self-refreshes of a page that shows something still waiting.
REFRESH_SECONDS = 3
VIEW_LABELS = {
    "open": _l("Open rejects"), "rejected": _l("Rejected"), "failed": _l("Failed"), "cleared": _l("Cleared"),
    "all": _l("All rejects"), "applied": _l("Applied"), "pending": _l("Waiting for a verdict"),
    "everything": _l("All submissions"),
}
USER_ACTION_LABELS = {"unlock": _l("unlock"), "deactivate": _l("deactivate"), "activate": _l("activate")}
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
    role = SelectField("Role", choices=[SelectChoice(r, ROLE_LABELS[r]) for r in ROLES])
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
    data["fraud_pending"] = db().scalar(
        select(func.count()).select_from(FraudClearance).where(FraudClearance.decided_at.is_(None))) or 0
    try:
        stale_lists = [row for row in freshness(settings()) if row["stale"]]
    except Exception:
        log.warning("trusted-list snapshot unreadable", exc_info=True)
        stale_lists = []
    return render_template("dashboard.html", d=data, queue=queue, chart=chart.build(data["days"]),
                           colour=chart.colour, refresh_seconds=REFRESH_SECONDS * 5, stale_lists=stale_lists)


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

    pending = any(s.status in WAITING for s, _name in result.rows)
    return render_template("rejects.html", r=result, views=list(queries.STATUS_VIEWS), page_url=page_url,
                           view_labels=VIEW_LABELS, pending=pending, refresh_seconds=REFRESH_SECONDS,
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
    has_pdf = sub.part_index >= 0
    pages = _rendered(sub) if has_pdf else render.Rendered(render.cache_dir(settings().data_dir), 0, 0)
    return render_template(
        "reject.html", s=sub, report=sub.report or {}, profile=profile, rows=_field_rows(sub, profile),
        form_id=form_id, profile_id=profile_id,
        pages=pages, evidence=evidence.read(pages.directory) if has_pdf else None, has_pdf=has_pdf,
        trail=queries.audit_trail(db(), sub.id), outcomes=OUTCOMES,
        has_validation_report=db().scalar(
            select(Submission.validation_report.is_not(None)).where(Submission.id == sub.id)),
        clear_form=ClearForm(), reprocess_form=ReprocessForm(), action_form=ActionForm(),
        can_clear=sub.status in CLEARABLE, can_reprocess=_reprocessable(sub),
        fraud_request=_open_fraud_request(sub.id), pending=sub.status in WAITING,
        refresh_seconds=REFRESH_SECONDS,
    )


@bp.route("/submissions/<id:submission_id>/pages/<id:number>.png")
@requires("view")
def page_image(submission_id: int, number: int):
    sub = _submission_or_404(submission_id)
    return _page_png(_rendered(sub).page_path(number))


@bp.route("/submissions/<id:submission_id>/pages/<int:number>-<any(signed, diff):kind>.png")
@requires("view")
def revision_image(submission_id: int, number: int, kind: str):
    """The signed revision's page, or the received page with the changes since signing in red."""
    sub = _submission_or_404(submission_id)
    if sub.part_index < 0:
        abort(404)
    directory = _rendered(sub).directory
    return _page_png(evidence.image_path(directory, number, kind, evidence.read(directory)))


def _page_png(path):
    """A rendered page image of a customer's document: 404 when absent, cached by this browser only."""
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
        flash(_("A note and an outcome are required to clear a reject."), "error")
        return redirect(url_for("backoffice.submission", submission_id=sub.id), 303)
    if form.outcome.data == "suspected_fraud" and not current_user.can("clear_fraud"):
        abort(403)
    if form.outcome.data == "suspected_fraud":
        return _request_fraud_clearance(sub, form.note.data.strip())
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
        flash(_("This submission is not an open reject any more; nothing was changed."), "error")
        return redirect(url_for("backoffice.submission", submission_id=sub.id), 303)
    audit(current_user.name, "cleared", sub.id, outcome=form.outcome.data, note=form.note.data.strip(),
          previous_status=previous, main_reason=sub.main_reason)
    db().commit()
    metrics.staff_action("clear")
    flash(_("Submission %(id)s cleared (%(outcome)s).", id=sub.id, outcome=outcome_label(form.outcome.data)), "ok")
    return redirect(url_for("backoffice.rejects"), 303)


# ---- four eyes on suspected fraud ------------------------------------------------------------------
def _open_fraud_request(submission_id: int) -> FraudClearance | None:
    return db().scalar(select(FraudClearance).where(FraudClearance.submission_id == submission_id,
                                                    FraudClearance.decided_at.is_(None)))


def _request_fraud_clearance(sub: Submission, note: str):
    """The first supervisor's step: the reject stays open until a second supervisor decides."""
    back = redirect(url_for("backoffice.submission", submission_id=sub.id), 303)
    if sub.status not in CLEARABLE or _open_fraud_request(sub.id) is not None:
        flash(_("This submission is not an open reject any more; nothing was changed."), "error")
        return back
    db().add(FraudClearance(submission_id=sub.id, requested_by=current_user.name, note=note))
    audit(current_user.name, "fraud_clear_requested", sub.id, note=note, main_reason=sub.main_reason)
    try:
        db().commit()
    except IntegrityError:  # another supervisor asked at the same moment
        db().rollback()
        flash(_("This submission is not an open reject any more; nothing was changed."), "error")
        return back
    metrics.staff_action("fraud_clear_requested")
    flash(_("Suspected fraud recorded. A second supervisor must approve before the reject is cleared."), "warning")
    return back


@bp.route("/submissions/<id:submission_id>/fraud/<any(approve, decline):decision>", methods=["POST"])
@requires("clear_fraud")
def fraud_decision(submission_id: int, decision: str):
    """The second supervisor's step. The requester cannot decide their own request."""
    sub = _submission_or_404(submission_id)
    form = ActionForm()
    note = (request.form.get("note") or "").strip()
    back = redirect(url_for("backoffice.submission", submission_id=sub.id), 303)
    if not form.validate_on_submit():
        abort(400)
    if not 3 <= len(note) <= 4000:
        flash(_("A note is required."), "error")
        return back
    pending = _open_fraud_request(sub.id)
    if pending is None:
        flash(_("There is no open fraud clearance request; nothing was changed."), "error")
        return back
    if pending.requested_by == current_user.name:
        abort(403)
    now = utcnow()
    moved = db().execute(
        update(FraudClearance).where(FraudClearance.id == pending.id, FraudClearance.decided_at.is_(None))
        .values(decided_by=current_user.name, decided_at=now, decision=f"{decision}d", decision_note=note)
        .execution_options(synchronize_session=False)).rowcount == 1
    if moved and decision == "approve":
        approved = _("approved by %(who)s", who=current_user.name)
        moved = db().execute(
            update(Submission)
            .where(Submission.id == sub.id, Submission.status.in_(CLEARABLE))
            .values(status=Status.cleared.value, cleared_by=current_user.name, cleared_at=now,
                    clear_outcome="suspected_fraud",
                    clear_note=f"{pending.note}\n— {pending.requested_by}; {approved}: {note}",
                    updated_at=now)
            .execution_options(synchronize_session=False)).rowcount == 1
    if not moved:
        db().rollback()
        flash(_("This submission is not an open reject any more; nothing was changed."), "error")
        return back
    audit(current_user.name, f"fraud_clear_{decision}d", sub.id, requested_by=pending.requested_by, note=note,
          main_reason=sub.main_reason)
    db().commit()
    metrics.staff_action(f"fraud_clear_{decision}d")
    if decision == "approve":
        flash(_("Submission %(id)s cleared as suspected fraud (approved by two supervisors).", id=sub.id), "ok")
    else:
        flash(_("Fraud clearance declined; the reject stays open."), "ok")
    return back


@bp.route("/submissions/<id:submission_id>/reprocess", methods=["POST"])
@requires("reprocess")
def reprocess(submission_id: int):
    sub = _submission_or_404(submission_id)
    form = ReprocessForm()
    if not form.validate_on_submit():
        abort(400)
    if not _reprocessable(sub) and sub.status in REPROCESSABLE:
        flash(_("This mail has no PDF: verifying it again would change nothing. Answer the sender instead."),
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
        flash(_("Only a rejected or failed submission can be reprocessed; nothing was changed."), "error")
        return redirect(url_for("backoffice.submission", submission_id=sub.id), 303)
    audit(current_user.name, "reprocess", sub.id, previous_status=previous, previous_reason=sub.main_reason,
          note=(form.note.data or "").strip())
    db().commit()
    metrics.staff_action("reprocess")
    try:
        from intake.queue import enqueue_submission

        enqueue_submission(settings(), sub.id)
        flash(_("Submission %(id)s was queued for processing again.", id=sub.id), "ok")
    except Exception:
        # The row is "queued" in the database: the reconciler enqueues it when Redis is back.
        log.exception("could not enqueue submission %s", sub.id)
        flash(_("Submission %(id)s is marked for processing; the queue is unavailable, so it will be "
                "picked up when it is back.", id=sub.id), "warning")
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
            flash(_("That user name is taken."), "error")
        else:
            db().add(User(name=name, role=form.role.data, password_hash=hash_password(form.password.data)))
            audit(current_user.name, "user_created", name=name, role=form.role.data)
            db().commit()
            flash(_("User %(name)s created as %(role)s.", name=name, role=role_label(form.role.data)), "ok")
            return redirect(url_for("backoffice.users"), 303)
    elif request.method == "POST":
        flash(_("Name, role and a password of at least %(n)s characters are required.", n=MIN_PASSWORD), "error")
    staff = db().scalars(select(User).order_by(User.name)).all()
    now = utcnow()
    actions = {u.id: _user_actions(u, now) for u in staff}
    return render_template("users.html", users=staff, form=form, action_form=ActionForm(), now=now,
                           actions=actions, action_labels=USER_ACTION_LABELS)


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
        flash(_("You cannot deactivate your own account.") if user.id == current_user.user_id
              else _("User %(name)s: %(action)s is not possible now.", name=user.name, action=action), "error")
        return redirect(url_for("backoffice.users"), 303)
    if action == "unlock":
        user.failed_logins, user.locked_until = 0, None
    else:
        user.active = action == "activate"
        if not user.active:
            sessions.end_all(db(), user.id)
    audit(current_user.name, f"user_{action}", name=user.name)
    db().commit()
    flash(_("User %(name)s: %(action)s done.", name=user.name, action=USER_ACTION_LABELS[action]), "ok")
    return redirect(url_for("backoffice.users"), 303)


# ---- customers -------------------------------------------------------------------------------------
@bp.route("/customers")
@requires("view")
def customers():
    query = request.args.get("q", "").strip()[:200]
    found = customers_q.search(db(), query) if query else []
    if len(found) == 1 and query:
        return redirect(url_for("backoffice.customer", national_id=found[0].national_id), 303)
    return render_template("customers.html", query=query, found=found, limit=customers_q.SEARCH_LIMIT)


@bp.route("/customers/<national_id>")
@requires("view")
def customer(national_id: str):
    try:
        canonical = parse_national_id(national_id)
    except ValueError:
        abort(404)
    if canonical != national_id:
        return redirect(url_for("backoffice.customer", national_id=canonical), 301)
    data = customers_q.dossier(db(), canonical)
    if data.profile is None and not data.submissions:
        abort(404)
    pending = any(s.status in WAITING for s in data.submissions)
    return render_template("customer.html", c=data, pending=pending, refresh_seconds=REFRESH_SECONDS * 2)
