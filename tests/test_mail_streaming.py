"""Large mails travel as files: Maildir files opened, big IMAP messages fetched in slices into a
spool file, and the raw bytes stored as ``mail_raw_chunks`` (schema 0003), on the real databases
and a real dovecot."""

from __future__ import annotations

import hashlib
import io
import mailbox
import os

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from intake.mailin import sources
from intake.mailin.parse import parse_mail
from intake.mailin.record import record_mail
from intake.mailin.sources import MaildirSource, RawMail
from intake.store.db import get_engine, session_scope, upgrade
from intake.store.mails import RAW_CHUNK, raw_bytes, raw_chunks
from intake.store.models import Mail, MailRawChunk, Submission
from tests.test_poller_imap import conn, settings  # noqa: F401  (fixtures)

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def mail_with(pdf: bytes, n: int = 0) -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "a@example.lv"
    msg["Subject"] = f"form {n}"
    msg["Message-ID"] = f"<{n}@example.lv>"
    msg.set_content("x")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="f.pdf")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))  # what IMAP APPEND sends and keeps


def big_pdf(size: int) -> bytes:
    return PDF + os.urandom(size)  # random bytes do not compress: every slice is a real slice


def test_record_mail_from_a_file_stores_the_raw_mail_in_slices(db_settings):
    pdf = big_pdf(3 * RAW_CHUNK)
    raw = mail_with(pdf)
    file = io.BytesIO(raw)
    file.seek(17)  # wherever the caller left it: the store reads from the start
    with session_scope(db_settings) as s, parse_mail(io.BytesIO(raw), 10**8) as parsed:
        [sid] = record_mail(s, mailbox="m", folder="INBOX", uidvalidity=1, uid="9", raw=file, parsed=parsed)
    with session_scope(db_settings) as s:
        mail = s.scalar(select(Mail))
        assert mail.raw is None and mail.raw_size == len(raw)
        assert mail.message_key == hashlib.sha256(raw).hexdigest()
        slices = list(raw_chunks(s, mail))
        assert len(slices) == -(-len(raw) // RAW_CHUNK) >= 4 and all(len(c) <= RAW_CHUNK for c in slices)
        assert b"".join(slices) == raw_bytes(s, mail) == raw
        assert s.get(Submission, sid).content == pdf
    # the same bytes again, as bytes this time: the same message key, so a no-op
    with session_scope(db_settings) as s:
        assert record_mail(s, mailbox="m", folder="INBOX", uidvalidity=1, uid="9", raw=raw,
                           parsed=parse_mail(raw, 10**8)) == []
        assert s.scalar(select(func.count()).select_from(MailRawChunk)) == len(slices)


def test_an_empty_mail_has_no_slices(db_settings):
    with session_scope(db_settings) as s:
        record_mail(s, mailbox="m", folder="INBOX", uidvalidity=1, uid="1", raw=b"", parsed=parse_mail(b"", 10))
    with session_scope(db_settings) as s:
        mail = s.scalar(select(Mail))
        assert mail.raw_size == 0 and raw_bytes(s, mail) == b""
        assert [sub.main_reason for sub in mail.submissions] == ["no_pdf_attachment"]


def test_migration_0003_keeps_old_mails_and_gives_new_ones_back_on_downgrade(make_settings):
    settings = make_settings("sqlite", upgrade=False)
    upgrade(settings, "0002")
    engine = get_engine(settings)
    old = mail_with(PDF, 1)
    row = dict(mailbox="m", folder="INBOX", uidvalidity=1, message_key="k1", received_at="2026-11-01 10:00:00",
               other_parts="[]")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO mails (id, mailbox, folder, uidvalidity, uid, message_key, received_at, "
                             "raw, other_parts) VALUES (1, :mailbox, :folder, :uidvalidity, '1', :message_key, "
                             ":received_at, :raw, :other_parts)"), {**row, "raw": old})
    upgrade(settings)
    new = mail_with(big_pdf(RAW_CHUNK + 5), 2)
    with session_scope(settings) as s:
        assert raw_bytes(s, s.get(Mail, 1)) == old  # recorded before 0003: still readable
        record_mail(s, mailbox="m", folder="INBOX", uidvalidity=1, uid="2", raw=new, parsed=parse_mail(new, 10**8))
    from alembic import command

    from intake.store.db import alembic_config

    command.downgrade(alembic_config(settings), "0002")
    with engine.begin() as conn:
        raws = dict(conn.execute(sa.text("SELECT uid, raw FROM mails")).all())
        assert raws == {"1": old, "2": new}
        assert "mail_raw_chunks" not in sa.inspect(conn).get_table_names()


