"""The back office's read queries. Indexed columns only; document bytes never loaded.

- the rejects queue filters on ``status`` / ``received_at`` / ``main_reason``
  (``ix_submissions_status_received``, ``ix_submissions_main_reason``) and
  pages with LIMIT/OFFSET; its counts per reason are one GROUP BY, and the
  total is their sum (no second scan);
- ``Submission.content``, ``Submission.report`` and ``Mail.raw`` stay in the
  database for lists (``load_only``); the detail page defers the bytes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, defer, joinedload, load_only

from intake.models import WAITING, AuditEvent, Mail, Profile, Status, Submission
from intake.web.filters import local_zone

PAGE_SIZE = 50

#: Queue views: name -> statuses (the first view is the default).
STATUS_VIEWS: dict[str, tuple[str, ...]] = {
    "open": (Status.rejected.value, Status.failed.value),
    "rejected": (Status.rejected.value,),
    "failed": (Status.failed.value,),
    "cleared": (Status.cleared.value,),
    "all": (Status.rejected.value, Status.failed.value, Status.cleared.value),
}
OPEN = STATUS_VIEWS["open"]


def local_day_start(day: dt.date) -> dt.datetime:
    """Midnight of ``day`` in the office's zone, as UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=local_zone()).astimezone(dt.timezone.utc)


def today_local() -> dt.date:
    return dt.datetime.now(local_zone()).date()


def known_reasons() -> set[str]:
    from verify.reasons import CODES

    return set(CODES) | {"none"}


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

    def conditions(self, with_reason: bool = True) -> list:
        conds = [Submission.status.in_(self.statuses)]
        if self.date_from:
            conds.append(Submission.received_at >= local_day_start(self.date_from))
        if self.date_to:
            conds.append(Submission.received_at < local_day_start(self.date_to + dt.timedelta(days=1)))
        if with_reason and self.reason == "none":
            conds.append(Submission.main_reason.is_(None))
        elif with_reason and self.reason:
            conds.append(Submission.main_reason == self.reason)
        return conds


@dataclass
class RejectPage:
    rows: list
    total: int
    counts: list[tuple[str, int]]  # (main reason, count) for the view without the reason filter
    page: int
    pages: int
    filter: RejectFilter = field(default_factory=RejectFilter)


def reason_counts(session: Session, flt: RejectFilter) -> list[tuple[str, int]]:
    stmt = (
        select(Submission.main_reason, func.count())
        .where(*flt.conditions(with_reason=False))
        .group_by(Submission.main_reason)
    )
    rows = [(reason or "none", count) for reason, count in session.execute(stmt)]
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def _list_stmt(flt: RejectFilter) -> Select:
    customer = func.coalesce(Submission.report[("signer", "name")].as_string(), "")
    return (
        select(Submission, customer.label("signer_name"))
        .join(Submission.mail)
        .options(
            load_only(
                Submission.id, Submission.status, Submission.main_reason, Submission.reasons,
                Submission.received_at, Submission.filename, Submission.national_id, Submission.mail_id,
                Submission.cleared_by, Submission.cleared_at, Submission.clear_outcome,
            ),
            joinedload(Submission.mail).load_only(Mail.id, Mail.sender, Mail.subject),
        )
        .where(*flt.conditions())
        # Open rejects first ("rejected" > "failed" > "cleared"), newest first within each.
        .order_by(Submission.status.desc(), Submission.received_at.desc(), Submission.id.desc())
    )


def rejects_page(session: Session, flt: RejectFilter, page_size: int = PAGE_SIZE) -> RejectPage:
    counts = reason_counts(session, flt)
    if flt.reason:
        total = sum(c for r, c in counts if r == flt.reason)
    else:
        total = sum(c for _r, c in counts)
    pages = max(1, -(-total // page_size))
    page = min(max(1, flt.page), pages)
    rows = session.execute(_list_stmt(flt).limit(page_size).offset((page - 1) * page_size)).all()
    return RejectPage(rows=rows, total=total, counts=counts, page=page, pages=pages, filter=flt)


def submission_detail(session: Session, submission_id: int) -> Submission | None:
    return session.scalar(
        select(Submission)
        .where(Submission.id == submission_id)
        .options(defer(Submission.content), joinedload(Submission.mail).defer(Mail.raw))
    )


def submission_content(session: Session, submission_id: int) -> bytes | None:
    return session.scalar(select(Submission.content).where(Submission.id == submission_id))


def profile_for(session: Session, national_id: str | None) -> Profile | None:
    return session.get(Profile, national_id) if national_id else None


def audit_trail(session: Session, submission_id: int) -> list[AuditEvent]:
    return list(session.scalars(
        select(AuditEvent).where(AuditEvent.submission_id == submission_id).order_by(AuditEvent.at, AuditEvent.id)
    ))


# ---- dashboard ----------------------------------------------------------------------------------
@dataclass
class DayStats:
    day: dt.date
    received: int = 0
    applied: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # main reason -> count (rejected or cleared)
    other: int = 0  # still waiting, or failed

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def _hour_bucket(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", Submission.received_at), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", Submission.received_at)


def daily_stats(session: Session, days: int = 30, today: dt.date | None = None) -> list[DayStats]:
    """Per local day of receipt, the last ``days`` days: received, applied, rejected by main reason.

    Grouped by UTC hour in the database (portable, indexed range on received_at), then folded into
    the office's local days here, so daylight saving time is right.
    """
    today = today or today_local()
    first = today - dt.timedelta(days=days - 1)
    bucket = _hour_bucket(session).label("hour")
    stmt = (
        select(bucket, Submission.status, Submission.main_reason, func.count())
        .where(Submission.received_at >= local_day_start(first))
        .group_by(bucket, Submission.status, Submission.main_reason)
    )
    stats = {first + dt.timedelta(days=i): DayStats(first + dt.timedelta(days=i)) for i in range(days)}
    zone = local_zone()
    for hour, status, reason, count in session.execute(stmt):
        moment = dt.datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=dt.timezone.utc)
        day = stats.get(moment.astimezone(zone).date())
        if day is None:
            continue
        day.received += count
        if status == Status.applied.value:
            day.applied += count
        elif status in (Status.rejected.value, Status.cleared.value):
            key = reason or "none"
            day.rejected[key] = day.rejected.get(key, 0) + count
        else:
            day.other += count
    return [stats[d] for d in sorted(stats)]


def status_counts(session: Session, statuses: tuple[str, ...]) -> dict[str, int]:
    stmt = select(Submission.status, func.count()).where(Submission.status.in_(statuses)).group_by(Submission.status)
    return {status: count for status, count in session.execute(stmt)}


def mails_since(session: Session, since: dt.datetime) -> int:
    return session.scalar(select(func.count()).select_from(Mail).where(Mail.received_at >= since)) or 0


def dashboard(session: Session) -> dict:
    today = today_local()
    days = daily_stats(session, 30, today)
    counts = status_counts(session, (*WAITING, Status.rejected.value, Status.failed.value))
    return {
        "today": days[-1],
        "days": days,
        "mails_today": mails_since(session, local_day_start(today)),
        "open_rejects": counts.get(Status.rejected.value, 0),
        "failed": counts.get(Status.failed.value, 0),
        "waiting": sum(counts.get(s, 0) for s in WAITING),
        "open_by_reason": reason_counts(session, RejectFilter(view="rejected")),
    }

