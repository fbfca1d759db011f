"""Sending: the RQ job ``send_message(id)`` (enqueued by dotted path), enqueueing, reconciling.

The job sends a ``pending`` message and marks it ``sent``; a message already sent is a no-op.
A worker killed between the server's acceptance and the ``sent`` commit sends it again later:
the same bytes, the same Message-ID (mail clients show it once). A failed try raises, so RQ
retries it with the installation's backoff; after ``mail_max_attempts`` it is ``failed`` and
waits for a clerk (back office: Messages, retry).
"""

from __future__ import annotations

import logging

from rq import Queue
from sqlalchemy import select, update

from intake.config import Settings, load_settings
from intake.logs import mask_codes
from intake.queue.jobs import (
    ENQUEUE,
    LIVE,
    free_job_id,
    get_queue,
    owed_jobs,
    retry_policy,
)
from intake.queue.server import redis_connection
from intake.store.db import session_scope
from intake.store.models import MessageStatus, OutboundMessage, utcnow

log = logging.getLogger(__name__)

JOB_FUNC = "intake.mailout.jobs.send_message"
_PENDING = MessageStatus.pending.value


class SendFailed(RuntimeError):
    """This try failed; RQ tries again after the backoff."""


def job_id_for(message_id: int) -> str:
    return f"message-{int(message_id)}"


def send_message(message_id: int) -> str:
    """The RQ job. Returns ``sent``, ``failed`` or ``noop``."""
    return run(load_settings(), int(message_id))


def run(settings: Settings, message_id: int) -> str:
    from intake.mailout.outbox import sender_address
    from intake.mailout.senders import sender_for

    with session_scope(settings) as session:
        moved = session.execute(
            update(OutboundMessage).where(OutboundMessage.id == message_id, OutboundMessage.status == _PENDING)
            .values(attempts=OutboundMessage.attempts + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)).rowcount
        if moved != 1:
            return "noop"
        row = session.execute(select(OutboundMessage.channel, OutboundMessage.recipient, OutboundMessage.message_id,
                                     OutboundMessage.raw, OutboundMessage.attempts, OutboundMessage.payload,
                                     OutboundMessage.raw_sha256, OutboundMessage.created_at,
                                     OutboundMessage.campaign_id)
                              .where(OutboundMessage.id == message_id)).one()
    try:
        sender_for(settings, row.channel).send(recipient=row.recipient, sender=sender_address(settings),
                                               message_id=row.message_id, raw=_bytes_of(settings, row))
    except Exception as exc:  # noqa: BLE001 - any sending problem is a failed try
        note = mask_codes(f"{type(exc).__name__}: {exc}")[:500]
        final = row.attempts >= settings.mail_max_attempts
        with session_scope(settings) as session:
            session.execute(update(OutboundMessage)
                            .where(OutboundMessage.id == message_id, OutboundMessage.status == _PENDING)
                            .values(note=note, updated_at=utcnow(),
                                    status=MessageStatus.failed.value if final else _PENDING)
                            .execution_options(synchronize_session=False))
        log.warning("message %s: try %d failed%s: %s", message_id, row.attempts,
                    " for the last time, marked failed" if final else ", will be retried", note)
        if final:
            return "failed"
        raise SendFailed(note) from None
    with session_scope(settings) as session:
        session.execute(update(OutboundMessage)
                        .where(OutboundMessage.id == message_id, OutboundMessage.status == _PENDING)
                        .values(status=MessageStatus.sent.value, sent_at=utcnow(), updated_at=utcnow(), note=None)
                        .execution_options(synchronize_session=False))
    log.info("message %s (%s) sent", message_id, row.channel)
    return "sent"


