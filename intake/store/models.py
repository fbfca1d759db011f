"""The system of record: every mail, every PDF, every profile change, every staff action.

Nothing is ever deleted. A submission's bytes live here (never in Redis); a
profile change keeps the submission that caused it, and so the signed PDF.
Schema changes go through Alembic (``intake/store/migrations``).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes everywhere: SQLite keeps naive values, so UTC is attached on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime(), dict: JSON, list: JSON}


class Status(str, enum.Enum):
    received = "received"
    queued = "queued"
    processing = "processing"
    applied = "applied"
    rejected = "rejected"
    failed = "failed"
    cleared = "cleared"


#: A submission in one of these is still owed a verdict (the reconciler's business).
WAITING = (Status.received.value, Status.queued.value, Status.processing.value)


class Mail(Base):
    """One message as it came from a mailbox, raw bytes kept."""

    __tablename__ = "mails"
    __table_args__ = (
        UniqueConstraint("mailbox", "folder", "uidvalidity", "uid", name="uq_mail_location"),
        UniqueConstraint("mailbox", "message_key", name="uq_mail_message_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(200))  # e.g. imap://user@host or maildir:/path
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[str] = mapped_column(String(200))  # IMAP UID, or the Maildir key
    #: SHA-256 of the raw message (its Message-ID included): the same mail seen again is a no-op,
    #: while another mail that merely reuses a Message-ID is still kept.
    message_key: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(998))
    sender: Mapped[str | None] = mapped_column(String(998))
    subject: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    #: The raw message of mails recorded before schema 0003; later ones keep it in ``MailRawChunk``
    #: rows (a 270 MB mail need never be one value in memory). Read it with ``mailstore.raw_bytes``.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Size of the raw message in bytes (None for mails recorded before schema 0003).
    raw_size: Mapped[int | None] = mapped_column(BigInteger)
    #: Parts that were not PDFs or were refused, for the back office: [{"filename", "type", "size", "note"}].
    other_parts: Mapped[list] = mapped_column(default=list)

    submissions: Mapped[list["Submission"]] = relationship(back_populates="mail")


class MailRawChunk(Base):
    """One slice of a mail's raw bytes, in order (``seq`` from 0). Written once, never changed."""

    __tablename__ = "mail_raw_chunks"

    mail_id: Mapped[int] = mapped_column(ForeignKey("mails.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Submission(Base):
    """One PDF from one mail, and its way to a verdict."""

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("mail_id", "part_index", name="uq_submission_part"),
        Index("ix_submissions_status_received", "status", "received_at"),
        Index("ix_submissions_main_reason", "main_reason", "received_at"),
        # Counts per main reason within statuses (back office, ``docintake submissions counts``):
        # answered from the index alone, without reading the rows.
        Index("ix_submissions_status_reason_received", "status", "main_reason", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mail_id: Mapped[int] = mapped_column(ForeignKey("mails.id"), index=True)
    part_index: Mapped[int] = mapped_column(default=0)  # -1: the mail itself (no PDF in it)
    filename: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default=Status.received.value)
    #: Ranked reasons: [{"code", "field", "message"}]; the first is the main one.
    reasons: Mapped[list] = mapped_column(default=list)
    main_reason: Mapped[str | None] = mapped_column(String(40))
    #: The full decision report (verify's JSON), fields included.
    report: Mapped[dict | None]
    #: The ETSI TS 119 102-2 validation report (XML) of the customer's signature (schema 0007).
    validation_report: Mapped[str | None] = mapped_column(Text, deferred=True)
    national_id: Mapped[str | None] = mapped_column(String(40), index=True)
    signing_time: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    decided_at: Mapped[dt.datetime | None]
    #: Back office: who cleared it, with which outcome and note.
    cleared_by: Mapped[str | None] = mapped_column(String(100))
    cleared_at: Mapped[dt.datetime | None]
    clear_outcome: Mapped[str | None] = mapped_column(String(40))
    clear_note: Mapped[str | None] = mapped_column(Text)

    mail: Mapped[Mail] = relationship(back_populates="submissions")


class Profile(Base):
    """A customer's current data; keyed by national identity (``LV-32000012345``)."""

    __tablename__ = "profiles"

    national_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    fields: Mapped[dict] = mapped_column(default=dict)
    signed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: Optimistic lock: bumped on every change.
    version: Mapped[int] = mapped_column(default=1)


class ProfileChange(Base):
    """History: one row per applied form. The unique document hash makes re-application a no-op."""

    __tablename__ = "profile_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    national_id: Mapped[str] = mapped_column(ForeignKey("profiles.national_id"), index=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    document_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(20), default="form")  # form | import
    before: Mapped[dict] = mapped_column(default=dict)
    after: Mapped[dict] = mapped_column(default=dict)
    signed_at: Mapped[dt.datetime | None]
    applied_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Who did what, when: staff actions and the pipeline's own moves."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))  # a staff name, or "system:worker" etc.
    action: Mapped[str] = mapped_column(String(40))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"), index=True)
    detail: Mapped[dict] = mapped_column(default=dict)


class FraudClearance(Base):
    """Four eyes on suspected fraud: one supervisor asks to clear a reject as suspected fraud, a
    second one approves or declines. At most one open request per submission (partial unique index)."""

    __tablename__ = "fraud_clearances"
    __table_args__ = (
        Index("uq_fraud_clearance_open", "submission_id", unique=True,
              sqlite_where=text("decided_at IS NULL"), postgresql_where=text("decided_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    note: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[dt.datetime | None]
    decision: Mapped[str | None] = mapped_column(String(20))  # approved | declined
    decision_note: Mapped[str | None] = mapped_column(Text)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))  # clerk | supervisor | admin
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None]


class StaffSession(Base):
    """A signed-in staff member's session, kept on the server (the cookie carries only its token).

    The row's key is the SHA-256 of the token, so reading the table does not give a live session.
    Sign-out revokes the row; a password change or a deactivation revokes every row of the user,
    so reactivating an account does not revive an old cookie.
    """

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))


