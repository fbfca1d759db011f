"""The poller against a real dovecot: move and flag modes, \\Seen untouched, dropped connections."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage

import pytest
import redis as redis_lib
from sqlalchemy import func, select

from intake.mailin.poller import poll_once
from intake.mailin.sources import PROCESSED_KEYWORD, ImapSource, source_from_settings
from intake.store.db import session_scope
from intake.store.mails import raw_bytes
from intake.store.models import Mail, MailboxState, Submission
from tests.fixtures.realworld import REALWORLD

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EML = REALWORLD / "eml"
PROCESSED = "docintake/processed"


def make_mail(n: int, *pdfs: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Anna <anna@example.lv>"
    msg["Subject"] = f"Veidlapa {n}"
    msg["Message-ID"] = f"<{n}@example.lv>"
    msg.set_content("Sveiki")
    for i, data in enumerate(pdfs):
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=f"f{i}.pdf")
    return crlf(msg.as_bytes())


def crlf(raw: bytes) -> bytes:
    """IMAP APPEND (imaplib) sends CRLF line ends: compare with what the server keeps."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture
def settings(make_settings, db_backend):
    return make_settings(db_backend, redis=True)


@pytest.fixture
def conn(settings):
    c = redis_lib.Redis.from_url(settings.redis_url)
    yield c
    c.close()


def counts(settings) -> tuple[int, int]:
    with session_scope(settings) as s:
        return (s.scalar(select(func.count()).select_from(Mail)),
                s.scalar(select(func.count()).select_from(Submission)))


class Watching(ImapSource):
    """Records the INBOX flags the moment the poller marks mails processed."""

    def __init__(self, account, **kw):
        super().__init__(account.host, account.port, account.user, account.password, security="none", **kw)
        self.account = account
        self.flags_at_mark: list[dict] = []

    def mark_processed(self, uids):
        self.flags_at_mark.append(self.account.flags("INBOX"))
        super().mark_processed(uids)


def test_imap_move_end_to_end(settings, conn, imap_account):
    from intake.queue import job_status

    raws = [make_mail(1, PDF), make_mail(2, PDF, PDF + b"x"), crlf((EML / "imap_tools__attachment_inline1.eml").read_bytes())]
    for raw in raws:
        imap_account.append(raw)
    assert all("\\Seen" not in f for f in imap_account.flags().values())
    source = Watching(imap_account, batch=2)
    result = poll_once(settings, source, redis=conn)
    assert (result.mails, result.submissions, result.skipped, result.error) == (3, 3, 0, None)
    # \Seen was never set by reading (BODY.PEEK), up to the moment of marking
    assert source.flags_at_mark and all("\\Seen" not in f for flags in source.flags_at_mark for f in flags.values())
    # all moved to the processed folder (created on the way), bytes unchanged, still unseen
    assert imap_account.messages("INBOX") == []
    assert PROCESSED in imap_account.folders()
    moved = imap_account.messages(PROCESSED)
    assert sorted(raw for _uid, _flags, raw in moved) == sorted(raws)
    assert all("\\Seen" not in flags for _uid, flags, _raw in moved)
    with session_scope(settings) as s:
        mails = s.scalars(select(Mail).order_by(Mail.id)).all()
        assert [raw_bytes(s, m) for m in mails] == raws
        assert [m.message_key for m in mails] == [hashlib.sha256(r).hexdigest() for r in raws]
        assert {m.mailbox for m in mails} == {f"imap://{imap_account.user}@127.0.0.1:{imap_account.port}"}
        assert {m.folder for m in mails} == {"INBOX"} and [m.uid for m in mails] == ["1", "2", "3"]
        uidvalidity = mails[0].uidvalidity
        assert uidvalidity and s.get(MailboxState, (mails[0].mailbox, "INBOX")).uidvalidity == uidvalidity
        subs = s.scalars(select(Submission).order_by(Submission.id)).all()
        assert [(x.status, x.main_reason) for x in subs] == [
            ("queued", None), ("queued", None), ("queued", None), ("rejected", "no_pdf_attachment")]
    assert all(job_status(settings, x.id, connection=conn) == "queued" for x in subs[:3])
    # a new mail later: only it is taken
    imap_account.append(make_mail(4, PDF + b"4"))
    result = poll_once(settings, Watching(imap_account), redis=conn)
    assert (result.mails, result.submissions) == (1, 1)
    assert counts(settings) == (4, 5)
    assert len(imap_account.messages(PROCESSED)) == 4


