"""Run the massager command line as its console script does (`massager._main.main`).

With $PIN_LOG set, `--device gpio` puts its device process on mock pins that append every
change to that file (`GpioDriver(pin_log=...)`), so a test can read back, after sending
the child signals or closing its pipes, the state each pin was left in (`final_pins`).
With $OPEN_MARK set, the simulator creates that file as it begins to open (the moment
before it plays), so a test can wait for that event instead of guessing a delay.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def final_pins(log: Path) -> dict[str, float]:
    """The last state of every pin in a pin log ("time pin state" lines)."""
    states: dict[str, float] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            _, pin, state = line.split()
            states[pin] = float(state)
    return states


def _log_pins(path: str) -> None:
    from massager.drivers import gpio

    original = gpio.GpioDriver.__init__

    def init(self: gpio.GpioDriver, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("pin_log", Path(path))
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    gpio.GpioDriver.__init__ = init  # type: ignore[method-assign]


def _mark_open(path: str) -> None:
    from massager.drivers.sim import SimDriver

    original = SimDriver.open

    def open_(self: SimDriver) -> None:
        Path(path).touch()
        original(self)

    SimDriver.open = open_  # type: ignore[method-assign]


if __name__ == "__main__":
    if os.environ.get("PIN_LOG"):
        _log_pins(os.environ["PIN_LOG"])
    if os.environ.get("OPEN_MARK"):
        _mark_open(os.environ["OPEN_MARK"])
    from massager._main import main

    sys.argv[0] = "massager"
    main()
