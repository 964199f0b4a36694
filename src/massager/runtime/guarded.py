"""The driver as a session calls it: every failure a DeviceError, every poll checked.

Only the thread that runs the session calls these. A poll that shows a latched
device fault raises SafetyStop; a trace that could not be written asks the
session to end (`Controls.abort`), so it ramps down first and reports it after.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

from massager.drivers.base import DeviceStatus, Driver, fault_advice
from massager.errors import DeviceError, MassagerError, SafetyStop
from massager.runtime.controls import Controls
from massager.units import clock_text

T = TypeVar("T")


class GuardedDriver:
    """Calls `driver` for one session and keeps what its last poll said."""

    def __init__(self, driver: Driver, controls: Controls) -> None:
        self.driver = driver
        self.controls = controls
        self.last_status: DeviceStatus | None = None
        self.session_ms = 0.0
        """The device's session time at the last poll."""

    def call(self, action: Callable[..., T], *args: Any) -> T:
        """Call the driver; any failure of it becomes a DeviceError."""
        try:
            return action(*args)
        except MassagerError:
            raise
        except Exception as exc:
            raise DeviceError(
                f"{self.driver.name}: {type(exc).__name__}: {exc}; every output was turned off"
            ) from exc

    def poll(self) -> DeviceStatus:
        """Poll the device; raises SafetyStop when it reports a latched fault."""
        return self._checked(self.call(self.driver.poll))

    def poll_quiet(self, until_ms: float, gap_ms: float) -> DeviceStatus:
        """Poll the device through a stretch with nothing to do before session time
        `until_ms`, polls `gap_ms` apart (`Driver.poll_quiet`); checked as `poll`."""
        quiet = self.driver.poll_quiet
        return self._checked(self.call(quiet, until_ms, gap_ms, self.controls.waiting))

    def _checked(self, status: DeviceStatus) -> DeviceStatus:
        """Keep what a poll said; a trace write failure aborts the session, a latched fault
        raises SafetyStop."""
        if self.controls.error is None:
            failure = self.driver.trace_failure()
            if failure is not None:
                self.controls.abort(failure)  # ramp down, then report it
        self.last_status = status
        self.session_ms = status.session_ms
        if status.faults:
            names = ", ".join(status.faults)
            raise SafetyStop(
                f"safety stop on the device ({names}) at {clock_text(status.session_ms)}; "
                f"every output is off{fault_advice(status.faults)}"
            )
        return status

    def off(self) -> None:
        """Every output off at once, whatever fails (the session is failing already)."""
        with suppress(Exception):
            self.driver.off()

    def close(self) -> None:
        """Stop, turn off and close the device; each is tried whatever the one before did."""
        for action in (self.driver.stop, self.driver.off, self.driver.close):
            with suppress(Exception):
                action()
