"""Prometheus metrics for the whole product, multiprocess-aware.

Every docintake process (poller, workers, web) writes its samples to files in
``settings.metrics_dir`` (prometheus-client multiprocess mode, through
``PROMETHEUS_MULTIPROC_DIR``); ``GET /metrics`` on the web app adds them up.

The API for the other parts is a handful of plain functions; call
:func:`configure` once at process start (``create_app`` does it for the web),
otherwise the first call configures from ``load_settings()``::

    from intake import metrics
    metrics.configure(settings)                    # once per process, before forking workers
    metrics.mail_received()                        # one mail taken from a mailbox
    metrics.submission_received()                  # one PDF (or PDF-less mail) recorded
    metrics.submission_decided("rejected", "signer_mismatch")  # or ("applied", None)
    metrics.job_duration(1.23)                     # seconds one worker job took
    metrics.job_failed()                           # a job raised (will be retried or failed)
    with metrics.time_job(): ...                   # job_duration() as a context manager
    metrics.clean(settings)                        # at start-up of the whole system only

Each process writes its own files (``counter_<pid>.db``...). A worker that forks a
work-horse per job (RQ's default ``Worker``) leaves one set per job behind, which
slows the scrape over time: count in a long-lived process (``SimpleWorker``, or
the parent) or ``clean()`` on every start of the system.

All of them swallow their own errors: a metric never breaks the pipeline.
Label values are bounded: a status outside ``intake.store.models.Status`` or a reason
outside ``verify.reasons.CODES`` is counted as ``other``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:  # pragma: no cover
    from intake.config import Settings

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
_lock = threading.Lock()
_metrics: dict[str, Any] | None = None
_dir: Path | None = None

#: Buckets for a job: most decisions take well under a second; the limit is 30 s (FORM.md).
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)


def configure(settings: "Settings | None" = None, *, directory: Path | str | None = None) -> Path:
    """Enter multiprocess mode writing to ``settings.metrics_dir`` (idempotent, first call wins).

    An operator's own ``PROMETHEUS_MULTIPROC_DIR`` in the environment wins over the settings.
    Child processes inherit the environment variable, so call this before forking.
    """
    global _dir
    with _lock:
        if _dir is not None:
            return _dir
        if os.environ.get(ENV):
            path = Path(os.environ[ENV])
        else:
            if directory is None:
                if settings is None:
                    from intake.config import load_settings

                    settings = load_settings()
                directory = settings.metrics_dir
            path = Path(directory)
            os.environ[ENV] = str(path)
        path.mkdir(parents=True, exist_ok=True)
        # prometheus-client picks its value class when first imported: make sure it is the
        # multiprocess one even if something imported prometheus_client before us.
        from prometheus_client import values

        values.ValueClass = values.get_value_class()
        _dir = path
        return path


def clean(settings: "Settings") -> int:
    """Remove the sample files of processes gone (call at start-up, before any docintake process runs).

    Counters then start from zero, which Prometheus' ``rate()`` takes as a restart. Returns the
    number of files removed.
    """
    path = Path(os.environ.get(ENV) or settings.metrics_dir)
    removed = 0
    for file in path.glob("*.db"):
        file.unlink(missing_ok=True)
        removed += 1
    return removed


def metrics_dir() -> Path:
    return _dir if _dir is not None else configure()


def _get() -> dict[str, Any]:
    global _metrics
    if _metrics is not None:
        return _metrics
    configure()
    with _lock:
        if _metrics is None:
            from prometheus_client import Counter, Histogram

            _metrics = {
                "mails": Counter("docintake_mails_received", "Mails taken from a mailbox."),
                "submissions": Counter("docintake_submissions_received", "Submissions (PDFs) recorded."),
                "decided": Counter(
                    "docintake_submissions_decided",
                    "Submissions decided, by final status and main reason.",
                    ["status", "reason"],
                ),
                "job_seconds": Histogram(
                    "docintake_job_duration_seconds", "Wall time of one worker job.", buckets=JOB_BUCKETS
                ),
                "job_failed": Counter("docintake_jobs_failed", "Worker jobs that raised."),
                "staff": Counter("docintake_staff_actions", "Back-office actions, by action.", ["action"]),
                "logins": Counter("docintake_logins", "Back-office login attempts, by result.", ["result"]),
                "http": Counter(
                    "docintake_http_requests", "Web requests, by endpoint and status class.",
                    ["endpoint", "status"],
                ),
            }
    return _metrics


def _safe(fn):
    def wrapper(*args, **kwargs):
        try:
            fn(*args, **kwargs)
        except Exception:  # never let a metric break the pipeline
            log.warning("metric %s failed", fn.__name__, exc_info=True)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _status_label(status: str | None) -> str:
    from intake.store.models import Status

    status = getattr(status, "value", status)
    return status if status in Status.__members__ else "other"


def _reason_label(reason: str | None) -> str:
    if not reason:
        return "none"
    from verify.reasons import CODES

    return reason if reason in CODES else "other"


@_safe
def mail_received(count: int = 1) -> None:
    """``count`` mails taken from a mailbox."""
    _get()["mails"].inc(count)


@_safe
def submission_received(count: int = 1) -> None:
    """``count`` submissions recorded from mails."""
    _get()["submissions"].inc(count)


@_safe
def submission_decided(status: str, reason: str | None = None) -> None:
    """A submission reached ``status`` (applied, rejected, failed...) with main ``reason`` (or None)."""
    _get()["decided"].labels(status=_status_label(status), reason=_reason_label(reason)).inc()


@_safe
def job_duration(seconds: float) -> None:
    """One worker job took ``seconds``."""
    _get()["job_seconds"].observe(max(0.0, float(seconds)))


@_safe
def job_failed() -> None:
    """One worker job raised."""
    _get()["job_failed"].inc()


@contextlib.contextmanager
def time_job() -> Iterator[None]:
    """``with metrics.time_job(): ...`` observes the block's duration (also when it raises)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        job_duration(time.perf_counter() - start)


