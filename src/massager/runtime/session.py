"""A session plays a command stream on a device, and keeps it safe on every way out.

The session sends the commands due in the first `lookahead_ms` (by default
`driver.lookahead_ms`) before it calls `driver.start()`, then keeps sending
that far ahead of the
device's session time, wakes at least every `heartbeat_ms` of clock time to poll the
device (which also feeds its watchdog; by default 100 ms, or the shorter
`driver.poll_gap_ms` a short rig watchdog needs), reports what happens through an
`EventBus`, and applies the user's controls: pause, resume, intensity, stop.
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
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from massager.drivers.base import DeviceStatus, Driver, fault_advice
from massager.errors import DeviceError, Interrupted, MassagerError, SafetyStop, TraceError
from massager.limits import DEFAULT_CAP_MS
from massager.runtime import stops
from massager.runtime.events import (
    EventBus,
    Fault,
    Finished,
    FinishReason,
    IntensityChanged,
    Outcome,
    Paused,
    Progress,
    Resumed,
    SessionStarted,
    StepStarted,
)
from massager.stream import CommandStream
from massager.units import clock_text

DEFAULT_MAX_PAUSE_MS = 10 * 60 * 1000
"""A session left paused this long (wall time, whatever the clock's speed) ends (every output
is already off)."""
HEARTBEAT_MS = 100
"""The session polls the device at least this often (clock ms)."""
INTENSITY_STEP = 0.1
"""How much one `+` or `-` key changes the intensity."""
RAMP_DOWN_LIMIT_MS = 3000
"""Longest wait for outputs to ramp down before forcing them off."""
STALL_LIMIT_MS = 2000
"""A device whose session time stands still this long (wall time) while playing has failed."""
_ZERO = 1e-6
_MIN_RAMP_WAIT_MS = 1.0
"""Shortest wait between two looks at a ramp-down (clock ms)."""

T = TypeVar("T")
Control = tuple[Literal["pause", "resume", "intensity", "stop"], float]


@dataclass(frozen=True, slots=True)
class SessionResult(Outcome):
    """How a session that ended without an error ended."""

    reason: FinishReason
    session_ms: float
    """Session time reached (pauses excluded)."""
    wall_ms: float
    """Clock time from start to the end, pauses and ramp-down included."""
    intensity: float
    message: str = ""


class _Ended(Exception):
    """Internal: leave the play loop towards a ramp-down with this reason."""

    def __init__(self, reason: FinishReason, message: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def clamp_intensity(value: float) -> float:
    """`value` clamped to 0..1 and rounded to 0.01, so repeated steps do not drift."""
    return round(min(1.0, max(0.0, value)), 2)


class Session:
    """Plays one `CommandStream` on one `Driver`, start to finish.

    `intensity` is the initial user intensity (0..1); the driver scales every
    output by it, and the device never lets it lift a level past a limit.
    `cap_ms` is the session limit (session time). `lookahead_ms` (default
    `driver.lookahead_ms`) is how far ahead commands are sent; a device whose
    clock runs faster than real time needs it scaled up. `speed` is how fast
    the driver's clock runs against real time (default: the clock's own
    `speed`, else 1); below 1 the heartbeat and the ramp-down limit shrink
    with it, so they stay the same real time. With `handle_signals`, every stop
    signal (`stops.STOP_SIGNALS`: SIGINT, SIGTERM, SIGHUP, SIGQUIT, ...) ramps
    every output down and `run()` raises `Interrupted` (only possible when
    `run()` is called from the main thread).
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
        self.ramp_down_limit_ms = RAMP_DOWN_LIMIT_MS * real
        # a stalled device and a pause left alone are judged in real time at any speed
        # (2 s of clock time is 7 ms of it at --speed 289)
        self.stall_limit_ms = STALL_LIMIT_MS * speed
        self.speed = speed
        self.stream = stream
        self.driver = driver
        self.bus = bus if bus is not None else EventBus()
        self.cap_ms = cap_ms
        self.heartbeat_ms = heartbeat_ms
        self.max_pause_ms = max_pause_ms
        self.lookahead_ms = float(driver.lookahead_ms if lookahead_ms is None else lookahead_ms)
        if self.lookahead_ms <= heartbeat_ms:
            raise ValueError("lookahead_ms must be longer than heartbeat_ms")
        self.handle_signals = handle_signals
        self._intensity = clamp_intensity(intensity)
        self._target_intensity = self._intensity
        self._paused = False
        self._want_paused = False
        self._paused_at = 0.0
        self._reported = False
        self._controls: deque[Control] = deque()
        self._lock = threading.Lock()
        self._interrupts = 0  # written by signal handlers: no lock on that path
        self._signal_name = ""
        self._abort: MassagerError | None = None
        self._abort_now = False
        self._sent = 0
        self._next_step = 0
        # a step the rig skips takes no time and is not announced as if it ran
        played = [s for s in stream.steps if not s.skipped]
        self._steps = sorted(played, key=lambda s: (s.start_ms, s.track, s.index))
        self._session_ms = 0.0
        self._start_wall = 0.0
        self._last_status: DeviceStatus | None = None
        self._wake = threading.Event()
        """Set by every control, so a waiting play loop acts on it at once (real clocks)."""
        self._runner: threading.Thread | None = None
        self._stopping = threading.Event()
        """Set once the device has been told to stop (or the session is over)."""

    # -- controls: callable from any thread -------------------------------------------------

    @property
    def intensity(self) -> float:
        """The user intensity the session applies (or is about to apply)."""
        return self._target_intensity

    @property
    def paused(self) -> bool:
        """Whether the session is paused (as last applied by the session thread)."""
        return self._paused

    def pause(self) -> None:
        """Ramp every output down and hold until `resume()`."""
        with self._lock:
            self._want_paused = True
            self._controls.append(("pause", 0.0))
        self._wake.set()

    def resume(self) -> None:
        """Ramp the outputs back up and continue the program."""
        with self._lock:
            self._want_paused = False
            self._controls.append(("resume", 0.0))
        self._wake.set()

    def toggle_pause(self) -> None:
        """Pause if playing, resume if paused (the space key)."""
        with self._lock:
            self._want_paused = not self._want_paused
            self._controls.append(("pause" if self._want_paused else "resume", 0.0))
        self._wake.set()

    def set_intensity(self, value: float) -> float:
        """Ask for user intensity `value` (clamped to 0..1); returns what will be applied."""
        with self._lock:
            self._target_intensity = clamp_intensity(value)
            self._controls.append(("intensity", self._target_intensity))
        self._wake.set()
        return self._target_intensity

    def change_intensity(self, delta: float) -> float:
        """Raise or lower the user intensity by `delta` (the + and - keys); returns the new one."""
        with self._lock:
            self._target_intensity = clamp_intensity(self._target_intensity + delta)
            self._controls.append(("intensity", self._target_intensity))
        self._wake.set()
        return self._target_intensity

    def stop(self) -> None:
        """End the session: ramp every output down, then finish (reason "stopped")."""
        self._controls.append(("stop", 0.0))
        self._wake.set()

    def wait_stopping(self, timeout: float) -> bool:
        """Block until the device has been told to stop (its ramp-down began) or the session
        is over, at most `timeout` s; whether it was.

        A caller on another thread that asked for a stop and would otherwise go on
        running Python code (the service's event loop) waits here, so the session's
        thread gets the interpreter at once instead of at the next thread switch.
        """
        return self._stopping.wait(timeout)

    def interrupt(self, name: str = "SIGINT") -> None:
        """Like a signal: ramp down and make `run()` raise `Interrupted`; twice: off at once.

        `name` says what interrupted (a signal's name, "stdout closed", ...); the first one
        is the one reported.
        """
        if not self._signal_name:
            self._signal_name = name
        self._interrupts += 1
        self._wake_up()

    def abort(self, error: MassagerError, *, at_once: bool = False) -> None:
        """End the session with `error`: ramp every output down (`at_once`: off now), then
        `run()` raises `error`. Callable from any thread (`massager off`, a failing output);
        the first abort is the one reported."""
        if self._abort is None:
            self._abort = error
        if at_once:
            self._abort_now = True
        self._wake_up()

    def _wake_up(self) -> None:
        """Wake the session's wait, unless called from the session's own thread: there it is
        not waiting, or a signal handler interrupted its wait, and setting the event could
        deadlock on the lock that thread holds inside Event.wait (it wakes within a
        heartbeat anyway)."""
        if threading.current_thread() is not self._runner:
            self._wake.set()

    # -- playing ----------------------------------------------------------------------------

    def run(self) -> SessionResult:
        """Open the device, play the stream to its end (or a stop), close the device.

        Raises Interrupted (SIGINT/SIGTERM), DeviceError (the device or its link
        failed) or SafetyStop (a latched device fault, or the session cap).
        Every output is off when this returns or raises.
        """
        self._runner = threading.current_thread()
        try:
            return self._run()
        finally:
            self._stopping.set()

    def _run(self) -> SessionResult:
        try:
            with self._signals():
                try:
                    result = self._play()
                except MassagerError as exc:
                    self._fail(exc)
                    raise
        except (Interrupted, TraceError) as exc:
            self._close()
            self._check_trace(exc)  # a cut trace is reported before an interrupt
            raise
        except BaseException:
            self._close()
            raise
        self._close()
        self._check_trace(None)
        return result

    def _close(self) -> None:
        for action in (self.driver.stop, self.driver.off, self.driver.close):
            with suppress(Exception):
                action()

    def _check_trace(self, raising: BaseException | None) -> None:
        """After closing: if the trace could not be written (its final flush too), raise that."""
        failure = self.driver.trace_failure()
        if failure is None or failure is raising:
            return
        self.bus.publish(Fault(t_ms=self._session_ms, kind="output", message=str(failure)))
        raise failure

    def _play(self) -> SessionResult:
        driver = self.driver
        clock = driver.clock
        self._before_start()
        self._device(driver.open)
        self._before_start()  # a signal or a stop during the handshake: nothing starts
        self._device(driver.set_intensity, self._intensity)
        # The first window goes out before session time 0, so nothing is late on a real clock.
        self._send_ahead(0.0)
        self._device(driver.start)
        self._start_wall = clock.now_ms()
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
        except _Ended as end:
            return self._ramp_down(end.reason, end.message)
        raise AssertionError("unreachable: the play loop only ends by _Ended")  # pragma: no cover

    def _before_start(self) -> None:
        """Before session time 0: an interrupt or an abort ends the session unstarted."""
        error: MassagerError | None = self._abort
        if self._interrupts:
            name = self._signal_name or "SIGINT"
            error = Interrupted(
                f"interrupted ({name}) before the session started; every output is off"
            )
        if error is not None:
            reason: FinishReason = "interrupted" if isinstance(error, Interrupted) else "error"
            self._finish(
                Finished(t_ms=0.0, reason=reason, exit_code=error.exit_code, message=str(error))
            )
            raise error

    def _loop(self) -> None:
        driver = self.driver
        clock = driver.clock
        stream = self.stream
        want_progress = self.bus.wants(Progress)
        speed = self.speed  # the pause limit is the user's time: real time at any speed
        last_t = -1.0
        last_move = clock.now_ms()
        while True:
            status = self._poll()
            t = status.session_ms
            now = clock.now_ms()
            self._apply_controls(t)
            if t != last_t or self._paused:
                last_t, last_move = t, now
            elif now - last_move > max(self.stall_limit_ms, 20 * self.heartbeat_ms):
                raise DeviceError(f"{driver.name}: the device's session time stopped at {t:.0f} ms")
            self._send_ahead(t)
            self._announce_steps(t)
            if want_progress:
                self._progress(status, now)
            if self._interrupts or self._abort is not None:
                raise _Ended("interrupted")
            if t >= stream.duration_ms:
                raise _Ended("done")
            if t >= self.cap_ms:
                raise _Ended("cap", f"session limit of {self.cap_ms / 60000:g} min reached")
            if self._paused and (now - self._paused_at) / speed >= self.max_pause_ms:
                raise _Ended(
                    "pause_limit",
                    f"paused longer than {self.max_pause_ms / 60000:g} min, so the session ended",
                )
            step = self.heartbeat_ms
            if not self._paused:
                step = min(step, max(1.0, min(stream.duration_ms, self.cap_ms) - t))
            self._sleep_until(now + step, self._control_waiting)

    def _sleep_until(self, t_ms: float, woken: Callable[[], object]) -> None:
        """Wait on the clock until `t_ms`, or less on a real clock once `woken()` is true (a
        control, an interrupt or an abort arrived: each sets `_wake`)."""
        wait_until = getattr(self.driver.clock, "wait_until", None)
        if wait_until is None:
            self.driver.clock.sleep_until(t_ms)
            return
        self._wake.clear()
        if not woken():  # one came before the clear
            wait_until(t_ms, self._wake)

    def _control_waiting(self) -> bool:
        """Whether the play loop has something to act on: a control, an interrupt, an abort."""
        return bool(self._controls or self._interrupts or self._abort)

    def _off_now(self) -> bool:
        """Whether the ramp-down must end now: asked twice, or told to turn off at once."""
        return self._interrupts >= 2 or self._abort_now

    def _apply_controls(self, t: float) -> None:
        intensity = self._intensity
        while self._controls:
            kind, value = self._controls.popleft()
            if kind == "stop":
                raise _Ended("stopped")
            if kind == "intensity":
                intensity = value  # several key presses between wakes: only the last counts
            elif kind == "pause" and not self._paused:
                self._device(self.driver.pause)
                self._paused = True
                self._paused_at = self.driver.clock.now_ms()
                self.bus.publish(Paused(t_ms=t))
            elif kind == "resume" and self._paused:
                self._device(self.driver.resume)
                self._paused = False
                self.bus.publish(Resumed(t_ms=t))
        if intensity != self._intensity:
            previous = self._intensity
            self._device(self.driver.set_intensity, intensity)
            self._intensity = intensity
            self.bus.publish(IntensityChanged(t_ms=t, intensity=intensity, previous=previous))

    def _send_ahead(self, t: float) -> None:
        commands = self.stream.commands
        horizon = t + self.lookahead_ms
        end = self._sent
        while end < len(commands) and commands[end].at_ms < horizon:
            end += 1
        if end > self._sent:
            self._device(self.driver.send, commands[self._sent : end])
            self._sent = end

    def _announce_steps(self, t: float) -> None:
        steps = self._steps
        while self._next_step < len(steps) and steps[self._next_step].start_ms <= t:
            step = steps[self._next_step]
            self._next_step += 1
            # the step's own start: a poll can come late (a busy host, a sped-up simulator)
            # numbered N of every step in the table (skipped ones keep their numbers)
            count = len(self.stream.steps)
            self.bus.publish(StepStarted(t_ms=step.start_ms, step=step, count=count))

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

    def _poll(self) -> DeviceStatus:
        status = self._device(self.driver.poll)
        if self._abort is None:
            failure = self.driver.trace_failure()
            if failure is not None:
                self._abort = failure  # ramp down, then report it
        self._last_status = status
        self._session_ms = status.session_ms
        if status.faults:
            names = ", ".join(status.faults)
            raise SafetyStop(
                f"safety stop on the device ({names}) at {clock_text(status.session_ms)}; "
                f"every output is off{fault_advice(status.faults)}"
            )
        return status

    def _ramp_down(self, reason: FinishReason, message: str) -> SessionResult:
        """Ramp every output to zero (bounded wait), then finish with `reason`."""
        driver = self.driver
        clock = driver.clock
        self._device(driver.stop)
        self._stopping.set()
        deadline = clock.now_ms() + self.ramp_down_limit_ms
        while not self._off_now():  # asked twice, or told to turn off now: no more waiting
            status = self._poll()
            if all(abs(v) <= _ZERO for v in status.levels.values()):
                break
            now = clock.now_ms()
            if now >= deadline:
                break
            # look again when the device says its ramp ends (at least every heartbeat, which
            # feeds its watchdog; at least a millisecond on, so a late report is not a spin)
            ramp = max(_MIN_RAMP_WAIT_MS, self._device(driver.ramp_down_ms, status.levels))
            self._sleep_until(now + min(self.heartbeat_ms, ramp, deadline - now), self._off_now)
        self._device(driver.off)
        if self._interrupts or self._abort is not None:
            reason = "interrupted"
        wall = clock.now_ms() - self._start_wall
        t = self._session_ms
        if reason == "done":
            # the program ended at its own end, whenever the last poll noticed it
            t = min(t, float(self.stream.duration_ms))
        if reason == "interrupted":
            error: MassagerError | None = self._abort
            if error is None or (self._interrupts and not isinstance(error, TraceError)):
                name = self._signal_name or "SIGINT"
                how = "turned off at once" if self._interrupts >= 2 else "ramped down and off"
                error = Interrupted(f"interrupted ({name}) at {clock_text(t)}; every output {how}")
            if isinstance(error, Interrupted):
                self._finish(Finished(t_ms=t, reason=reason, exit_code=130, message=str(error)))
            else:
                self.bus.publish(Fault(t_ms=t, kind="output", message=str(error)))
                self._finish(
                    Finished(t_ms=t, reason="error", exit_code=error.exit_code, message=str(error))
                )
            raise error
        if reason == "cap":
            error = SafetyStop(f"{message}; every output ramped down and off")
            self.bus.publish(Fault(t_ms=t, kind="safety", message=str(error)))
            self._finish(Finished(t_ms=t, reason=reason, exit_code=4, message=str(error)))
            raise error
        self._finish(Finished(t_ms=t, reason=reason, exit_code=0, message=message))
        return SessionResult(
            reason=reason, session_ms=t, wall_ms=wall, intensity=self._intensity, message=message
        )

    def _fail(self, exc: MassagerError) -> None:
        """Every output off at once, then report the failure `exc`."""
        with suppress(Exception):
            self.driver.off()
        if self._reported:
            return
        t = self._session_ms
        status = self._last_status
        if isinstance(exc, SafetyStop):
            faults = status.faults if status is not None else ()
            self.bus.publish(Fault(t_ms=t, kind="safety", message=str(exc), faults=faults))
            self._finish(Finished(t_ms=t, reason="fault", exit_code=4, message=str(exc)))
        else:
            self.bus.publish(Fault(t_ms=t, kind="device", message=str(exc)))
            code = exc.exit_code
            self._finish(Finished(t_ms=t, reason="error", exit_code=code, message=str(exc)))

    def _finish(self, event: Finished) -> None:
        self._reported = True
        self.bus.publish(event)

    def _device(self, action: Callable[..., T], *args: Any) -> T:
        """Call the driver; any failure of it becomes a DeviceError."""
        try:
            return action(*args)
        except MassagerError:
            raise
        except Exception as exc:
            raise DeviceError(
                f"{self.driver.name}: {type(exc).__name__}: {exc}; every output was turned off"
            ) from exc

    @contextmanager
    def _signals(self) -> Iterator[None]:
        """Every stop signal becomes `interrupt()` while playing (main thread only)."""
        if not self.handle_signals:
            yield
            return
        with stops.forward_to(self.interrupt):
            yield
