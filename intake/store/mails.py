"""A recorded mail's raw bytes, read back in the 1 MiB slices :mod:`intake.mailin.record` wrote."""

from __future__ import annotations

from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.store.models import Mail, MailRawChunk

#: Size of one ``MailRawChunk``.
RAW_CHUNK = 1 << 20


def raw_chunks(session: Session, mail: Mail | int) -> Iterator[bytes]:
    """A recorded mail's raw bytes, a slice at a time (mails from before schema 0003: one slice)."""
    mail_id = mail if isinstance(mail, int) else mail.id
    old = session.scalar(select(Mail.raw).where(Mail.id == mail_id))
    if old is not None:
        yield old
        return
    seq = 0
    while True:  # one slice per query: never more than one in memory, whatever the driver buffers
        data = session.scalar(select(MailRawChunk.data).where(MailRawChunk.mail_id == mail_id,
                                                              MailRawChunk.seq == seq))
        if data is None:
            return
        yield data
        seq += 1


def raw_bytes(session: Session, mail: Mail | int) -> bytes:
    """A recorded mail's raw bytes, whole (for small mails and tests; large ones: :func:`raw_chunks`)."""
    return b"".join(raw_chunks(session, mail))
