"""Start-up: `massager --help` and `massager validate classic` as whole processes."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time

from run import Row


def wall_ms(argv: list[str], repeats: int) -> float:
    """Median wall time of running `argv` to completion, in milliseconds."""
    subprocess.run(argv, capture_output=True, check=False)  # warm the file cache
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(quick: bool) -> list[Row]:
    """Measure each command against a bare `python -c pass` in the same run."""
    repeats = 5 if quick else 21
    script = shutil.which("massager")
    command = [script] if script else [sys.executable, "-m", "massager"]
    baseline = wall_ms([sys.executable, "-c", "pass"], repeats)
    return [
        Row(
            "massager --help",
            wall_ms([*command, "--help"], repeats),
            "ms",
            "python -c pass",
            baseline,
            "< 150 ms",
        ),
        Row(
            "massager validate classic",
            wall_ms([*command, "validate", "classic"], repeats),
            "ms",
            "python -c pass",
            baseline,
            "< 300 ms",
        ),
    ]
