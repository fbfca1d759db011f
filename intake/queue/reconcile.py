"""The reconciler: the database is the truth, Redis only a reminder.

Every submission still owed a verdict (``received``, ``queued``, ``processing``) must have a
live job in Redis. ``reconcile`` enqueues the ones that do not:

- ``received``: never enqueued (the poller crashed, or Redis was down when it tried);
- any waiting one whose job is gone (Redis flushed, restarted without its data) or dead
  (``finished``/``failed``/``stopped``/``canceled`` while the submission still waits, e.g.
  RQ gave up after its retries while the database was unreachable);
- ``processing`` whose lease expired (``updated_at`` older than ``lease_seconds``) while its
  job still claims to be ``started``: the worker died (SIGKILL, OOM, power) in the middle;
  the job is replaced. ``lease_seconds`` (300) is larger than ``job_timeout`` (120) so a live
  job is never mistaken for a dead one; and should it be, the job's conditional updates
  still apply the document only once.

Jobs that are ``queued`` or ``scheduled`` (waiting for a retry) are left alone however old
(a long queue is not a lost job). Runs as ``docintake reconcile`` and periodically inside
``docintake run``. Safe to run at any time, from any number of hosts.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import click
from sqlalchemy import select

from intake.config import Settings
from intake.mailout.jobs import reconcile_messages
from intake.queue.jobs import (
    ENQUEUE,
    LIVE,
    LIVE_STATES,
    TRANSIENT_ERRORS,
    get_queue,
    job_state,
    owed_jobs,
)
from intake.queue.server import redis_connection
from intake.queue.submissions import enqueue_submission, job_id_for
from intake.store.db import session_scope, store_command
from intake.store.models import WAITING, Status, Submission, utcnow

log = logging.getLogger(__name__)

_BATCH = 1000


def _waiting(settings: Settings) -> list[tuple[int, str, dt.datetime]]:
    with session_scope(settings) as session:
        rows = session.execute(
            select(Submission.id, Submission.status, Submission.updated_at)
            .where(Submission.status.in_(WAITING))
            .order_by(Submission.id)
        ).all()
    return [(r.id, r.status, r.updated_at) for r in rows]


def check_lease(settings: Settings) -> None:
    """A lease shorter than the job timeout would let the reconciler take over jobs still running
    (harmless for the data, the updates are conditional, but wasted work): say so."""
    if settings.lease_seconds <= settings.job_timeout:
        log.warning("lease_seconds (%s) should be larger than job_timeout (%s): the reconciler may "
                    "re-enqueue submissions whose job is still running", settings.lease_seconds, settings.job_timeout)


def reconcile(settings: Settings, *, connection=None) -> int:
    """Enqueue every waiting submission and every pending outbound message without a live job.
    Returns how many submissions were (re-)enqueued (messages are logged)."""
    conn = connection
    # messages owed (the outbox): re-enqueued the same way, e.g. after a Redis flush
    reconcile_messages(settings, connection=conn)
    rows = _waiting(settings)
    if not rows:
        return 0
    conn = conn or redis_connection(settings)
    queue = get_queue(settings, connection=conn)
    status_of = {sid: status for sid, status, _updated in rows}
    enqueued = 0
    for sid, job, action in owed_jobs(queue, [(sid, updated) for sid, _status, updated in rows], job_id_for,
                                      settings.lease_seconds, now=utcnow(), batch=_BATCH):
        status = status_of[sid]
        if action == LIVE:
            if status == Status.received.value:  # enqueued, but the poller did not get to mark it
                enqueue_submission(settings, sid, connection=conn)
            continue
        # Check again right before acting: the job may have moved meanwhile.
        if action == ENQUEUE and job_state(conn, job_id_for(sid)) in LIVE_STATES:
            continue
        enqueue_submission(settings, sid, connection=conn, replace_started=action != ENQUEUE)
        enqueued += 1
        why = "no job" if job is None else (f"job {job}" if action == ENQUEUE else f"lease expired, job {job}")
        log.info("reconcile: submission %s (%s, %s) enqueued again", sid, status, why)
    if enqueued:
        log.info("reconcile: %d submission(s) enqueued", enqueued)
    return enqueued


def reconcile_forever(settings: Settings, *, interval: float | None = None, stop=None) -> None:
    """Reconcile every ``reconcile_interval`` seconds until ``stop`` (a threading.Event) is set.
    Transient errors are logged and tried again next round."""
    interval = settings.reconcile_interval if interval is None else interval
    check_lease(settings)
    while stop is None or not stop.is_set():
        try:
            reconcile(settings)
        except TRANSIENT_ERRORS as exc:
            log.warning("reconcile: infrastructure unreachable, trying again in %ss: %s", interval,
                        type(exc).__name__)
        except Exception:  # noqa: BLE001 - keep the loop alive
            log.exception("reconcile: unexpected error")
        if stop is not None:
            if stop.wait(interval):
                break
        else:
            time.sleep(interval)


@click.command("reconcile")
@click.option("--every", type=float, default=None,
              help="Keep running, reconciling every N seconds (default: once and exit).")
@store_command
def reconcile_command(settings: Settings, every: float | None) -> None:
    """Re-enqueue every submission still waiting for a verdict whose job Redis lost."""
    check_lease(settings)
    if every:
        reconcile_forever(settings, interval=every)
        return
    count = reconcile(settings)
    click.echo(f"{count} submission(s) enqueued")
