"""The RQ job: one submission from ``received`` to ``applied`` or ``rejected``, exactly once.

``process_submission(submission_id)`` is enqueued by name (``intake.queue``) with only the id;
the document bytes are read from the database.

1. Claim: ``UPDATE submissions SET status='processing', attempts=attempts+1 WHERE id=:id AND
   status IN ('received','queued','processing')``. Nothing updated: the submission is already
   decided (applied, rejected, cleared) or does not exist, and the job is a no-op. Running a
   job twice therefore changes nothing the second time.
2. Decide, outside any transaction: the same ``verify.decision.decide`` as ``docintake verify``.
3. Finish, in ONE transaction: the conditional update again (it takes the row lock on
   PostgreSQL and SQLite's write lock, so two executions of the same submission serialise and
   the second finds it decided), then ``SqlProfileStore.apply`` (keyed by the document's
   SHA-256), the verdict columns and an ``AuditEvent``. The profile change and the submission's
   ``applied`` status commit together or not at all: a worker killed at any point leaves either
   nothing (the submission is still waiting; the reconciler re-enqueues it) or everything.

A bad document is a verdict, never a job failure. Transient infrastructure errors (the database
or Redis unreachable, SQLite busy) propagate as :class:`TransientError` so RQ retries with
backoff; any other exception becomes a reject with ``internal_error`` (fail closed). Log lines
and the error text RQ keeps never carry a personal code unmasked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

import sqlalchemy.exc as sa_exc
from sqlalchemy import select, update

from intake.campaigns import tracking as campaigns
from intake.config import Settings, load_settings
from intake.logs import mask_codes
from intake.mailout import jobs as send_jobs
from intake.mailout import outbox, replies
from intake.queue import TRANSIENT_ERRORS
from intake.store.db import session_scope
from intake.store.models import WAITING, AuditEvent, Status, Submission, utcnow
from verify.reasons import CODES
from worker.decide import Decision, decide_document
from worker.profiles import ConcurrentUpdate, SqlProfileStore

log = logging.getLogger(__name__)

ACTOR = "system:worker"
#: A submission claimed this many times without a verdict (e.g. a document that kills its worker
#: every time) is rejected with ``internal_error`` instead of being tried for ever.
MAX_ATTEMPTS = 20
#: Retries of the finishing transaction after a lost race (unique document hash, profile version).
_FINISH_TRIES = 3

TRANSIENT: tuple[type[BaseException], ...] = TRANSIENT_ERRORS + (
    sa_exc.TimeoutError,  # the connection pool is exhausted
    sa_exc.DisconnectionError,
)


class TransientError(RuntimeError):
    """Infrastructure was unreachable; RQ retries the job (with backoff). The message is masked."""


@dataclass(frozen=True)
class Claim:
    submission_id: int
    content: bytes | None
    sha256: str | None
    attempts: int
    received_at: dt.datetime | None = None  # the mail's receipt: no signature was made after it


def _describe(exc: BaseException) -> str:
    """A short, masked description: for SQLAlchemy errors the driver's message only (no SQL, no
    parameters, which may hold personal codes)."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    text = text.strip().splitlines()[0] if text.strip() else ""
    return mask_codes(f"{type(exc).__name__}: {text}")[:500]


def process_submission(submission_id: int) -> str:
    """The RQ job. Returns what happened: ``applied``, ``rejected`` or ``noop``."""
    settings = load_settings()
    try:
        return run(settings, int(submission_id))
    except TRANSIENT as exc:
        message = _describe(exc)
        log.warning("submission %s: transient failure, will be retried: %s", submission_id, message)
        _note_error(settings, int(submission_id), message)
        raise TransientError(message) from None


def run(settings: Settings, submission_id: int) -> str:
    """:func:`process_submission` with explicit settings (transient errors raise as they are)."""
    claim = claim_submission(settings, submission_id)
    if claim is None:
        log.info("submission %s: already decided or unknown, nothing to do", submission_id)
        return "noop"
    decision = _decide(settings, claim)
    for attempt in range(1, _FINISH_TRIES + 1):
        try:
            return _send_owed(settings, submission_id, finish(settings, claim, decision))
        except TRANSIENT:
            raise
        except (sa_exc.IntegrityError, ConcurrentUpdate) as exc:
            # Lost a race (another submission of the same document, a profile changed under us):
            # a fresh transaction sees the winner's commit and gives duplicate/stale.
            log.info("submission %s: finishing lost a race (%s), try %d", submission_id, _describe(exc), attempt)
            if attempt == _FINISH_TRIES:
                decision = _internal_error(f"could not finish after {attempt} tries: {_describe(exc)}")
                return _send_owed(settings, submission_id, finish(settings, claim, decision))
        except Exception as exc:  # noqa: BLE001 - fail closed
            log.error("submission %s: unexpected error while finishing, rejected as internal_error: %s",
                      submission_id, _describe(exc), exc_info=_log_traceback())
            if decision.main_reason == "internal_error":
                raise
            decision = _internal_error(_describe(exc))
    return "noop"  # pragma: no cover


def _send_owed(settings: Settings, submission_id: int, result: str) -> str:
    """After the verdict committed: enqueue the messages it wrote (the reconciler does it if this
    process dies first or Redis is away)."""
    if result in (Status.applied.value, Status.rejected.value):
        with session_scope(settings) as session:
            owed = outbox.pending_for_submission(session, submission_id)
        send_jobs.enqueue_after_commit(settings, owed)
    return result


