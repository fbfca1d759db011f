"""Logs say what happened, once and plainly (issue 12): no terminal colour codes in a log file,
no pyHanko warnings or INFO lines around `docintake verify`'s report, and no "decision accepted"
for the worker's warm-up sample."""

from __future__ import annotations

import logging
import os
import pty
import subprocess
import sys


def test_no_colour_codes_in_the_log_when_stdout_is_a_terminal(tmp_path):
    code = ("from intake.logs import configure_logging; configure_logging('INFO'); "
            "import logging; from rq.logutils import green, blue; "
            "logging.getLogger('rq.worker').info('Worker w: %s: %s', green('docintake'), blue('Job OK'))")
    controller, terminal = pty.openpty()  # stdout a terminal (RQ colours then), the log into a file
    log_file = tmp_path / "run.log"
    with log_file.open("wb") as log:
        subprocess.run([sys.executable, "-c", code], stdout=terminal, stderr=log, check=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": os.getcwd()})
    os.close(terminal)
    os.close(controller)
    text = log_file.read_text()
    assert "Worker w: docintake: Job OK" in text
    assert "\x1b[" not in text


def test_verify_prints_the_report_and_nothing_else(signed_form, pki, make_settings, run_cli):
    settings = make_settings("sqlite")
    pdf = settings.data_dir / "form.pdf"
    pdf.write_bytes(signed_form())
    trusted = run_cli(settings, "verify", "--trust-lists", str(pki.trust_lists_path), str(pdf))
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stderr == ""
    untrusted = run_cli(settings, "verify", str(pdf))  # path building fails: the report says so
    assert untrusted.returncode == 1 and "untrusted_signer" in untrusted.stdout
    assert "pyhanko" not in untrusted.stderr and " INFO " not in untrusted.stderr, untrusted.stderr
    debug = run_cli(settings, "--log-level", "DEBUG", "verify", str(pdf))
    assert "decision rejected" in debug.stderr  # asked for, still there


def test_the_worker_warm_up_logs_no_decision(make_settings, caplog):
    from worker.cli import warm_up

    with caplog.at_level(logging.INFO):
        warm_up(make_settings("sqlite"))
    messages = [r.getMessage() for r in caplog.records]
    assert any("warmed up" in m for m in messages)
    assert not any(m.startswith("decision ") for m in messages), messages
    assert logging.getLogger("verify.decision").level == logging.NOTSET  # restored
