"""Start-up: `massager --help` and `massager validate classic` beside their dependency floors.

Each command runs as a whole process, beside its floor measured in the same run:

- `--help` beside `python -c "import typer"`: what any typer program pays before it does
  anything.
- `validate classic` beside a process that does what validate cannot avoid with these
  libraries: `import yaml, typer`, `from pydantic import BaseModel`, parse the files validate
  reads (the profile and the rig, with PyYAML's C loader), and define and validate one small
  pydantic model (pydantic's first model loads the rest of pydantic); and beside the same
  work done as a typer command with validate's parameters (typer builds a pydantic adapter
  for each parameter it parses).

Each command and its floor run in turn, alternating, so a change of load on a shared machine
falls on both; the figure is the median wall time. The children run with bytecode caching on
(as an installed package runs), whatever PYTHONDONTWRITEBYTECODE says here.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from run import Row

from massager import bundled

FLOOR = """
import sys
import yaml, typer
from pydantic import BaseModel, Field
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        yaml.load(f.read(), Loader=yaml.CSafeLoader)
class Step(BaseModel):
    technique: str
    duration: str = Field(min_length=1)
Step.model_validate({"technique": "rub", "duration": "90s"})
"""
"""The validate floor (its argv: the files `validate classic` reads)."""

TYPER_FLOOR = """
import sys
from typing import Annotated
import yaml, typer
from pydantic import BaseModel, Field
class Step(BaseModel):
    technique: str
    duration: str = Field(min_length=1)
app = typer.Typer()
@app.command()
def validate(
    paths: Annotated[list[str], typer.Argument(metavar="PATH")],
    rig: Annotated[str | None, typer.Option("--rig", "-r")] = None,
    strict: Annotated[bool, typer.Option("--strict")] = False,
    session_cap: Annotated[str | None, typer.Option("--session-cap")] = None,
) -> None:
    for path in paths:
        with open(path, encoding="utf-8") as f:
            yaml.load(f.read(), Loader=yaml.CSafeLoader)
    Step.model_validate({"technique": "rub", "duration": "90s"})
app(sys.argv[1:])
"""
"""The same floor as a typer command with validate's four parameters: typer builds a
pydantic adapter for each parameter it parses, a cost of any typer command."""

_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _wall_ms(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True, env=_ENV)
    return (time.perf_counter() - started) * 1000


def paired_ms(command: list[str], floor: list[str], repeats: int) -> tuple[float, float]:
    """Median wall times (ms) of `command` and `floor`, run alternately `repeats` times each."""
    for argv in (command, floor):  # warm the file cache and write the bytecode caches
        subprocess.run(argv, capture_output=True, check=True, env=_ENV)
    mine: list[float] = []
    base: list[float] = []
    for i in range(repeats):
        pair = [(command, mine), (floor, base)]
        for argv, into in pair if i % 2 == 0 else reversed(pair):
            into.append(_wall_ms(argv))
    return statistics.median(mine), statistics.median(base)


def run(quick: bool) -> list[Row]:
    """`--help` beside `import typer`; `validate classic` beside its floor and a bare python."""
    repeats = 5 if quick else 21
    # the script beside this interpreter (the install under test), not whichever is on PATH
    beside = Path(sys.executable).with_name("massager")
    script = str(beside) if beside.is_file() else shutil.which("massager")
    command = [script] if script else [sys.executable, "-m", "massager"]
    python = sys.executable
    files = [str(bundled.find("profiles", "classic")), str(bundled.find("rigs", "reference"))]
    help_ms, typer_ms = paired_ms([*command, "--help"], [python, "-c", "import typer"], repeats)
    validate_ms, floor_ms = paired_ms(
        [*command, "validate", "classic"], [python, "-c", FLOOR, *files], repeats
    )
    typer_validate_ms, typer_floor_ms = paired_ms(
        [*command, "validate", "classic"], [python, "-c", TYPER_FLOOR, *files], repeats
    )
    _, bare_ms = paired_ms([python, "-c", "pass"], [python, "-c", "pass"], repeats)
    return [
        Row("massager --help", help_ms, "ms", 'python -c "import typer"', typer_ms, "< 1.3x"),
        Row(
            "massager validate classic",
            validate_ms,
            "ms",
            "floor: yaml, typer, pydantic; the two files parsed; one model validated",
            floor_ms,
            "< 1.3x",
        ),
        Row(
            "massager validate classic",
            typer_validate_ms,
            "ms",
            "the same floor as a typer command with validate's 4 parameters",
            typer_floor_ms,
            "< 1.3x",
        ),
        Row("massager validate classic", validate_ms, "ms", "python -c pass", bare_ms, "< 300 ms"),
    ]