@_safe
def staff_action(action: str) -> None:
    _get()["staff"].labels(action=action).inc()


@_safe
def login_attempt(ok: bool) -> None:
    # Only "ok" or "refused": outcomes such as "locked" on the public /metrics told which names exist.
    _get()["logins"].labels(result="ok" if ok else "refused").inc()


@_safe
def http_request(endpoint: str | None, status_code: int) -> None:
    _get()["http"].labels(endpoint=endpoint or "none", status=f"{status_code // 100}xx").inc()


# ---- exposition -------------------------------------------------------------------------------
class QueueCollector:
    """Scrape-time gauges from Redis/RQ and the database: queue depth, failed jobs, waiting work."""

    def __init__(self, settings: "Settings") -> None:
        self.settings = settings

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("docintake_queue_up", "1 when the Redis queue answered this scrape.")
        depth = GaugeMetricFamily("docintake_queue_depth", "Jobs waiting in the RQ queue.")
        failed = GaugeMetricFamily("docintake_queue_failed_jobs", "Jobs in RQ's failed job registry.")
        try:
            stats = queue_stats(self.settings)
        except Exception:
            log.warning("queue depth unavailable", exc_info=True)
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            depth.add_metric([], stats["depth"])
            failed.add_metric([], stats["failed"])
        yield up
        yield depth
        yield failed


class TrustListCollector:
    """Scrape-time gauges of the trusted-list snapshot: seconds to each list's next update
    (negative: past it) and whether it is stale (the dashboard shows the same warning)."""

    def __init__(self, settings: "Settings") -> None:
        self.settings = settings

    def collect(self):
        import datetime as dt

        from prometheus_client.core import GaugeMetricFamily

        from intake.trust.status import freshness

        stale = GaugeMetricFamily("docintake_trust_list_stale", "1 when a trusted list is past its NextUpdate.",
                                  labels=["list"])
        remaining = GaugeMetricFamily("docintake_trust_list_next_update_seconds",
                                      "Seconds until a trusted list's NextUpdate (negative: past it).", labels=["list"])
        try:
            rows = freshness(self.settings)
        except Exception:
            log.warning("trusted-list snapshot unreadable", exc_info=True)
            rows = []
        now = dt.datetime.now(dt.timezone.utc)
        for row in rows:
            stale.add_metric([row["territory"]], 1 if row["stale"] else 0)
            if row["next_update"]:
                remaining.add_metric([row["territory"]],
                                     (dt.datetime.fromisoformat(row["next_update"]) - now).total_seconds())
        yield stale
        yield remaining


def queue_stats(settings: "Settings") -> dict[str, int]:
    """{"depth": jobs waiting, "failed": jobs in the failed registry}; raises when Redis is down."""
    from intake.queue import get_queue, redis_connection

    connection = redis_connection(settings)
    try:
        queue = get_queue(settings, connection=connection)
        return {"depth": int(queue.count), "failed": int(queue.failed_job_registry.count)}
    finally:
        connection.close()


def exposition(settings: "Settings") -> tuple[bytes, str]:
    """(body, content type) of ``GET /metrics``: every process's samples plus the queue gauges."""
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        generate_latest,
    )
    from prometheus_client.multiprocess import MultiProcessCollector

    path = metrics_dir()
    _get()  # so this process's own metrics exist (with zero values) even before any event
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    registry.register(QueueCollector(settings))
    registry.register(TrustListCollector(settings))
    return generate_latest(registry), CONTENT_TYPE_LATEST
