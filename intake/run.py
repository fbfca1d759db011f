"""``docintake run``: the whole pipeline on one machine, started by one command.

In this process: the poller (every ``poll_interval`` seconds), the reconciler (every
``reconcile_interval`` seconds) and the web app (``intake.web.create_app``), each in a thread.
As child processes: ``--workers`` × ``docintake worker`` (RQ workers need their main thread
for the job timeout, and a crash in a job must not take the rest down). A worker that exits
unexpectedly is started again.

Ctrl-C or SIGTERM stops everything: the web server and the poller stop, the workers get
SIGTERM (each finishes the job at hand) and are killed if they do not exit in time; the
embedded Redis is shut down (with SAVE) when the last process using it is gone. Workers
also get SIGTERM from the kernel if this process dies without cleaning up (Linux
``PR_SET_PDEATHSIG``), so nothing is left behind.

Schema: on the embedded default database (no ``DOCINTAKE_DATABASE_URL``: the SQLite file in
the data directory) ``run`` brings the schema up to date itself, so that one command is all
a single machine needs. With an explicit ``DOCINTAKE_DATABASE_URL`` it refuses an out-of-date
schema like every other command: run ``docintake db upgrade`` deliberately.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import click

from intake.config import Settings, load_settings

log = logging.getLogger(__name__)


def prepare_database(settings: Settings) -> str | None:
    """Check the store like every command (:func:`intake.store.db.open_store`); on the embedded default
    SQLite only, bring an older schema up to date instead of refusing it.

    Returns a message when it upgraded. Raises what ``open_store`` raises otherwise (an explicit
    database that is out of date, any schema newer than this code, an unreachable database)."""
    from intake.store.db import (
        SchemaOutOfDate,
        SchemaTooNew,
        open_store,
        schema_status,
        upgrade,
    )

    try:
        open_store(settings)
        return None
    except SchemaTooNew:
        raise
    except SchemaOutOfDate:
        if settings.database_url:
            raise
    current, head = schema_status(settings)
    upgrade(settings)
    return f"database schema upgraded from {current or 'empty'} to {head} ({settings.resolved_database_url})"


def poll_forever(settings: Settings, stop: threading.Event) -> None:
    """``intake.mailin.poller.poll_once`` every ``poll_interval`` seconds until ``stop`` is set."""
    from intake.mailin.poller import poll_once, report_metrics
    from intake.mailin.sources import source_from_settings

    while not stop.is_set():
        started = time.monotonic()
        try:
            report_metrics(poll_once(settings, source_from_settings(settings), stop=stop.is_set))
        except Exception:  # noqa: BLE001 - keep polling; the next round reconnects
            log.exception("poller: round failed; trying again in %ss", settings.poll_interval)
        stop.wait(max(0.5, settings.poll_interval - (time.monotonic() - started)))


def _child_setup() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Own process group (a terminal's Ctrl-C reaches only us; the workers then get exactly one
    SIGTERM, a warm shutdown) and SIGTERM when this process dies."""
    os.setpgrp()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class WorkerPool:
    """``count`` × ``docintake worker`` child processes, restarted when one dies."""

    def __init__(self, settings: Settings, count: int, env: dict[str, str] | None = None,
                 extra_args: tuple[str, ...] = ()):
        self.settings = settings
        self.count = count
        self.env = env
        self.extra_args = extra_args
        self.procs: list[subprocess.Popen] = []
        self.stopping = False

    def _spawn(self) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "intake.cli", "worker", *self.extra_args]
        return subprocess.Popen(cmd, env=self.env, preexec_fn=_child_setup)

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]

    def check(self) -> None:
        """Restart any worker that exited while we were not stopping."""
        for i, proc in enumerate(self.procs):
            if proc.poll() is not None and not self.stopping:
                log.warning("worker pid %s exited with %s; starting another", proc.pid, proc.returncode)
                time.sleep(1)
                self.procs[i] = self._spawn()

    def stop(self, timeout: float) -> None:
        self.stopping = True
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.wait(remaining)
            except subprocess.TimeoutExpired:
                log.warning("worker pid %s did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.wait()


def _web_server(settings: Settings, host: str, port: int):
    from werkzeug.serving import make_server

    from intake.web import create_app

    return make_server(host, port, create_app(settings), threaded=True)


@click.command("run")
@click.option("--workers", type=int, default=2, show_default=True, help="Worker processes to start.")
@click.option("--web/--no-web", default=True, show_default=True, help="Serve the web app.")
@click.option("--host", default=None, help="Web address (default: DOCINTAKE_WEB_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Web port (default: DOCINTAKE_WEB_PORT or 8080).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The data directory (default: DOCINTAKE_DATA_DIR or ./var).")
def run_command(workers: int, web: bool, host: str | None, port: int | None, data_dir: Path | None) -> None:
    """Run everything: poller, workers, reconciler and web app, until Ctrl-C."""
    if data_dir is not None:
        os.environ["DOCINTAKE_DATA_DIR"] = str(data_dir.resolve())
    from intake.queue import describe_redis, redis_connection
    from intake.queue.reconcile import reconcile_forever
    from intake.store.db import store_errors

    with store_errors():
        settings = load_settings()
        note = prepare_database(settings)
    if note:
        click.echo(note)
    # Start (or attach to) the embedded Redis here, so the workers attach to the same one and it
    # lives as long as this process.
    redis_connection(settings).ping()

    stop = threading.Event()

    def on_signal(signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    pool = WorkerPool(settings, max(0, workers))
    pool.start()  # before any thread: preexec_fn and threads do not mix
    threads: list[threading.Thread] = []
    server = None
    try:
        if web:
            host = host or settings.web_host
            port = settings.web_port if port is None else port
            server = _web_server(settings, host, port)
            threads.append(threading.Thread(target=server.serve_forever, name="web", daemon=True))
        threads.append(threading.Thread(target=poll_forever, args=(settings, stop), name="poller", daemon=True))
        threads.append(threading.Thread(target=reconcile_forever, args=(settings,),
                                        kwargs={"stop": stop}, name="reconciler", daemon=True))
        for t in threads:
            t.start()
        mailbox = (f"imap {settings.imap_user}@{settings.imap_host}/{settings.imap_folder}" if settings.imap_host
                   else f"maildir {Path(settings.resolved_maildir).resolve()}")
        click.echo(f"docintake running: {workers} worker(s), {mailbox}, {describe_redis(settings)}")
        if server is not None:
            click.echo(f"web UI: http://{host}:{server.server_port}/  (back office: "
                       f"http://{host}:{server.server_port}/backoffice/)")
        click.echo("Ctrl-C to stop.")
        while not stop.wait(1.0):
            pool.check()
    finally:
        stop.set()
        click.echo("stopping...")
        if server is not None:
            server.shutdown()
            server.server_close()
        pool.stop(timeout=settings.job_timeout + 10)
        for t in threads:
            t.join(timeout=10)
        click.echo("stopped.")
