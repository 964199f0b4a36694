"""A session plays a command stream on a device, and keeps it safe on every way out.

The session sends the commands due in the first `lookahead_ms` (by default
`driver.lookahead_ms`) before it calls `driver.start()`, then keeps sending that
far ahead of the device's session time, wakes at least every `heartbeat_ms` of
clock time to poll the device (which also feeds its watchdog; by default 100 ms,
or the shorter `driver.poll_gap_ms` a short rig watchdog needs), reports what
happens through an `EventBus`, and applies the user's controls: pause, resume,
intensity, stop. Through a stretch with nothing to do (no command to send, no step
to announce, the end further than a heartbeat, nobody asking for `Progress` at every
poll, not paused) it lets the driver make those polls itself (`Driver.poll_quiet`:
the simulator on a virtual clock does, exactly as the session would).
Controls may be called from any thread (a key reader, a signal handler, the
service); they are queued and applied by the thread running `run()`, so the
driver is only ever touched by one thread, and on a real clock each control
wakes that thread at once. A ramp-down (a stop, the end, an interrupt) looks
at the outputs again when the driver says the ramp ends (`ramp_down_ms`),
never later than a heartbeat, so the session ends as soon as every output is
at zero.

Every way out of `run()` (the end, stop, the session cap, a stop signal, an
`abort()` from another thread such as `massager off` or a failing output, a
device error, a latched device fault, a bug) calls the driver's `stop()`,
`off()` and `close()` in a `finally`.

On a clock slower than real time (`speed` below 1) the session still wakes at
least every `heartbeat_ms` of real time, and bounds a ramp-down by real time,
so a control or a signal acts as promptly as at speed 1.

`Session` runs the play loop; its parts live beside it: `Controls` (controls.py,
the requests from other threads), `Pacing` (pacing.py, the timing and limits),
`GuardedDriver` (guarded.py, every driver call and the checked poll), `StreamFeed`
(feed.py, sending ahead and step announcements), `ramp_down` (ramp_down.py, the
stop sequence) and `EndReport` (ending.py, the `Finished` event and the result or
error).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from massager.drivers.base import DeviceStatus, Driver
from massager.errors import DeviceError, Interrupted, MassagerError, TraceError
from massager.limits import DEFAULT_CAP_MS
from massager.runtime import stops
from massager.runtime.controls import INTENSITY_STEP, Controls, clamp_intensity
from massager.runtime.ending import Ended, EndReport, SessionResult
from massager.runtime.events import (
    EventBus,
    IntensityChanged,
    Paused,
    Progress,
    Resumed,
    SessionStarted,
)
from massager.runtime.feed import StreamFeed
from massager.runtime.guarded import GuardedDriver
from massager.runtime.pacing import (
    DEFAULT_MAX_PAUSE_MS,
    HEARTBEAT_MS,
    RAMP_DOWN_LIMIT_MS,
    STALL_LIMIT_MS,
    Pacing,
)
from massager.runtime.ramp_down import ramp_down
from massager.stream import CommandStream

__all__ = [
    "DEFAULT_MAX_PAUSE_MS",
    "HEARTBEAT_MS",
    "INTENSITY_STEP",
    "RAMP_DOWN_LIMIT_MS",
    "STALL_LIMIT_MS",
    "Session",
    "SessionResult",
    "clamp_intensity",
]


QUIET_MARGIN_MS = 0.001
"""How far short of the next thing to do a stretch of quiet polls ends (a microsecond, the
device's resolution), so float rounding never lets one poll past it."""


class Session:
    """Plays one `CommandStream` on one `Driver`, start to finish.

    `intensity` is the initial user intensity (0..1); the driver scales every
    output by it, and the device never lets it lift a level past a limit.
    `cap_ms` is the session limit (session time). `lookahead_ms` (default
    `driver.lookahead_ms`) is how far ahead commands are sent; a device whose
    clock runs faster than real time needs it scaled up. `speed` is how fast
    the driver's clock runs against real time (default: the clock's own
    `speed`, else 1); below 1 the heartbeat and the ramp-down limit shrink
    with it, so they stay the same real time (see `pacing`). With
    `handle_signals`, every stop signal (`stops.STOP_SIGNALS`: SIGINT, SIGTERM,
    SIGHUP, SIGQUIT, ...) ramps every output down and `run()` raises
    `Interrupted` (only possible when `run()` is called from the main thread).
    """

    def __init__(
        self,
        stream: CommandStream,
        driver: Driver,
        *,
        bus: EventBus | None = None,
        intensity: float = 1.0,
        cap_ms: int = DEFAULT_CAP_MS,
        heartbeat_ms: float | None = None,
        max_pause_ms: float = DEFAULT_MAX_PAUSE_MS,
        lookahead_ms: float | None = None,
        handle_signals: bool = False,
        speed: float | None = None,
    ) -> None:
        if not 0.0 <= intensity <= 1.0:
            raise ValueError(f"intensity must be within 0..1, got {intensity}")
        self.pacing = Pacing.of(
            driver,
            cap_ms=cap_ms,
            heartbeat_ms=heartbeat_ms,
            max_pause_ms=max_pause_ms,
            lookahead_ms=lookahead_ms,
            speed=speed,
        )
        """The session's timing: heartbeat, lookahead, cap, pause and ramp-down limits."""
        self.stream = stream
        self.driver = driver
        self.bus = bus if bus is not None else EventBus()
        self.handle_signals = handle_signals
        self._controls = Controls(intensity)
        self._device = GuardedDriver(driver, self._controls)
        self._feed = StreamFeed(stream, self._device, self.bus, self.pacing.lookahead_ms)
        self._end = EndReport(self.bus, self._controls, stream.duration_ms)
        self._intensity = clamp_intensity(intensity)
        """The user intensity the device has been given."""
        self._paused = False
        self._paused_at = 0.0
        self._start_wall = 0.0

    @property
    def heartbeat_ms(self) -> float:
        """Longest wait between two polls of the device (clock ms)."""
        return self.pacing.heartbeat_ms

    # -- controls: callable from any thread (queued, applied by the thread in `run()`) -------

    @property
    def intensity(self) -> float:
        """The user intensity the session applies (or is about to apply)."""
        return self._controls.intensity

    @property
    def paused(self) -> bool:
        """Whether the session is paused (as last applied by the session thread)."""
        return self._paused

    def pause(self) -> None:
        """Ramp every output down and hold until `resume()`."""
        self._controls.pause()

    def resume(self) -> None:
        """Ramp the outputs back up and continue the program."""
        self._controls.resume()

    def toggle_pause(self) -> None:
        """Pause if playing, resume if paused (the space key)."""
        self._controls.toggle_pause()

    def set_intensity(self, value: float) -> float:
        """Ask for user intensity `value` (clamped to 0..1); returns what will be applied."""
        return self._controls.set_intensity(value)

    def change_intensity(self, delta: float) -> float:
        """Raise or lower the user intensity by `delta` (the + and - keys); returns the new one."""
        return self._controls.change_intensity(delta)

    def stop(self) -> None:
        """End the session: ramp every output down, then finish (reason "stopped")."""
        self._controls.stop()

    def wait_stopping(self, timeout: float) -> bool:
        """Block until the device has been told to stop (its ramp-down began) or the session
        is over, at most `timeout` s; whether it was.

        A caller on another thread that asked for a stop and would otherwise go on
        running Python code (the service's event loop) waits here, so the session's
        thread gets the interpreter at once instead of at the next thread switch.
        """
        return self._controls.stopping.wait(timeout)

    def interrupt(self, name: str = "SIGINT") -> None:
        """Like a signal: ramp down and make `run()` raise `Interrupted`; twice: off at once.

        `name` says what interrupted (a signal's name, "stdout closed", ...); the first one
        is the one reported.
        """
        self._controls.interrupt(name)

    def abort(self, error: MassagerError, *, at_once: bool = False) -> None:
        """End the session with `error`: ramp every output down (`at_once`: off now), then
        `run()` raises `error`. Callable from any thread (`massager off`, a failing output);
        the first abort is the one reported."""
        self._controls.abort(error, at_once=at_once)

    # -- playing ----------------------------------------------------------------------------

    def run(self) -> SessionResult:
        """Open the device, play the stream to its end (or a stop), close the device.

        Raises Interrupted (SIGINT/SIGTERM), DeviceError (the device or its link
        failed) or SafetyStop (a latched device fault, or the session cap).
        Every output is off when this returns or raises.
        """
        self._controls.bind(threading.current_thread())
        try:
            return self._run()
        finally:
            self._controls.stopping.set()

    def _run(self) -> SessionResult:
        device = self._device
        try:
            with self._signals():
                try:
                    result = self._play()
                except MassagerError as exc:
                    device.off()  # every output off at once, then report the failure
                    self._end.failed(exc, device.session_ms, device.last_status)
                    raise
        except (Interrupted, TraceError) as exc:
            device.close()
            self._check_trace(exc)  # a cut trace is reported before an interrupt
            raise
        except BaseException:
            device.close()
            raise
        device.close()
        self._check_trace(None)
        return result

    def _check_trace(self, raising: BaseException | None) -> None:
        """After closing: if the trace could not be written (its final flush too), raise that."""
        self._end.trace_cut(self.driver.trace_failure(), raising, self._device.session_ms)

    def _play(self) -> SessionResult:
        driver = self.driver
        device = self._device
        self._end.unstarted()
        device.call(driver.open)
        self._end.unstarted()  # a signal or a stop during the handshake: nothing starts
        device.call(driver.set_intensity, self._intensity)
        # The first window goes out before session time 0, so nothing is late on a real clock.
        self._feed.send_ahead(0.0)
        device.call(driver.start)
        self._start_wall = driver.clock.now_ms()
        stream = self.stream
        self.bus.publish(
            SessionStarted(
                t_ms=0.0,
                profile=stream.profile,
                rig=stream.rig,
                device=driver.name,
                duration_ms=stream.duration_ms,
                actuators=stream.actuators,
                steps=tuple(stream.steps),
                intensity=self._intensity,
            )
        )
        try:
            self._loop()
        except Ended as end:
            ramp_down(device, self._controls, self.pacing)
            wall = driver.clock.now_ms() - self._start_wall
            t = device.session_ms
            return self._end.ramped_down(end, t=t, wall=wall, intensity=self._intensity)
        raise AssertionError("unreachable: the play loop only ends by Ended")  # pragma: no cover

    def _loop(self) -> None:
        driver = self.driver
        clock = driver.clock
        duration = self.stream.duration_ms
        pacing = self.pacing
        controls = self._controls
        want_progress = self.bus.wants(Progress)
        end_ms = min(duration, pacing.cap_ms) - pacing.heartbeat_ms - QUIET_MARGIN_MS
        last_t = -1.0
        last_move = clock.now_ms()
        while True:
            if want_progress or self._paused:  # every poll is reported, or judged for the pause
                status = self._device.poll()
            else:  # the polls before the next thing to do may be the device's own
                until = min(self._feed.quiet_until() - QUIET_MARGIN_MS, end_ms)
                status = self._device.poll_quiet(until, pacing.heartbeat_ms)
            t = status.session_ms
            now = clock.now_ms()
            self._apply_controls(t)
            if t != last_t or self._paused:
                last_t, last_move = t, now
            elif pacing.stalled(now - last_move):
                raise DeviceError(f"{driver.name}: the device's session time stopped at {t:.0f} ms")
            self._feed.send_ahead(t)
            self._feed.announce_steps(t)
            if want_progress:
                self._progress(status, now)
            if controls.ending():
                raise Ended("interrupted")
            if t >= duration:
                raise Ended("done")
            if t >= pacing.cap_ms:
                raise Ended("cap", f"session limit of {pacing.cap_ms / 60000:g} min reached")
            if self._paused and pacing.pause_too_long(now - self._paused_at):
                raise Ended(
                    "pause_limit",
                    f"paused longer than {pacing.max_pause_ms / 60000:g} min, so the session ended",
                )
            wait = pacing.next_wait(t, duration, self._paused)
            controls.sleep_until(clock, now + wait, controls.waiting)

    def _apply_controls(self, t: float) -> None:
        """Apply every queued control at session time `t` (a stop ends the play loop)."""
        driver = self.driver
        device = self._device
        intensity = self._intensity
        while (control := self._controls.next()) is not None:
            kind, value = control
            if kind == "stop":
                raise Ended("stopped")
            if kind == "intensity":
                intensity = value  # several key presses between wakes: only the last counts
            elif kind == "pause" and not self._paused:
                device.call(driver.pause)
                self._paused = True
                self._paused_at = driver.clock.now_ms()
                self.bus.publish(Paused(t_ms=t))
            elif kind == "resume" and self._paused:
                device.call(driver.resume)
                self._paused = False
                self.bus.publish(Resumed(t_ms=t))
        if intensity != self._intensity:
            previous = self._intensity
            device.call(driver.set_intensity, intensity)
            self._intensity = intensity
            self.bus.publish(IntensityChanged(t_ms=t, intensity=intensity, previous=previous))

    def _progress(self, status: DeviceStatus, now: float) -> None:
        self.bus.publish(
            Progress(
                t_ms=status.session_ms,
                duration_ms=self.stream.duration_ms,
                levels=dict(status.levels),
                temps=dict(status.temps),
                intensity=self._intensity,
                paused=self._paused,
                wall_ms=now - self._start_wall,
            )
        )

    @contextmanager
    def _signals(self) -> Iterator[None]:
        """Every stop signal becomes `interrupt()` while playing (main thread only)."""
        if not self.handle_signals:
            yield
            return
        with stops.forward_to(self.interrupt):
            yield
