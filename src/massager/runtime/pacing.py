"""A session's timing: how often it wakes, how far ahead it sends, and its time limits.

All figures are clock ms (the driver's clock). On a clock slower than real time
(`speed` below 1) the heartbeat and the ramp-down limit shrink with it, so they
stay the same real time; a stalled device and a pause left alone are judged in
real time at any speed (2 s of clock time is 7 ms of it at `--speed 289`).
"""

from __future__ import annotations

from dataclasses import dataclass

from massager.drivers.base import Driver

DEFAULT_MAX_PAUSE_MS = 10 * 60 * 1000
"""A session left paused this long (wall time, whatever the clock's speed) ends (every output
is already off)."""
HEARTBEAT_MS = 100
"""The session polls the device at least this often (clock ms)."""
RAMP_DOWN_LIMIT_MS = 3000
"""Longest wait for outputs to ramp down before forcing them off."""
STALL_LIMIT_MS = 2000
"""A device whose session time stands still this long (wall time) while playing has failed."""


@dataclass(frozen=True, slots=True)
class Pacing:
    """The timing of one session on one driver (build it with `Pacing.of`)."""

    speed: float
    """How fast the driver's clock runs against real time."""
    heartbeat_ms: float
    """Longest wait between two polls of the device."""
    lookahead_ms: float
    """How far ahead of the device's session time commands are sent."""
    cap_ms: int
    """The session limit (session time)."""
    max_pause_ms: float
    """Longest pause (real time) before the session ends."""
    ramp_down_limit_ms: float
    """Longest wait for a ramp-down before every output is forced off."""
    stall_limit_ms: float
    """How long the device's session time may stand still while playing."""

    @classmethod
    def of(
        cls,
        driver: Driver,
        *,
        cap_ms: int,
        heartbeat_ms: float | None,
        max_pause_ms: float,
        lookahead_ms: float | None,
        speed: float | None,
    ) -> Pacing:
        """The pacing for `driver`: the defaults come from it (its `poll_gap_ms`, its
        `lookahead_ms`, its clock's `speed`); raises ValueError for a bad figure."""
        if heartbeat_ms is None:  # at least every HEARTBEAT_MS, and as often as the device needs
            gap = driver.poll_gap_ms
            heartbeat_ms = HEARTBEAT_MS if gap is None else min(HEARTBEAT_MS, gap)
        if cap_ms <= 0 or heartbeat_ms <= 0 or max_pause_ms <= 0:
            raise ValueError("cap_ms, heartbeat_ms and max_pause_ms must be above zero")
        if speed is None:
            speed = float(getattr(driver.clock, "speed", 1.0))
        if not speed > 0:
            raise ValueError(f"speed must be above zero, got {speed}")
        real = min(1.0, speed)  # clock ms per real ms, on a slow clock
        heartbeat_ms *= real
        ahead = float(driver.lookahead_ms if lookahead_ms is None else lookahead_ms)
        if ahead <= heartbeat_ms:
            raise ValueError("lookahead_ms must be longer than heartbeat_ms")
        return cls(
            speed=speed,
            heartbeat_ms=heartbeat_ms,
            lookahead_ms=ahead,
            cap_ms=cap_ms,
            max_pause_ms=max_pause_ms,
            ramp_down_limit_ms=RAMP_DOWN_LIMIT_MS * real,
            stall_limit_ms=STALL_LIMIT_MS * speed,
        )

    def stalled(self, still_ms: float) -> bool:
        """Whether session time standing still for `still_ms` (clock ms) means a failure."""
        return still_ms > max(self.stall_limit_ms, 20 * self.heartbeat_ms)

    def pause_too_long(self, paused_ms: float) -> bool:
        """Whether a pause of `paused_ms` (clock ms) has reached the pause limit (real time)."""
        return paused_ms / self.speed >= self.max_pause_ms

    def next_wait(self, t: float, duration_ms: float, paused: bool) -> float:
        """How long to wait (clock ms) after a poll at session time `t`: a heartbeat, or less
        so the end of the program or the cap is noticed on time (at least 1 ms on)."""
        step = self.heartbeat_ms
        if not paused:
            step = min(step, max(1.0, min(duration_ms, self.cap_ms) - t))
        return step
