"""``docintake worker``: an RQ worker on the submissions queue. Run any number, on any host.

Checks the database schema first, warms up (imports pyHanko and friends, parses the trust
roots) and then works the queue until told to stop:

- Ctrl-C / SIGTERM: warm shutdown, the job at hand is finished first; a second one stops at
  once (the job is then abandoned; the reconciler and RQ's own clean-up re-enqueue it and its
  conditional updates keep it exactly-once).
- ``--burst``: work until nothing is left, retries scheduled for later included, then exit.
- Redis unreachable: the worker waits and starts again instead of exiting.

Worker classes (``--worker-class``, default ``simple``, or ``DOCINTAKE_WORKER_CLASS``):

- ``simple``: RQ's ``SimpleWorker``, the job runs in the worker process, reusing its pooled
  database connections and warm caches. Measured on the demo PKI forms (2 CPUs, SQLite, one
  worker): about 0.17-0.20 s per job. The job timeout still applies (SIGALRM in the main
  thread). To bound anything the PDF libraries might leak, the worker re-executes itself
  (same pid, fresh interpreter) every ``--recycle-after`` jobs (1000).
- ``fork``: RQ's ``Worker``, a work horse forked per job (isolation: a crash or a leak dies
  with the horse; RQ sees it and retries). The horse drops the inherited database connections
  (``intake.store.db`` does that in every forked child). Even with the parent fully warmed up (a sample decision
  and ``gc.freeze()`` before forking) it measured 0.25-0.39 s per job: fork, copy-on-write,
  new connections to the database and Redis on every job.

Either way a worker killed mid-job loses nothing: the job's updates are conditional and the
reconciler re-enqueues a submission whose lease expired.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import time

import click

from intake.store.db import store_command

log = logging.getLogger(__name__)

WORKER_CLASSES = ("fork", "simple")


def _worker_classes():
    from rq.worker import SimpleWorker, Worker

    class StopAware:
        """Remembers that a signal asked it to stop (RQ does not, when the worker is idle)."""

        stop_signalled = False
        jobs_taken = 0

        def execute_job(self, job, queue):
            self.jobs_taken += 1
            return super().execute_job(job, queue)

        def request_stop(self, signum, frame):
            self.stop_signalled = True
            super().request_stop(signum, frame)

    class ForkWorker(StopAware, Worker):
        """RQ's forking worker; the horse starts with fresh database connections (``intake.store.db``
        drops the inherited ones in every forked child)."""

    class InProcessWorker(StopAware, SimpleWorker):
        """RQ's SimpleWorker (no fork per job)."""

    return {"fork": ForkWorker, "simple": InProcessWorker}


