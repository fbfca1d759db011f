"""The back office's read queries. Indexed columns only; document bytes never loaded.

- the rejects queue filters with :func:`intake.store.submissions.submission_conditions` on
  ``status`` / ``received_at`` / ``main_reason`` and pages in two steps (ids from the index,
  then 50 rows: :func:`intake.store.submissions.page_ids`); its counts per reason are one GROUP BY
  from ``ix_submissions_status_reason_received`` (:func:`intake.store.submissions.reason_counts`),
  and the total is their sum (no second scan);
- ``Submission.content``, ``Submission.report`` and ``Mail.raw`` stay in the
  database for lists (``load_only``); the detail page defers the bytes.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, defer, joinedload, load_only

from intake.store import submissions
from intake.store.models import WAITING, AuditEvent, Mail, Profile, Status, Submission
from intake.web.filters import local_zone

PAGE_SIZE = 50

#: Queue views: name -> statuses (the first view is the default).
STATUS_VIEWS: dict[str, tuple[str, ...]] = {
    "open": (Status.rejected.value, Status.failed.value),
    "rejected": (Status.rejected.value,),
    "failed": (Status.failed.value,),
    "cleared": (Status.cleared.value,),
    "all": (Status.rejected.value, Status.failed.value, Status.cleared.value),
    "applied": (Status.applied.value,),
    "pending": WAITING,
    "everything": tuple(s.value for s in Status),
}
OPEN = STATUS_VIEWS["open"]


def local_day_start(day: dt.date) -> dt.datetime:
    """Midnight of ``day`` in the office's zone, as UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=local_zone()).astimezone(dt.timezone.utc)


def today_local() -> dt.date:
    return dt.datetime.now(local_zone()).date()


def known_reasons() -> set[str]:
    from verify.reasons import CODES

    return set(CODES) | {submissions.NO_REASON}


@dataclass
class RejectFilter:
    view: str = "open"
    reason: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    page: int = 1

    @property
    def statuses(self) -> tuple[str, ...]:
        return STATUS_VIEWS[self.view]

    @property
    def since(self) -> dt.datetime | None:
        """The start of ``date_from`` in the office's zone."""
        return local_day_start(self.date_from) if self.date_from else None

    @property
    def until(self) -> dt.datetime | None:
        """The end of ``date_to`` (the next day's start) in the office's zone."""
        return local_day_start(self.date_to + dt.timedelta(days=1)) if self.date_to else None

    def conditions(self, with_reason: bool = True) -> list:
        return submissions.submission_conditions(self.statuses, self.reason if with_reason else None,
                                                 self.since, self.until)


@dataclass
class RejectPage:
    rows: list
    total: int
    counts: list[tuple[str, int]]  # (main reason, count) for the view without the reason filter
    page: int
    pages: int
    filter: RejectFilter = field(default_factory=RejectFilter)


def reason_counts(session: Session, flt: RejectFilter) -> list[tuple[str, int]]:
    """(main reason, count) for the filter's view and dates (not its reason), most frequent first."""
    return list(submissions.reason_counts(session, flt.statuses, flt.since, flt.until).items())


def _order() -> tuple:
    # Open rejects first ("rejected" > "failed" > "cleared"), newest first within each.
    return (Submission.status.desc(), Submission.received_at.desc(), Submission.id.desc())


def _rows_for(session: Session, ids: list[int]) -> list:
    """Step two: the columns a list shows, for those ids only; bytes and the report stay put."""
    if not ids:
        return []
    signer = func.coalesce(Submission.report[("signer", "name")].as_string(), "")
    stmt = (
        select(Submission, signer.label("signer_name"))
        .options(
            load_only(
                Submission.id, Submission.status, Submission.main_reason, Submission.reasons,
                Submission.received_at, Submission.filename, Submission.national_id, Submission.mail_id,
                Submission.cleared_by, Submission.cleared_at, Submission.clear_outcome,
            ),
            joinedload(Submission.mail).load_only(Mail.id, Mail.sender, Mail.subject),
        )
        .where(Submission.id.in_(ids))
    )
    return submissions.in_id_order(ids, session.execute(stmt), key=lambda row: row[0].id)


