"""Submissions on the queue: job ``submission-<id>`` runs ``worker.jobs.process_submission(id)``,
named by dotted path so that intake never imports the worker."""

from __future__ import annotations

from typing import Iterable

import redis
from rq import Queue
from rq.exceptions import DuplicateJobError
from sqlalchemy import update

from intake.config import Settings
from intake.queue.jobs import (
    RESULT_TTL,
    free_job_id,
    get_queue,
    job_state,
    retry_policy,
)
from intake.queue.server import redis_connection

#: The RQ job, named so that intake never imports the worker.
JOB_FUNC = "worker.jobs.process_submission"


def job_id_for(submission_id: int) -> str:
    return f"submission-{int(submission_id)}"


def submission_id_of(job_id: str) -> int | None:
    prefix = "submission-"
    if job_id.startswith(prefix) and job_id[len(prefix):].isdigit():
        return int(job_id[len(prefix):])
    return None



def _push(queue: Queue, settings: Settings, submission_id: int, *, replace_started: bool = False) -> tuple[str, bool]:
    """(job id, True when a new job was enqueued)."""
    job_id = job_id_for(submission_id)
    for _ in range(5):
        if not free_job_id(queue, job_id, replace_started=replace_started):
            return job_id, False
        try:
            queue.enqueue_call(
                JOB_FUNC,
                args=(int(submission_id),),
                job_id=job_id,
                timeout=settings.job_timeout,
                retry=retry_policy(settings),
                result_ttl=RESULT_TTL,
                description=f"submission {int(submission_id)}",
                unique=True,
            )
            return job_id, True
        except DuplicateJobError:
            replace_started = False  # someone else enqueued it in between: theirs is fresh
            continue
    return job_id, False


def mark_queued(settings: Settings, submission_ids: Iterable[int], *, only_received: bool = True) -> None:
    """Mark ``received`` submissions (any waiting one with ``only_received=False``) ``queued``, in
    one transaction, after their jobs were pushed."""
    from intake.store.db import session_scope
    from intake.store.models import WAITING, Status, Submission, utcnow

    ids = [int(i) for i in submission_ids]
    if not ids:
        return
    states = (Status.received.value,) if only_received else WAITING
    with session_scope(settings) as session:
        session.execute(
            update(Submission)
            .where(Submission.id.in_(ids), Submission.status.in_(states))
            .values(status=Status.queued.value, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def enqueue_submission(settings: Settings, submission_id: int, *, connection: redis.Redis | None = None,
                       replace_started: bool = False, mark: bool = True) -> str:
    """Make sure a job for the submission is waiting in Redis, then mark it ``queued``.

    At most one live job per submission (id ``submission-<id>``); a finished or failed one is
    replaced. Only transient errors (Redis or the database unreachable) raise; the submission
    then stays ``received`` and the reconciler enqueues it later. Returns the job id.
    ``replace_started``: also replace a stranded job, ``started`` or popped off the queue by a
    worker that died (the reconciler, for an expired lease). ``mark=False``: the caller marks it
    later with :func:`mark_queued` (the poller, once per batch of mails).
    """
    queue = get_queue(settings, connection=connection)
    job_id, _new = _push(queue, settings, submission_id, replace_started=replace_started)
    # After the push: a crash in between leaves it ``received``, which the reconciler retries.
    if mark:
        mark_queued(settings, [submission_id], only_received=not replace_started)
    return job_id


def enqueue_submissions(settings: Settings, submission_ids: Iterable[int], *,
                        connection: redis.Redis | None = None) -> list[str]:
    """:func:`enqueue_submission` for several ids with one connection and one database update."""
    ids = [int(i) for i in submission_ids]
    if not ids:
        return []
    queue = get_queue(settings, connection=connection)
    job_ids = [_push(queue, settings, sid)[0] for sid in ids]
    mark_queued(settings, ids)
    return job_ids


def job_status(settings: Settings, submission_id: int, *, connection: redis.Redis | None = None) -> str | None:
    """The RQ state of the submission's job (``queued``, ``started``, ``finished``...), None if none."""
    conn = connection or redis_connection(settings)
    return job_state(conn, job_id_for(submission_id))


def queue_length(settings: Settings, *, connection: redis.Redis | None = None) -> int:
    return len(get_queue(settings, connection=connection))


