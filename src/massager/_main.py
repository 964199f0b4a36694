"""The `massager` console script's entry point (and `python -m massager`).

It catches every stop signal (`massager.runtime.stops`) before anything heavy
loads, so a Ctrl-C or a SIGTERM at any moment of start-up ends cleanly with
130; then it loads the command line and runs it.

Start-up runs without the cycle collector: it allocates what lives until the process
ends (modules, classes, functions), so the collector's passes over the growing heap
free nothing (about 38 M instructions of `massager validate`). It is turned back on
before any command but the one-shot authoring ones (`massager.cli.collects`).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Catch every stop signal, run the command line, exit with its code."""
    import gc

    gc.disable()  # until the command line is loaded (see above)
    from massager.runtime import stops

    stops.install()  # from here on a signal is at least recorded; run() acts on it
    from massager.cli import collects, run, stdio

    if collects(sys.argv[1:]):
        gc.enable()
    code = run()
    stdio.settle()
    stops.block()  # the outcome is decided: no raw signal status from here to the exit
    sys.exit(code)
