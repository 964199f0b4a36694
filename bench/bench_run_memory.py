"""`massager run` peak memory, as a whole process (target: under 45 MB, for a Pi Zero 2 W)

Each command runs as a grandchild, started by a small launcher process that
reads its peak resident set size from `os.wait4` (ru_maxrss, the process's
own). The launcher matters: Linux carries a process's peak across fork and
exec, so a command started straight from this (large) benchmark process
would report the benchmark's size. The baseline, measured in the same run, is
an interpreter that only imports massager.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading

from run import Row

TARGET_MB = 45.0
LAUNCHER = """
import os, sys
pid = os.spawnv(os.P_NOWAIT, sys.executable, [sys.executable, *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


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
    fd, report = tempfile.mkstemp(prefix="massager-rss-")
    os.close(fd)
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, report, *args],
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
    proc.wait()
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if drain is not None:
        os.close(master)
        drain.join(timeout=1)
    with open(report) as handle:
        text = handle.read()
    os.unlink(report)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}: {err.strip()}")
    return int(text) / 1024.0  # Linux reports kilobytes


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
