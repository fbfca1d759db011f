"""``docintake campaign create|status``."""

from __future__ import annotations

import time

import click

from forms.schema import FIELDS_BY_NAME
from intake.config import Settings
from intake.store.db import session_scope, store_command


@click.group("campaign")
def campaign() -> None:
    """Refresh campaigns: personal pre-filled forms to customers whose data is old or incomplete."""


@campaign.command("create")
@click.option("--stale-months", type=click.IntRange(1), default=None, help="Data not changed for this many months.")
@click.option("--country", default=None, help="Only customers with this id country (LV, LT, EE).")
@click.option("--missing", "missing", multiple=True, type=click.Choice(sorted(FIELDS_BY_NAME)),
              help="Customers lacking this field (repeatable).")
@click.option("--name", default=None, help="A name for the back office (default: the criteria and the date).")
@store_command
def create(settings: Settings, stale_months: int | None, country: str | None, missing: tuple[str, ...],
           name: str | None) -> None:
    """Write each selected customer's personal form e-mail to the outbox and queue it."""
    from intake.campaigns.create import Criteria, create_campaign

    if not stale_months and not missing:
        raise click.UsageError("give --stale-months and/or --missing")
    criteria = Criteria(stale_months, country.upper() if country else None, tuple(missing))
    label = name or " ".join(filter(None, [f"stale {stale_months} months" if stale_months else "",
                                           country or "", *(f"missing {m}" for m in missing),
                                           time.strftime("%Y-%m-%d")]))
    started = time.perf_counter()
    result = create_campaign(settings, label, criteria)
    click.echo(f"campaign {result.campaign_id}: {result.selected} selected, {result.queued} queued, "
               f"{result.skipped_no_email} without an e-mail on file ({time.perf_counter() - started:.1f} s)")


@campaign.command("status")
@store_command
def status(settings: Settings) -> None:
    """Each campaign: sent, signed forms received, applied, rejected, the response rate."""
    from intake.campaigns.tracking import stats

    with session_scope(settings) as session:
        for c in stats(session):
            click.echo(f"{c.id}\t{c.name}\tsent {c.sent}\treceived {c.received}\tapplied {c.applied}\t"
                       f"rejected {c.rejected}\tresponse {100 * c.response_rate:.1f}%")
