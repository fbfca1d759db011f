"""The customer profile store: where an accepted form's values end up.

``ProfileStore`` is the small interface the worker needs, so that a bank can
point docintake at its own customer system later; ``SqlProfileStore`` is the
shipped implementation over ``intake.store.models.Profile`` / ``ProfileChange``.

Every method works inside the caller's transaction (a SQLAlchemy session) and
never commits: the worker applies the update and records the submission's
verdict in one transaction. Applying is keyed by the document's SHA-256: the
same document twice is ``duplicate``, a form signed no later than the last
applied one is ``stale``, a national identity without a profile is
``unknown_customer``. Concurrent applications are safe on PostgreSQL (the
profile row is locked, ``SELECT ... FOR UPDATE``) and on SQLite (one writer at
a time; the ``version`` column catches a profile changed since it was read).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol, runtime_checkable

from sqlalchemy import JSON, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from forms.identity import parse_national_id
from intake.logs import mask_codes
from intake.store.models import Profile, ProfileChange, utcnow

#: How often apply() re-reads a profile that changed between its read and its write.
_MAX_ATTEMPTS = 5
#: Rows per statement when import_rows() looks profiles up by key.
_CHUNK = 5000


class ApplyStatus(str, enum.Enum):
    applied = "applied"
    duplicate = "duplicate"
    stale = "stale"
    unknown_customer = "unknown_customer"


@dataclass(frozen=True)
class ApplyOutcome:
    status: ApplyStatus
    national_id: str
    #: The history row written (applied), or the one that already holds this document (duplicate).
    change_id: int | None = None
    #: The profile's version after the call (None: no profile).
    version: int | None = None

    @property
    def applied(self) -> bool:
        return self.status is ApplyStatus.applied

    @property
    def reason(self) -> str | None:
        """The reason code (verify.reasons vocabulary) when the update was not applied."""
        return None if self.applied else self.status.value


@dataclass(frozen=True)
class ProfileView:
    national_id: str
    fields: dict[str, Any]
    signed_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {"national_id": self.national_id, "fields": self.fields, "signed_at": _iso(self.signed_at),
                "version": self.version, "created_at": _iso(self.created_at), "updated_at": _iso(self.updated_at)}


@dataclass(frozen=True)
class ChangeView:
    id: int
    national_id: str
    source: str  # "form" | "import"
    submission_id: int | None
    document_sha256: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    signed_at: dt.datetime | None
    applied_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "submission_id": self.submission_id,
                "document_sha256": self.document_sha256, "signed_at": _iso(self.signed_at),
                "applied_at": _iso(self.applied_at), "before": self.before, "after": self.after}


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: The national identities touched, in input order (created and updated).
    changed: list[str] = field(default_factory=list, repr=False)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


class ConcurrentUpdate(RuntimeError):
    """A profile kept changing under us; the caller's transaction should be retried."""


@runtime_checkable
class ProfileStore(Protocol):
    """What the worker needs of a customer system. National identities are canonical
    (``LV-32000012345``); implementations also accept the code with its own hyphen."""

    def get(self, session: Session, national_id: str) -> ProfileView | None: ...

    def apply(self, session: Session, *, national_id: str, fields: Mapping[str, Any], signed_at: dt.datetime,
              submission_id: int | None, document_sha256: str) -> ApplyOutcome: ...

    def history(self, session: Session, national_id: str) -> list[ChangeView]: ...


