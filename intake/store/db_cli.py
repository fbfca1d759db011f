"""``docintake db``: schema migrations."""

from __future__ import annotations

import click

from intake.config import load_settings
from intake.store.db import reachable, schema_status, store_errors, upgrade


@click.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def upgrade_command(revision: str) -> None:
    """Bring the database schema to the newest version."""
    with store_errors():
        settings = load_settings()
        with reachable(settings):
            upgrade(settings, revision)
            current, head = schema_status(settings)
    click.echo(f"schema at {current} (newest {head})")


@db.command("status")
def status_command() -> None:
    """Show the schema revision of the database and of the code."""
    with store_errors():
        settings = load_settings()
        with reachable(settings):
            current, head = schema_status(settings)
    click.echo(f"database: {current or 'empty'}; code: {head}")
    if current != head:
        raise SystemExit(1)