def test_imap_flag_mode(settings, conn, imap_account):
    for n in range(3):
        imap_account.append(make_mail(n, PDF + bytes([n])))
    source = Watching(imap_account, after="flag")
    result = poll_once(settings, source, redis=conn)
    assert (result.mails, result.submissions, result.marked) == (3, 3, 3)
    flags = imap_account.flags("INBOX")
    assert len(flags) == 3
    assert all(PROCESSED_KEYWORD in f and "\\Seen" not in f for f in flags.values())
    assert PROCESSED not in imap_account.folders()
    # flagged mails are not taken again
    result = poll_once(settings, Watching(imap_account, after="flag"), redis=conn)
    assert (result.mails, result.marked) == (0, 0)
    assert counts(settings) == (3, 3)


class KickAfter(ImapSource):
    """Drops the connection (doveadm kick) after the n-th mail was handed out."""

    def __init__(self, account, n: int, **kw):
        super().__init__(account.host, account.port, account.user, account.password, security="none", **kw)
        self.account, self.n = account, n

    def fetch(self, known_uids):
        for i, mail in enumerate(super().fetch(known_uids), 1):
            yield mail
            if i == self.n:
                self.account.kick()


@pytest.mark.parametrize("kick_after", [1, 3])
def test_imap_connection_dropped_mid_batch(settings, conn, imap_account, kick_after):
    raws = [make_mail(n, PDF + bytes([n])) for n in range(7)]
    for raw in raws:
        imap_account.append(raw)
    result = poll_once(settings, KickAfter(imap_account, kick_after, batch=3), redis=conn)
    assert result.error, result
    assert result.mails >= kick_after
    assert 0 < counts(settings)[0] < 7
    # the next cycle reconnects and finishes: every mail recorded exactly once, every mail moved
    result = poll_once(settings, imap_account.source(batch=3), redis=conn)
    assert result.error is None, result
    assert counts(settings) == (7, 7)
    assert imap_account.messages("INBOX") == []
    assert sorted(r for _u, _f, r in imap_account.messages(PROCESSED)) == sorted(raws)
    with session_scope(settings) as s:
        assert sorted(raw_bytes(s, m) for m in s.scalars(select(Mail))) == sorted(raws)
        assert s.scalar(select(func.count(func.distinct(Submission.sha256)))) == 7


def test_imap_crash_between_commit_and_move(settings, conn, imap_account, monkeypatch):
    for n in range(4):
        imap_account.append(make_mail(n, PDF + bytes([n])))
    source = imap_account.source(batch=10)

    def crash(uids):
        raise OSError("connection reset")

    monkeypatch.setattr(source, "mark_processed", crash)
    result = poll_once(settings, source, redis=conn)
    assert result.error and result.mails == 4
    assert len(imap_account.messages("INBOX")) == 4  # committed but still there
    result = poll_once(settings, imap_account.source(), redis=conn)
    assert (result.mails, result.submissions, result.marked) == (0, 0, 4)
    assert imap_account.messages("INBOX") == [] and len(imap_account.messages(PROCESSED)) == 4
    assert counts(settings) == (4, 4)


def test_imap_same_mail_appended_twice(settings, conn, imap_account):
    raw = make_mail(1, PDF)
    imap_account.append(raw)
    imap_account.append(raw)
    result = poll_once(settings, imap_account.source(), redis=conn)
    assert (result.mails, result.submissions) == (2, 1)
    assert counts(settings) == (1, 1)
    assert imap_account.messages("INBOX") == [] and len(imap_account.messages(PROCESSED)) == 2


def test_imap_wrong_password_is_an_error_not_a_crash(settings, conn, imap_account):
    imap_account.append(make_mail(1, PDF))
    source = ImapSource(imap_account.host, imap_account.port, imap_account.user, "wrong", security="none")
    result = poll_once(settings, source, redis=conn)
    assert result.error and result.mails == 0
    assert len(imap_account.messages("INBOX")) == 1


def test_source_from_settings_picks_imap(settings, imap_account):
    s = settings.with_(imap_host="127.0.0.1", imap_port=imap_account.port, imap_user=imap_account.user,
                       imap_password=imap_account.password, imap_security="none", imap_after="flag", imap_batch=7)
    source = source_from_settings(s)
    assert isinstance(source, ImapSource)
    assert (source.port, source.after, source.batch, source.processed_folder) == (
        imap_account.port, "flag", 7, "docintake/processed")
    assert source.connect() is not None
    source.close()


def test_poll_command_with_imap(settings, imap_account, run_cli):
    imap_account.append(make_mail(1, PDF))
    s = settings.with_(imap_host="127.0.0.1", imap_port=imap_account.port, imap_user=imap_account.user,
                       imap_password=imap_account.password, imap_security="none")
    proc = run_cli(s, "poll", "--once")
    assert proc.returncode == 0, proc.stderr
    assert "1 mail(s), 1 submission(s)" in proc.stdout
    assert "wrong" not in proc.stderr and imap_account.password not in proc.stderr
    assert imap_account.messages("INBOX") == []