class SqlProfileStore:
    """The shipped store: profiles and their history in docintake's own database."""

    def get(self, session: Session, national_id: str) -> ProfileView | None:
        profile = session.get(Profile, parse_national_id(national_id), populate_existing=True)
        return None if profile is None else _view(profile)

    def apply(self, session: Session, *, national_id: str, fields: Mapping[str, Any], signed_at: dt.datetime,
              submission_id: int | None, document_sha256: str) -> ApplyOutcome:
        """Apply a signed form's values (merged over the profile's) with a history row, or say why not.

        Never commits; the outcome's checks run in the order unknown_customer, duplicate, stale.
        """
        if signed_at.tzinfo is None:
            raise ValueError("signed_at must be an aware datetime")
        if not document_sha256:
            raise ValueError("document_sha256 is required")
        nid = parse_national_id(national_id)
        table = Profile.__table__
        for _attempt in range(_MAX_ATTEMPTS):
            # PostgreSQL: lock the row, so a second application of the same document waits for the
            # first to commit and then sees it. SQLite ignores FOR UPDATE; the version check below
            # (under SQLite's single writer lock) does the same job.
            row = session.execute(
                select(table.c.fields, table.c.signed_at, table.c.version)
                .where(table.c.national_id == nid).with_for_update()
            ).one_or_none()
            if row is None:
                return ApplyOutcome(ApplyStatus.unknown_customer, nid)
            done = session.scalar(select(ProfileChange.id).where(ProfileChange.document_sha256 == document_sha256))
            if done is not None:
                return ApplyOutcome(ApplyStatus.duplicate, nid, change_id=done, version=row.version)
            if row.signed_at is not None and signed_at <= row.signed_at:  # UTCDateTime: aware
                return ApplyOutcome(ApplyStatus.stale, nid, version=row.version)
            before = dict(row.fields or {})
            after = {**before, **fields}
            now = utcnow()
            written = session.execute(
                update(table).where(table.c.national_id == nid, table.c.version == row.version)
                .values(fields=after, signed_at=signed_at, version=row.version + 1, updated_at=now)
            ).rowcount
            if written != 1:
                continue  # changed since we read it (SQLite): read again, now under the write lock
            change_id = session.scalar(
                insert(ProfileChange).returning(ProfileChange.id),
                {"national_id": nid, "submission_id": submission_id, "document_sha256": document_sha256,
                 "source": "form", "before": before, "after": after, "signed_at": signed_at, "applied_at": now},
            )
            _expire_cached(session, nid)
            return ApplyOutcome(ApplyStatus.applied, nid, change_id=change_id, version=row.version + 1)
        raise ConcurrentUpdate(f"profile kept changing during {_MAX_ATTEMPTS} attempts; retry the transaction")

    def history(self, session: Session, national_id: str) -> list[ChangeView]:
        """Every change of the profile, oldest first."""
        nid = parse_national_id(national_id)
        changes = session.scalars(
            select(ProfileChange).where(ProfileChange.national_id == nid).order_by(ProfileChange.id)
        )
        return [ChangeView(c.id, c.national_id, c.source, c.submission_id, c.document_sha256, c.before, c.after,
                           c.signed_at, c.applied_at) for c in changes]

    def import_rows(self, session: Session, rows: Iterable[tuple[str, Mapping[str, Any]]], *,
                    progress: Any = None) -> ImportResult:
        """Create or update profiles from already validated ``(national_id, fields)`` pairs.

        A new customer gets a profile; an existing one gets the given fields merged over its own
        (its ``signed_at`` stays, since nothing was signed). Both get a history row with
        ``source="import"``; rows that change nothing are counted as unchanged. A national identity
        given twice is an error. Bulk statements throughout; never commits. ``progress``: an object
        with ``update(n)`` (e.g. tqdm), told about every processed row.
        """
        incoming: dict[str, Mapping[str, Any]] = {}
        for national_id, fields in rows:
            nid = parse_national_id(national_id)
            if nid in incoming:
                raise ValueError(f"customer {mask_codes(nid)} is given twice")
            incoming[nid] = fields
        table = Profile.__table__
        result = ImportResult()
        now = utcnow()
        new_profiles: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        keys = list(incoming)
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            existing = {
                r.national_id: r for r in session.execute(
                    select(table.c.national_id, table.c.fields, table.c.version)
                    .where(table.c.national_id.in_(chunk)).with_for_update()
                )
            }
            for nid in chunk:
                fields = dict(incoming[nid])
                current = existing.get(nid)
                if current is None:
                    new_profiles.append({"national_id": nid, "fields": fields, "signed_at": None,
                                         "created_at": now, "updated_at": now, "version": 1})
                    changes.append(_import_change(nid, {}, fields, now))
                    result.created += 1
                    result.changed.append(nid)
                    continue
                before = dict(current.fields or {})
                after = {**before, **fields}
                if after == before:
                    result.unchanged += 1
                    continue
                updates.append({"b_nid": nid, "b_version": current.version, "fields": after,
                                "version": current.version + 1, "updated_at": now})
                changes.append(_import_change(nid, before, after, now))
                result.updated += 1
                result.changed.append(nid)
            if progress is not None:
                progress.update(len(chunk))
        if new_profiles:
            _bulk_insert(session, table, new_profiles)
        if updates:
            written = _bulk_update_profiles(session, updates)
            if written != len(updates):
                raise ConcurrentUpdate("profiles changed while they were imported; nothing was imported, retry")
        if changes:
            _bulk_insert(session, ProfileChange.__table__, changes)
        for nid in result.changed:
            _expire_cached(session, nid)
        return result


def _bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Many rows in the session's transaction: COPY on PostgreSQL (about three times faster than
    its pipelined executemany), executemany elsewhere. Rows carry every column named in the first."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    names = list(rows[0])
    as_json = [isinstance(table.c[name].type, JSON) for name in names]
    quoted = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in names)
    with connection.connection.dbapi_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(row[n]) if j and row[n] is not None else row[n]
                                for n, j in zip(names, as_json)])


def _bulk_update_profiles(session: Session, updates: list[dict[str, Any]]) -> int:
    """Set fields/version/updated_at where national_id = b_nid and version = b_version; returns the
    number of rows written. PostgreSQL: COPY into a temporary table, then one UPDATE ... FROM."""
    table = Profile.__table__
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return session.execute(
            # SET comes from the other keys: fields, version, updated_at.
            update(table).where(table.c.national_id == bindparam("b_nid"), table.c.version == bindparam("b_version")),
            updates,
        ).rowcount
    with connection.connection.dbapi_connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE import_updates (b_nid varchar(40) PRIMARY KEY, b_version integer, "
                       "fields json, version integer, updated_at timestamptz) ON COMMIT DROP")
        with cursor.copy("COPY import_updates (b_nid, b_version, fields, version, updated_at) FROM STDIN") as copy:
            for u in updates:
                copy.write_row((u["b_nid"], u["b_version"], json.dumps(u["fields"]), u["version"], u["updated_at"]))
        cursor.execute("UPDATE profiles AS p SET fields = u.fields, version = u.version, updated_at = u.updated_at "
                       "FROM import_updates AS u WHERE p.national_id = u.b_nid AND p.version = u.b_version")
        written = cursor.rowcount
        cursor.execute("DROP TABLE import_updates")
    return written


def _import_change(nid: str, before: dict, after: dict, now: dt.datetime) -> dict[str, Any]:
    return {"national_id": nid, "submission_id": None, "document_sha256": None, "source": "import",
            "before": before, "after": after, "signed_at": None, "applied_at": now}


def _expire_cached(session: Session, nid: str) -> None:
    """Core statements bypass the identity map: forget a Profile object the session holds."""
    cached = session.identity_map.get(session.identity_key(Profile, nid))  # type: ignore[arg-type]
    if cached is not None:
        session.expire(cached)


def _view(p: Profile) -> ProfileView:
    return ProfileView(p.national_id, dict(p.fields or {}), p.signed_at, p.version, p.created_at, p.updated_at)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


