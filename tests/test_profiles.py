"""worker.profiles: apply / duplicate / stale / unknown_customer, history, import, concurrency."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select, text

import worker.profiles as profiles_module
from intake.store.db import get_engine, session_factory, session_scope
from intake.store.models import Profile, ProfileChange
from worker.profiles import ApplyStatus, ConcurrentUpdate, ProfileStore, SqlProfileStore

NID = "LV-32000012345"
T0 = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.timezone.utc)
store = SqlProfileStore()


def _seed(settings, nid=NID, **fields):
    with session_scope(settings) as session:
        store.import_rows(session, [(nid, {"first_name": "Anna", "phone": "+37120000000", **fields})])


def _apply(session, sha, signed_at, nid=NID, **fields):
    return store.apply(session, national_id=nid, fields={"phone": "+37129999999", **fields},
                       signed_at=signed_at, submission_id=None, document_sha256=sha)


def test_sql_store_is_a_profile_store():
    assert isinstance(store, ProfileStore)


def test_apply_writes_profile_and_history(db_settings):
    _seed(db_settings)
    with session_scope(db_settings) as session:
        outcome = _apply(session, "a" * 64, T0, email="anna@example.com")
    assert outcome.status is ApplyStatus.applied and outcome.applied and outcome.reason is None
    assert outcome.version == 2
    with session_scope(db_settings) as session:
        view = store.get(session, "LV-320000-12345")  # the code with its own hyphen works too
        history = store.history(session, NID)
    assert view.fields == {"first_name": "Anna", "phone": "+37129999999", "email": "anna@example.com"}
    assert view.signed_at == T0 and view.version == 2
    assert [c.source for c in history] == ["import", "form"]
    change = history[-1]
    assert change.id == outcome.change_id and change.document_sha256 == "a" * 64
    assert change.before == {"first_name": "Anna", "phone": "+37120000000"}
    assert change.after == view.fields and change.signed_at == T0


def test_duplicate_document(db_settings):
    _seed(db_settings)
    with session_scope(db_settings) as session:
        first = _apply(session, "b" * 64, T0)
    with session_scope(db_settings) as session:
        again = _apply(session, "b" * 64, T0 + dt.timedelta(days=1), phone="+37121111111")
    assert again.status is ApplyStatus.duplicate and again.reason == "duplicate"
    assert again.change_id == first.change_id
    with session_scope(db_settings) as session:
        assert store.get(session, NID).fields["phone"] == "+37129999999"
        assert len(store.history(session, NID)) == 2


def test_stale_form(db_settings):
    _seed(db_settings)
    with session_scope(db_settings) as session:
        assert _apply(session, "c" * 64, T0).applied
    with session_scope(db_settings) as session:
        same_time = _apply(session, "d" * 64, T0, phone="+37121111111")
        earlier = _apply(session, "e" * 64, T0 - dt.timedelta(seconds=1), phone="+37121111111")
    assert same_time.status is ApplyStatus.stale and earlier.status is ApplyStatus.stale
    with session_scope(db_settings) as session:
        assert store.get(session, NID).fields["phone"] == "+37129999999"
        later = _apply(session, "f" * 64, T0 + dt.timedelta(seconds=1), phone="+37122222222")
    assert later.applied and later.version == 3


def test_unknown_customer(db_settings):
    with session_scope(db_settings) as session:
        outcome = _apply(session, "1" * 64, T0)
        assert outcome.status is ApplyStatus.unknown_customer and outcome.reason == "unknown_customer"
        assert store.get(session, NID) is None and store.history(session, NID) == []
        assert session.scalar(select(func.count()).select_from(ProfileChange)) == 0


def test_apply_rolls_back_with_the_callers_transaction(db_settings):
    _seed(db_settings)
    with pytest.raises(RuntimeError):
        with session_scope(db_settings) as session:
            assert _apply(session, "2" * 64, T0).applied
            raise RuntimeError("the verdict could not be recorded")
    with session_scope(db_settings) as session:
        assert store.get(session, NID).version == 1
        assert _apply(session, "2" * 64, T0).applied


def test_apply_refuses_naive_time(db_settings):
    with session_scope(db_settings) as session, pytest.raises(ValueError):
        _apply(session, "3" * 64, dt.datetime(2026, 1, 1))


def test_apply_expires_a_cached_profile_object(db_settings):
    _seed(db_settings)
    with session_scope(db_settings) as session:
        cached = session.get(Profile, NID)
        assert cached.version == 1
        _apply(session, "4" * 64, T0)
        assert cached.version == 2 and cached.fields["phone"] == "+37129999999"


def _race(settings, first_kwargs, second_kwargs):
    """The first transaction applies and holds its transaction open; the second applies meanwhile.

    Returns (first outcome, second outcome); the second must wait for the first to commit.
    """
    make = session_factory(settings)
    first_applied, results, errors = threading.Event(), {}, []

    def first():
        try:
            with make() as session, session.begin():
                results["first"] = _apply(session, **first_kwargs)
                first_applied.set()
                threading.Event().wait(0.5)  # hold the lock while the second one tries
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
            first_applied.set()

    def second():
        try:
            first_applied.wait(10)
            with make() as session, session.begin():
                results["second"] = _apply(session, **second_kwargs)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return results["first"], results["second"]


def test_concurrent_apply_of_the_same_document_applies_once(db_settings):
    _seed(db_settings)
    first, second = _race(db_settings, {"sha": "5" * 64, "signed_at": T0}, {"sha": "5" * 64, "signed_at": T0})
    assert first.status is ApplyStatus.applied
    assert second.status is ApplyStatus.duplicate and second.change_id == first.change_id
    with session_scope(db_settings) as session:
        assert session.scalar(select(func.count()).select_from(ProfileChange)
                              .where(ProfileChange.source == "form")) == 1
        assert store.get(session, NID).version == 2


def test_concurrent_older_form_is_stale(db_settings):
    _seed(db_settings)
    first, second = _race(db_settings, {"sha": "6" * 64, "signed_at": T0},
                          {"sha": "7" * 64, "signed_at": T0 - dt.timedelta(hours=1), "phone": "+37121111111"})
    assert first.applied and second.status is ApplyStatus.stale
    with session_scope(db_settings) as session:
        assert store.get(session, NID).fields["phone"] == "+37129999999"


def test_concurrent_newer_form_applies_on_top(db_settings):
    _seed(db_settings)
    first, second = _race(db_settings, {"sha": "8" * 64, "signed_at": T0},
                          {"sha": "9" * 64, "signed_at": T0 + dt.timedelta(hours=1), "phone": "+37121111111"})
    assert first.applied and second.applied and second.version == 3
    with session_scope(db_settings) as session:
        history = store.history(session, NID)
    assert history[-1].before["phone"] == "+37129999999"  # the second saw the first's result
    assert history[-1].after["phone"] == "+37121111111"


def test_import_rows_creates_updates_and_keeps_unchanged(db_settings):
    other = "EE-37605030299"
    with session_scope(db_settings) as session:
        first = store.import_rows(session, [(NID, {"first_name": "Anna"}), (other, {"first_name": "Jaan"})])
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    with session_scope(db_settings) as session:
        second = store.import_rows(session, [("LV-320000-12345", {"last_name": "Ozola"}),
                                             (other, {"first_name": "Jaan"})])
    assert (second.created, second.updated, second.unchanged) == (0, 1, 1)
    with session_scope(db_settings) as session:
        view = store.get(session, NID)
        history = store.history(session, NID)
    assert view.fields == {"first_name": "Anna", "last_name": "Ozola"} and view.version == 2
    assert view.signed_at is None
    assert [(c.source, c.before, c.after) for c in history] == [
        ("import", {}, {"first_name": "Anna"}),
        ("import", {"first_name": "Anna"}, {"first_name": "Anna", "last_name": "Ozola"}),
    ]


def test_import_rows_refuses_a_customer_twice(db_settings):
    with session_scope(db_settings) as session, pytest.raises(ValueError, match="twice"):
        store.import_rows(session, [(NID, {}), ("LV-320000-12345", {})])


def test_import_refuses_profiles_changed_under_it(make_settings, monkeypatch):
    """A session not begun by session_scope reads SQLite without a lock: a profile changed between
    import's read and write aborts the import. (session_scope holds the write lock from its first
    statement, see the next test; PostgreSQL locks the rows it read, FOR UPDATE.)"""
    settings = make_settings("sqlite")
    _seed(settings)
    real = profiles_module._import_change

    def meanwhile(*args):
        with get_engine(settings).begin() as conn:  # another writer, between read and write
            conn.execute(text("UPDATE profiles SET version = version + 1"))
        monkeypatch.setattr(profiles_module, "_import_change", real)
        return real(*args)

    monkeypatch.setattr(profiles_module, "_import_change", meanwhile)
    with pytest.raises(ConcurrentUpdate, match="nothing was imported"):
        with session_factory(settings)() as session, session.begin():
            store.import_rows(session, [(NID, {"first_name": "Anne"}), ("EE-37605030299", {"first_name": "J"})])
    with session_scope(settings) as session:
        assert store.get(session, NID).fields["first_name"] == "Anna"
        assert store.get(session, "EE-37605030299") is None


def test_import_in_session_scope_keeps_other_sqlite_writers_out(make_settings, monkeypatch):
    """session_scope begins with BEGIN IMMEDIATE on SQLite: between import's read and its write
    another writer cannot get in (it waits; here it gives up at once), and the import goes through."""
    import sqlite3

    settings = make_settings("sqlite")
    _seed(settings)
    real = profiles_module._import_change
    refused: list[str] = []

    def meanwhile(*args):
        other = sqlite3.connect(settings.resolved_database_url.split("///", 1)[1], timeout=0.1)
        try:
            other.execute("UPDATE profiles SET version = version + 1")
        except sqlite3.OperationalError as exc:
            refused.append(str(exc))
        finally:
            other.close()
        monkeypatch.setattr(profiles_module, "_import_change", real)
        return real(*args)

    monkeypatch.setattr(profiles_module, "_import_change", meanwhile)
    with session_scope(settings) as session:
        store.import_rows(session, [(NID, {"first_name": "Anne"})])
    assert refused == ["database is locked"]
    with session_scope(settings) as session:
        assert store.get(session, NID).fields["first_name"] == "Anne"
