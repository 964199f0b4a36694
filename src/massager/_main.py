"""The `massager` console script's entry point (and `python -m massager`).

It catches every stop signal (`massager.runtime.stops`) before anything heavy
loads, so a Ctrl-C or a SIGTERM at any moment of start-up ends cleanly with
130; then it loads the command line and runs it.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Catch every stop signal, run the command line, exit with its code."""
    from massager.runtime import stops

    stops.install()  # from here on a signal is at least recorded; run() acts on it
    from massager.cli import run, stdio

    code = run()
    stdio.settle()
    stops.block()  # the outcome is decided: no raw signal status from here to the exit
    sys.exit(code)
