"""``docintake worker``: an RQ worker on the submissions queue. Run any number, on any host.

Checks the database schema first, warms up (imports pyHanko and friends, parses the trust
roots) and then works the queue until told to stop:

- Ctrl-C / SIGTERM: warm shutdown, the job at hand is finished first; a second one stops at
  once (the job is then abandoned; the reconciler and RQ's own clean-up re-enqueue it and its
  conditional updates keep it exactly-once).
- ``--burst``: work until nothing is left, retries scheduled for later included, then exit.
- Redis unreachable: the worker waits and starts again instead of exiting.

Worker classes (``--worker-class``, default ``fork``): ``fork`` is RQ's ``Worker``: a work horse
is forked per job, so a job that crashes or leaks cannot take the worker down and the job
timeout can kill it outright; the horse drops the database connections it inherited
(``intake.db.dispose_engines``). The parent has already imported everything and parsed the
trust roots, so the fork costs a few milliseconds per job (measured: see ``docs`` in the
report). ``simple`` is RQ's ``SimpleWorker`` (no fork, the job runs in the worker process):
a little faster, less isolated.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time

import click

log = logging.getLogger(__name__)

WORKER_CLASSES = ("fork", "simple")


def _worker_classes():
    from rq.worker import SimpleWorker, Worker

    from intake.db import dispose_engines

    class StopAware:
        """Remembers that a signal asked it to stop (RQ does not, when the worker is idle)."""

        stop_signalled = False

        def request_stop(self, signum, frame):
            self.stop_signalled = True
            super().request_stop(signum, frame)

    class ForkWorker(StopAware, Worker):
        """RQ's forking worker; the horse starts with fresh database connections."""

        def main_work_horse(self, job, queue):
            dispose_engines()
            super().main_work_horse(job, queue)

    class InProcessWorker(StopAware, SimpleWorker):
        """RQ's SimpleWorker (no fork per job)."""

    return {"fork": ForkWorker, "simple": InProcessWorker}


def warm_up(settings) -> None:
    """Import the heavy modules and parse the trust roots once, before any fork."""
    import worker.jobs  # noqa: F401
    from worker.decide import policy_for

    try:
        import verify.decision  # noqa: F401
    except ImportError as exc:  # pragma: no cover - a broken installation
        raise click.ClickException(f"cannot load the decision code: {exc}")
    policy_for(settings)


def _exit(signum, _frame):
    raise SystemExit(0)


def _exit_on_signals() -> None:
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)


def _scheduled_wait(queue) -> float | None:
    """Seconds until the next job of this queue scheduled for later (a retry with backoff), or None."""
    registry = queue.scheduled_job_registry
    first = queue.connection.zrange(registry.key, 0, 0, withscores=True)
    if not first:
        return None
    return max(0.0, first[0][1] - time.time())


def run_worker(settings, *, burst: bool = False, worker_class: str = "fork", name: str | None = None,
               max_jobs: int | None = None, logging_level: str | None = None) -> int:
    """Work the queue. Returns the number of times a job was taken (all runs)."""
    from rq.serializers import JSONSerializer

    from intake.queue import TRANSIENT_ERRORS, get_queue, redis_connection

    cls = _worker_classes()[worker_class]
    base_name = name or f"docintake-{socket.gethostname()}-{os.getpid()}"
    level = logging_level or logging.getLevelName(logging.getLogger().level)
    runs = 0
    restarts = 0
    while True:
        try:
            connection = redis_connection(settings)
            connection.ping()
            queue = get_queue(settings, connection=connection)
            worker = cls([queue], connection=connection, serializer=JSONSerializer,
                         name=base_name if restarts == 0 else f"{base_name}-{restarts}")
            try:
                worker.work(burst=burst, with_scheduler=True, logging_level=level, max_jobs=max_jobs)
            finally:
                _exit_on_signals()  # RQ's handlers point at this worker; between runs a signal just exits
            runs += 1
        except TRANSIENT_ERRORS as exc:
            if burst:
                raise
            log.warning("worker: Redis unreachable (%s), trying again in 5 s", type(exc).__name__)
            time.sleep(5)
            restarts += 1
            continue
        if worker.stop_signalled or getattr(worker, "_stop_requested", False) or max_jobs is not None:
            return runs
        if burst:
            # RQ's burst ends when the queue is empty; a retry scheduled for later is still owed.
            wait = _scheduled_wait(queue)
            if wait is None:
                return runs
            log.info("worker: a retry is scheduled in %.0f s; waiting for it", wait)
            time.sleep(min(wait + 0.2, 60))
            restarts += 1
            continue
        # Not burst and not stopped: the work loop broke on an error (e.g. Redis went away).
        log.warning("worker: the work loop ended unexpectedly; starting again in 5 s")
        time.sleep(5)
        restarts += 1


@click.command("worker")
@click.option("--burst", is_flag=True, help="Work until the queue (and scheduled retries) is empty, then exit.")
@click.option("--worker-class", type=click.Choice(WORKER_CLASSES), default=lambda: os.environ.get(
    "DOCINTAKE_WORKER_CLASS", "fork"), show_default="fork",
    help="fork: a work horse per job (isolated); simple: jobs run in the worker process.")
@click.option("--name", default=None, help="Worker name in Redis (default: docintake-HOST-PID).")
@click.option("--max-jobs", type=int, default=None, help="Exit after this many jobs.")
def worker_command(burst: bool, worker_class: str, name: str | None, max_jobs: int | None) -> None:
    """Process queued submissions (an RQ worker). Run as many as the load needs, on any host."""
    from intake.config import load_settings
    from intake.db import SchemaOutOfDate, require_current_schema
    from intake.queue import describe_redis

    settings = load_settings()
    try:
        require_current_schema(settings)
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc))
    warm_up(settings)
    log.info("worker: %s class, queue %r on %s", worker_class, settings.queue_name, describe_redis(settings))
    # A SIGTERM before RQ installs its handlers (or between two runs) still means a clean exit.
    _exit_on_signals()
    run_worker(settings, burst=burst, worker_class=worker_class, name=name, max_jobs=max_jobs)