def rejects_page(session: Session, flt: RejectFilter, page_size: int = PAGE_SIZE) -> RejectPage:
    counts = reason_counts(session, flt)
    if flt.reason:
        total = sum(c for r, c in counts if r == flt.reason)
    else:
        total = sum(c for _r, c in counts)
    pages = max(1, -(-total // page_size))
    page = min(max(1, flt.page), pages)
    ids = submissions.page_ids(session, flt.conditions(), _order(), page_size, (page - 1) * page_size)
    rows = _rows_for(session, ids)
    return RejectPage(rows=rows, total=total, counts=counts, page=page, pages=pages, filter=flt)


def submission_detail(session: Session, submission_id: int) -> Submission | None:
    return session.scalar(
        select(Submission)
        .where(Submission.id == submission_id)
        .options(defer(Submission.content), joinedload(Submission.mail).defer(Mail.raw))
    )


def submission_content(session: Session, submission_id: int) -> bytes | None:
    return session.scalar(select(Submission.content).where(Submission.id == submission_id))


SLICE = 1024 * 1024


def content_size(session: Session, submission_id: int) -> int | None:
    """The stored PDF's size in bytes (None: no document), without reading it."""
    return session.scalar(select(func.length(Submission.content)).where(Submission.id == submission_id))


def content_slices(session: Session, submission_id: int, size: int) -> Iterator[bytes]:
    """The stored PDF a slice at a time: SQLite's incremental blob I/O, PostgreSQL's substr of bytea."""
    if session.get_bind().dialect.name == "sqlite":
        raw = session.connection().connection.driver_connection  # the sqlite3.Connection
        with raw.blobopen("submissions", "content", submission_id, readonly=True) as blob:
            while data := blob.read(SLICE):
                yield data
        return
    for offset in range(0, size, SLICE):
        yield session.scalar(select(func.substr(Submission.content, offset + 1, SLICE))
                             .where(Submission.id == submission_id))


def form_identity(report: dict | None) -> str | None:
    """The national identity the form names (its id_country and personal code), or None.

    Not ``Submission.national_id``: that is the signer's, and on a ``signer_mismatch`` the two differ.
    """
    from forms.identity import national_id

    fields = (report or {}).get("fields") or {}
    country, code = fields.get("id_country"), fields.get("personal_code")
    if not (isinstance(country, str) and isinstance(code, str) and country and code):
        return None
    try:
        return national_id(country, code)
    except ValueError:
        return None


def profile_for(session: Session, national_id: str | None) -> Profile | None:
    return session.get(Profile, national_id) if national_id else None


#: Audited but not shown in a submission's trail (every page view would fill it).
QUIET_ACTIONS = ("viewed",)


def audit_trail(session: Session, submission_id: int) -> list[AuditEvent]:
    return list(session.scalars(
        select(AuditEvent).where(AuditEvent.submission_id == submission_id,
                                 AuditEvent.action.not_in(QUIET_ACTIONS))
        .order_by(AuditEvent.at, AuditEvent.id)
    ))


# ---- dashboard ----------------------------------------------------------------------------------
@dataclass
class DayStats:
    day: dt.date
    received: int = 0  # forms (PDFs); a mail without a PDF is a reject, not a form received
    applied: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # main reason -> count (rejected or cleared)
    other: int = 0  # still waiting, or failed

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def _hour_bucket(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", Submission.received_at))
    return func.strftime("%Y-%m-%d %H", Submission.received_at)


def _as_utc_hour(value) -> dt.datetime:
    if isinstance(value, str):  # SQLite: "YYYY-MM-DD HH" in UTC
        return dt.datetime.strptime(value, "%Y-%m-%d %H").replace(tzinfo=dt.timezone.utc)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def daily_stats(session: Session, days: int = 30, today: dt.date | None = None) -> list[DayStats]:
    """Per local day of receipt, the last ``days`` days: received, applied, rejected by main reason.

    Grouped by UTC hour in the database (portable, an indexed range on received_at), then folded
    into the office's local days here, so daylight saving time is right.
    """
    today = today or today_local()
    start = today - dt.timedelta(days=days - 1)
    bucket = _hour_bucket(session).label("hour")
    has_pdf = case((Submission.part_index >= 0, 1), else_=0).label("has_pdf")
    stmt = (
        select(bucket, Submission.status, Submission.main_reason, has_pdf, func.count())
        .where(Submission.received_at >= local_day_start(start),
               Submission.received_at < local_day_start(today + dt.timedelta(days=1)))
        .group_by(bucket, Submission.status, Submission.main_reason, has_pdf)
    )
    stats = {start + dt.timedelta(days=i): DayStats(start + dt.timedelta(days=i)) for i in range(days)}
    zone = local_zone()
    for hour, status, reason, pdf, count in session.execute(stmt):
        day = stats.get(_as_utc_hour(hour).astimezone(zone).date())
        if day is None:
            continue
        if pdf:
            day.received += count
        if status == Status.applied.value:
            day.applied += count
        elif status in (Status.rejected.value, Status.cleared.value):
            key = reason or submissions.NO_REASON
            day.rejected[key] = day.rejected.get(key, 0) + count
        else:
            day.other += count
    return [stats[d] for d in sorted(stats)]


class HistoryCache:
    """The chart's past days (not today) change rarely: computed at most every ``ttl`` seconds."""

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._value: tuple[dt.date, float, list[DayStats]] | None = None
        self._lock = threading.Lock()

    def days(self, session: Session, days: int, today: dt.date) -> list[DayStats]:
        now = time.monotonic()
        with self._lock:
            cached = self._value
        if cached is None or cached[0] != today or now - cached[1] > self.ttl:
            past = daily_stats(session, days - 1, today - dt.timedelta(days=1))
            with self._lock:
                self._value = cached = (today, now, past)
        fresh = daily_stats(session, 1, today)  # today: always live
        return [copy.deepcopy(d) for d in cached[2]] + fresh


def mails_since(session: Session, since: dt.datetime) -> int:
    return session.scalar(select(func.count()).select_from(Mail).where(Mail.received_at >= since)) or 0


def dashboard(session: Session, history: HistoryCache | None = None) -> dict:
    today = today_local()
    days = (history or HistoryCache(ttl=0)).days(session, 30, today)
    counts = submissions.status_counts(session, status=(*WAITING, Status.rejected.value, Status.failed.value))
    return {
        "today": days[-1],
        "days": days,
        "mails_today": mails_since(session, local_day_start(today)),
        "open_rejects": counts.get(Status.rejected.value, 0),
        "failed": counts.get(Status.failed.value, 0),
        "waiting": sum(counts.get(s, 0) for s in WAITING),
        "open_by_reason": reason_counts(session, RejectFilter(view="rejected")),
    }

