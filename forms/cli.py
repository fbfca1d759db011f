"""``docintake form``: the blank form from the command line."""

from __future__ import annotations

import click

from forms.blank import LANGS, render_blank


@click.group()
def form() -> None:
    """The customer data form."""


@form.command()
@click.option("--lang", type=click.Choice(LANGS), default="lv", show_default=True,
              help="Language whose labels come first.")
@click.option("-o", "--output", type=click.File("wb"), required=True, help="Where to write the PDF ('-': stdout).")
def blank(lang: str, output) -> None:
    """Write the blank, fillable customer data form."""
    output.write(render_blank(lang))
