"""Record one mail and its PDFs in the system of record.

``record_mail`` writes, in the caller's transaction:

* one ``Mail`` row with the raw bytes; its ``message_key`` (SHA-256 of the raw
  message) is unique per mailbox, so the same mail seen again (a crash between
  commit and the move on the server, a UIDVALIDITY reset, a re-delivered copy)
  is a no-op that returns ``[]``;
* one ``Submission`` per PDF (status ``received``, its SHA-256 and bytes);
  identical PDFs in different mails are *not* merged here: the worker's apply
  makes the second one a ``duplicate``, so the back office sees both;
* a PDF over the part size limit: a submission rejected at once with
  ``too_large`` (bytes not copied; they stay in the raw mail);
* a mail with no PDF at all: a submission with ``part_index = -1`` rejected
  with ``no_pdf_attachment``, so the back office sees it and can answer the
  customer;
* one ``AuditEvent`` per submission (``actor = "system:poller"``).

It returns the ids of the new submissions that still need a verdict (to be
queued after the commit).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Collection

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intake.mailparse import ParsedMail
from intake.models import AuditEvent, Mail, MailboxState, Status, Submission, utcnow
from verify.reasons import Reason

log = logging.getLogger(__name__)

ACTOR = "system:poller"
#: IN (...) lists are cut to this many values (SQLite's old limit is 999 variables).
_CHUNK = 500


class MailLocationConflict(RuntimeError):
    """Another mail is already recorded at this mailbox/folder/UIDVALIDITY/UID: the server broke the IMAP rules."""


def message_key(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _reject(submission: Submission, reason: Reason, now: dt.datetime) -> None:
    submission.status = Status.rejected.value
    submission.reasons = [reason.to_json()]
    submission.main_reason = reason.code
    submission.decided_at = now


def record_mail(
    session: Session,
    *,
    mailbox: str,
    folder: str,
    uidvalidity: int | None,
    uid: str,
    raw: bytes,
    parsed: ParsedMail,
) -> list[int]:
    """Record one mail; return the ids of its NEW submissions that need queueing ([] if seen before).

    Runs inside the caller's transaction (nothing is committed here). Raises
    :class:`MailLocationConflict` if a *different* mail is already recorded at the same location.
    """
    key = message_key(raw)
    existing = session.scalar(select(Mail.id).where(Mail.mailbox == mailbox, Mail.message_key == key))
    if existing is not None:
        log.info("mail %s/%s uid %s already recorded as mail %s", mailbox, folder, uid, existing)
        return []
    now = utcnow()
    mail = Mail(
        mailbox=mailbox,
        folder=folder,
        uidvalidity=uidvalidity,
        uid=str(uid),
        message_key=key,
        message_id=parsed.message_id,
        sender=parsed.sender,
        subject=parsed.subject,
        sent_at=parsed.date,
        received_at=now,
        raw=raw,
        other_parts=list(parsed.others),
    )
    submissions: list[Submission] = []
    for part in parsed.pdfs:
        sub = Submission(
            part_index=part.index,
            filename=part.filename,
            sha256=part.sha256,
            content=None if part.too_large else part.data,
            status=Status.received.value,
            received_at=now,
            updated_at=now,
        )
        if part.too_large:
            _reject(sub, Reason("too_large", message=f"The attachment is {part.size} bytes, over the part limit."), now)
        submissions.append(sub)
    if not submissions:
        sub = Submission(part_index=-1, status=Status.received.value, received_at=now, updated_at=now)
        _reject(sub, Reason("no_pdf_attachment"), now)
        submissions.append(sub)
    mail.submissions = submissions

    # a savepoint, so that a concurrent poller (or a location clash) does not spoil the caller's transaction
    try:
        with session.begin_nested():
            session.add(mail)
            session.flush()
    except IntegrityError:
        clash = session.scalar(select(Mail.id).where(Mail.mailbox == mailbox, Mail.message_key == key))
        if clash is not None:
            log.info("mail %s/%s uid %s was recorded concurrently as mail %s", mailbox, folder, uid, clash)
            return []
        raise MailLocationConflict(
            f"{mailbox} {folder} uidvalidity {uidvalidity} uid {uid}: another mail is already recorded there"
        ) from None

    for sub in submissions:
        detail = {
            "mail_id": mail.id,
            "mailbox": mailbox,
            "folder": folder,
            "uid": str(uid),
            "part_index": sub.part_index,
            "filename": sub.filename,
            "message_id": parsed.message_id,
        }
        if sub.main_reason:
            detail["reason"] = sub.main_reason
        if parsed.defects:
            detail["defects"] = parsed.defects[:50]
        action = "intake_rejected" if sub.status == Status.rejected.value else "received"
        session.add(AuditEvent(at=now, actor=ACTOR, action=action, submission_id=sub.id, detail=detail))
    session.flush()
    return [s.id for s in submissions if s.status == Status.received.value]


def known_uids(
    session: Session, *, mailbox: str, folder: str, uidvalidity: int | None, uids: Collection[str]
) -> set[str]:
    """Which of ``uids`` are already recorded for this mailbox folder (and UIDVALIDITY)."""
    found: set[str] = set()
    values = [str(u) for u in uids]
    for i in range(0, len(values), _CHUNK):
        chunk = values[i:i + _CHUNK]
        query = select(Mail.uid).where(Mail.mailbox == mailbox, Mail.folder == folder, Mail.uid.in_(chunk))
        query = query.where(Mail.uidvalidity.is_(None) if uidvalidity is None else Mail.uidvalidity == uidvalidity)
        found.update(session.scalars(query))
    return found


def note_poll(session: Session, *, mailbox: str, folder: str, uidvalidity: int | None) -> int | None:
    """Remember the folder's UIDVALIDITY and the poll time; return the UIDVALIDITY seen before (or None)."""
    state = session.get(MailboxState, (mailbox, folder))
    previous = None
    if state is None:
        session.add(MailboxState(mailbox=mailbox, folder=folder, uidvalidity=uidvalidity, last_poll_at=utcnow()))
    else:
        previous = state.uidvalidity
        if previous is not None and uidvalidity is not None and previous != uidvalidity:
            log.warning(
                "%s %s: UIDVALIDITY changed %s -> %s; every mail there is read again (recorded ones are no-ops)",
                mailbox, folder, previous, uidvalidity,
            )
        state.uidvalidity = uidvalidity
        state.last_poll_at = utcnow()
    return previous

