"""``docintake trust``: keep the snapshot of the EU trusted lists that every decision trusts.

- ``trust update``: fetch the LOTL (``trust_lotl_url``, default the EU's) and the national lists of
  the configured countries, verify them (the LOTL with the pinned signers, each list with the
  certificates the LOTL names) and replace the snapshot in the data directory.
- ``trust import PATH [--lotl-signer CERT]``: the same offline, from a LOTL XML file or a directory
  holding a LOTL and the national lists it points to (a bank mirroring the lists).
- ``trust status``: each list's sequence number, issue date, age and next update; exit 1 when one
  is past its next update (the dashboard and /metrics show the same warning).

Workers notice a new snapshot at their next decision (the policy is keyed on its time stamp).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from intake.config import Settings, load_settings
from intake.trust.status import freshness, snapshot_dir


def _settings() -> Settings:
    try:
        return load_settings()
    except (ValueError, OSError) as exc:
        raise click.UsageError(f"the configuration cannot be read: {exc}") from exc


def _report(lists, path: Path) -> None:
    click.echo(f"trusted lists verified and stored in {path}")
    for info in lists.all_lists:
        click.echo(f"  {info.territory or 'LOTL':8} sequence {info.sequence}  issued {info.issued:%Y-%m-%d}"
                   f"  next update {info.next_update:%Y-%m-%d}" if info.issued and info.next_update
                   else f"  {info.territory or 'LOTL':8} sequence {info.sequence}")
    for err in lists.errors:
        click.echo(f"  warning: {err}", err=True)


@click.group("trust")
def trust() -> None:
    """The EU trusted lists: update, import, status."""


@trust.command("update")
@click.option("--url", default=None, help="The list of the lists to fetch (default: trust_lotl_url, else the EU LOTL).")
@click.option("--lotl-signer", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Pin this LOTL signer certificate instead of the EU ones pyHanko ships.")
def update_command(url: str | None, lotl_signer: str | None) -> None:
    """Fetch, verify and store the LOTL and the national lists of the configured countries."""
    from verify.trust import TrustError, update_lists

    settings = _settings()
    signer = lotl_signer or (str(settings.trust_lotl_signer) if settings.trust_lotl_signer else None)
    path = snapshot_dir(settings)
    try:
        lists = update_lists(path, lotl_url=url or settings.trust_lotl_url or None, lotl_signer=signer,
                             countries=settings.trust_countries)
    except TrustError as exc:
        click.echo(f"error: {exc}; the previous snapshot is kept", err=True)
        sys.exit(1)
    _report(lists, path)


@trust.command("import")
@click.argument("source", type=click.Path(exists=True))
@click.option("--lotl-signer", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Pin this LOTL signer certificate instead of the EU ones pyHanko ships (test lists).")
def import_command(source: str, lotl_signer: str | None) -> None:
    """Load a LOTL XML file, or a directory with a LOTL and its national lists, offline."""
    from verify.trust import TrustError, import_lists

    settings = _settings()
    signer = lotl_signer or (str(settings.trust_lotl_signer) if settings.trust_lotl_signer else None)
    path = snapshot_dir(settings)
    try:
        lists = import_lists(source, path, lotl_signer=signer, countries=settings.trust_countries)
    except TrustError as exc:
        click.echo(f"error: {exc}; the previous snapshot is kept", err=True)
        sys.exit(1)
    _report(lists, path)


@trust.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(as_json: bool) -> None:
    """Each list's age and next update; exit 1 when one is past its next update or none is stored."""
    settings = _settings()
    rows = freshness(settings)
    now = dt.datetime.now(dt.timezone.utc)
    if as_json:
        click.echo(json.dumps({"snapshot": str(snapshot_dir(settings)), "lists": rows}, indent=2))
    elif not rows:
        click.echo(f"no trusted-list snapshot in {snapshot_dir(settings)}; run `docintake trust update` or `import`")
    else:
        click.echo(f"{'list':8} {'sequence':>8}  {'issued':10}  {'age':>6}  {'next update':11}  state")
        for r in rows:
            issued = dt.datetime.fromisoformat(r["issued"]) if r["issued"] else None
            age = f"{(now - issued).days}d" if issued else "?"
            state = "STALE: past its next update" if r["stale"] else "ok"
            click.echo(f"{r['territory']:8} {str(r['sequence']):>8}  {(r['issued'] or '?')[:10]:10}  {age:>6}  "
                       f"{(r['next_update'] or '?')[:10]:11}  {state}")
    sys.exit(1 if not rows or any(r["stale"] for r in rows) else 0)
