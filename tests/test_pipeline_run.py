"""``docintake run``: poller, workers, reconciler and web together on the embedded defaults;
Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from intake.config import ENV_PREFIX, Settings
from intake.queue import embedded_socket_path
from tests.test_pipeline_support import (
    _descendants,
    add_submission,
    customer_values,
    import_customers,
    pids_alive,
    submissions,
    wait_for,
)
from worker.bench.corpus import maildir_deliver, make_mail


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


class Output:
    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)


def test_run_processes_mails_serves_the_web_and_stops_cleanly(tmp_path, pki, signed_form):
    data_dir = tmp_path / "var"
    env = _env(DOCINTAKE_TRUST_LISTS=str(pki.trust_lists_path), DOCINTAKE_POLL_INTERVAL="1",
               DOCINTAKE_RECONCILE_INTERVAL="2", DOCINTAKE_SECURE_COOKIES="false")
    proc = subprocess.Popen([sys.executable, "-m", "intake.cli", "run", "--data-dir", str(data_dir), "--port", "0",
                             "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=tmp_path)
    out = Output(proc)
    settings = Settings(data_dir=data_dir, secret_key="x", trust_lists=pki.trust_lists_path)
    try:
        url = wait_for(lambda: re.search(r"web UI: (http://\S+/)", out.text), 180, what="the web UI line").group(1)
        assert "database schema upgraded" in out.text  # the embedded default is upgraded by run itself
        with urllib.request.urlopen(url + "healthz", timeout=30) as resp:
            assert resp.status == 200

        values = [customer_values(i) for i in range(2)]
        import_customers(settings, values)
        maildir = data_dir / "mail"
        for n, v in enumerate(values):
            maildir_deliver(maildir, make_mail(signed_form(v), index=n), f"run-{n}.eml")
        maildir_deliver(maildir, make_mail([], index=9), "run-nopdf.eml")
        # A submission the poller never queued (e.g. Redis was down): the periodic reconciler's job.
        orphan = add_submission(settings, b"not a pdf")

        def settled():
            state = submissions(settings)
            return len(state) == 4 and all(s["status"] in ("applied", "rejected") for s in state.values())

        wait_for(settled, 240, interval=0.5, what="every submission decided")
        state = submissions(settings)
        assert sorted(s["status"] for s in state.values()) == ["applied", "applied", "rejected", "rejected"]
        assert state[orphan]["main_reason"] == "not_pdf"
        assert list((maildir / "new").iterdir()) == []

        family = [proc.pid, *_descendants(proc.pid)]
        assert len(family) >= 3  # run, two workers (and their schedulers)
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
        assert proc.returncode == 0, out.text
        assert "stopped." in out.text
        wait_for(lambda: not pids_alive(family), 60, what="no process of `docintake run` left")
        assert not embedded_socket_path(settings).exists()  # the embedded Redis stopped too
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_refuses_an_out_of_date_explicit_database(tmp_path):
    db = tmp_path / "elsewhere.sqlite3"
    proc = subprocess.run([sys.executable, "-m", "intake.cli", "run", "--data-dir", str(tmp_path / "var"),
                           "--no-web", "--workers", "0"],
                          env=_env(DOCINTAKE_DATABASE_URL=f"sqlite:///{db}"), capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode != 0
    assert "db upgrade" in proc.stderr
    assert Path(tmp_path / "var" / "docintake.sqlite3").exists() is False
