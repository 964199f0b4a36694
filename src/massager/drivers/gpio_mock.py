"""Mock pins for trying the GPIO driver on a PC (tests, benchmarks, dry runs).

gpiozero's `MockPWMPin` records each change as the time since the previous
one; `StampedPin` also keeps the absolute clock reading of every change, so a
pin's trace can be laid against the schedule it was meant to follow.
"""

from __future__ import annotations

from typing import Any

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


def mock_factory(pin_class: type[MockPWMPin] = StampedPin) -> MockFactory:
    """A fresh gpiozero mock factory whose pins do PWM and remember when they changed."""
    return MockFactory(pin_class=pin_class)
