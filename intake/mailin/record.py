"""Record one mail and its PDFs in the system of record (read back with :mod:`intake.store.mails`).

``record_mail`` writes, in the caller's transaction:

* one ``Mail`` row, and its raw bytes as 1 MiB ``MailRawChunk`` rows streamed
  from the caller's file (a mail of hundreds of MB is never one value in
  memory); its ``message_key`` (SHA-256 of the raw message) is unique per
  mailbox, so the same mail seen again (a crash between commit and the move on
  the server, a UIDVALIDITY reset, a re-delivered copy) is a no-op that
  returns ``[]``;
* one ``Submission`` per PDF (status ``received``, its SHA-256 and bytes),
  inserted one at a time so that only one PDF's bytes are in memory at once;
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
from typing import BinaryIO, Callable, Collection

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intake.mailin.parse import ParsedMail, raw_slices
from intake.store.mails import RAW_CHUNK
from intake.store.models import (
    AuditEvent,
    Mail,
    MailboxState,
    MailRawChunk,
    Status,
    Submission,
    utcnow,
)
from verify.reasons import Reason

log = logging.getLogger(__name__)

ACTOR = "system:poller"
#: IN (...) lists are cut to this many values (SQLite's old limit is 999 variables).
_CHUNK = 500


class MailLocationConflict(RuntimeError):
    """Another mail is already recorded at this mailbox/folder/UIDVALIDITY/UID: the server broke the IMAP rules."""


def message_key(raw: bytes | BinaryIO) -> str:
    """SHA-256 of the raw message (bytes, or a seekable binary file read from its start)."""
    digest = hashlib.sha256()
    for chunk in raw_slices(raw, RAW_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


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
    raw: bytes | BinaryIO,
    parsed: ParsedMail,
    on_recorded: Callable[[Session, Mail, list[Submission]], None] | None = None,
) -> list[int]:
    """Record one mail; return the ids of its NEW submissions that need queueing ([] if seen before).

    ``raw`` is the message as bytes or as a seekable binary file (read from its start, a slice at a
    time). Runs inside the caller's transaction (nothing is committed here); ``on_recorded(session,
    mail, submissions)`` runs in it too, for a new mail only (the poller writes its replies there). Raises
    :class:`MailLocationConflict` if a *different* mail is already recorded at the same location.
    """
    # parse_mail hashed the same bytes while reading them; the slices written below are checked
    # against that key, so a parse of other bytes cannot pass unnoticed
    key = parsed.message_key or message_key(raw)
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
        raw=None,
        other_parts=list(parsed.others),
    )

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

    digest, size = hashlib.sha256(), 0
    for seq, chunk in enumerate(raw_slices(raw, RAW_CHUNK)):
        digest.update(chunk)
        size += len(chunk)
        session.execute(insert(MailRawChunk).values(mail_id=mail.id, seq=seq, data=chunk))
    if digest.hexdigest() != key:
        raise ValueError(f"mail {mailbox} {folder} uid {uid}: the parsed mail is not the raw mail given")
    mail.raw_size = size
    submissions = _add_submissions(session, mail, parsed, now)

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
    if on_recorded is not None:
        on_recorded(session, mail, submissions)
        session.flush()
    return [s.id for s in submissions if s.status == Status.received.value]


def _add_submissions(session: Session, mail: Mail, parsed: ParsedMail, now: dt.datetime) -> list[Submission]:
    """One submission per PDF (or one ``no_pdf_attachment`` reject), flushed one at a time: a PDF's
    bytes are read from its part when its row is written and dropped from the session right after."""
    submissions: list[Submission] = []
    for part in parsed.pdfs:
        sub = Submission(mail_id=mail.id, part_index=part.index, filename=part.filename, sha256=part.sha256,
                         status=Status.received.value, received_at=now, updated_at=now)
        if part.too_large:
            _reject(sub, Reason("too_large", message=f"The attachment is {part.size} bytes, over the part limit."), now)
        else:
            sub.content = part.data
        session.add(sub)
        session.flush()
        session.expire(sub, ["content"])  # the bytes are in the database now; do not keep them here
        submissions.append(sub)
    if not submissions:
        sub = Submission(mail_id=mail.id, part_index=-1, status=Status.received.value, received_at=now,
                         updated_at=now)
        _reject(sub, Reason("no_pdf_attachment"), now)
        session.add(sub)
        session.flush()
        submissions.append(sub)
    return submissions


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

