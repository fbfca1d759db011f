"""No loops, no floods: which mails never get a reply, and the per-address daily limit.

RFC 3834: never answer a message with ``Auto-Submitted`` other than ``no``, nor bounces (empty
return path, MAILER-DAEMON) or list traffic (``List-Id``, ``Precedence: bulk|list|junk``); what
docintake sends says ``Auto-Submitted: auto-replied`` so other robots do not answer it either.
"""

from __future__ import annotations

import datetime as dt
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import parseaddr

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.store.models import MessageStatus, OutboundMessage, utcnow

#: Kinds that answer the sender (the contact-change alarm is not one: it is not counted or held back).
REPLY_KINDS = ("applied", "rejected", "neutral", "no_form")
_BULK = {"bulk", "list", "junk", "auto_reply", "auto-reply"}
_ROBOTS = ("mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply")


def headers_of(raw_head: bytes) -> Message:
    """The header block of a raw mail (the first slice is enough)."""
    head = raw_head.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return BytesHeaderParser().parsebytes(head + b"\r\n\r\n")


def automatic(headers: Message | None) -> str | None:
    """Why this mail must not be answered (None: a person wrote it)."""
    if headers is None:
        return "headers unreadable"
    auto = str(headers.get("Auto-Submitted", "no")).strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto[:40]}"
    if str(headers.get("Precedence", "")).strip().lower() in _BULK:
        return "Precedence: " + str(headers.get("Precedence")).strip()[:40]
    if headers.get("List-Id") is not None or headers.get("List-Unsubscribe") is not None:
        return "mailing list"
    if headers.get("X-Autoreply") is not None or headers.get("X-Autorespond") is not None:
        return "auto-reply header"
    return_path = headers.get("Return-Path")
    if return_path is not None and parseaddr(str(return_path))[1] == "" and "<>" in str(return_path):
        return "empty return path (a bounce)"
    sender = parseaddr(str(headers.get("From", "")))[1].lower()
    if not sender:
        return "no sender"
    if sender.split("@")[0] in _ROBOTS:
        return "sent by a robot address"
    return None


def replies_today(session: Session, address: str, now: dt.datetime | None = None) -> int:
    """Replies written to ``address`` in the last 24 hours (suppressed ones not counted)."""
    since = (now or utcnow()) - dt.timedelta(days=1)
    return session.scalar(
        select(func.count(OutboundMessage.id)).where(
            func.lower(OutboundMessage.recipient) == address.lower(),
            OutboundMessage.created_at >= since,
            OutboundMessage.kind.in_(REPLY_KINDS),
            OutboundMessage.status != MessageStatus.suppressed.value,
        )
    ) or 0