def _bytes_of(settings: Settings, row) -> bytes:
    """The stored bytes, or (campaign mails) the same bytes composed again, checked by their hash."""
    if row.raw is not None:
        return row.raw
    if row.payload is None:
        raise ValueError("a message without bytes and without what makes them")
    import hashlib

    from intake.campaigns.create import campaign_blank, compose_campaign_mail

    with session_scope(settings) as session:
        blank = campaign_blank(session, row.campaign_id, row.payload["lang"])
    raw = compose_campaign_mail(settings, to=row.recipient, message_id=row.message_id, payload=row.payload,
                                date=row.created_at, blank=blank)
    if hashlib.sha256(raw).hexdigest() != row.raw_sha256:
        raise ValueError("the campaign mail no longer composes to the bytes taken when it was created")
    return raw


def enqueue_messages(settings: Settings, ids, *, connection=None, replace_started: bool = False) -> int:
    """Make sure each message has a live send job. Transient errors raise (the reconciler retries)."""
    ids = [int(i) for i in ids]
    if not ids:
        return 0
    queue = get_queue(settings, connection=connection)
    count = 0
    for mid in ids:
        job_id = job_id_for(mid)
        if not free_job_id(queue, job_id, replace_started=replace_started):
            continue
        queue.enqueue_call(JOB_FUNC, args=(mid,), job_id=job_id, timeout=settings.job_timeout,
                           retry=_retry(settings), result_ttl=3600, description=f"message {mid}")
        count += 1
    return count


def enqueue_new_messages(settings: Settings, ids, *, connection=None, chunk: int = 500) -> int:
    """Bulk form of :func:`enqueue_messages` for messages just written (a campaign): no job can
    exist for them yet, so they go in with ``enqueue_many``, one Redis round trip per chunk."""
    ids = [int(i) for i in ids]
    queue = get_queue(settings, connection=connection)
    retry = _retry(settings)
    for start in range(0, len(ids), chunk):
        queue.enqueue_many([Queue.prepare_data(JOB_FUNC, args=(mid,), job_id=job_id_for(mid),
                                               timeout=settings.job_timeout, retry=retry, result_ttl=3600,
                                               description=f"message {mid}")
                            for mid in ids[start:start + chunk]])
    return len(ids)


def _retry(settings: Settings):
    return retry_policy(settings.with_(job_retries=max(0, settings.mail_max_attempts - 1)))


def enqueue_after_commit(settings: Settings, ids) -> None:
    """Best effort after the writing transaction committed: a Redis problem leaves the messages
    pending, and the reconciler enqueues them."""
    try:
        enqueue_messages(settings, ids)
    except Exception as exc:  # noqa: BLE001
        log.warning("messages %s stay pending for the reconciler: %s", list(ids), type(exc).__name__)


def retry_message(settings: Settings, message_id: int) -> bool:
    """Back office: a failed (or pending) message goes out again. True when it was moved."""
    with session_scope(settings) as session:
        moved = session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id,
                   OutboundMessage.status.in_((MessageStatus.failed.value, _PENDING)))
            .values(status=_PENDING, attempts=0, updated_at=utcnow())
            .execution_options(synchronize_session=False)).rowcount
    if moved:
        enqueue_messages(settings, [message_id], replace_started=True)
    return bool(moved)


def reconcile_messages(settings: Settings, *, connection=None) -> int:
    """Enqueue every pending message without a live job (Redis flushed, a worker died mid-send
    and its lease ran out). Returns how many were enqueued."""
    with session_scope(settings) as session:
        rows = session.execute(select(OutboundMessage.id, OutboundMessage.updated_at)
                               .where(OutboundMessage.status == _PENDING).order_by(OutboundMessage.id)).all()
    if not rows:
        return 0
    conn = connection or redis_connection(settings)
    queue = get_queue(settings, connection=conn)
    count = 0
    for mid, _state, action in owed_jobs(queue, rows, job_id_for, settings.lease_seconds, now=utcnow()):
        if action != LIVE:
            count += enqueue_messages(settings, [mid], connection=conn, replace_started=action != ENQUEUE)
    if count:
        log.info("reconcile: %d message(s) enqueued", count)
    return count
