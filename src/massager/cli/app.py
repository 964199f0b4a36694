"""The Typer application every command module registers its commands on.

Help shows plain metavars, the way argparse and click do: an argument by its name
(`PROFILE`, `[KIND]`, `PATH...`), an option's value by its metavar or, failing one, `PATH` for a
path and the option's name in capitals for the rest (`--rig RIG`, `--speed SPEED`), never
a Python type name.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
import typer.main
from typer.core import TyperArgument, TyperCommand, TyperOption
from typer.models import CommandInfo

F = TypeVar("F", bound=Callable[..., Any])

HELP = "Drive a motorized foot massager: author, check, compile and run massage profiles."


def _argument_label(param: TyperArgument) -> str:
    """`PROFILE`, `[KIND]` or `PATH...`: how the usage line and the help name an argument."""
    label = param.metavar or (param.name or "").upper()
    if not param.required:
        label = f"[{label}]"
    return f"{label}..." if param.nargs != 1 else label


class PlainCommand(TyperCommand):
    """A command whose help names values by metavar, never by type (`<str>`, `{PROFILE}`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
            if param.metavar is None and not flag and param.name:
                kind = getattr(param, "type_descriptor", None)
                path = isinstance(param, TyperOption) and getattr(kind, "is_path", False)
                param.metavar = "PATH" if path else param.name.upper()

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """`[OPTIONS]` then each argument as `_argument_label` writes it."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(_argument_label(param))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        """The Arguments and Options sections, arguments named without their type."""
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if isinstance(param, TyperArgument):
                arguments.append((_argument_label(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class App(typer.Typer):
    """A Typer app whose commands are `PlainCommand`s (the top level and its groups)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("pretty_exceptions_enable", False)
        # plain help: typer's rich help costs ~80 ms of imports on every --help
        kwargs.setdefault("rich_markup_mode", None)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
        """Register a command (as `typer.Typer.command`), made a `PlainCommand`."""
        kwargs.setdefault("cls", PlainCommand)
        return super().command(name, **kwargs)


app = App(name="massager", help=HELP, add_completion=True)


def _print_version(value: bool) -> None:
    if value:
        from massager import __version__

        typer.echo(f"massager {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print massager's version and exit.",
        ),
    ] = False,
) -> None:
    """The top level, before any command: `--version` (the help is `HELP`)."""


def _no_parameters() -> None:
    """Stands in for a command that is listed in the help but not run."""


def _listed(name: str, help_text: str | None, hidden: bool) -> CommandInfo:
    return CommandInfo(
        name, cls=PlainCommand, callback=_no_parameters, help=help_text, hidden=hidden
    )


def click_command(first: str | None) -> Any:
    """The click command that runs a command line whose first word is `first`.

    Typer builds every registered command's parameters (a signature, type hints and a
    pydantic adapter each) on every run, so only the command asked for is built. With no
    command word (`--help`, `--version`, none at all) the others are listed by name and help
    only; shell completion (`_MASSAGER_COMPLETE`) gets the whole tree.
    """
    if os.environ.get("_MASSAGER_COMPLETE"):
        return typer.main.get_command(app)
    view = copy.copy(app)
    commands = {
        info.name or typer.main.get_command_name(info.callback.__name__): info
        for info in app.registered_commands
        if info.callback is not None
    }
    groups = {info.name: info for info in app.registered_groups if info.name}
    if first in commands:
        view.registered_commands, view.registered_groups = [commands[first]], []
    elif first in groups:
        view.registered_commands, view.registered_groups = [], [groups[first]]
    else:
        view.registered_commands = [
            _listed(name, info.help or inspect.getdoc(info.callback), info.hidden)
            for name, info in commands.items()
        ]
        view.registered_commands += [
            _listed(name, typer.main.solve_typer_info_help(info), bool(info.hidden))
            for name, info in groups.items()
        ]
        view.registered_groups = []
    return typer.main.get_command(view)
