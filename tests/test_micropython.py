"""The firmware on real MicroPython: its WebAssembly port (npm), under Node.js.

`tests/micropython/run.mjs` loads every file of firmware_bridge/ unchanged into
MicroPython's file system and runs a script there. The pinned conversation
(tests/data/vectors) is replayed through the firmware's Device and must give
the device's bytes exactly; an executor scenario (waves, ramps, slew, on-time
cut, pause, watchdog, a clock wrap) must write the same outputs at the same
device times as on CPython. .ci/run installs the port into .mpy-wasm/; so does
the first test here that needs it, with the same command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from test_codec_vectors import CONVERSATION, read_hex

REPO = Path(__file__).resolve().parent.parent
HERE = REPO / "tests" / "micropython"
PACKAGE = "@micropython/micropython-webassembly-pyscript@1.27.0"
"""The port .ci/run installs (keep the two in step)."""
WASM_DIR = REPO / ".mpy-wasm"
MODULE = WASM_DIR / "node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs"


def install() -> None:
    """Install the WebAssembly port into .mpy-wasm/ (what .ci/run does), if it is not there."""
    if MODULE.exists():
        return
    npm = shutil.which("npm")
    assert npm is not None, "npm (Node.js) is needed to run the firmware on MicroPython"
    subprocess.run(
        [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(WASM_DIR), PACKAGE],
        check=True,
        timeout=600,
    )


def on_micropython(script: Path | str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run `script` (a path, or source text) on MicroPython with the firmware loaded."""
    install()
    node = shutil.which("node")
    assert node is not None, "Node.js is needed to run the firmware on MicroPython"
    path = Path(script) if isinstance(script, Path) else None
    if path is None:
        path = WASM_DIR / "inline_script.py"
        path.write_text(str(script))
    return subprocess.run(
        [node, str(HERE / "run.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def output_of(script: Path) -> str:
    """The stdout of `script` on MicroPython; fails the test on a Python exception."""
    proc = on_micropython(script)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_it_runs_micropython_itself() -> None:
    proc = on_micropython("import sys\nprint(sys.implementation.name)\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["micropython"]


def test_what_micropython_lacks_fails_there() -> None:
    # the check has teeth: CPython-only code does not pass on the port
    proc = on_micropython("import dataclasses\n")
    assert proc.returncode == 1
    assert "ImportError" in proc.stderr


def test_every_deployed_module_imports_and_main_boots_into_maintenance_mode() -> None:
    lines = output_of(HERE / "import_all.py").splitlines()
    deployed = sorted(
        p.stem
        for p in (REPO / "firmware_bridge").glob("*.py")
        if p.stem not in ("virtual", "names", "hal_types")  # host only
    )
    imported = sorted(ln.split()[1] for ln in lines if ln.startswith("imported "))
    assert imported == sorted(n for n in deployed if n != "__init__")
    assert "duties [0] 16" in lines  # every PWM output at zero, the loop never started
    assert "roller 32768 0" in lines  # half speed backwards: duty 32768, direction pin low
    assert "temp 24.999" in lines
    assert "estop True" in lines


def expected_device_frames() -> dict[str, list[str]]:
    """For each host vector in the conversation, the device vectors that answer it (hex)."""
    out: dict[str, list[str]] = {}
    current: str | None = None
    for vector in CONVERSATION:
        if vector.sender == "host":
            current = None if vector.name == "39-stuffing" else vector.name
            if current is not None:
                out[current] = []
        elif current is not None:
            out[current].append(read_hex(vector.path).hex())
    return out


def test_the_pinned_conversation_gives_the_same_bytes_on_micropython() -> None:
    lines = output_of(HERE / "replay_vectors.py").splitlines()
    codec_lines = [ln for ln in lines if ln.startswith("codec ")]
    assert len(codec_lines) == len(CONVERSATION)
    assert all(ln.endswith(" ok") for ln in codec_lines), codec_lines
    replies = {}
    for ln in lines:
        if ln.startswith("device "):
            _, name, *frames = ln.split(" ")
            replies[name] = frames[0].split(",") if frames and frames[0] else []
    assert replies == expected_device_frames()


def run_scenario_on_cpython() -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, str(HERE / "executor_scenario.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def parse(out: str) -> list[list[str]]:
    return [ln.split(" ") for ln in out.splitlines()]


def same_line(a: list[str], b: list[str]) -> bool:
    """Equal, except floats (MicroPython prints more digits) equal to 1e-12."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        try:
            if abs(float(x) - float(y)) > 1e-12:
                return False
        except ValueError:
            return False
    return True


def test_the_executor_scenario_writes_the_same_outputs_on_micropython_and_cpython() -> None:
    mpy = parse(output_of(HERE / "executor_scenario.py"))
    cpy = parse(run_scenario_on_cpython())
    assert len(mpy) == len(cpy)
    differ = [(m, c) for m, c in zip(mpy, cpy, strict=True) if not same_line(m, c)]
    assert differ == []
    # the scenario does what it claims: refusals, a cut, a watchdog trip, a crossed wrap
    sched = [ln[1] for ln in cpy if ln[0] == "sched"]
    assert sched.count("2") == 1 and sched.count("1") == 1  # over the limit; late
    end = next(ln for ln in cpy if ln[:2] == ["end", "1"])  # faults: watchdog
    assert int(end[2]) & 2  # the vibration motor's on-time cut
    times = [int(ln[1]) for ln in cpy if ln[0] == "out"]
    assert max(times) > 1 << 29 and min(times) < 1 << 29  # outputs on both sides of the wrap
    channels = {ln[2] for ln in cpy if ln[0] == "out"}
    assert channels == {"0", "1", "2", "3"}
