"""Bounded answers: validate, compile, plot of hostile inputs as processes (5 s, 500 MB)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import Row

SAFE_LOAD = "import sys, yaml\nfor f in sys.argv[1:]:\n    yaml.safe_load(open(f))\n"
C_LOAD = (
    "import sys, yaml\nfor f in sys.argv[1:]:\n    yaml.load(open(f), Loader=yaml.CSafeLoader)\n"
)
PLOT_BASE = (
    "import sys, matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
    "plt.figure(figsize=(13, 4)); plt.savefig(sys.argv[1])\n"
)


def measure(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def _inputs(folder: Path) -> dict[str, list[str]]:
    """Write the hostile inputs; each case's files."""
    for i in range(6):  # the fan-out: six small files, each including the next 6 times
        (folder / f"f{i}.yaml").write_text(
            f"name: fanout-{i}\nsteps:\n" + f"  - include: f{i + 1}\n" * 6
        )
    (folder / "f6.yaml").write_text(
        "name: fanout-6\nsteps:\n  - {technique: rest, duration: 1ms}\n"
    )
    nested = "steps:\n" + "".join(
        "  " * (i + 1) + "- repeat: 2\n" + "  " * (i + 1) + "  steps:\n" for i in range(20)
    )
    (folder / "nested.yaml").write_text(nested + "  " * 21 + "- {technique: rest, duration: 1ms}\n")
    (folder / "millions.yaml").write_text(
        "steps:\n  - repeat: 3600000\n    steps:\n      - {technique: rest, duration: 1ms}\n"
    )
    one = "  - {technique: rest, duration: 1ms}\n"
    (folder / "big.yaml").write_text("steps:\n" + one * ((1_000_000 - 10) // len(one)))
    (folder / "plot.yaml").write_text(
        "steps:\n"
        + "  - {technique: rub, duration: 1s}\n  - {technique: vibrate, duration: 1s}\n" * 5000
    )
    (folder / "deep.yaml").write_text("a: " + "[" * 999_990 + "\n")
    (folder / "small.yaml").write_text("steps:\n  - {technique: rest, duration: 1s}\n")
    return {
        "fanout": [f"f{i}.yaml" for i in range(7)],
        "nested": ["nested.yaml"],
        "millions": ["millions.yaml"],
        "big": ["big.yaml"],
        "plot": ["plot.yaml"],
        "deep": ["deep.yaml"],
        "small": ["small.yaml"],
    }


def run(quick: bool) -> list[Row]:
    """Each case as a whole process beside a process that only reads the same YAML."""
    rows: list[Row] = []
    massager = [sys.executable, "-m", "massager"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = _inputs(folder)
        cases = [
            (
                "validate: a one-step profile (the start-up floor)",
                "small",
                [*massager, "validate", "small.yaml"],
                SAFE_LOAD,
                "yaml.safe_load of the file",
            ),
            (
                "validate: include fan-out, 7 files (6^6 = 46,656 steps)",
                "fanout",
                [*massager, "validate", "f0.yaml"],
                SAFE_LOAD,
                "yaml.safe_load of the 7 files",
            ),
            (
                "compile: 20 nested repeat: 2 (refused before expanding)",
                "nested",
                [*massager, "compile", "nested.yaml", "-o", "out.jsonl"],
                SAFE_LOAD,
                "yaml.safe_load of the file",
            ),
            (
                "compile --session-cap 60m: repeat 3,600,000 of 1 ms (refused)",
                "millions",
                [*massager, "compile", "millions.yaml", "--session-cap", "60m", "-o", "out.jsonl"],
                SAFE_LOAD,
                "yaml.safe_load of the file",
            ),
            (
                "validate: a 1 MB file of 27,000 steps",
                "big",
                [*massager, "validate", "big.yaml"],
                SAFE_LOAD,
                "yaml.safe_load of the file",
            ),
            (
                "validate: 1 MB of nested brackets (refused)",
                "deep",
                [*massager, "validate", "deep.yaml"],
                C_LOAD,
                "libyaml's safe load of the file",
            ),
        ]
        if not quick:
            cases.append(
                (
                    "plot: 10,000 steps (16 min 40 s)",
                    "plot",
                    [*massager, "plot", "plot.yaml", "-o", "plot.png"],
                    PLOT_BASE,
                    "matplotlib: import pyplot, save an empty figure",
                ),
            )
        for title, key, argv, base_script, base_name in cases:
            seconds, mb = measure(argv, folder)
            base_args = ["plot-base.png"] if base_script is PLOT_BASE else files[key]
            base_s, base_mb = measure([sys.executable, "-c", base_script, *base_args], folder)
            rows.append(Row(f"{title}: wall", seconds, "s", base_name, base_s, "< 5 s"))
            rows.append(Row(f"{title}: peak RSS", mb, "MB", base_name, base_mb, "< 500 MB"))
    return rows
