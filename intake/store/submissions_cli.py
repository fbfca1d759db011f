"""``docintake submissions``: list submissions and count them by reason, from the shell."""

from __future__ import annotations

import datetime as dt
import json

import click

from intake.store.db import session_scope, store_command
from intake.store.submissions import (
    STATUSES,
    count_submissions,
    list_submissions,
    reason_counts,
    status_counts,
    submission_json,
)


class _Moment(click.ParamType):
    """A date (``2026-11-01``, midnight UTC) or an ISO datetime (UTC unless it has an offset)."""

    name = "DATE"

    def convert(self, value, param, ctx):
        if isinstance(value, dt.datetime):
            return value
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date (YYYY-MM-DD) or an ISO date and time", param, ctx)
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


MOMENT = _Moment()


def _filters(func):
    func = click.option("--until", type=MOMENT, help="Received before this (exclusive).")(func)
    func = click.option("--since", type=MOMENT, help="Received at or after this (UTC unless an offset is given).")(func)
    return click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES),
                        help="Only these statuses (repeatable).")(func)


@click.group()
def submissions() -> None:
    """Submissions (one PDF from one mail each) and their verdicts."""


@submissions.command("list")
@_filters
@click.option("--reason", help='Only this main reason (a reason code, or "none").')
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of {id, status, reasons, national_id, "
                                                      "sha256, received_at}.")
@store_command
def list_command(settings, statuses, since, until, reason, limit, offset, as_json) -> None:
    """List submissions, newest first."""
    with session_scope(settings) as session:
        rows = list_submissions(session, status=statuses or None, reason=reason, since=since, until=until,
                                limit=limit, offset=offset)
        documents = [submission_json(s) for s in rows]
        main = [s.main_reason or "" for s in rows]
        total = None if as_json else count_submissions(session, statuses or None, reason, since, until)
    if as_json:
        click.echo(json.dumps(documents, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'id':>8}  {'received (UTC)':19}  {'status':10}  {'main reason':22}  national id")
    for doc, reason_code in zip(documents, main):
        received = doc["received_at"][:19].replace("T", " ") if doc["received_at"] else ""
        click.echo(f"{doc['id']:>8}  {received:19}  {doc['status']:10}  {reason_code:22}  {doc['national_id'] or ''}")
    click.echo(f"{len(documents)} of {total} shown" + (f" (from {offset + 1})" if offset else ""))


@submissions.command("counts")
@_filters
@click.option("--json", "as_json", is_flag=True, help='Print {"statuses": {...}, "reasons": {...}}.')
@store_command
def counts_command(settings, statuses, since, until, as_json) -> None:
    """Count submissions per status, and per main reason (within the given statuses)."""
    with session_scope(settings) as session:
        by_status = status_counts(session, since, until)
        by_reason = reason_counts(session, statuses or None, since, until)
    if as_json:
        click.echo(json.dumps({"statuses": by_status, "reasons": by_reason}, indent=2))
        return
    for name, count in by_status.items():
        click.echo(f"{name:24} {count:>8}")
    click.echo("main reasons" + (f" ({', '.join(statuses)})" if statuses else "") + ":")
    for name, count in by_reason.items():
        click.echo(f"  {name:22} {count:>8}")
