"""The requests made of a running session from other threads, kept until its thread acts.

A key reader, a signal handler, `massager off` or the service may call these at
any time; nothing here touches the driver. Pause, resume, intensity and stop are
queued in order under a lock; an interrupt (a signal, a closed stdout) and an
abort (an error that ends the run) are flags that a signal handler may set without
taking a lock. Every request sets `wake`, so a session waiting on a real clock
acts on it at once.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Literal

from massager.clock import Clock
from massager.errors import MassagerError

INTENSITY_STEP = 0.1
"""How much one `+` or `-` key changes the intensity."""

Control = tuple[Literal["pause", "resume", "intensity", "stop"], float]
"""One queued request: its kind and, for "intensity", the intensity asked for."""


def clamp_intensity(value: float) -> float:
    """`value` clamped to 0..1 and rounded to 0.01, so repeated steps do not drift."""
    return round(min(1.0, max(0.0, value)), 2)


class Controls:
    """The pending requests of one session: callable from any thread.

    `intensity` is the user intensity asked for last (the session applies it at
    its next wake). `interrupts` counts interrupts (two turn every output off at
    once); `signal_name` is the first one's name; `error` is the first abort's
    error, and `at_once` whether an abort asked for every output off now.
    """

    def __init__(self, intensity: float) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Control] = deque()
        self._want_paused = False
        self.intensity = clamp_intensity(intensity)
        self.interrupts = 0  # written by signal handlers: no lock on that path
        self.signal_name = ""
        self.error: MassagerError | None = None
        self.at_once = False
        self.wake = threading.Event()
        """Set by every request, so a waiting play loop acts on it at once (real clocks)."""
        self.stopping = threading.Event()
        """Set once the device has been told to stop (or the session is over)."""
        self._runner: threading.Thread | None = None

    def bind(self, runner: threading.Thread) -> None:
        """`runner` is the thread that runs the session (it is never woken by itself)."""
        self._runner = runner

    # -- requests: any thread ---------------------------------------------------------------

    def pause(self) -> None:
        """Ask for a pause."""
        with self._lock:
            self._want_paused = True
            self._queue.append(("pause", 0.0))
        self.wake.set()

    def resume(self) -> None:
        """Ask for the end of a pause."""
        with self._lock:
            self._want_paused = False
            self._queue.append(("resume", 0.0))
        self.wake.set()

    def toggle_pause(self) -> None:
        """Ask for a pause if none was asked for last, else for a resume."""
        with self._lock:
            self._want_paused = not self._want_paused
            self._queue.append(("pause" if self._want_paused else "resume", 0.0))
        self.wake.set()

    def set_intensity(self, value: float) -> float:
        """Ask for user intensity `value` (clamped to 0..1); returns what will be applied."""
        with self._lock:
            self.intensity = clamp_intensity(value)
            self._queue.append(("intensity", self.intensity))
        self.wake.set()
        return self.intensity

    def change_intensity(self, delta: float) -> float:
        """Ask for the user intensity raised or lowered by `delta`; returns the new one."""
        with self._lock:
            self.intensity = clamp_intensity(self.intensity + delta)
            self._queue.append(("intensity", self.intensity))
        self.wake.set()
        return self.intensity

    def stop(self) -> None:
        """Ask for the end of the session (deque.append is atomic: no lock needed)."""
        self._queue.append(("stop", 0.0))
        self.wake.set()

    def interrupt(self, name: str) -> None:
        """Count an interrupt named `name` (the first one's name is kept); signal-safe."""
        if not self.signal_name:
            self.signal_name = name
        self.interrupts += 1
        self._wake_up()

    def abort(self, error: MassagerError, *, at_once: bool = False) -> None:
        """Ask for the end of the session with `error` (the first one is kept)."""
        if self.error is None:
            self.error = error
        if at_once:
            self.at_once = True
        self._wake_up()

    def _wake_up(self) -> None:
        """Wake the session's wait, unless called from the session's own thread: there it is
        not waiting, or a signal handler interrupted its wait, and setting the event could
        deadlock on the lock that thread holds inside Event.wait (it wakes within a
        heartbeat anyway)."""
        if threading.current_thread() is not self._runner:
            self.wake.set()

    # -- the session's thread ---------------------------------------------------------------

    def next(self) -> Control | None:
        """The oldest queued request, taken off the queue; None when there is none."""
        queue = self._queue  # only the session's thread takes from it
        return queue.popleft() if queue else None

    def ending(self) -> bool:
        """Whether an interrupt or an abort asks for the end of the session."""
        return bool(self.interrupts or self.error is not None)

    def waiting(self) -> bool:
        """Whether the play loop has something to act on: a request, an interrupt, an abort."""
        return bool(self._queue or self.interrupts or self.error)

    def off_now(self) -> bool:
        """Whether a ramp-down must end now: interrupted twice, or told to turn off at once."""
        return self.interrupts >= 2 or self.at_once

    def sleep_until(self, clock: Clock, t_ms: float, woken: Callable[[], object]) -> None:
        """Wait on `clock` until `t_ms`, or less on a real clock once `woken()` is true (a
        request, an interrupt or an abort arrived: each sets `wake`)."""
        wait_until = getattr(clock, "wait_until", None)
        if wait_until is None:
            clock.sleep_until(t_ms)
            return
        self.wake.clear()
        if not woken():  # one came before the clear
            wait_until(t_ms, self.wake)
