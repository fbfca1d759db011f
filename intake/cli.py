"""The ``docintake`` command.

Subcommands are loaded by dotted name when used, so ``intake`` names the
worker's commands the same way it names RQ jobs, never importing worker
internals, and ``docintake verify`` starts without loading Flask or SQLAlchemy.
"""

from __future__ import annotations

import importlib

import click

#: command name -> "module:attribute" of a click command or group.
COMMANDS: dict[str, str] = {
    "verify": "verify.cli:verify_command",
    "form": "forms.cli:form",
    "db": "intake.store.db_cli:db",
    "profiles": "worker.profiles_cli:profiles",
    "submissions": "intake.store.submissions_cli:submissions",
    "poll": "intake.mailin.poller:poll_command",
    "worker": "worker.cli:worker_command",
    "reconcile": "intake.queue.reconcile:reconcile_command",
    "run": "intake.run:run_command",
    "demo": "worker.demo:demo_command",
    "web": "intake.web.cli:web_command",
    "users": "intake.web.cli:users",
    "bench": "worker.bench.command:bench_command",
    "trust": "intake.trust.cli:trust",
    "campaign": "intake.campaigns.cli:campaign",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default=None, help="Logging level (default: DOCINTAKE_LOG_LEVEL or INFO).")
@click.pass_context
def main(ctx: click.Context, log_level: str | None) -> None:
    """docintake: signed PDF data forms from the mailbox to the customer profile."""
    from intake.logs import configure_logging

    configure_logging(log_level)
    if ctx.invoked_subcommand == "verify":
        ctx.default_map = {"verify": verify_defaults()}


def verify_defaults() -> dict:
    """The installation's trust settings as the defaults of ``docintake verify`` (click's default_map),
    so that the command line judges a form as the pipeline does; verify never imports intake."""
    from intake.config import load_settings

    try:
        settings = load_settings(secret_key="unused-by-verify")  # no secret file written for a verify
    except (ValueError, OSError) as exc:
        raise click.UsageError(f"the configuration cannot be read: {exc}") from exc
    defaults: dict = {
        "require_qualified": settings.require_qualified,
        "allow_fetching": settings.allow_fetching,
        "min_level": settings.min_level,
        "max_bytes": settings.max_pdf_bytes,
        "max_pages": settings.max_pages,
        "timeout": settings.decision_timeout,
        "countries": list(settings.trust_countries),
    }
    if settings.trust_roots:
        defaults["trust_roots"] = [str(p) for p in settings.trust_roots]
    if settings.resolved_trust_lists is not None:
        defaults["trust_lists"] = str(settings.resolved_trust_lists)
    return defaults


if __name__ == "__main__":  # pragma: no cover
    main()
