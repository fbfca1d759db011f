"""The ``docintake`` command: every subcommand loads, is listed with its short help, and answers --help."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from intake.cli import COMMANDS, main


def _all_commands() -> list[tuple[str, ...]]:
    """Every command path (``("db", "upgrade")``...), groups and their subcommands alike."""
    paths: list[tuple[str, ...]] = []
    ctx = click.Context(main)
    for name in sorted(COMMANDS):
        cmd = main.get_command(ctx, name)
        paths.append((name,))
        if isinstance(cmd, click.Group):
            paths += [(name, sub) for sub in sorted(cmd.commands)]
    return paths


def test_help_lists_every_command_with_its_short_help():
    """In a fresh interpreter, as a user would run it (each command is imported lazily)."""
    proc = subprocess.run([sys.executable, "-m", "intake.cli", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed = {}
    section = proc.stdout.split("Commands:", 1)[1]
    for line in section.splitlines():
        if line.strip():
            name, _, short = line.strip().partition(" ")
            listed[name] = short.strip()
    assert sorted(listed) == sorted(COMMANDS)
    assert all(listed.values()), listed  # every command has a short help


def test_every_command_loads_and_has_a_docstring():
    ctx = click.Context(main)
    for name in COMMANDS:
        cmd = main.get_command(ctx, name)
        assert isinstance(cmd, click.Command), name
        assert cmd.get_short_help_str().strip(), name


@pytest.mark.parametrize("path", _all_commands(), ids=" ".join)
def test_command_help(path):
    result = CliRunner().invoke(main, [*path, "--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"Usage: main {' '.join(path)} " in result.output
