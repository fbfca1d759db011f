"""``docintake demo`` from a clean data directory, and again on the same one (idempotent)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from sqlalchemy import func, select

from intake.config import ENV_PREFIX, load_settings
from intake.queue import embedded_socket_path
from intake.store.db import session_scope
from intake.store.models import Mail, ProfileChange, Submission, User

EXPECTED = {
    "applied": 5,
    "modified_after_signing": 1,
    "signer_mismatch": 1,
    "unknown_customer": 1,
    "no_pdf_attachment": 1,
    "not_pdf": 1,
    "unsigned": 1,
    "field_invalid": 1,
    "untrusted_signer": 1,
    "certificate_expired": 1,
    "duplicate": 1,
    "stale": 1,
}


def _demo(data_dir: Path, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(extra_env or {})
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.run([sys.executable, "-m", "intake.cli", "--log-level", "WARNING", "demo", "--data-dir",
                           str(data_dir)], env=env, capture_output=True, text=True, timeout=600, cwd=data_dir.parent)


def _counts(data_dir: Path) -> tuple[dict[str, int], int, int, int]:
    settings = load_settings(env={}, data_dir=data_dir)
    with session_scope(settings) as session:
        outcome: dict[str, int] = {}
        for status, reason in session.execute(select(Submission.status, Submission.main_reason)):
            key = "applied" if status == "applied" else reason
            outcome[key] = outcome.get(key, 0) + 1
        mails = session.scalar(select(func.count(Mail.id)))
        history = session.scalar(select(func.count(ProfileChange.id)))
        users = session.scalar(select(func.count(User.id)).where(User.name == "demo"))
    return outcome, mails, history, users


def test_demo_from_a_clean_directory_and_again(tmp_path, redis_url):
    data_dir = tmp_path / "demo"
    # A real installation's settings in the environment must not be touched by the demo.
    first = _demo(data_dir, {"DOCINTAKE_REDIS_URL": redis_url,
                             "DOCINTAKE_DATABASE_URL": f"sqlite:///{tmp_path / 'real.sqlite3'}"})
    assert first.returncode == 0, first.stdout + first.stderr
    assert "16 mails: 5 applied, 11 rejected, 0 unexpected" in first.stdout
    assert "ignoring DOCINTAKE_DATABASE_URL, DOCINTAKE_REDIS_URL" in first.stdout
    assert "docintake run --data-dir" in first.stdout and "/backoffice/" in first.stdout
    assert not (tmp_path / "real.sqlite3").exists()

    outcome, mails, history, users = _counts(data_dir)
    assert outcome == EXPECTED
    assert mails == 16 and users == 1
    assert history == 5 + 5  # five imported customers, five applied forms (one in an .edoc)

    # Trust: only the demo root, inside the data directory.
    config = tomllib.loads((data_dir / "docintake.toml").read_text())
    assert "trust_roots" not in config  # the demo trusts its test trusted lists, like production
    assert Path(config["trust_lotl_signer"]) == data_dir.resolve() / "trust" / "demo-lotl-signer.pem"
    assert (data_dir / "trust-lists" / "snapshot.json").is_file()
    creds = (data_dir / "demo-credentials.txt").read_text()
    assert "user: demo" in creds and oct((data_dir / "demo-credentials.txt").stat().st_mode & 0o777) == "0o600"
    password = creds.split("password: ")[1].strip()
    assert password in first.stdout
    # The embedded Redis went away with the demo's processes.
    assert not embedded_socket_path(load_settings(env={}, data_dir=data_dir)).exists()

    second = _demo(data_dir)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "16 mails: 5 applied, 11 rejected, 0 unexpected" in second.stdout
    assert "delivered" not in second.stdout and "already there" in second.stdout
    assert _counts(data_dir) == (outcome, mails, history, users)
    assert password in second.stdout


def test_demo_refuses_a_directory_with_a_real_installation(tmp_path):
    data_dir = tmp_path / "prod"
    data_dir.mkdir()
    (data_dir / "docintake.sqlite3").write_bytes(b"")
    proc = _demo(data_dir)
    assert proc.returncode != 0
    assert "did not make" in proc.stderr
