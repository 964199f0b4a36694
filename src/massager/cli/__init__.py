"""The `massager` command line. Exit codes: 0 done; 1 invalid input or refused by a
safety limit; 2 usage; 3 device or link failure; 4 safety stop; 130 interrupted."""

from __future__ import annotations

import importlib
import sys

import typer

from massager.cli.app import app
from massager.errors import MassagerError

_COMMAND_MODULES = ("authoring", "running", "devices", "importing", "serve", "mcu", "show")
_ONLY_FOR: dict[str, frozenset[str]] = {
    "show": frozenset({"show"}),
    "serve": frozenset({"serve", "remote", "history"}),
    "mcu": frozenset({"mcu"}),
    "importing": frozenset({"import"}),
}
"""Modules registered only when their commands are asked for (or for help): typer builds
every registered command on each run, and `massager off` must stay quick."""


def _register(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    first = next((a for a in args if not a.startswith("-")), None)
    for module in _COMMAND_MODULES:
        only = _ONLY_FOR.get(module)
        if only is not None and first is not None and first not in only:
            continue
        try:
            importlib.import_module(f"massager.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"massager.cli.{module}":
                raise


def run(argv: list[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]) and return its exit code."""
    _register(argv)
    try:
        result = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        sys.stderr.write("interrupted\n")
        return 130
    except typer.TyperException as exc:
        # typer vendors click: its usage errors derive from TyperException
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"{exc}\n")
        return 2
    except MassagerError as exc:
        sys.stderr.write(f"{exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
