"""The mailbox poller: mails in, submissions committed, ids queued, mails marked processed.

One cycle (:func:`poll_once`):

1. take the mailbox's Redis lock (one poller per mailbox; another one holding it: the cycle is
   skipped);
2. connect, read the folder's UIDVALIDITY, list the UIDs not yet marked processed, and ask the
   database which of them it already holds (those are not fetched again, only marked);
3. for each new mail, in batches: parse it, record it (``Mail`` + one ``Submission`` per PDF) and
   COMMIT, then enqueue each new submission id (``intake.queue.enqueue_submission``; if Redis
   fails the submission stays ``received`` and the reconciler queues it later);
4. mark the committed mails processed on the server (move or flag; Maildir: ``new/`` -> ``cur/``)
   -- only ever after their commit.

A dropped connection ends the cycle; the next one reconnects and starts over. A crash anywhere
loses nothing: a mail not yet committed is still unprocessed on the server, and one committed but
not yet marked is recognised (by its UID, or by the SHA-256 of its bytes) and only marked.

``docintake poll [--once]`` runs cycles every ``poll_interval`` seconds (Ctrl-C or SIGTERM: the
current mail is finished, then it stops).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Callable

import click
from sqlalchemy.exc import SQLAlchemyError

from intake.config import Settings
from intake.mailin.locks import DEFAULT_TTL, LockLost, MailboxLock
from intake.mailin.parse import ParsedMail, parse_mail
from intake.mailin.record import (
    MailLocationConflict,
    known_uids,
    note_poll,
    record_mail,
)
from intake.mailin.sources import SOURCE_ERRORS, MailSource, source_from_settings
from intake.mailout.jobs import enqueue_after_commit
from intake.mailout.replies import for_intake_rejects
from intake.store.db import session_scope, store_command

if TYPE_CHECKING:  # pragma: no cover
    import redis

log = logging.getLogger(__name__)

#: Consecutive database failures after which a cycle gives up (the database is probably down).
MAX_DB_FAILURES = 3


@dataclass
class PollResult:
    #: mails fetched and recorded (new) or found already recorded (no-op) in this cycle
    mails: int = 0
    #: new submissions that need a verdict (PDFs); intake rejects (no PDF, too large) are not counted
    submissions: int = 0
    #: mails left unprocessed on the server for the next cycle (recording them failed)
    skipped: int = 0
    #: new submission ids whose enqueueing failed (they stay ``received``; the reconciler queues them)
    enqueue_failed: int = 0
    #: mails marked processed on the server (moved / flagged / moved to cur/)
    marked: int = 0
    #: another poller held the mailbox's lock: nothing was done
    busy: bool = False
    #: why the cycle ended early (connection dropped, lock lost, Redis down...), else None
    error: str | None = None


#: Base64 parts over this size are decoded into temporary files rather than by the stdlib parser:
#: besides memory, that costs less CPU (a 200 KB form mail: 8.5 ms to parse instead of 13 ms).
SPOOL_THRESHOLD = 64 * 1024


def _enqueue(settings: Settings, submission_id: int, connection) -> bool:
    try:
        from intake.queue import enqueue_submission

        # marked ``queued`` with its batch (_mark_queued below); meanwhile it is ``received``, which
        # a worker takes all the same and the reconciler only marks
        enqueue_submission(settings, submission_id, connection=connection, mark=False)
        return True
    except Exception:  # noqa: BLE001 - never lose a submission over a queue problem
        log.warning("submission %s committed but not queued (stays received; the reconciler will queue it)",
                    submission_id, exc_info=True)
        return False


def _mark_queued(settings: Settings, submission_ids: list[int]) -> None:
    if not submission_ids:
        return
    try:
        from intake.queue import mark_queued

        mark_queued(settings, submission_ids)
    except Exception:  # noqa: BLE001 - only a status; the reconciler marks them later
        log.warning("%d queued submission(s) not marked queued (the reconciler will)", len(submission_ids),
                    exc_info=True)
    submission_ids.clear()


def _parse(raw: BinaryIO, settings: Settings) -> ParsedMail:
    try:
        return parse_mail(raw, settings.max_part_bytes, spool_threshold=SPOOL_THRESHOLD)
    except Exception as exc:  # noqa: BLE001 - parse_mail does not raise; if it ever did, keep the raw mail
        log.exception("mail parse failed; the mail is kept as a no-PDF reject with its raw bytes")
        return ParsedMail(defects=[f"parse failed: {type(exc).__name__}"])


def poll_once(
    settings: Settings,
    source: MailSource | None = None,
    *,
    redis: "redis.Redis | None" = None,
    lock_ttl: float = DEFAULT_TTL,
    stop: Callable[[], bool] | None = None,
) -> PollResult:
    """One poll cycle of ``source`` (default: from the settings). Never raises for a server or queue problem."""
    source = source if source is not None else source_from_settings(settings)
    result = PollResult()
    try:
        if redis is None:
            from intake.queue import redis_connection

            redis = redis_connection(settings)
        lock = MailboxLock(redis, source.mailbox_name, ttl=lock_ttl)
        acquired = lock.acquire()
    except Exception as exc:  # noqa: BLE001 - Redis down: no lock, no cycle (the mails wait on the server)
        log.error("poll of %s skipped: the poller lock is unavailable (%s)", source.mailbox_name, exc)
        result.error = f"lock unavailable: {exc}"
        return result
    if not acquired:
        log.info("another poller is working on %s; this cycle is skipped", source.mailbox_name)
        result.busy = True
        return result

    batch = max(1, int(getattr(source, "batch", 50)))
    committed: list[str] = []  # UIDs recorded and committed but not yet marked on the server
    queued: list[int] = []  # submissions enqueued but not yet marked queued in the database

    def flush() -> None:
        _mark_queued(settings, queued)  # one transaction per batch, not one commit per submission
        if committed:
            source.mark_processed(list(committed))
            result.marked += len(committed)
            committed.clear()

    db_failures = 0
    try:
        uidvalidity = source.connect()
        uids = source.list_uids()
        with session_scope(settings) as session:
            note_poll(session, mailbox=source.mailbox_name, folder=source.folder, uidvalidity=uidvalidity)
            known = known_uids(session, mailbox=source.mailbox_name, folder=source.folder,
                               uidvalidity=uidvalidity, uids=uids)
        result.marked += len([u for u in uids if u in known])  # fetch() marks these first
        for mail in source.fetch(known):
            lock.keep_alive()
            try:
                # the mail and its PDFs stay in files (the source's, the parser's spool) until recorded
                owed: list[int] = []  # replies to mails rejected here (no PDF), sent after the commit
                with mail, _parse(mail.file, settings) as parsed, session_scope(settings) as session:
                    new_ids = record_mail(session, mailbox=source.mailbox_name, folder=source.folder,
                                          uidvalidity=mail.uidvalidity, uid=mail.uid, raw=mail.file, parsed=parsed,
                                          on_recorded=lambda s, m, subs: owed.extend(
                                              for_intake_rejects(s, settings, m, subs)))
            except MailLocationConflict as exc:
                log.error("mail left on the server: %s", exc)
                result.skipped += 1
                continue
            except SQLAlchemyError:
                log.exception("%s uid %s could not be recorded; it stays on the server", source.mailbox_name,
                              mail.uid)
                result.skipped += 1
                db_failures += 1
                if db_failures >= MAX_DB_FAILURES:
                    result.error = "database errors; cycle ended"
                    break
                continue
            db_failures = 0
            # committed: from here on the mail is safe in the database
            if owed:
                enqueue_after_commit(settings, owed)
            result.mails += 1
            result.submissions += len(new_ids)
            for sid in new_ids:
                if _enqueue(settings, sid, redis):
                    queued.append(sid)
                else:
                    result.enqueue_failed += 1
            committed.append(mail.uid)
            if len(committed) >= batch:
                flush()
            if stop is not None and stop():
                log.info("stop requested: ending the cycle after uid %s", mail.uid)
                break
        flush()
    except LockLost as exc:
        log.error("%s", exc)
        result.error = str(exc)
    except SOURCE_ERRORS as exc:
        log.warning("%s: connection problem (%s: %s); the next cycle reconnects and starts over",
                    source.mailbox_name, type(exc).__name__, exc)
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        _mark_queued(settings, queued)  # an early end still marks what it pushed
        try:
            source.close()
        finally:
            lock.release()
    if result.mails or result.skipped or result.error:
        log.info("poll %s %s: %d mail(s), %d submission(s), %d skipped, %d marked processed%s",
                 source.mailbox_name, source.folder, result.mails, result.submissions, result.skipped,
                 result.marked, f", ended early: {result.error}" if result.error else "")
    return result


# ---- metrics hook ------------------------------------------------------------------------------
def report_metrics(result: PollResult) -> None:
    """The poller's one place for metrics: called after each cycle by ``docintake poll``.

    Counts go to :mod:`intake.metrics` (which swallows its own errors). Add new poller metrics here.
    """
    from intake import metrics

    if result.mails:
        metrics.mail_received(result.mails)
    if result.submissions:
        metrics.submission_received(result.submissions)


# ---- the command -------------------------------------------------------------------------------
@click.command("poll")
@click.option("--once", is_flag=True, help="One cycle, then exit (exit status 1 if it ended early).")
@store_command
def poll_command(settings: Settings, once: bool) -> None:
    """Take mails from the mailbox (IMAP if DOCINTAKE_IMAP_HOST is set, else the Maildir)."""
    from intake import metrics

    metrics.configure(settings)
    source = source_from_settings(settings)
    stopping = threading.Event()

    def _on_signal(signum, _frame):
        if stopping.is_set():
            raise KeyboardInterrupt
        log.info("stopping after the current mail (again to stop at once)")
        stopping.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    redis_conn = None
    log.info("polling %s %s every %ss", source.mailbox_name, source.folder, settings.poll_interval)
    try:
        while not stopping.is_set():
            if redis_conn is None:
                try:
                    from intake.queue import redis_connection

                    redis_conn = redis_connection(settings)
                except Exception as exc:  # noqa: BLE001 - retried next cycle
                    log.error("Redis unavailable: %s", exc)
            started = time.monotonic()
            result = poll_once(settings, source, redis=redis_conn, stop=stopping.is_set) if redis_conn else \
                PollResult(error="Redis unavailable")
            report_metrics(result)
            if once:
                click.echo(f"{result.mails} mail(s), {result.submissions} submission(s), "
                           f"{result.skipped} skipped" + (f"; ended early: {result.error}" if result.error else ""))
                if result.error:
                    raise SystemExit(1)
                return
            stopping.wait(max(0.0, settings.poll_interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        log.info("interrupted")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("poller stopped")
