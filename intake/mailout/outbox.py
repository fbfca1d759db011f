"""The transactional outbox: a message row written in the caller's transaction.

The row holds the complete message as it goes on the wire; its Message-ID is derived from the
``dedupe_key`` (kind, submission or campaign, recipient), so writing it twice is a no-op and
sending it twice delivers the same message, which mail clients show once. Nothing is sent
here: after the transaction commits, the caller enqueues :func:`intake.mailout.jobs.send_message`
(and the reconciler does it for whatever is still pending).
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.config import Settings
from intake.mailout import compose
from intake.store.models import MessageStatus, OutboundMessage, utcnow


def sender_address(settings: Settings) -> str:
    return settings.mail_from or settings.intake_address


def stable_message_id(settings: Settings, dedupe_key: str) -> str:
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    domain = sender_address(settings).rpartition("@")[2] or "docintake.invalid"
    return f"<docintake.{digest}@{domain}>"


def common_context(settings: Settings, lang: str) -> dict[str, Any]:
    return {"lang": lang, "bank_name": settings.bank_name, "bank_phone": settings.bank_phone,
            "blank_form_url": settings.blank_form_url, "intake_address": settings.intake_address}


def _existing(session: Session, dedupe_key: str) -> int | None:
    return session.scalar(select(OutboundMessage.id).where(OutboundMessage.dedupe_key == dedupe_key))


def write_email(session: Session, settings: Settings, *, kind: str, to: str, lang: str, context: Mapping[str, Any],
                dedupe_key: str, national_id: str | None = None, submission_id: int | None = None,
                campaign_id: int | None = None, in_reply_to: str | None = None, suppress: str | None = None,
                attachments: tuple[tuple[str, bytes], ...] = ()) -> int | None:
    """Compose and store one e-mail; returns its id when a send is owed (None: already written,
    or ``suppress`` says why it is kept but not sent)."""
    if _existing(session, dedupe_key) is not None:
        return None
    message_id = stable_message_id(settings, dedupe_key)
    ctx = {**common_context(settings, lang), **context}
    msg = compose.compose_email(kind, lang, ctx, to=to, sender=sender_address(settings),
                                sender_name=settings.bank_name, message_id=message_id, in_reply_to=in_reply_to,
                                attachments=attachments)
    return _store(session, kind=kind, channel="email", recipient=to, lang=lang, dedupe_key=dedupe_key,
                  message_id=message_id, subject=str(msg["Subject"]), raw=msg.as_bytes(), national_id=national_id,
                  submission_id=submission_id, campaign_id=campaign_id, suppress=suppress)


def write_sms(session: Session, settings: Settings, *, kind: str, to: str, lang: str, context: Mapping[str, Any],
              dedupe_key: str, national_id: str | None = None, submission_id: int | None = None) -> int | None:
    if _existing(session, dedupe_key) is not None:
        return None
    text = compose.render_sms(kind, lang, {**common_context(settings, lang), **context})
    return _store(session, kind=kind, channel="sms", recipient=to, lang=lang, dedupe_key=dedupe_key,
                  message_id=stable_message_id(settings, dedupe_key), subject=text[:80], raw=text.encode(),
                  national_id=national_id, submission_id=submission_id, campaign_id=None, suppress=None)


def _store(session: Session, *, suppress: str | None, **values: Any) -> int | None:
    now = utcnow()
    row = OutboundMessage(**values, status=MessageStatus.suppressed.value if suppress else MessageStatus.pending.value,
                          note=suppress, attempts=0, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return None if suppress else row.id


def pending_for_submission(session: Session, submission_id: int) -> list[int]:
    return list(session.scalars(select(OutboundMessage.id).where(
        OutboundMessage.submission_id == submission_id, OutboundMessage.status == MessageStatus.pending.value)))