def test_maildir_hands_over_an_open_file_that_survives_a_rename(tmp_path):
    md = mailbox.Maildir(tmp_path / "m", create=True)
    key = md.add(b"Subject: s\r\n\r\nbody\r\n")
    source = MaildirSource(tmp_path / "m")
    source.connect()
    [mail] = list(source.fetch(set()))
    with mail:
        assert not isinstance(mail.file, io.BytesIO)
        (tmp_path / "m" / "new" / key).rename(tmp_path / "m" / "cur" / f"{key}:2,S")  # another client
        assert mail.raw == b"Subject: s\r\n\r\nbody\r\n"
    assert mail.file.closed


def test_imap_spools_large_mails_in_slices_and_keeps_uid_order(imap_account, monkeypatch):
    monkeypatch.setattr(sources, "SPOOL_OVER", 100_000)
    monkeypatch.setattr(sources, "FETCH_SLICE", 64 * 1024)
    raws = [mail_with(PDF, 0), mail_with(big_pdf(300_000), 1), mail_with(PDF, 2), mail_with(PDF, 3),
            mail_with(big_pdf(3 * 64 * 1024 - 2000), 4)]
    for raw in raws:
        imap_account.append(raw)
    fetches: list[str] = []
    source = imap_account.source(batch=10)
    source.connect()
    real_uid = source.mailbox.client.uid

    def spy(command, *args):
        if command.upper() == "FETCH":
            fetches.append(args[-1])
        return real_uid(command, *args)

    monkeypatch.setattr(source.mailbox.client, "uid", spy)
    mails = list(source.fetch(set()))
    assert [m.uid for m in mails] == ["1", "2", "3", "4", "5"]
    assert [m.raw for m in mails] == raws
    spooled = [m for m in mails if not isinstance(m.file, io.BytesIO)]
    assert [m.uid for m in spooled] == ["2", "5"]
    partial = [f for f in fetches if "BODY.PEEK[]<" in f]
    # one slice more than whole slices: the loop stops at the first short (or empty) one
    assert len(partial) == len(raws[1]) // (64 * 1024) + 1 + len(raws[4]) // (64 * 1024) + 1
    for m in mails:
        m.close()
    source.close()


def test_a_large_imap_mail_goes_through_the_poller(settings, conn, imap_account, monkeypatch):
    from intake.mailin.poller import poll_once

    monkeypatch.setattr(sources, "SPOOL_OVER", 100_000)
    monkeypatch.setattr(sources, "FETCH_SLICE", 64 * 1024)
    pdf = big_pdf(400_000)
    raw = mail_with(pdf, 7)
    imap_account.append(raw)
    result = poll_once(settings, imap_account.source(), redis=conn)
    assert (result.mails, result.submissions, result.error) == (1, 1, None)
    with session_scope(settings) as s:
        mail = s.scalar(select(Mail))
        assert raw_bytes(s, mail) == raw
        assert [sub.content for sub in mail.submissions] == [pdf]


def test_rawmail_from_bytes_reads_from_the_start():
    mail = RawMail.from_bytes("1", None, b"abc")
    mail.file.seek(2)
    assert mail.raw == b"abc"


def test_record_mail_refuses_a_parse_of_other_bytes(db_settings):
    raw, other = mail_with(PDF, 1), mail_with(PDF, 2)
    with pytest.raises(ValueError, match="not the raw mail given"), session_scope(db_settings) as s:
        record_mail(s, mailbox="m", folder="INBOX", uidvalidity=1, uid="1", raw=raw,
                    parsed=parse_mail(other, 10**8))
    with session_scope(db_settings) as s:
        assert s.scalar(select(func.count()).select_from(Mail)) == 0
