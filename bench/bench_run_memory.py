"""`massager run` peak memory, as a whole process (target: under 80 MB, for a Pi Zero 2 W)

Each command runs as a child process; its peak resident set size comes from
`os.wait4` (ru_maxrss, the child's own). The baseline, measured in the same
run, is an interpreter that only imports massager.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading

from run import Row

TARGET_MB = 80.0


def peak_mb(args: list[str], terminal: bool = False) -> float:
    """Peak resident memory of `python args...` in MB; raises if it fails.

    With `terminal`, stdout is a pseudo-terminal (so `massager run` draws its live view).
    """
    master = slave = -1
    drain: threading.Thread | None = None
    stdout: int = subprocess.DEVNULL
    if terminal:
        master, slave = os.openpty()
        stdout = slave
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "100", "LINES": "40"},
    )
    if terminal:
        os.close(slave)

        def read_all() -> None:
            with contextlib.suppress(OSError):
                while os.read(master, 65536):
                    pass

        drain = threading.Thread(target=read_all, daemon=True)
        drain.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if drain is not None:
        os.close(master)
        drain.join(timeout=1)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}: {err.strip()}")
    return usage.ru_maxrss / 1024.0  # Linux reports kilobytes


def run(quick: bool) -> list[Row]:
    """Peak memory of `massager run` and `massager simulate` beside `import massager`."""
    repeats = 1 if quick else 3
    base = min(peak_mb(["-c", "import massager"]) for _ in range(repeats))
    bare = min(peak_mb(["-c", "pass"]) for _ in range(repeats))
    speed = "200"
    running = min(
        peak_mb(["-m", "massager", "run", "classic", "--speed", speed]) for _ in range(repeats)
    )
    run_args = ["-m", "massager", "run", "classic", "--speed", speed]
    live = min(peak_mb(run_args, terminal=True) for _ in range(repeats))
    simulating = min(peak_mb(["-m", "massager", "simulate", "classic"]) for _ in range(repeats))
    return [
        Row(
            f"`massager run classic --speed {speed}` peak RSS (plain output)",
            running,
            "MB",
            "`python -c 'import massager'`",
            base,
            target=f"< {TARGET_MB:g} MB",
        ),
        Row(
            f"`massager run classic --speed {speed}` peak RSS (live view on a terminal)",
            live,
            "MB",
            "`python -c 'import massager'`",
            base,
            target=f"< {TARGET_MB:g} MB",
        ),
        Row(
            "`massager simulate classic` peak RSS",
            simulating,
            "MB",
            "`python -c 'import massager'`",
            base,
        ),
        Row("bare interpreter peak RSS", bare, "MB", "`python -c 'import massager'`", base),
    ]
