"""intake.store.submissions queries and ``docintake submissions`` on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy.exc import InvalidRequestError

from intake.store.db import session_scope
from intake.store.models import Mail, Submission
from intake.store.submissions import (
    STATUSES,
    count_submissions,
    list_submissions,
    reason_counts,
    status_counts,
    submission_json,
)
from tests.fixtures.services import run_cli

BASE = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
#: (status, main reason) of submissions 1..7, received one hour apart.
SEED = [("applied", None), ("rejected", "unsigned"), ("rejected", "signer_mismatch"), ("cleared", "unsigned"),
        ("queued", None), ("rejected", "unsigned"), ("failed", "internal_error")]


def _seed(settings):
    with session_scope(settings) as session:
        mail = Mail(mailbox="maildir:/x", folder="INBOX", uid="1", message_key="k" * 64, raw=b"raw")
        session.add(mail)
        for i, (status, reason) in enumerate(SEED):
            reasons = [{"code": reason, "field": None, "message": "m"}] if reason else []
            session.add(Submission(mail=mail, part_index=i, filename=f"f{i}.pdf", sha256=f"{i:064x}",
                                   content=b"%PDF-1.7 ...", status=status, reasons=reasons, main_reason=reason,
                                   national_id=f"LV-3200001234{i}", received_at=BASE + dt.timedelta(hours=i)))


def _ids(rows):
    return [r.id for r in rows]


def test_list_newest_first_with_filters(db_settings):
    _seed(db_settings)
    with session_scope(db_settings) as session:
        assert _ids(list_submissions(session)) == [7, 6, 5, 4, 3, 2, 1]
        assert _ids(list_submissions(session, status="rejected")) == [6, 3, 2]
        assert _ids(list_submissions(session, status=["rejected", "cleared"], reason="unsigned")) == [6, 4, 2]
        assert _ids(list_submissions(session, reason="none")) == [5, 1]
        assert _ids(list_submissions(session, since=BASE + dt.timedelta(hours=2),
                                     until=BASE + dt.timedelta(hours=5))) == [5, 4, 3]
        assert _ids(list_submissions(session, limit=2, offset=1)) == [6, 5]
        assert count_submissions(session, status="rejected", reason="unsigned") == 2
        with pytest.raises(ValueError, match="unknown status"):
            list_submissions(session, status="done")


def test_list_never_loads_the_document(db_settings):
    _seed(db_settings)
    with session_scope(db_settings) as session:
        row = list_submissions(session, limit=1)[0]
        with pytest.raises(InvalidRequestError):
            row.content  # noqa: B018 - raiseload: lists must not fetch PDF bytes


def test_same_time_is_ordered_by_id(db_settings):
    with session_scope(db_settings) as session:
        mail = Mail(mailbox="m", folder="INBOX", uid="1", message_key="k" * 64, raw=b"raw")
        session.add_all([Submission(mail=mail, part_index=i, received_at=BASE) for i in range(3)])
    with session_scope(db_settings) as session:
        assert _ids(list_submissions(session)) == [3, 2, 1]


def test_counts(db_settings):
    _seed(db_settings)
    with session_scope(db_settings) as session:
        assert reason_counts(session) == {"unsigned": 3, "none": 2, "internal_error": 1, "signer_mismatch": 1}
        assert reason_counts(session, status="rejected") == {"unsigned": 2, "signer_mismatch": 1}
        statuses = status_counts(session)
    assert list(statuses) == list(STATUSES)
    assert statuses == {"received": 0, "queued": 1, "processing": 0, "applied": 1, "rejected": 3, "failed": 1,
                        "cleared": 1}
    with session_scope(db_settings) as session:  # only some statuses (the dashboard's), in STATUSES order
        assert status_counts(session, status=["failed", "received", "rejected"]) == {
            "received": 0, "rejected": 3, "failed": 1}


def test_deep_pages_are_stable(db_settings):
    """Two-step pages (ids, then rows) give the same rows, in order, as walking the list."""
    _seed(db_settings)
    with session_scope(db_settings) as session:
        everything = _ids(list_submissions(session))
        pages = [_ids(list_submissions(session, limit=3, offset=o)) for o in range(0, 9, 3)]
        assert sum(pages, []) == everything and pages[-1] == [1]
        assert list_submissions(session, offset=100) == []


def test_submission_json(db_settings):
    _seed(db_settings)
    with session_scope(db_settings) as session:
        doc = submission_json(list_submissions(session, status="failed")[0])
    assert doc == {"id": 7, "status": "failed", "reasons": [{"code": "internal_error", "field": None, "message": "m"}],
                   "national_id": "LV-32000012346", "sha256": f"{6:064x}",
                   "received_at": "2026-03-01T14:00:00+00:00"}


def test_cli_list_json(db_settings):
    _seed(db_settings)
    proc = run_cli(db_settings, "submissions", "list", "--status", "rejected", "--status", "cleared", "--json",
                   check=True)
    docs = json.loads(proc.stdout)
    assert [d["id"] for d in docs] == [6, 4, 3, 2]
    assert set(docs[0]) == {"id", "status", "reasons", "national_id", "sha256", "received_at"}
    proc = run_cli(db_settings, "submissions", "list", "--reason", "unsigned", "--since", "2026-03-01T09:30",
                   "--until", "2026-03-01T13:00:00+00:00", "--json", check=True)
    assert [d["id"] for d in json.loads(proc.stdout)] == [4]


def test_cli_list_text_and_counts(db_settings):
    _seed(db_settings)
    proc = run_cli(db_settings, "submissions", "list", "--limit", "2", check=True)
    lines = proc.stdout.splitlines()
    assert lines[1].split()[:4] == ["7", "2026-03-01", "14:00:00", "failed"]
    assert lines[-1] == "2 of 7 shown"
    proc = run_cli(db_settings, "submissions", "counts", "--status", "rejected", "--json", check=True)
    assert json.loads(proc.stdout)["reasons"] == {"unsigned": 2, "signer_mismatch": 1}


def test_cli_rejects_an_unknown_status(db_settings):
    proc = run_cli(db_settings, "submissions", "list", "--status", "done")
    assert proc.returncode == 2 and "'done' is not one of" in proc.stderr