class MailboxState(Base):
    """Per mailbox folder: the UIDVALIDITY last seen (a change means every UID is new again)."""

    __tablename__ = "mailbox_state"

    mailbox: Mapped[str] = mapped_column(String(200), primary_key=True)
    folder: Mapped[str] = mapped_column(String(200), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_poll_at: Mapped[dt.datetime | None]


# ---- outbound mail, contact alarms, refresh campaigns (schema 0006; see intake/mailout) ---------
class MessageStatus(str, enum.Enum):
    pending = "pending"  # written with the decision; a send job is owed
    sent = "sent"  # the server (or the file sender) took it
    failed = "failed"  # gave up after ``mail_max_attempts``; the back office can retry it
    suppressed = "suppressed"  # deliberately not sent (auto-reply, list, flood limit, unknown sender)


class OutboundMessage(Base):
    """One message to a customer (e-mail or SMS), written in the transaction that decided it.

    ``raw`` is the complete message as it goes on the wire (its Message-ID fixed at composing),
    so a resend after a crash sends the very same bytes. ``dedupe_key`` makes writing it twice
    (a job run again) a no-op.
    """

    __tablename__ = "outbound_messages"
    __table_args__ = (Index("ix_outbound_status_next", "status", "updated_at"),
                      Index("ix_outbound_recipient_created", "recipient", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30))  # applied | contact_change | rejected | neutral | no_form | campaign
    channel: Mapped[str] = mapped_column(String(10), default="email")  # email | sms
    recipient: Mapped[str] = mapped_column(String(320))
    national_id: Mapped[str | None] = mapped_column(String(40), index=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    lang: Mapped[str] = mapped_column(String(5), default="lv")
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Campaign mails (a ~150 kB personal PDF each) keep what makes them instead of their bytes:
    #: the values and language; the send job composes them again, and ``raw_sha256`` (taken when
    #: the campaign was created) proves it composed the very same bytes.
    payload: Mapped[dict | None]
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=MessageStatus.pending.value)
    #: Why it was suppressed, or the last sending error (masked).
    note: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[dt.datetime | None]


class ContactAlert(Base):
    """A contact (phone, e-mail) changed by form: the profile is "contact recently changed" until ``until``."""

    __tablename__ = "contact_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    national_id: Mapped[str] = mapped_column(String(40), index=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    fields: Mapped[list] = mapped_column(default=list)  # ["phone", "email"]
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    until: Mapped[dt.datetime] = mapped_column(index=True)


class Campaign(Base):
    """A refresh campaign: customers with old or incomplete data get a personal pre-filled form."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    criteria: Mapped[dict] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: The blanks its personal forms are made from (a blank carries its own id and date), so a
    #: form composed again at sending is byte for byte the one composed at creation.
    blank_lv: Mapped[bytes | None] = mapped_column(LargeBinary)
    blank_en: Mapped[bytes | None] = mapped_column(LargeBinary)


class CampaignRecipient(Base):
    """One customer in a campaign and how far they got: sent, received, applied, rejected."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (UniqueConstraint("campaign_id", "national_id", name="uq_campaign_recipient"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    national_id: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20), default="sent")  # sent | received | applied | rejected
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    answered_at: Mapped[dt.datetime | None]


#: Replies look a sender up by the e-mail on file (``intake.mailout.replies.EMAIL_EXPRESSIONS``);
#: schema 0006 creates the same expression index on SQLite, whose reflection skips such indexes.
Index("ix_profiles_email", text("lower(fields ->> 'email')"), _table=Profile.__table__).ddl_if(dialect="postgresql")
#: Customer search by fragments (``LIKE '%berz%'``) on PostgreSQL: pg_trgm GIN indexes on the very
#: expressions ``intake.web.customers.search`` writes (schema 0008; skipped where pg_trgm is missing).
SEARCH_EXPRESSIONS = {
    "first_name": "lower(fields ->> 'first_name')",
    "last_name": "lower(fields ->> 'last_name')",
    "email": "lower(fields ->> 'email')",
    "phone": "(fields ->> 'phone')",
    "national_id": "lower(national_id)",
}
for _name, _expression in SEARCH_EXPRESSIONS.items():
    Index(f"ix_profiles_{_name}_trgm", text(_expression), _table=Profile.__table__, postgresql_using="gin",
          postgresql_ops={_expression: "gin_trgm_ops"}).ddl_if(dialect="postgresql")
