"""Clocks the session and the devices run on: the real monotonic one, a virtual one, a holdable one.

Times are milliseconds (floats) since the clock was made. A virtual clock
jumps straight to the time it is asked to sleep until, so a 20-minute profile
simulates in well under a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """What the session and the drivers need of a clock."""

    def now_ms(self) -> float:
        """Milliseconds since the clock started."""
        ...

    def sleep_until(self, t_ms: float) -> None:
        """Return once `now_ms()` has reached `t_ms` (at once if it has already)."""
        ...


class MonotonicClock:
    """Real time from time.monotonic, optionally running `speed` times faster.

    With `max_gap_ms` (wall ms) the clock is paced, as the simulator runs on: between
    two reads it moves at most `max_gap_ms` of wall time beyond the sleep it was asked
    for. A host starved of CPU (or a simulator that cannot compute `speed` times real
    time) then slows the clock instead of letting it leap: the simulated device, which
    lives in the same process, was frozen too, so it must not see a silent host or a
    late command that never happened. `lost_ms` is the wall time dropped so.
    """

    def __init__(
        self,
        speed: float = 1.0,
        max_gap_ms: float | None = None,
        source: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be above zero")
        if max_gap_ms is not None and max_gap_ms <= 0:
            raise ValueError("max_gap_ms must be above zero")
        self.speed = speed
        self.max_gap_ms = max_gap_ms
        self._source = source
        self._origin = source()
        self._lock = threading.Lock()
        self._last = 0.0  # the paced wall ms at the last read
        self._nap = 0.0  # wall ms of sleep asked for since that read
        self.lost_ms = 0.0
        """Wall ms the paced clock dropped because the host fell behind."""

    def now_ms(self) -> float:
        """Milliseconds since the clock started, scaled by `speed`."""
        wall = (self._source() - self._origin) * 1000.0
        if self.max_gap_ms is None:
            return wall * self.speed
        with self._lock:
            paced = wall - self.lost_ms
            allowed = self._last + self.max_gap_ms + self._nap
            if paced > allowed:
                self.lost_ms += paced - allowed
                paced = allowed
            self._last = paced
            self._nap = 0.0
        return paced * self.speed

    def _delay_s(self, t_ms: float) -> float:
        delay = (t_ms - self.now_ms()) / self.speed
        if delay > 0:
            self._nap = delay
        return delay / 1000.0

    def sleep_until(self, t_ms: float) -> None:
        """Sleep until the scaled time `t_ms`."""
        delay = self._delay_s(t_ms)
        if delay > 0:
            time.sleep(delay)

    def wait_until(self, t_ms: float, wake: threading.Event) -> None:
        """Sleep until the scaled time `t_ms`, or until `wake` is set (a control to act on)."""
        delay = self._delay_s(t_ms)
        if delay > 0:
            wake.wait(delay)


class VirtualClock:
    """A clock that only moves when asked to: sleeping jumps straight to the deadline."""

    def __init__(self, start_ms: float = 0.0) -> None:
        self._now = start_ms

    def now_ms(self) -> float:
        """The current virtual time."""
        return self._now

    def sleep_until(self, t_ms: float) -> None:
        """Jump to `t_ms` if it lies ahead."""
        if t_ms > self._now:
            self._now = t_ms


class HostTime(Protocol):
    """Time for code that waits on a device (the serial link and driver): seconds, and sleeping.

    With `threaded`, helpers (the link's reader) run in threads of their own and
    waiting is real; without, `sleep` is what moves time and runs every step
    `attach`ed (a device's tick, a link's reading), all in the caller's thread.
    """

    threaded: bool

    def now(self) -> float:
        """Seconds on this time's monotonic clock."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let `seconds` pass."""
        ...

    def attach(self, step: Callable[[], object]) -> None:
        """Run `step` while time passes (unthreaded time only)."""
        ...


class RealTime:
    """The host's real time: time.monotonic, real sleeps, helpers in threads of their own."""

    threaded = True

    def now(self) -> float:
        """time.monotonic()."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """time.sleep (nothing for a span at or below zero)."""
        if seconds > 0:
            time.sleep(seconds)

    def attach(self, step: Callable[[], object]) -> None:
        """Nothing: threaded helpers run on their own."""


REAL_TIME = RealTime()


class SteppedTime:
    """Virtual seconds on a VirtualClock, moved `step_s` at a time by `sleep`.

    At each step every attached step runs (a device ticking, a link reading what
    arrived), so a host and a device in one thread run as they would in real
    time, exactly and in a fraction of it.
    """

    threaded = False

    def __init__(self, clock: VirtualClock | None = None, step_s: float = 0.001) -> None:
        self.clock = clock or VirtualClock()
        self.step_s = step_s
        self._steps: list[Callable[[], object]] = []

    def now(self) -> float:
        """The virtual clock in seconds."""
        return self.clock.now_ms() / 1000.0

    def attach(self, step: Callable[[], object]) -> None:
        """Run `step` at every step of time from now on."""
        self._steps.append(step)

    def sleep(self, seconds: float) -> None:
        """Move the clock by `seconds` (at least one step), running every step at each."""
        end_ms = self.clock.now_ms() + max(seconds, self.step_s) * 1000.0
        while self.clock.now_ms() < end_ms:
            self.clock.sleep_until(min(end_ms, self.clock.now_ms() + self.step_s * 1000.0))
            for step in list(self._steps):
                step()


class HoldClock:
    """Host time in ms since it was made, standing still while held (a link outage).

    `time` is where it comes from and how it waits (real time by default).
    """

    def __init__(self, time: HostTime = REAL_TIME) -> None:
        self._time = time
        self._origin = time.now()
        self._held_total = 0.0
        self._held_since: float | None = None

    def _held(self, now: float) -> float:
        since = self._held_since
        return self._held_total + (now - since if since is not None else 0.0)

    def now_ms(self) -> float:
        """Milliseconds since the clock was made, time held excluded."""
        now = self._time.now()
        return (now - self._origin - self._held(now)) * 1000.0

    def sleep_until(self, t_ms: float) -> None:
        """Sleep until `now_ms()` reaches `t_ms`."""
        while True:
            left = t_ms - self.now_ms()
            if left <= 0:
                return
            self._time.sleep(min(left / 1000.0, 0.05))

    def wait_until(self, t_ms: float, wake: threading.Event) -> None:
        """Sleep until `now_ms()` reaches `t_ms`, or until `wake` is set."""
        while not wake.is_set():
            left = t_ms - self.now_ms()
            if left <= 0:
                return
            if self._time.threaded:
                wake.wait(min(left / 1000.0, 0.05))
            else:
                self._time.sleep(min(left / 1000.0, 0.05))

    def hold(self) -> None:
        """Stop the clock."""
        if self._held_since is None:
            self._held_since = self._time.now()

    def release(self) -> None:
        """Let the clock run again."""
        if self._held_since is not None:
            self._held_total += self._time.now() - self._held_since
            self._held_since = None
