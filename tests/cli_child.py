"""Run the massager command line as its console script does (`massager._main.main`).

With $PIN_LOG set, `--device gpio` puts its device process on mock pins that append every
change to that file (`GpioDriver(pin_log=...)`), so a test can read back, after sending
the child signals or closing its pipes, the state each pin was left in (`final_pins`).
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


if __name__ == "__main__":
    if os.environ.get("PIN_LOG"):
        _log_pins(os.environ["PIN_LOG"])
    from massager._main import main

    sys.argv[0] = "massager"
    main()