@contextlib.contextmanager
def _silenced(name: str):
    """Only warnings and errors from logger ``name`` while the block runs."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        logger.setLevel(level)


def warm_up(settings) -> None:
    """Import the heavy modules, parse the trust roots, and run the whole decision once on a
    throw-away signed sample, so that every lazy import and cache (pyHanko, pdfplumber,
    phonenumbers...) is filled in this process before any work horse is forked from it.

    Without the sample decision each forked horse paid that first-decision cost again (measured
    0.85 s instead of 0.2 s per job). The sample is signed by a demo PKI made in a temporary
    directory and judged under its own policy; the installation's policy is not involved.
    """
    import tempfile

    import worker.jobs  # noqa: F401
    from worker.decide import policy_for

    try:
        import verify.decision  # noqa: F401
    except ImportError as exc:  # pragma: no cover - a broken installation
        raise click.ClickException(f"cannot load the decision code: {exc}")
    policy_for(settings)
    started = time.monotonic()
    try:
        from forms.blank import render_blank
        from forms.fill import fill_form
        from verify.decision import decide
        from verify.demo_pki import DemoPKI
        from verify.policy import Policy

        with tempfile.TemporaryDirectory(prefix="docintake-warmup-") as tmp:
            pki = DemoPKI.create(tmp)
            values = _SAMPLE_VALUES
            person = pki.person("LV", str(values["personal_code"]), "Warm", "Up")
            sample = pki.sign_pdf(fill_form(render_blank("lv"), values), person)
            # explicit root, qualification off: the AdES path runs without building a trusted list
            with _silenced("verify.decision"):  # a sample, not a form: no "decision accepted" line
                decide(sample, Policy.load([pki.root_pem_path], require_qualified=False))
    except Exception as exc:  # noqa: BLE001 - only a speed-up
        log.warning("worker: warm-up decision failed (%s); jobs will warm up as they go", type(exc).__name__)
    # Everything allocated so far lives as long as the process: keep the garbage collector away
    # from it, so that a forked horse does not copy those pages just by scanning them.
    gc.collect()
    gc.freeze()
    log.info("worker: warmed up in %.1f s", time.monotonic() - started)


_SAMPLE_VALUES = {
    "id_country": "LV", "personal_code": "329999-99999", "first_name": "Warm", "last_name": "Up",
    "date_of_birth": "1980-01-01", "phone": "+37120000000", "email": "warm.up@example.lv",
    "address_street": "Iela 1", "address_city": "Rīga", "address_postcode": "LV-1010", "address_country": "LV",
    "correspondence_channel": "email", "occupation": "Test", "source_of_funds": "salary",
    "account_purpose": "everyday", "expected_monthly_turnover": "lt_1000", "tax_residency_country": "LV",
    "data_accuracy_confirmation": True,
}


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


def run_worker(settings, *, burst: bool = False, worker_class: str = "simple", name: str | None = None,
               max_jobs: int | None = None, logging_level: str | None = None) -> str:
    """Work the queue. Returns why it ended: ``stopped`` (a signal), ``max_jobs`` or ``done`` (burst)."""
    from rq.serializers import JSONSerializer

    from intake.queue import TRANSIENT_ERRORS, get_queue, redis_connection

    cls = _worker_classes()[worker_class]
    base_name = name or f"docintake-{socket.gethostname()}-{os.getpid()}"
    level = logging_level or logging.getLevelName(logging.getLogger().level)
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
        except TRANSIENT_ERRORS as exc:
            if burst:
                raise
            log.warning("worker: Redis unreachable (%s), trying again in 5 s", type(exc).__name__)
            time.sleep(5)
            restarts += 1
            continue
        if worker.stop_signalled or getattr(worker, "_stop_requested", False):
            return "stopped"
        if max_jobs is not None and worker.jobs_taken >= max_jobs:
            return "max_jobs"
        if burst:
            # RQ's burst ends when the queue is empty; a retry scheduled for later is still owed.
            wait = _scheduled_wait(queue)
            if wait is None:
                return "done"
            log.info("worker: a retry is scheduled in %.0f s; waiting for it", wait)
            time.sleep(min(wait + 0.2, 60))
            restarts += 1
            continue
        # Not burst and not stopped: the work loop broke on an error (e.g. Redis went away).
        log.warning("worker: the work loop ended unexpectedly; starting again in 5 s")
        time.sleep(5)
        restarts += 1


#: ``simple`` workers start afresh (re-exec) after this many jobs: a bound on whatever the PDF
#: libraries might leak, at the cost of one warm-up.
RECYCLE_AFTER = 1000


@click.command("worker")
@click.option("--burst", is_flag=True, help="Work until the queue (and scheduled retries) is empty, then exit.")
@click.option("--worker-class", type=click.Choice(WORKER_CLASSES), default=lambda: os.environ.get(
    "DOCINTAKE_WORKER_CLASS", "simple"), show_default="simple",
    help="simple: jobs run in the worker process (fastest); fork: a work horse forked per job (isolated).")
@click.option("--name", default=None, help="Worker name in Redis (default: docintake-HOST-PID).")
@click.option("--max-jobs", type=int, default=None, help="Exit after this many jobs.")
@click.option("--recycle-after", type=int, default=RECYCLE_AFTER, show_default=True,
              help="simple class: start afresh (same process id, re-exec) after this many jobs; 0: never.")
@store_command
def worker_command(settings, burst: bool, worker_class: str, name: str | None, max_jobs: int | None,
                   recycle_after: int) -> None:
    """Process queued submissions (an RQ worker). Run as many as the load needs, on any host."""
    from intake.queue import describe_redis

    # A SIGTERM before RQ installs its handlers (or between two runs) still means a clean exit.
    _exit_on_signals()
    warm_up(settings)
    log.info("worker: %s class, queue %r on %s", worker_class, settings.queue_name, describe_redis(settings))
    recycle = worker_class == "simple" and not burst and max_jobs is None and recycle_after > 0
    ended = run_worker(settings, burst=burst, worker_class=worker_class, name=name,
                       max_jobs=recycle_after if recycle else max_jobs)
    if recycle and ended == "max_jobs":
        log.info("worker: %d jobs done; starting afresh", recycle_after)
        logging.shutdown()
        os.execv(sys.executable, [sys.executable, "-m", "intake.cli", *sys.argv[1:]])