def _log_traceback() -> bool:
    """Tracebacks may quote values; only at DEBUG level (the masking filter still applies)."""
    return log.isEnabledFor(logging.DEBUG)


def claim_submission(settings: Settings, submission_id: int) -> Claim | None:
    """Step 1: mark it ``processing`` (attempts + 1) if it is still waiting; None otherwise."""
    with session_scope(settings) as session:
        claimed = session.execute(
            update(Submission)
            .where(Submission.id == submission_id, Submission.status.in_(WAITING))
            .values(status=Status.processing.value, attempts=Submission.attempts + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            return None
        row = session.execute(
            select(Submission.content, Submission.sha256, Submission.attempts, Submission.received_at)
            .where(Submission.id == submission_id)
        ).one()
    return Claim(submission_id, row.content, row.sha256, row.attempts, row.received_at)


def _internal_error(detail: str) -> Decision:
    return Decision(
        accepted=False,
        reasons=[{"code": "internal_error", "field": None, "message": CODES["internal_error"]}],
        report={"verdict": "rejected", "error": detail},
        national_id=None,
        signing_time=None,
        fields={},
    )


def _decide(settings: Settings, claim: Claim) -> Decision:
    """Step 2, outside any transaction. Never raises but for shutdown signals."""
    if claim.attempts > MAX_ATTEMPTS:
        log.error("submission %s: %d attempts without a verdict, rejected as internal_error",
                  claim.submission_id, claim.attempts - 1)
        return _internal_error(f"no verdict after {claim.attempts - 1} attempts")
    if claim.content is None:
        return Decision(False, [{"code": "no_pdf_attachment", "field": None, "message": CODES["no_pdf_attachment"]}],
                        {"verdict": "rejected"}, None, None, {})
    try:
        return decide_document(claim.content, settings, received_at=claim.received_at)
    except Exception as exc:  # noqa: BLE001 - decide() never raises; if it does, fail closed
        log.error("submission %s: the decision failed, rejected as internal_error: %s",
                  claim.submission_id, _describe(exc), exc_info=_log_traceback())
        return _internal_error(_describe(exc))


def finish(settings: Settings, claim: Claim, decision: Decision) -> str:
    """Step 3: apply the update or record the reject, the verdict and an audit event, in ONE transaction."""
    sid = claim.submission_id
    sha = claim.sha256 or (hashlib.sha256(claim.content).hexdigest() if claim.content is not None else None)
    with session_scope(settings) as session:
        now = utcnow()
        # The same condition as the claim, now holding the row (PostgreSQL) / database (SQLite)
        # write lock until commit: a concurrent execution that finished first makes this a no-op.
        still_waiting = session.execute(
            update(Submission)
            .where(Submission.id == sid, Submission.status.in_(WAITING))
            .values(status=Status.processing.value, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if still_waiting != 1:
            log.info("submission %s: decided meanwhile by another execution, nothing to do", sid)
            return "noop"
        reasons = decision.reasons
        detail: dict = {"attempts": claim.attempts}
        if decision.accepted:
            if not decision.national_id or not sha:
                raise RuntimeError("an accepted report without a signer identity or document hash")
            outcome = SqlProfileStore().apply(
                session,
                national_id=decision.national_id,
                fields=decision.fields,
                signed_at=decision.signing_time or now,
                submission_id=sid,
                document_sha256=sha,
            )
            status_value = getattr(outcome.status, "value", outcome.status)
            detail["outcome"] = status_value
            if status_value == "applied":
                status = Status.applied.value
                reasons = []
                detail["change_id"] = outcome.change_id
            else:
                status = Status.rejected.value
                reasons = [{"code": status_value, "field": None, "message": CODES[status_value]}]
        else:
            status = Status.rejected.value
        main_reason = reasons[0]["code"] if reasons else None
        session.execute(
            update(Submission)
            .where(Submission.id == sid)
            .values(
                status=status,
                reasons=reasons,
                main_reason=main_reason,
                report=decision.report,
                validation_report=decision.validation_report,
                national_id=decision.national_id,
                signing_time=decision.signing_time,
                decided_at=now,
                updated_at=now,
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        )
        detail["main_reason"] = main_reason
        detail["reasons"] = [r["code"] for r in reasons]
        # The outbox: what the customer (and, for a contact change, the old contact) is told is
        # written in this same transaction; it is sent after the commit (intake.mailout.jobs).
        replies.for_verdict(session, settings, submission_id=sid, status=status, reasons=reasons,
                            national_id=decision.national_id, change_id=detail.get("change_id"),
                            content=claim.content)
        campaigns.track_verdict(session, national_id=decision.national_id, submission_id=sid, status=status)
        job_id = _current_job_id()
        if job_id:
            detail["job"] = job_id
        session.add(AuditEvent(actor=ACTOR, action=f"submission_{status}", submission_id=sid, detail=detail, at=now))
    log.info("submission %s: %s%s", sid, status, f" ({main_reason})" if main_reason else "")
    return status


def _current_job_id() -> str | None:
    try:
        from rq import get_current_job

        job = get_current_job()
    except Exception:  # noqa: BLE001 - not inside a worker
        return None
    return job.id if job is not None else None


def _note_error(settings: Settings, submission_id: int, message: str) -> None:
    """Best effort: remember the last transient error on the submission (the database may be the
    thing that is down)."""
    try:
        with session_scope(settings) as session:
            session.execute(
                update(Submission)
                .where(Submission.id == submission_id, Submission.status.in_(WAITING))
                .values(last_error=message)
                .execution_options(synchronize_session=False)
            )
    except Exception:  # noqa: BLE001
        pass
