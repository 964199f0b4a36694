"""Session time against a device's clock: where session time 0 lies, and what pauses added.

Pure arithmetic on unwrapped device microseconds (the clock sync turns the
host's time into those), so it is tested without a device or a real clock.
"""

from __future__ import annotations

from firmware_bridge.ticks import TICKS_MAX


class SessionTimebase:
    """Maps session milliseconds to device time and back, through pauses and recoveries.

    `anchor_us` is the (unwrapped) device time of session time 0 before any
    pause; `shift_us` what the device's pauses have added since (its reported
    ``shift_us`` accumulates, wrapping at 32 bits). While paused, session time
    stands at the moment of the pause; what it reports never goes backwards.
    """

    def __init__(self) -> None:
        self.started = False
        self.paused = False
        self.anchor_us = 0.0
        self.shift_us = 0
        self._shift_raw = 0  # the device's last reported shift_us
        self.frozen_ms = 0.0
        self._reported_ms = 0.0

    def start(self, now_us: float, lead_ms: float) -> None:
        """Session time 0 is `lead_ms` after device time `now_us`."""
        self.anchor_us = now_us + lead_ms * 1000.0
        self.shift_us = 0
        self.started = True

    def at(self, device_us: float) -> float:
        """Session ms at device time `device_us` (0 before start, the pause's while paused)."""
        if not self.started:
            return 0.0
        if self.paused:
            return self.frozen_ms
        return (device_us - self.anchor_us - self.shift_us) / 1000.0

    def now_ms(self, device_us: float) -> float:
        """Session ms at `device_us` as reported: never below 0 nor below an earlier report."""
        t = max(self.at(device_us), self._reported_ms)
        self._reported_ms = t
        return max(0.0, t)

    def device_us(self, at_ms: float) -> float:
        """The unwrapped device time of session time `at_ms`."""
        return self.anchor_us + at_ms * 1000.0 + self.shift_us

    def ticks(self, at_ms: float) -> int:
        """The device clock reading (us, modulo 2**30) of session time `at_ms`."""
        return round(self.device_us(at_ms)) & TICKS_MAX

    def trace_ms(self, device_us: float) -> float:
        """Ms from session time 0 to `device_us`, pauses included (a trace's time)."""
        return (device_us - self.anchor_us) / 1000.0

    def pause(self, device_us: float) -> None:
        """Session time stands still from `device_us`."""
        self.frozen_ms = self.now_ms(device_us)
        self.paused = True

    def resume(self, device_shift_us: int) -> None:
        """Session time runs again; the device's `device_shift_us` says how long it stood."""
        self.take_shift(device_shift_us)
        self.paused = False

    def take_shift(self, device_shift_us: int) -> None:
        """Account for the device's reported pause shift (32-bit, wrapping)."""
        self.shift_us += (device_shift_us - self._shift_raw) & 0xFFFFFFFF
        self._shift_raw = device_shift_us

    def device_shift_is(self, device_shift_us: int) -> None:
        """The device reports `device_shift_us` now (a new session, or after a recovery)."""
        self._shift_raw = device_shift_us

    def resume_at(self, now_us: float, lead_ms: float, t_ms: float) -> None:
        """After a recovery: session time `t_ms` lies `lead_ms` after device time `now_us`."""
        self.anchor_us = now_us + lead_ms * 1000.0 - t_ms * 1000.0
        self.shift_us = 0
        self._reported_ms = min(self._reported_ms, max(t_ms, 0.0))
        if self.paused:
            self.frozen_ms = t_ms
