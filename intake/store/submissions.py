"""Read queries over submissions, shared by the CLI (``docintake submissions``) and the web.

Lists never load document bytes or reports (``load_only``) and are served by indexes on
``received_at`` alone, ``(status, received_at)`` and ``(main_reason, received_at)``, newest
first; ``id`` breaks ties so pages are stable. A page is read in two steps (:func:`page_ids`,
then the rows for those ids), so that a deep offset skips index entries, not rows. Counts per
main reason come from ``(status, main_reason, received_at)`` alone. Times are aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Sequence, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, load_only

from intake.store.models import Status, Submission

#: Every status, in the order a submission moves through them.
STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
#: The reason filter value that selects submissions without a main reason.
NO_REASON = "none"
#: Columns a list row carries (never content, report or the mail's raw bytes).
LIST_COLUMNS = (Submission.id, Submission.mail_id, Submission.status, Submission.main_reason, Submission.reasons,
                Submission.national_id, Submission.sha256, Submission.filename, Submission.received_at,
                Submission.decided_at)


def _statuses(status: str | Iterable[str] | None) -> tuple[str, ...]:
    if status is None:
        return ()
    values = (status,) if isinstance(status, str) else tuple(status)
    unknown = [s for s in values if s not in STATUSES]
    if unknown:
        raise ValueError(f"unknown status {', '.join(unknown)}; one of {', '.join(STATUSES)}")
    return values


def submission_conditions(status: str | Iterable[str] | None = None, reason: str | None = None,
                          since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[Any]:
    """WHERE conditions: any of the statuses; the main reason (``"none"``: without one);
    received at or after ``since`` and before ``until``."""
    conds: list[Any] = []
    statuses = _statuses(status)
    if len(statuses) == 1:
        conds.append(Submission.status == statuses[0])
    elif statuses:
        conds.append(Submission.status.in_(statuses))
    if reason == NO_REASON:
        conds.append(Submission.main_reason.is_(None))
    elif reason:
        conds.append(Submission.main_reason == reason)
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            raise ValueError("since/until must be aware datetimes")
    if since is not None:
        conds.append(Submission.received_at >= since)
    if until is not None:
        conds.append(Submission.received_at < until)
    return conds


#: Newest first; ``id`` breaks ties.
NEWEST_FIRST = (Submission.received_at.desc(), Submission.id.desc())

_Row = TypeVar("_Row")


def page_ids(session: Session, conditions: Sequence[Any], order: Sequence[Any], limit: int,
             offset: int = 0) -> list[int]:
    """Step one of a page: its submission ids, from an index alone (cheap even at a deep offset,
    where fetching whole rows only to skip them is not)."""
    stmt = select(Submission.id).where(*conditions).order_by(*order).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def in_id_order(ids: Sequence[int], rows: Iterable[_Row], key: Any = lambda row: row.id) -> list[_Row]:
    """Step two's rows (fetched with ``id IN ids``, in no particular order) in the order of ``ids``."""
    by_id = {key(row): row for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def list_submissions(session: Session, status: str | Iterable[str] | None = None, reason: str | None = None,
                     since: dt.datetime | None = None, until: dt.datetime | None = None, limit: int = 100,
                     offset: int = 0) -> list[Submission]:
    """Submissions newest first (received_at, then id), without their bytes or reports."""
    ids = page_ids(session, submission_conditions(status, reason, since, until), NEWEST_FIRST, limit, offset)
    if not ids:
        return []
    stmt = select(Submission).options(load_only(*LIST_COLUMNS, raiseload=True)).where(Submission.id.in_(ids))
    return in_id_order(ids, session.scalars(stmt))


def count_submissions(session: Session, status: str | Iterable[str] | None = None, reason: str | None = None,
                      since: dt.datetime | None = None, until: dt.datetime | None = None) -> int:
    stmt = select(func.count()).select_from(Submission).where(*submission_conditions(status, reason, since, until))
    return session.scalar(stmt) or 0


def reason_counts(session: Session, status: str | Iterable[str] | None = None, since: dt.datetime | None = None,
                  until: dt.datetime | None = None) -> dict[str, int]:
    """Main reason -> number of submissions (``"none"`` for those without one), most frequent first."""
    stmt = (
        select(Submission.main_reason, func.count())
        .where(*submission_conditions(status, None, since, until))
        .group_by(Submission.main_reason)
    )
    rows = [(reason or NO_REASON, count) for reason, count in session.execute(stmt)]
    return dict(sorted(rows, key=lambda r: (-r[1], r[0])))


def status_counts(session: Session, since: dt.datetime | None = None, until: dt.datetime | None = None,
                  status: str | Iterable[str] | None = None) -> dict[str, int]:
    """Status -> number of submissions, every status present (0 when none), in STATUSES order;
    only the given statuses (and only they are counted) when ``status`` is given."""
    wanted = _statuses(status) or STATUSES
    stmt = (select(Submission.status, func.count()).where(*submission_conditions(status, None, since, until))
            .group_by(Submission.status))
    found = dict(session.execute(stmt).all())
    return {s: found.get(s, 0) for s in STATUSES if s in wanted}


def submission_json(sub: Submission) -> dict[str, Any]:
    """The public JSON shape of a submission (CLI ``--json``, web API)."""
    return {
        "id": sub.id,
        "status": sub.status,
        "reasons": list(sub.reasons or []),
        "national_id": sub.national_id,
        "sha256": sub.sha256,
        "received_at": sub.received_at.isoformat() if sub.received_at else None,
    }
