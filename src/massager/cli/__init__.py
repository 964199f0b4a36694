"""The `massager` command line. Exit codes: 0 done; 1 invalid input or refused by a
safety limit; 2 usage; 3 device or link failure, or an output (trace, stdout) that could
not be written; 4 safety stop; 130 interrupted (a stop signal, a closed stdout, `massager
off`).

The console script enters through `massager._main`, which catches every stop signal
before this module (and typer) load.
"""

from __future__ import annotations

import importlib
import sys

import typer

_COMMANDS: dict[str, frozenset[str]] = {
    "authoring": frozenset({"list", "validate", "compile", "schema"}),
    "running": frozenset({"run", "simulate", "plot"}),
    "devices": frozenset({"ports", "off"}),
    "importing": frozenset({"import"}),
    "serve": frozenset({"serve", "remote", "history"}),
    "mcu": frozenset({"mcu"}),
    "show": frozenset({"show"}),
}
"""Each command module and the commands (and groups) it registers. A command line naming
one imports only its module; any other (help, a mistyped command) imports them all."""


ONE_SHOT: frozenset[str] = _COMMANDS["authoring"] | _COMMANDS["show"]
"""Commands that read their files, answer and end: they run without the cycle collector
(as the compiler always does), which would only walk the objects start-up made."""


def _command_word(args: list[str]) -> str | None:
    """The command `args` names (its first word that is not an option), None if none."""
    return next((a for a in args if not a.startswith("-")), None)


def collects(argv: list[str]) -> bool:
    """Whether the command `argv` names runs with the cycle collector (all but `ONE_SHOT`
    and the help, version and usage answers)."""
    first = _command_word(argv)
    return first is not None and first not in ONE_SHOT


def _register(argv: list[str] | None = None) -> str | None:
    """Import the command modules `argv` may need; return its command word (None if none)."""
    args = sys.argv[1:] if argv is None else argv
    first = _command_word(args)
    wanted = [m for m, names in _COMMANDS.items() if first in names] or list(_COMMANDS)
    for module in wanted:
        try:
            importlib.import_module(f"massager.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"massager.cli.{module}":
                raise
    return first


def _report(exc: BaseException) -> int:
    """The exit code for `exc`, which ended a command; its message goes to stderr."""

    from massager.errors import MassagerError
    from massager.runtime import stops

    exc = stops.interrupted_by(exc) or exc
    if isinstance(exc, typer.Exit):
        return exc.exit_code
    if isinstance(exc, typer.Abort | KeyboardInterrupt):
        sys.stderr.write("interrupted\n")
        return 130
    if isinstance(exc, typer.TyperException):
        # typer vendors click: its usage errors derive from TyperException
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"{exc}\n")
        return 2
    if isinstance(exc, MassagerError):
        sys.stderr.write(f"{exc}\n")
        return exc.exit_code
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    raise exc  # a bug: its traceback is wanted


def run(argv: list[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]) and return its exit code.

    stdout and stderr are guarded while it runs (`massager.cli.stdio`): a failure to write
    them never raises, and a failed stdout decides the exit code of a command that
    otherwise succeeded. After the command, a stop signal is only recorded, so the outcome
    is always reported whole.
    """
    from massager.cli import stdio
    from massager.runtime import stops

    stdio.open_missing_descriptors()
    with stdio.guarded() as out:
        try:
            try:
                stops.arm()  # a signal that came during start-up is raised here
                from massager.cli.app import click_command

                command = click_command(_register(argv))
                result = command(args=argv, standalone_mode=False, prog_name="massager")
                code = result if isinstance(result, int) else 0
                out.flush()  # the last bytes: a full disk shows here
            finally:
                stops.hold()
        except BaseException as exc:
            code = _report(exc)
        return stdio.outcome(out, code)


def main() -> None:
    """Console-script entry point (kept for installs made before `massager._main`)."""
    from massager._main import main as entry

    entry()
