"""RQ job plumbing shared by every job docintake enqueues (submissions, outbound messages): one
live job per id, backoff, and telling a stranded job (its worker died) from a live one."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Callable, Iterable, Iterator

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy.exc import InterfaceError, OperationalError

from intake.config import Settings
from intake.queue.server import redis_connection

log = logging.getLogger(__name__)

#: Transient infrastructure errors: the only exceptions enqueueing (and the job) let through.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OperationalError,
    InterfaceError,
)
#: Job states in which a job will still run without our help: never enqueue a second one.
LIVE_STATES = {
    JobStatus.QUEUED.value,
    JobStatus.STARTED.value,
    JobStatus.SCHEDULED.value,
    JobStatus.DEFERRED.value,
    JobStatus.CREATED.value,
    JobStatus.RATE_LIMITED.value,
    JobStatus.READY_TO_ENQUEUE.value,
}
#: How long a finished job's result is kept in Redis (the database has the verdict anyway).
RESULT_TTL = 600


def get_queue(settings: Settings, *, connection: redis.Redis | None = None) -> Queue:
    return Queue(
        settings.queue_name,
        connection=connection or redis_connection(settings),
        serializer=JSONSerializer,
        default_timeout=settings.job_timeout,
    )


def retry_intervals(settings: Settings) -> list[int]:
    """The backoff between retries: the ``retry_backoff`` setting (``DOCINTAKE_RETRY_BACKOFF``),
    one interval per retry, padded with its last value."""
    values = list(settings.retry_backoff) or [0]
    count = max(1, settings.job_retries)
    return (values + [values[-1]] * count)[:count]


def retry_policy(settings: Settings) -> Retry | None:
    if settings.job_retries < 1:
        return None
    return Retry(max=settings.job_retries, interval=retry_intervals(settings))


def job_state(connection: redis.Redis, job_id: str) -> str | None:
    raw = connection.hget(Job.key_for(job_id), "status")
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def stranded(queue: Queue, job_id: str, status: str | None) -> bool:
    """A job no worker will run: ``started`` (the caller knows its lease ran out), or ``queued`` but
    in no queue list (a worker popped it and died before marking it started)."""
    if status == JobStatus.STARTED.value:
        return True
    return status == JobStatus.QUEUED.value and queue.connection.lpos(queue.key, job_id) is None


def free_job_id(queue: Queue, job_id: str, *, replace_started: bool) -> bool:
    """Delete the job if it is not live (or is ``started`` and ``replace_started``). True when
    the id is free now; False when a live job keeps it."""
    connection = queue.connection
    key = Job.key_for(job_id)
    with connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                raw = pipe.hget(key, "status")
                status = raw.decode() if isinstance(raw, bytes) else raw
                if not pipe.exists(key):
                    pipe.unwatch()
                    return True
                if status in LIVE_STATES and not (replace_started and stranded(queue, job_id, status)):
                    pipe.unwatch()
                    return False
                try:
                    job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
                except Exception:  # unreadable leftovers: drop the raw keys
                    pipe.multi()
                    pipe.delete(key, Job.key_for(job_id) + ":dependents")
                    pipe.lrem(queue.key, 0, job_id)
                    pipe.execute()
                    return True
                pipe.multi()
                job.delete(pipeline=pipe, remove_from_queue=True)
                pipe.lrem(queue.key, 0, job_id)
                pipe.execute()
                if replace_started and status == JobStatus.STARTED.value:
                    _forget_started(queue, job_id)
                log.info("replaced %s job %s", status, job_id)
                return True
            except redis.WatchError:
                continue


def _forget_started(queue: Queue, job_id: str) -> None:
    """Drop an abandoned execution's entries, so RQ's own clean-up will not requeue it a second time."""
    registry = queue.started_job_registry
    for entry in queue.connection.zrange(registry.key, 0, -1):
        text = entry.decode() if isinstance(entry, bytes) else entry
        if text == job_id or text.startswith(job_id + ":"):
            queue.connection.zrem(registry.key, entry)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS)




#: What a row owed a job needs: replace nothing (a live job will run it), enqueue, or replace a stranded job.
LIVE, ENQUEUE, REPLACE = "live", "enqueue", "replace"


def owed_jobs(queue: Queue, rows: Iterable[tuple[int, dt.datetime | None]], job_id_for: Callable[[int], str],
              lease_seconds: float, *, now: dt.datetime, batch: int = 1000) -> Iterator[tuple[int, str | None, str]]:
    """For each ``(id, updated_at)`` the database says is owed a job: ``(id, job state, action)``.

    ``ENQUEUE``: no job, or a finished/failed one. ``REPLACE``: the row's lease ran out and its job
    is stranded (started by a worker that died, or popped off the queue by one). ``LIVE``: a job
    will run it (a queued job in a long queue stays; a started one cannot outlast the lease when
    ``lease_seconds`` > the job timeout). States are read in pipelined batches; callers check
    again with :func:`job_state` right before acting, the job may have moved meanwhile.
    """
    cutoff = now - dt.timedelta(seconds=lease_seconds)
    rows = list(rows)
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        with queue.connection.pipeline(transaction=False) as pipe:
            for key, _updated in chunk:
                pipe.hget(Job.key_for(job_id_for(key)), "status")
            states = [s.decode() if isinstance(s, bytes) else s for s in pipe.execute()]
        for (key, updated_at), state in zip(chunk, states):
            if state is None or state not in LIVE_STATES:
                yield key, state, ENQUEUE
            elif (updated_at is None or updated_at < cutoff) and stranded(queue, job_id_for(key), state):
                yield key, state, REPLACE
            else:
                yield key, state, LIVE
