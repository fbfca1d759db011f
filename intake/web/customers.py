"""The customer at the centre: find a customer, then everything the bank holds about them.

- :func:`search`: by national identity (any spelling ``parse_national_id`` accepts), e-mail,
  phone or name fragments, over the profiles' current fields. On PostgreSQL the expressions are
  exactly those of the trigram indexes (``intake.store.models.SEARCH_EXPRESSIONS``, schema 0008),
  so a fragment is found without reading every profile; SQLite reads the JSON and scans;
- :func:`dossier`: the current profile, every change with the document behind it, every
  submission that named the customer, every message sent to them (``intake.web.messages``) and
  the "contact recently changed" mark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import Select, func, literal_column, or_, select
from sqlalchemy.orm import Session, joinedload, load_only

from forms.identity import parse_national_id
from intake.store.models import (
    SEARCH_EXPRESSIONS,
    ContactAlert,
    Mail,
    OutboundMessage,
    Profile,
    ProfileChange,
    Submission,
)
from intake.web.messages import contact_mark, messages_for_customer

SEARCH_LIMIT = 50


def _searched(session: Session, name: str):
    """The lower-cased text searched for ``name`` (phone digits as they are). On PostgreSQL the very
    expression its trigram index holds; a missing value is NULL, which no pattern matches."""
    if session.get_bind().dialect.name == "postgresql":
        return literal_column(SEARCH_EXPRESSIONS[name])
    value = Profile.national_id if name == "national_id" else Profile.fields[name].as_string()
    return value if name == "phone" else func.unicode_lower(value)  # intake.store.db registers it


def _containing(expression, fragment: str):
    return expression.contains(fragment, autoescape=True)


def search(session: Session, query: str, limit: int = SEARCH_LIMIT) -> list[Profile]:
    """Profiles matching ``query``: an exact national identity, else e-mail, phone or name parts."""
    query = (query or "").strip()
    if not query:
        return []
    try:
        nid = parse_national_id(query)
    except ValueError:
        nid = None
    if nid is not None:
        profile = session.get(Profile, nid)
        return [profile] if profile else []
    return list(session.scalars(fragment_search(session, query).limit(limit)))


def fragment_search(session: Session, query: str) -> Select:
    """The statement for a query that is not a national identity: an e-mail, phone or name parts."""
    stmt = select(Profile).order_by(Profile.national_id)
    if "@" in query:
        return stmt.where(_containing(_searched(session, "email"), query.lower()))
    if re.fullmatch(r"[+\d][\d\s().-]{4,}", query):
        return stmt.where(_containing(_searched(session, "phone"), re.sub(r"\D", "", query)))
    for word in query.split()[:4]:
        stmt = stmt.where(or_(*(_containing(_searched(session, name), word.lower())
                                for name in ("first_name", "last_name", "email", "national_id"))))
    return stmt


@dataclass
class Change:
    """One applied form (or import) and what it changed."""

    row: ProfileChange
    submission: Submission | None
    changed: list[tuple[str, object, object]]  # (field, before, after)

    @property
    def signer(self) -> str | None:
        report = (self.submission.report if self.submission else None) or {}
        return (report.get("signer") or {}).get("name")


@dataclass
class Dossier:
    national_id: str
    profile: Profile | None
    changes: list[Change]
    submissions: list[Submission]
    messages: list[OutboundMessage] = field(default_factory=list)
    contact_mark: ContactAlert | None = None  # "contact recently changed", while in force
    field_order: list[str] = field(default_factory=list)


def _diff(before: dict, after: dict, order: list[str]) -> list[tuple[str, object, object]]:
    names = [n for n in order if n in before or n in after]
    names += sorted(n for n in set(before) | set(after) if n not in names)
    return [(n, before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n)]


def dossier(session: Session, national_id: str) -> Dossier:
    from forms.schema import FIELD_NAMES

    order = list(FIELD_NAMES)
    profile = session.get(Profile, national_id)
    submissions = list(session.scalars(
        select(Submission)
        .where(Submission.national_id == national_id)
        .options(load_only(Submission.id, Submission.status, Submission.main_reason, Submission.received_at,
                           Submission.filename, Submission.part_index, Submission.decided_at,
                           Submission.report, Submission.clear_outcome, Submission.cleared_by),
                 joinedload(Submission.mail).load_only(Mail.id, Mail.sender, Mail.subject))
        .order_by(Submission.received_at.desc(), Submission.id.desc())
    ))
    by_id = {s.id: s for s in submissions}
    rows = list(session.scalars(
        select(ProfileChange).where(ProfileChange.national_id == national_id)
        .order_by(ProfileChange.applied_at.desc(), ProfileChange.id.desc())
    ))
    missing = {r.submission_id for r in rows if r.submission_id and r.submission_id not in by_id}
    if missing:  # a change whose submission names the customer differently (should not happen; shown anyway)
        for s in session.scalars(select(Submission).where(Submission.id.in_(missing))
                                 .options(load_only(Submission.id, Submission.filename, Submission.report,
                                                    Submission.status, Submission.part_index))):
            by_id[s.id] = s
    changes = [Change(r, by_id.get(r.submission_id), _diff(r.before or {}, r.after or {}, order)) for r in rows]
    return Dossier(national_id, profile, changes, submissions, messages_for_customer(session, national_id),
                   contact_mark(session, national_id), order)
