"""``docintake verify PATH``: decide one file and print the report.

Exit status: 0 accepted, 1 rejected, 2 usage error (a missing file, unreadable trust configuration).

Trust comes from a verified snapshot of the trusted lists (``--trust-lists DIR``,
``DOCINTAKE_TRUST_LISTS``) and from explicit roots (``--trust-roots``, repeatable; a PEM/DER
file or a directory, and ``DOCINTAKE_TRUST_ROOTS``, paths separated by ``os.pathsep``); all are
used when given. ``docintake verify`` run through intake's command group gets the installation's
settings (``docintake.toml`` in the data directory, ``DOCINTAKE_*``) as its defaults, passed in
by intake (click's ``default_map``): verify itself never imports intake.
"""

from __future__ import annotations

import json
import os
import sys

import click

from verify.policy import LEVELS, MiB, Policy, PolicyError

ENV_TRUST_ROOTS = "DOCINTAKE_TRUST_ROOTS"
ENV_TRUST_LISTS = "DOCINTAKE_TRUST_LISTS"


def _env_roots() -> list[str]:
    raw = os.environ.get(ENV_TRUST_ROOTS, "")
    return [p for p in raw.split(os.pathsep) if p.strip()]


def _quiet_logs() -> None:
    """The report is this command's output: no INFO line for the decision, no pyHanko warnings
    (a path it could not build is the report's ``untrusted_signer``). ``docintake --log-level
    DEBUG verify`` still shows everything."""
    import logging

    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("verify").setLevel(logging.WARNING)
        for name in ("pyhanko", "pyhanko_certvalidator"):
            logging.getLogger(name).setLevel(logging.ERROR)


@click.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True, allow_dash=True))
@click.option(
    "--trust-roots",
    "trust_roots",
    multiple=True,
    type=click.Path(exists=True),
    help=f"Trusted root certificate(s): a PEM/DER file or a directory (repeatable; also ${ENV_TRUST_ROOTS}).",
)
@click.option(
    "--trust-lists",
    "trust_lists",
    type=click.Path(exists=True, file_okay=False),
    envvar=ENV_TRUST_LISTS,
    help="A trusted-list snapshot directory (`docintake trust update/import`).",
)
@click.option("--country", "countries", multiple=True, help="Trust the lists of these countries only (default LV, LT, EE).")
@click.option(
    "--require-qualified/--no-require-qualified",
    default=True,
    show_default=True,
    help="Require a qualified electronic signature (QES) and a qualified timestamp.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, writable=True),
              help="Write the ETSI TS 119 102-2 validation report (XML) to this file.")
@click.option("--signature-only", is_flag=True,
              help="Judge only the signatures (validity, level, qualification) of any signed PDF or container; "
                   "do not read the form.")
@click.option("--min-level", type=click.Choice(LEVELS), default="B-B", show_default=True, help="Lowest PAdES level accepted.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=20 * MiB, show_default=True, help="Size limit.")
@click.option("--max-pages", type=click.IntRange(min=1), default=50, show_default=True, help="Page limit.")
@click.option("--timeout", type=click.FloatRange(min=0.001), default=30.0, show_default=True, help="Seconds per decision.")
@click.option("--allow-fetching", is_flag=True, help="Fetch certificates and revocation data online.")
def verify_command(
    path: str,
    trust_roots: tuple[str, ...],
    trust_lists: str | None,
    countries: tuple[str, ...],
    require_qualified: bool,
    as_json: bool,
    report_file: str | None,
    signature_only: bool,
    min_level: str,
    max_bytes: int,
    max_pages: int,
    timeout: float,
    allow_fetching: bool,
) -> None:
    """Verify a signed customer data form (PDF, or an ASiC-E container) and print whether it may be applied.

    Exit status 0: accepted, 1: rejected, 2: usage error.
    """
    _quiet_logs()
    from verify.decision import decide

    roots = [*trust_roots, *_env_roots()]
    try:
        policy = Policy.load(
            roots,
            trust_lists=trust_lists,
            countries=countries or None,
            min_level=min_level,
            max_bytes=max_bytes,
            max_pages=max_pages,
            timeout=timeout,
            allow_fetching=allow_fetching,
            require_qualified=require_qualified,
        )
    except PolicyError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as fh:
                data = fh.read()
    except OSError as exc:
        raise click.UsageError(f"cannot read {path}: {exc.strerror}") from exc
    if not roots and not trust_lists:
        click.echo("warning: no trusted lists and no trust roots configured; every signer will be untrusted", err=True)
    elif policy.trusted_lists is not None:
        for info in policy.trusted_lists.stale():
            click.echo(f"warning: the trusted list {info.territory or 'LOTL'} is past its next update "
                       f"({info.next_update:%Y-%m-%d}); run `docintake trust update`", err=True)
    report = decide(data, policy, signature_only=signature_only)
    if report_file:
        with open(report_file, "w", encoding="utf-8") as fh:
            fh.write(report.etsi_report or "")
        if not report.etsi_report:
            click.echo("warning: no ETSI validation report (the signature was not evaluated)", err=True)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(report.summary())
    sys.exit(0 if report.accepted else 1)
