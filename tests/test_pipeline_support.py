"""Helpers shared by the queue, worker, pipeline, fault and demo tests (no tests here).

Everything runs against real services: the settings come from the ``make_settings`` fixture
(SQLite file or the session's PostgreSQL database; the Redis server's reserved db or the
embedded Redis of the data directory), workers are real ``docintake worker`` processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy import func, select

from intake.config import ENV_PREFIX, Settings
from intake.store.db import session_scope
from intake.store.models import AuditEvent, Mail, Profile, ProfileChange, Submission

REPO = Path(__file__).resolve().parents[1]


def customer_values(i: int, **changes: Any) -> dict:
    """Valid, distinct form values for customer ``i`` (new-format LV codes)."""
    from worker.bench.corpus import form_values

    values = form_values(1000 + i)
    values.update(changes)
    return values


def national_id_of(values: dict) -> str:
    from forms.identity import national_id

    return national_id(str(values["id_country"]), str(values["personal_code"]))


def import_customers(settings: Settings, values: Iterable[dict]) -> None:
    from worker.profiles import SqlProfileStore

    rows = [(national_id_of(v), {"first_name": v["first_name"], "last_name": v["last_name"],
                                 "phone": "+37129999990", "email": "old@example.lv"}) for v in values]
    with session_scope(settings) as session:
        SqlProfileStore().import_rows(session, rows)


def add_submission(settings: Settings, content: bytes | None, *, status: str = "received") -> int:
    """A mail with one PDF, recorded the way the mail store does, without the queue."""
    with session_scope(settings) as session:
        n = session.scalar(select(func.count(Mail.id))) or 0
        raw = b"Subject: test\r\n\r\n" + os.urandom(8).hex().encode()
        mail = Mail(mailbox="test", folder="INBOX", uid=f"{n + 1}-{os.urandom(4).hex()}",
                    message_key=hashlib.sha256(raw).hexdigest(), raw=raw)
        session.add(mail)
        session.flush()
        sub = Submission(mail_id=mail.id, part_index=0 if content is not None else -1, filename="form.pdf",
                         sha256=hashlib.sha256(content).hexdigest() if content is not None else None,
                         content=content, status=status)
        session.add(sub)
        session.flush()
        return sub.id


def submissions(settings: Settings) -> dict[int, dict]:
    with session_scope(settings) as session:
        return {
            s.id: {"status": s.status, "main_reason": s.main_reason, "reasons": s.reasons, "attempts": s.attempts,
                   "national_id": s.national_id, "signing_time": s.signing_time, "decided_at": s.decided_at,
                   "report": s.report, "last_error": s.last_error, "mail_id": s.mail_id,
                   "part_index": s.part_index}
            for s in session.scalars(select(Submission).order_by(Submission.id))
        }


def changes(settings: Settings, source: str | None = "form") -> list[dict]:
    with session_scope(settings) as session:
        q = select(ProfileChange).order_by(ProfileChange.id)
        if source:
            q = q.where(ProfileChange.source == source)
        return [{"national_id": c.national_id, "submission_id": c.submission_id, "sha": c.document_sha256,
                 "before": c.before, "after": c.after} for c in session.scalars(q)]


def profile(settings: Settings, national_id: str) -> dict | None:
    with session_scope(settings) as session:
        p = session.get(Profile, national_id)
        return None if p is None else {"fields": dict(p.fields), "version": p.version, "signed_at": p.signed_at}


def audit(settings: Settings, actor: str = "system:worker") -> list[dict]:
    with session_scope(settings) as session:
        return [{"action": a.action, "submission_id": a.submission_id, "detail": a.detail}
                for a in session.scalars(select(AuditEvent).where(AuditEvent.actor == actor).order_by(AuditEvent.id))]


def snapshot(settings: Settings) -> tuple:
    """Everything a job may touch, to compare before and after."""
    with session_scope(settings) as session:
        subs = [(s.id, s.status, s.main_reason, s.attempts, s.updated_at, s.decided_at)
                for s in session.scalars(select(Submission).order_by(Submission.id))]
        profs = [(p.national_id, p.version, p.updated_at) for p in session.scalars(select(Profile))]
        n_changes = session.scalar(select(func.count(ProfileChange.id)))
        n_audit = session.scalar(select(func.count(AuditEvent.id)))
    return subs, sorted(profs), n_changes, n_audit


# ---- processes ----------------------------------------------------------------------------------
def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    from tests.fixtures.services import settings_env

    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(settings_env(settings))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def worker_burst(settings: Settings, *args: str, timeout: float = 240, env: dict | None = None,
                 check: bool = True) -> subprocess.CompletedProcess:
    """``docintake worker --burst`` in a subprocess, until the queue is empty."""
    proc = subprocess.run([sys.executable, "-m", "intake.cli", "worker", "--burst", *args],
                          env=cli_env(settings, **(env or {})), capture_output=True, text=True, timeout=timeout,
                          cwd=str(settings.data_dir))
    if check and proc.returncode != 0:
        raise AssertionError(f"worker exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


#: A ``python -c`` prelude that runs the docintake CLI with a hook around the decision or the
#: profile store: ``HOOK_MARKER`` is written when the hook is reached, then it sleeps
#: ``HOOK_SLEEP`` seconds (only while ``HOOK_ONCE`` does not exist yet, if set).
HOOKED_CLI = r"""
import os, sys, time
from pathlib import Path

def _hook():
    once = os.environ.get("HOOK_ONCE")
    if once and Path(once).exists():
        return
    Path(os.environ["HOOK_MARKER"]).write_text(str(os.getpid()))
    if once:
        Path(once).write_text("1")
    time.sleep(float(os.environ.get("HOOK_SLEEP", "60")))

where = os.environ["HOOK_WHERE"]
if where == "decide":
    import worker.jobs as jobs
    _decide = jobs.decide_document
    def slow_decide(content, settings, *args, **kwargs):
        _hook()
        return _decide(content, settings, *args, **kwargs)
    jobs.decide_document = slow_decide
elif where == "apply":
    import worker.profiles as profiles
    _apply = profiles.SqlProfileStore.apply
    def slow_apply(self, session, **kw):
        outcome = _apply(self, session, **kw)
        _hook()
        return outcome
    profiles.SqlProfileStore.apply = slow_apply
from intake.cli import main
sys.argv = ["docintake", *sys.argv[1:]]
main()
"""


def hooked_worker(settings: Settings, where: str, marker: Path, *args: str, sleep: float = 60,
                  once: Path | None = None, **env: str) -> subprocess.Popen:
    """A worker process (own process group) whose decision or apply blocks at ``where``."""
    extra = {"HOOK_WHERE": where, "HOOK_MARKER": str(marker), "HOOK_SLEEP": str(sleep), **env}
    if once is not None:
        extra["HOOK_ONCE"] = str(once)
    return subprocess.Popen([sys.executable, "-c", HOOKED_CLI, "worker", *args], env=cli_env(settings, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=str(settings.data_dir), start_new_session=True)


def wait_for(predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and all its descendants at once (RQ's work horse has its own process
    group), as when the machine dies."""
    victims = [proc.pid, *_descendants(proc.pid)]
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    wait_for(lambda: not pids_alive(victims), 30, what="killed processes to be gone")


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        children = _children_of(todo.pop())
        out.extend(children)
        todo.extend(children)
    return out


def _children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.append(int(entry.name))
    return out


def pids_alive(pids: Iterable[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] != "Z":
            alive.append(pid)
    return alive
