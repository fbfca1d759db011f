"""intake.mailin.sources on their own: Maildir files and a real dovecot."""

from __future__ import annotations

import mailbox

import pytest

from intake.config import Settings
from intake.mailin.sources import (
    ImapSource,
    MaildirSource,
    RawMail,
    source_from_settings,
)

RAW = b"From: a@example.lv\r\nSubject: s\r\nMessage-ID: <%d@x>\r\n\r\nbody\r\n"


def test_imap_source_options():
    with pytest.raises(ValueError):
        ImapSource("h", security="tls")
    with pytest.raises(ValueError):
        ImapSource("h", after="delete")
    assert ImapSource("h", user="u").port == 993
    assert ImapSource("h", security="starttls").port == 143
    assert ImapSource("h", 1143, "u", "secret", security="none").mailbox_name == "imap://u@h:1143"
    assert "secret" not in repr(ImapSource("h", 1143, "u", "secret"))


def test_source_from_settings_defaults_to_the_maildir(tmp_path):
    source = source_from_settings(Settings(data_dir=tmp_path, secret_key="x"))
    assert isinstance(source, MaildirSource)
    assert source.mailbox_name == f"maildir:{(tmp_path / 'mail').resolve()}"


def test_maildir_source(tmp_path):
    md = mailbox.Maildir(tmp_path / "m", create=True)
    k1, k2 = md.add(RAW % 1), md.add(RAW % 2)
    (tmp_path / "m" / "cur" / "100.flagged.host:2,F").write_bytes(RAW % 3)  # a client's flag, not processed
    source = MaildirSource(tmp_path / "m")
    assert source.connect() is None
    uids = source.list_uids()
    assert set(uids) == {k1, k2, "100.flagged.host"}
    got = list(source.fetch({k2}))  # k2 is known: marked at once, not fetched
    assert sorted(m.raw for m in got) == sorted([RAW % 1, RAW % 3])
    assert all(isinstance(m, RawMail) and m.uidvalidity is None for m in got)
    assert sorted(p.name for p in (tmp_path / "m" / "new").iterdir()) == [k1]
    source.mark_processed([k1, "100.flagged.host", "gone"])
    assert sorted(p.name for p in (tmp_path / "m" / "cur").iterdir()) == sorted(
        [f"{k1}:2,S", f"{k2}:2,S", "100.flagged.host:2,FS"])
    assert source.list_uids() == []
    # the bytes are untouched by the move
    assert (tmp_path / "m" / "cur" / f"{k1}:2,S").read_bytes() == RAW % 1


def test_imap_source_fetch_and_mark(imap_account):
    for n in range(5):
        imap_account.append(RAW % n)
    source = imap_account.source(batch=2)
    uidvalidity = source.connect()
    assert uidvalidity and source.list_uids() == ["1", "2", "3", "4", "5"]
    mails = list(source.fetch({"2"}))
    assert [m.uid for m in mails] == ["1", "3", "4", "5"]
    assert [m.raw for m in mails] == [RAW % n for n in (0, 2, 3, 4)]
    assert all(m.uidvalidity == uidvalidity for m in mails)
    # reading set no \Seen; the known one was moved already
    assert sorted(imap_account.flags("INBOX")) == ["1", "3", "4", "5"]
    assert all("\\Seen" not in f for f in imap_account.flags("INBOX").values())
    assert len(imap_account.messages("docintake/processed")) == 1
    source.mark_processed(["1", "3"])
    source.close()
    # same UIDVALIDITY on a new connection; the processed folder already exists now
    source = imap_account.source(batch=2)
    assert source.connect() == uidvalidity
    assert source.list_uids() == ["4", "5"]
    source.mark_processed(["4", "5"])
    source.close()
    assert imap_account.messages("INBOX") == []
    assert len(imap_account.messages("docintake/processed")) == 5


def test_imap_source_other_folders(imap_account):
    imap_account.append(RAW % 1, folder="Forms")
    source = imap_account.source(folder="Forms", processed_folder="Forms/done", after="move")
    source.connect()
    assert [m.raw for m in source.fetch(set())] == [RAW % 1]
    source.mark_processed(["1"])
    source.close()
    assert "Forms/done" in imap_account.folders()
    assert imap_account.messages("Forms") == [] and len(imap_account.messages("Forms/done")) == 1


def test_imap_dropped_connection_raises_a_source_error(imap_account):
    from intake.mailin.sources import SOURCE_ERRORS

    imap_account.append(RAW % 1)
    source = imap_account.source()
    source.connect()
    imap_account.kick()
    with pytest.raises(SOURCE_ERRORS):
        source.list_uids()
    source.close()  # never raises on a dead connection
    assert source.connect()  # and a new cycle simply reconnects
    assert source.list_uids() == ["1"]
    source.close()
