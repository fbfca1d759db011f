"""``docintake verify PATH``: decide one file and print the report.

Exit status: 0 accepted, 1 rejected, 2 usage error (a missing file, unreadable trust roots).
Trust roots come from ``--trust-roots`` (repeatable; a PEM/DER file or a directory) and
``DOCINTAKE_TRUST_ROOTS`` (paths separated by ``os.pathsep``); both are used when given.
"""

from __future__ import annotations

import json
import os
import sys

import click

from verify.policy import LEVELS, MiB, Policy, PolicyError

ENV_TRUST_ROOTS = "DOCINTAKE_TRUST_ROOTS"


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
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--min-level", type=click.Choice(LEVELS), default="B-B", show_default=True, help="Lowest PAdES level accepted.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=20 * MiB, show_default=True, help="Size limit.")
@click.option("--max-pages", type=click.IntRange(min=1), default=50, show_default=True, help="Page limit.")
@click.option("--timeout", type=click.FloatRange(min=0.001), default=30.0, show_default=True, help="Seconds per decision.")
@click.option("--allow-fetching", is_flag=True, help="Fetch certificates and revocation data online.")
@click.option("--signature-only", is_flag=True, help="Judge the signatures only, not the form (e.g. a container of any file).")
def verify_command(
    path: str,
    trust_roots: tuple[str, ...],
    as_json: bool,
    min_level: str,
    max_bytes: int,
    max_pages: int,
    timeout: float,
    allow_fetching: bool,
    signature_only: bool,
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
            min_level=min_level,
            max_bytes=max_bytes,
            max_pages=max_pages,
            timeout=timeout,
            allow_fetching=allow_fetching,
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
    if not roots:
        click.echo("warning: no trust roots configured; every signer will be untrusted", err=True)
    report = decide(data, policy, signature_only=signature_only)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(report.summary())
    sys.exit(0 if report.accepted else 1)
