"""The Typer application every command module registers its commands on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="massager",
    help="Drive a motorized foot massager: author, check, compile and run massage profiles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help: typer's rich help costs ~80 ms of imports on every --help
    rich_markup_mode=None,
)
