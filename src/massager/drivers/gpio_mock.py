"""Mock pins for trying the GPIO driver on a PC (tests, benchmarks, dry runs).

gpiozero's `MockPWMPin` records each change as the time since the previous
one; `StampedPin` also keeps the absolute clock reading of every change, so a
pin's trace can be laid against the schedule it was meant to follow. In the
GPIO device process on logged mock pins (``--pin-log``), SIGUSR1 presses or
releases the emergency-stop button and SIGUSR2 does the same with the edge
lost (no callback: only the device's per-tick poll can see it). The pin log also
notes each read that brought the host's frames (``time HOST frames``).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TextIO

from gpiozero.pins.mock import MockFactory, MockPWMPin


class StampedPin(MockPWMPin):  # type: ignore[misc]
    """A mock PWM pin that also keeps `(clock reading, state)` of each change in `stamps`."""

    def __init__(self, factory: Any, info: Any) -> None:
        self.stamps: list[tuple[float, float]] = []
        super().__init__(factory, info)

    def _change_state(self, value: Any) -> bool:
        changed = bool(super()._change_state(value))
        if changed:
            self.stamps.append((self._last_change, float(value)))
        return changed


class LoggedPin(MockPWMPin):  # type: ignore[misc]
    """A mock PWM pin that appends ``time.monotonic() pin state`` to `log` at each change.

    The log is how a test or benchmark outside the process sees its pins (the
    GPIO device process with ``--pin-log``); time.monotonic is the system's one
    monotonic clock, so the times compare across processes.
    """

    log: ClassVar[TextIO | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()  # pins change in several threads

    def _change_state(self, value: Any) -> bool:
        changed = bool(super()._change_state(value))
        log = LoggedPin.log
        if changed and log is not None:
            with LoggedPin._lock:
                log.write(f"{time.monotonic():.6f} {self._info.name} {float(value):g}\n")
                log.flush()
        return changed


def log_host_frames() -> Callable[[float, int], None] | None:
    """A `GpioMcu.on_heard` that puts ``time HOST frames`` lines in the pin log (when one is
    open): when the device last heard its host, beside what its pins did."""
    if LoggedPin.log is None:
        return None

    def heard(at: float, frames: int) -> None:
        log = LoggedPin.log
        if log is not None:
            with LoggedPin._lock:
                log.write(f"{at:.6f} HOST {frames}\n")
                log.flush()

    return heard


def logged_factory(path: Path) -> MockFactory:
    """A mock factory whose pins log every change to `path` (appended; see LoggedPin)."""
    LoggedPin.log = path.open("a", buffering=1)
    return MockFactory(pin_class=LoggedPin)


def mock_factory(pin_class: type[MockPWMPin] = StampedPin) -> MockFactory:
    """A fresh gpiozero mock factory whose pins do PWM and remember when they changed."""
    return MockFactory(pin_class=pin_class)


PRESS_SIGNAL = signal.SIGUSR1
"""Sent to a device process on mock pins: press (or release) the emergency stop."""
SILENT_PRESS_SIGNAL = signal.SIGUSR2
"""The same, with the button's edge lost: no callback runs, only the per-tick poll sees it."""


def press_on_signals(factory: MockFactory, pin: int) -> None:
    """Let PRESS_SIGNAL and SILENT_PRESS_SIGNAL toggle the button on mock `pin` (main thread).

    The button is pulled up: pressed is low. Each toggle is a change of the pin,
    logged like any other by a `LoggedPin`.
    """

    def toggle(edge: bool) -> None:
        button = factory.pin(pin)
        if edge:
            button.drive_high() if not button.state else button.drive_low()
        else:
            button._change_state(not button.state)  # the state moves, no edge is seen

    def on_signal(signum: int, frame: object) -> None:
        # the pin moves in a thread of its own, as a real edge arrives from gpiozero's:
        # a signal handler must not write pins (or their log) the main loop may be writing
        threading.Thread(target=toggle, args=(signum == PRESS_SIGNAL,), daemon=True).start()

    signal.signal(PRESS_SIGNAL, on_signal)
    signal.signal(SILENT_PRESS_SIGNAL, on_signal)
