"""Create a refresh campaign: select the customers, write each one's personal-form e-mail to the
outbox (in batches, one transaction each) and queue the sends.

A customer is selected when their data is older than ``stale_months`` (the last change of the
profile) or lacks a ``missing`` field, optionally in one country, and has an e-mail on file. The
e-mail and its PDF are composed once here (to know they build, and to take their SHA-256);
the row keeps the values, not the 150 kB, and the send job composes the same bytes again.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from forms.prefill import blank_for, personal_form
from forms.schema import FIELDS_BY_NAME
from intake.config import Settings
from intake.mailout import compose, outbox
from intake.mailout.replies import customer_language
from intake.store.db import session_scope
from intake.store.models import (
    Campaign,
    CampaignRecipient,
    MessageStatus,
    OutboundMessage,
    Profile,
    utcnow,
)

log = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True)
class Criteria:
    stale_months: int | None = None
    country: str | None = None
    missing: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"stale_months": self.stale_months, "country": self.country, "missing": list(self.missing)}


@dataclass
class Created:
    campaign_id: int
    selected: int = 0
    queued: int = 0
    skipped_no_email: int = 0
    message_ids: list[int] = field(default_factory=list, repr=False)


def form_values(national_id: str, fields: Mapping[str, Any]) -> dict[str, str | bool]:
    """The profile as form values: identity from the national identity, every schema field on
    file that fits its field; the declaration stays for the customer to tick."""
    country, _, code = national_id.partition("-")
    values: dict[str, str | bool] = {"id_country": country, "personal_code": _shown_code(country, code)}
    for name, spec in FIELDS_BY_NAME.items():
        if name in values or name == "data_accuracy_confirmation" or name not in fields:
            continue
        value = fields[name]
        if spec.kind == "checkbox":
            values[name] = bool(value)
        elif value not in (None, ""):
            text = str(value)
            if spec.kind == "choice" and text not in spec.choice_values:
                continue
            values[name] = text[:spec.max_len]
    return values


def _shown_code(country: str, code: str) -> str:
    return f"{code[:6]}-{code[6:]}" if country == "LV" and "-" not in code and len(code) == 11 else code


def select_customers(session: Session, criteria: Criteria, now: dt.datetime | None = None, *,
                     after: str = "", limit: int = BATCH) -> tuple[list[Profile], str | None]:
    """One page (by national identity, after ``after``) of the profiles (in the country, if given)
    whose data is older than ``stale_months`` OR lacks one of the ``missing`` fields; with neither
    criterion, every profile. Returns (selected, the key to continue after, or None at the end)."""
    q = select(Profile).where(Profile.national_id > after).order_by(Profile.national_id).limit(limit)
    if criteria.country:
        q = q.where(Profile.national_id.like(f"{criteria.country.upper()}-%"))
    cutoff = None
    if criteria.stale_months:
        cutoff = (now or utcnow()) - dt.timedelta(days=round(criteria.stale_months * 30.44))
        if not criteria.missing:
            q = q.where(Profile.updated_at < cutoff)
    page = list(session.scalars(q))
    selected = []
    for profile in page:
        if criteria.missing:
            fields = profile.fields or {}
            lacking = any(fields.get(name) in (None, "") for name in criteria.missing)
            stale = cutoff is not None and profile.updated_at < cutoff
            if not (lacking or stale):
                continue
        selected.append(profile)
    return selected, (page[-1].national_id if len(page) == limit else None)


def compose_campaign_mail(settings: Settings, *, to: str, message_id: str, payload: Mapping[str, Any],
                          date: dt.datetime, blank: bytes) -> bytes:
    """The campaign e-mail, deterministic in its inputs (the campaign's blank, the Date given).

    The stdlib's MIME writer needs ~30 ms for a 150 kB attachment; a campaign writes thousands.
    So the message is composed once per language, date and "since" with placeholders, and each
    customer's copy is that skeleton with the address, the Message-ID and the PDF's base64 put in.
    """
    lang = payload["lang"]
    skeleton = _skeleton(settings, lang, payload["since"], date)
    pdf = personal_form(payload["values"], lang, blank=blank)
    if not to.isascii() or "\r" in to or "\n" in to:
        raise ValueError("a campaign address must be plain ASCII")
    body = _base64_lines(pdf)
    return (skeleton.replace(_TO, to.encode()).replace(_MESSAGE_ID, message_id.encode())
            .replace(_PDF, body))


_TO = b"campaign-recipient.placeholder@docintake.invalid"
_MESSAGE_ID = b"<campaign-message-id.placeholder@docintake.invalid>"
_PDF_TOKEN = b"docintake personal form placeholder " + b"x" * 12


def _base64_lines(data: bytes) -> bytes:
    """Base64 in 76-character lines joined by CRLF, as the MIME writer (policy SMTP) writes it."""
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))


_PDF = _base64_lines(_PDF_TOKEN)


@lru_cache(maxsize=64)
def _skeleton(settings: Settings, lang: str, since: str, date: dt.datetime) -> bytes:
    from email.utils import format_datetime

    ctx = {**outbox.common_context(settings, lang), "since": since}
    msg = compose.compose_email("campaign", lang, ctx, to=_TO.decode(), sender=outbox.sender_address(settings),
                                sender_name=settings.bank_name, message_id=_MESSAGE_ID.decode(),
                                attachments=(("anketa.pdf" if lang == "lv" else "data-form.pdf", _PDF_TOKEN),))
    msg.replace_header("Date", format_datetime(date))
    seed = hashlib.sha256(f"{lang}|{since}|{date.isoformat()}".encode()).hexdigest()[:24]
    for n, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"==docintake_{seed}_{n}")
    raw = msg.as_bytes()
    if raw.count(_PDF) != 1 or raw.count(_TO) != 1 or raw.count(_MESSAGE_ID) != 1:
        raise RuntimeError("the campaign skeleton does not hold each placeholder exactly once")
    return raw


def create_campaign(settings: Settings, name: str, criteria: Criteria, *, created_by: str = "cli",
                    progress=None) -> Created:
    """Write the campaign and one e-mail per selected customer (batches of ``BATCH``), then queue them."""
    from intake.mailout.jobs import enqueue_new_messages

    now = utcnow()
    with session_scope(settings) as session:
        campaign = Campaign(name=name, criteria=criteria.to_json(), created_by=created_by, created_at=now,
                            blank_lv=blank_for("lv"), blank_en=blank_for("en"))
        session.add(campaign)
        session.flush()
        result = Created(campaign.id)
    after: str | None = ""
    while after is not None:
        # short reading transactions (SQLite has one writer, and a reader here would hold it)
        with session_scope(settings) as reading:
            profiles, after = select_customers(reading, criteria, now, after=after)
            batch = [(p.national_id, dict(p.fields or {}), p.updated_at) for p in profiles]
        result.selected += len(batch)
        with_email = [b for b in batch if b[1].get("email")]
        result.skipped_no_email += len(batch) - len(with_email)
        if with_email:
            _write_batch(settings, result, with_email, now, progress)
    try:
        enqueue_new_messages(settings, result.message_ids)
    except Exception as exc:  # noqa: BLE001 - the rows are pending: the reconciler enqueues them
        log.warning("campaign %s: %d mails stay pending for the reconciler: %s", result.campaign_id,
                    len(result.message_ids), type(exc).__name__)
    return result


def _write_batch(settings: Settings, result: Created, batch: list[tuple[str, dict, dt.datetime]],
                 now: dt.datetime, progress) -> None:
    messages, recipients = [], []
    for nid, fields, updated_at in batch:
        to = str(fields["email"])
        lang = customer_language(settings, None, fields)
        key = f"campaign:{result.campaign_id}:{nid}"
        message_id = outbox.stable_message_id(settings, key)
        payload = {"values": form_values(nid, fields), "lang": lang, "since": updated_at.date().isoformat()}
        raw = compose_campaign_mail(settings, to=to, message_id=message_id, payload=payload, date=now,
                                    blank=blank_for(lang))
        messages.append({"dedupe_key": key, "kind": "campaign", "channel": "email", "recipient": to,
                         "national_id": nid, "campaign_id": result.campaign_id, "lang": lang,
                         "message_id": message_id, "subject": _subject(lang), "raw": None, "payload": payload,
                         "raw_sha256": hashlib.sha256(raw).hexdigest(), "status": MessageStatus.pending.value,
                         "attempts": 0, "created_at": now, "updated_at": now})
        recipients.append({"campaign_id": result.campaign_id, "national_id": nid, "status": "sent", "sent_at": now})
    with session_scope(settings) as session:
        session.execute(OutboundMessage.__table__.insert(), messages)
        session.execute(CampaignRecipient.__table__.insert(), recipients)
        ids = session.scalars(select(OutboundMessage.id).where(
            OutboundMessage.campaign_id == result.campaign_id,
            OutboundMessage.dedupe_key.in_([m["dedupe_key"] for m in messages]))).all()
    result.message_ids.extend(ids)
    result.queued += len(ids)
    if progress is not None:
        progress(len(batch))


def _subject(lang: str) -> str:
    return compose.render_text("campaign", lang, {"since": "", "bank_name": "", "bank_phone": "",
                                                  "intake_address": "", "lang": lang,
                                                  "blank_form_url": ""})[0]


_BLANKS: dict[tuple[int, str], bytes] = {}


def campaign_blank(session: Session, campaign_id: int, lang: str) -> bytes:
    """The blank a campaign's forms were made from (cached per process; never changes)."""
    key = (campaign_id, lang)
    if key not in _BLANKS:
        column = Campaign.blank_lv if lang == "lv" else Campaign.blank_en
        _BLANKS[key] = session.scalar(select(column).where(Campaign.id == campaign_id))
    return _BLANKS[key]
