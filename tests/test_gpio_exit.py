"""Every way out of a process driving the GPIO leaves the pins low: SIGTERM, SIGINT, a crash.

Each test runs a small program in a child process on gpiozero's mock pins,
so the interpreter's real signal handling and exit path are what is tested.
The child reports its pins' states as JSON on its last line of output.
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).parent

PRELUDE = textwrap.dedent(
    """
    import atexit, json, sys
    sys.path.insert(0, {here!r})
    from gpio_support import OUTPUT_PINS, RIG, pwm_factory, write_w1
    from test_gpio_driver import steady
    from massager.drivers.gpio import GpioDriver
    from pathlib import Path
    import tempfile

    factory = pwm_factory()

    def report():
        states = {{p: float(factory.pin(p).state) for p in OUTPUT_PINS}}
        print(json.dumps(states), flush=True)

    w1 = write_w1(Path(tempfile.mkdtemp()), 30.0)
    driver = GpioDriver(RIG, pin_factory=factory, w1_root=w1)
    """
)

SESSION = PRELUDE + textwrap.dedent(
    """
    from massager.errors import MassagerError
    from massager.runtime.events import Progress
    from massager.runtime.session import Session

    session = Session(steady(60_000), driver, handle_signals=True)
    told = []

    def ready(event):
        if not told and not all(factory.pin(p).state == 0 for p in OUTPUT_PINS):
            told.append(1)
            print("running", flush=True)

    session.bus.subscribe(ready, Progress)
    try:
        session.run()
    except MassagerError as exc:
        report()
        sys.exit(exc.exit_code)
    """
)

CRASH = PRELUDE + textwrap.dedent(
    """
    import time
    atexit.register(report)  # runs after the driver's own exit handler (registered later)
    driver.open()
    driver.send(steady().commands[:5])
    driver.start()
    deadline = time.monotonic() + 30  # a hang guard: session time 0 lies a short lead ahead
    while not any(factory.pin(p).state for p in OUTPUT_PINS) and time.monotonic() < deadline:
        time.sleep(0.01)  # polling for the pins to rise, however late a loaded machine is
    print("running", json.dumps({{p: float(factory.pin(p).state) for p in OUTPUT_PINS}}))
    raise RuntimeError("a bug in the program using the driver")
    """
)


def _child(source: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", source.format(here=str(HERE))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_ramps_down_and_leaves_every_pin_low(sig: signal.Signals) -> None:
    child = _child(SESSION)
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 60)  # a hang guard
        assert ready, "the child said nothing in 60 s"
        assert child.stdout.readline().strip() == "running"
        child.send_signal(sig)
        out, err = child.communicate(timeout=60)  # a hang guard
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, err
    states = json.loads(out.strip().splitlines()[-1])
    assert states and all(v == 0.0 for v in states.values()), states


def test_uncaught_exception_leaves_every_pin_low() -> None:
    child = _child(CRASH)
    try:
        out, err = child.communicate(timeout=60)  # a hang guard
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 1
    assert "a bug in the program" in err
    lines = out.strip().splitlines()
    running = json.loads(lines[0].removeprefix("running "))
    assert any(v != 0.0 for v in running.values())  # outputs were on when it crashed
    states = json.loads(lines[-1])
    assert all(v == 0.0 for v in states.values()), states
