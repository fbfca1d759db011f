"""intake.mailin.record.record_mail on the real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from intake.mailin.parse import parse_mail
from intake.mailin.record import (
    MailLocationConflict,
    known_uids,
    note_poll,
    record_mail,
)
from intake.store.db import session_scope
from intake.store.mails import raw_bytes
from intake.store.models import AuditEvent, Mail, MailboxState, Submission
from tests.fixtures.realworld import REALWORLD

EML = REALWORLD / "eml"
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
BOX = "imap://forms@mail.example:993"


def make_mail(*pdfs: bytes, subject: str = "Veidlapa", msgid: str = "<a@example.lv>") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jānis <janis@example.lv>"
    msg["Subject"] = subject
    msg["Message-ID"] = msgid
    msg["Date"] = "Mon, 02 Mar 2026 10:00:00 +0200"
    msg.set_content("Sveiki")
    for i, data in enumerate(pdfs):
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=f"forma{i}.pdf")
    return msg.as_bytes()


def record(settings, raw, uid="1", mailbox=BOX, uidvalidity=7, limit=10**7):
    with session_scope(settings) as s:
        return record_mail(s, mailbox=mailbox, folder="INBOX", uidvalidity=uidvalidity, uid=uid, raw=raw,
                           parsed=parse_mail(raw, limit))


def count(settings, model):
    with session_scope(settings) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_pdfs_become_received_submissions(db_settings):
    raw = make_mail(PDF, PDF + b"2")
    ids = record(db_settings, raw)
    assert len(ids) == 2
    with session_scope(db_settings) as s:
        mail = s.scalar(select(Mail))
        assert raw_bytes(s, mail) == raw and mail.message_key == hashlib.sha256(raw).hexdigest()
        assert mail.raw is None and mail.raw_size == len(raw)
        assert mail.sender == "Jānis <janis@example.lv>" and mail.subject == "Veidlapa"
        assert mail.sent_at.isoformat() == "2026-03-02T08:00:00+00:00"
        assert (mail.mailbox, mail.folder, mail.uidvalidity, mail.uid) == (BOX, "INBOX", 7, "1")
        subs = s.scalars(select(Submission).order_by(Submission.part_index)).all()
        assert [x.id for x in subs] == ids
        assert [(x.status, x.filename, x.content, x.sha256) for x in subs] == [
            ("received", "forma0.pdf", PDF, hashlib.sha256(PDF).hexdigest()),
            ("received", "forma1.pdf", PDF + b"2", hashlib.sha256(PDF + b"2").hexdigest()),
        ]
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [(e.action, e.submission_id, e.actor) for e in events] == [
            ("received", ids[0], "system:poller"), ("received", ids[1], "system:poller")]


def test_mail_without_pdf_is_a_visible_reject(db_settings):
    raw = (EML / "imap_tools__attachment_inline1.eml").read_bytes()
    assert record(db_settings, raw) == []
    with session_scope(db_settings) as s:
        sub = s.scalar(select(Submission))
        assert (sub.part_index, sub.status, sub.main_reason, sub.content) == (-1, "rejected", "no_pdf_attachment", None)
        assert sub.reasons == [{"code": "no_pdf_attachment", "field": None, "message": "The e-mail carried no PDF."}]
        assert sub.decided_at is not None
        assert [o["filename"] for o in sub.mail.other_parts] == ["blank.png", "sm-ok.png", "logo.png"]
        event = s.scalar(select(AuditEvent))
        assert (event.action, event.submission_id, event.detail["reason"]) == ("intake_rejected", sub.id,
                                                                              "no_pdf_attachment")


def test_same_mail_twice_is_a_no_op(db_settings):
    raw = make_mail(PDF)
    assert len(record(db_settings, raw, uid="1")) == 1
    # seen again: same place, or after a UIDVALIDITY reset at another UID
    assert record(db_settings, raw, uid="1") == []
    assert record(db_settings, raw, uid="9", uidvalidity=8) == []
    assert count(db_settings, Mail) == 1 and count(db_settings, Submission) == 1
    # the same bytes in another mailbox are another mail
    assert len(record(db_settings, raw, uid="1", mailbox="maildir:/srv/mail")) == 1


def test_same_pdf_in_two_mails_makes_two_submissions(db_settings):
    a = record(db_settings, make_mail(PDF, msgid="<1@x>"), uid="1")
    b = record(db_settings, make_mail(PDF, msgid="<2@x>"), uid="2")
    assert len(a) == len(b) == 1 and a != b
    with session_scope(db_settings) as s:
        assert s.scalars(select(Submission.sha256)).all() == [hashlib.sha256(PDF).hexdigest()] * 2


def test_oversized_pdf_is_rejected_at_intake(db_settings):
    assert record(db_settings, make_mail(PDF + b"x" * 2000), limit=1000) == []
    with session_scope(db_settings) as s:
        sub = s.scalar(select(Submission))
        assert (sub.status, sub.main_reason, sub.content, sub.part_index) == ("rejected", "too_large", None, 1)
        assert sub.sha256 == hashlib.sha256(PDF + b"x" * 2000).hexdigest()


def test_every_realworld_mail_can_be_stored(db_settings):
    for i, path in enumerate(sorted(EML.glob("*.eml"))):
        raw = path.read_bytes()
        parsed = parse_mail(raw, 10**7)
        ids = record(db_settings, raw, uid=str(i))
        assert len(ids) == len(parsed.pdfs), path.name
    with session_scope(db_settings) as s:
        # 5 mails carry a PDF (one each), the other 17 are no_pdf rejects
        assert s.scalar(select(func.count()).where(Submission.part_index == -1)) == 17
        assert s.scalar(select(func.count()).where(Submission.status == "received")) == 5


def test_location_conflict_raises(db_settings):
    record(db_settings, make_mail(PDF, msgid="<1@x>"), uid="5")
    with pytest.raises(MailLocationConflict):
        record(db_settings, make_mail(PDF, msgid="<2@x>"), uid="5")
    assert count(db_settings, Mail) == 1


def test_known_uids_and_state(db_settings):
    for uid in ("1", "2", "3"):
        record(db_settings, make_mail(PDF, msgid=f"<{uid}@x>"), uid=uid)
    with session_scope(db_settings) as s:
        assert known_uids(s, mailbox=BOX, folder="INBOX", uidvalidity=7, uids=["2", "3", "4"]) == {"2", "3"}
        assert known_uids(s, mailbox=BOX, folder="INBOX", uidvalidity=8, uids=["2"]) == set()
        assert known_uids(s, mailbox=BOX, folder="INBOX", uidvalidity=7, uids=[str(i) for i in range(1200)]) == {
            "1", "2", "3"}
        assert note_poll(s, mailbox=BOX, folder="INBOX", uidvalidity=7) is None
    with session_scope(db_settings) as s:
        assert note_poll(s, mailbox=BOX, folder="INBOX", uidvalidity=9) == 7
    with session_scope(db_settings) as s:
        state = s.get(MailboxState, (BOX, "INBOX"))
        assert state.uidvalidity == 9 and state.last_poll_at is not None
