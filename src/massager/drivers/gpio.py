"""The Raspberry Pi's own GPIO as a device: the shared executor in a thread, gpiozero outputs.

The executor (`firmware_bridge.executor`, the same code the Pico runs) ticks
in a thread on absolute deadlines, 200 times a second by default, and also
wakes at the exact time a queued command is due; it writes levels through
gpiozero devices built from the rig's gpio bindings. An emergency-stop button
on `rig.estop_pin` latches every output off at once (its edge callback, and a
poll of the button on every tick as a backup); the run then ends with a
safety stop. A heater is driven only with a temperature sensor.

Pins come from gpiozero's default pin factory (lgpio on a Pi 5), so
``GPIOZERO_PIN_FACTORY`` is honoured; tests pass a `MockFactory`. Given a
`clock` (a `VirtualClock`), the driver runs without a thread: each call
advances the device tick by tick to the clock's time, so a test sees exact,
repeatable pin timings.
"""

from __future__ import annotations

import atexit
import contextlib
import heapq
import math
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from firmware_bridge import codes, names
from firmware_bridge import executor as ex
from firmware_bridge.ticks import TICKS_MAX
from massager.clock import Clock, MonotonicClock
from massager.drivers.base import (
    DeviceStatus,
    Driver,
    DriverOptions,
    refusal_error,
    trace_columns,
    unknown_actuator_error,
)
from massager.drivers.gpio_hal import why as _why
from massager.drivers.gpio_mcu import tick_hz_from_env
from massager.drivers.gpio_outputs import Output, build_output
from massager.drivers.temp_sensors import (
    W1_DEVICES,
    SensorPoller,
    TempReader,
    open_reader,
)
from massager.errors import DeviceError, SafetyError, SafetyStop, UsageError
from massager.rig.model import Rig
from massager.stream import Command
from massager.trace import TraceWriter

QUEUE_SIZE = 4096
"""Commands the executor holds: a CPython host has room for far more than the Pico's 64."""
RT_PRIORITY = 10
"""SCHED_FIFO priority of the tick thread (systemd: ``LimitRTPRIO=10`` allows it)."""
_LOCK_WAIT_S = 0.005  # longest an emergency stop waits for a tick in progress


def _check_rig(rig: Rig) -> None:
    """Refuse a rig whose pins the GPIO driver does not know."""
    unbound = [a.id for a in rig.actuators if a.bindings.gpio is None]
    if unbound:
        raise UsageError(
            f"rig {rig.name!r} cannot run on the Pi's GPIO: no gpio binding for "
            f"{', '.join(unbound)}; use --device serial or sim, or add bindings.gpio"
        )


def _check_heaters(rig: Rig) -> None:
    """Refuse to run a heater without a temperature sensor (turning it off needs none)."""
    for act in rig.actuators:
        gpio = act.bindings.gpio
        if act.kind == "heater" and (gpio is None or gpio.sensor is None):
            raise SafetyError(
                f"rig {rig.name!r}: heater {act.id!r} has no temperature sensor in its gpio "
                "binding, and the gpio driver drives no heater it cannot measure; add "
                "sensor: {type: ds18b20, id: 28-...} or {type: mcp3008, channel: N}"
            )


class _Hal:
    """The executor's hardware seam on the Pi: device clock, gpiozero outputs, sensor readings."""

    def __init__(
        self,
        outputs: list[Output],
        poller: SensorPoller,
        sensor_of: dict[int, int],
        now_abs_us: Callable[[], int],
    ) -> None:
        self.outputs = outputs
        self.poller = poller
        self.sensor_of = sensor_of
        self.now_abs_us = now_abs_us
        self.error: BaseException | None = None
        """The first exception an output write raised (the executor only latches a bit)."""

    def now_us(self) -> int:
        """The device clock: microseconds, wrapping like the Pico's ticks_us."""
        return self.now_abs_us() & TICKS_MAX

    def set_output(self, ch: int, level: float) -> None:
        """Write `level` to channel `ch`'s gpiozero device; remember the first failure."""
        try:
            self.outputs[ch].write(level)
        except BaseException as exc:
            if self.error is None:
                self.error = exc
            raise

    def read_temp(self, ch: int) -> float:
        """The latest reading of the heater's sensor (NaN if it failed or went stale)."""
        return self.poller.latest(self.sensor_of[ch])


_OPEN: weakref.WeakSet[GpioDriver] = weakref.WeakSet()
_atexit_registered = False


def _close_all() -> None:
    """Safety net at interpreter exit: every GPIO driver still open turns everything off."""
    for driver in list(_OPEN):
        driver.close()


class GpioDriver(Driver):
    """Plays a command stream on the Pi's GPIO pins through gpiozero.

    `pin_factory` overrides gpiozero's default factory (tests pass a
    `MockFactory(pin_class=MockPWMPin)`); `tick_hz` sets the executor's tick
    rate (default 200 Hz, or ``MASSAGER_GPIO_TICK_HZ``); `clock` runs the
    driver without a thread, stepped by the caller's clock (for tests);
    `w1_root` is where DS18B20 sensors are read (``/sys/bus/w1/devices``);
    `wake_on_commands` adds a tick at the exact time each command is due;
    `realtime` asks for SCHED_FIFO for the tick thread (granted to root, or
    under systemd's ``LimitRTPRIO=``), silently staying at normal priority
    where the system refuses.
    """

    name: ClassVar[str] = "gpio"
    lookahead_ms: ClassVar[int] = 500

    def __init__(
        self,
        rig: Rig,
        options: DriverOptions | None = None,
        *,
        pin_factory: Any = None,
        tick_hz: float | None = None,
        clock: Clock | None = None,
        w1_root: Path = W1_DEVICES,
        wake_on_commands: bool = True,
        realtime: bool = True,
    ) -> None:
        super().__init__(rig, options)
        _check_rig(rig)
        try:
            self.tick_hz = tick_hz_from_env(tick_hz)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        self.pin_factory = pin_factory
        self.w1_root = w1_root
        self.wake_on_commands = wake_on_commands
        self.realtime = realtime
        """Whether the tick thread runs under SCHED_FIFO (False if the system refused it)."""
        self._stepped = clock is not None
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._period_us = round(1_000_000 / self.tick_hz)
        self._ids = [a.id for a in rig.actuators]
        self._channel = {ident: ch for ch, ident in enumerate(self._ids)}
        self._heaters = [ch for ch, a in enumerate(rig.actuators) if a.kind == "heater"]
        self._lock = threading.RLock()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._outputs: list[Output] = []
        self._button: Any = None
        self._heartbeat: Any = None
        self._beating = False  # from start() until off(): the heartbeat pin toggles
        self._poller = SensorPoller([])
        self._executor: ex.Executor | None = None
        self._hal: _Hal | None = None
        self._closed = False
        self._started = False
        self._pending: list[Command] = []
        self._due: list[int] = []  # absolute device us of queued commands (a wake-up hint)
        self._origin = 0  # absolute device us of session time 0
        self._pause_abs: int | None = None
        self._next_grid = 0
        self._dev_us = 0  # stepped mode: the device's absolute time, advanced tick by tick
        self._t0_ns = time.monotonic_ns()
        self._estop_seen = False
        self._zeroed_for = 0  # fault bits whose latching already drove every pin low
        self._failure: str | None = None
        self._trace: TraceWriter | None = None
        self.ticks = 0
        """Ticks run so far."""
        self.overruns = 0
        """Grid ticks skipped because a tick came more than a period late."""

    # -- time --------------------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """Real monotonic time, or the clock given for stepped (test) use."""
        return self._clock

    def _now_abs_us(self) -> int:
        """The device clock before wrapping: microseconds since the driver was made."""
        if self._stepped:
            return self._dev_us
        return (time.monotonic_ns() - self._t0_ns) // 1000 + self.options.clock_start_us

    def _clock_abs_us(self) -> int:
        """Where the caller's clock is, in absolute device microseconds (stepped mode)."""
        return round(self._clock.now_ms() * 1000) + self.options.clock_start_us

    @property
    def device_us(self) -> int:
        """The device clock now, in microseconds before wrapping (stepped: the last tick's)."""
        return self._now_abs_us()

    @property
    def session_origin_ns(self) -> int:
        """time.monotonic_ns() at session time 0 (threaded mode), for measurements."""
        return self._t0_ns + (self._origin - self.options.clock_start_us) * 1000

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Claim every pin of the rig (all outputs at zero), the heartbeat and the button.

        Heater sensors are checked and opened by start(), so `massager off` works without one.
        """
        if self._executor is not None:
            return
        if self._closed:
            raise DeviceError("gpio: this driver was closed; open a new one")
        global _atexit_registered
        if not _atexit_registered:
            atexit.register(_close_all)
            _atexit_registered = True
        _OPEN.add(self)
        self._dev_us = self._clock_abs_us() if self._stepped else 0
        try:
            self._open_outputs()
            self._open_heartbeat()
            self._open_button()
        except BaseException:
            self.close()
            raise
        hal = _Hal(self._outputs, self._poller, {}, self._now_abs_us)
        watchdog = self.options.watchdog_ms or self.rig.watchdog_ms
        executor = ex.Executor(hal, len(self._ids), watchdog, QUEUE_SIZE)
        for ch, act in enumerate(self.rig.actuators):
            err = executor.configure(
                ch,
                *act.device_limits(),
            )
            if err != codes.OK:
                self.close()
                raise DeviceError(
                    f"gpio: the device refused to configure {act.id!r}: {names.reason_name(err)}"
                )
        self._hal = hal
        self._executor = executor
        if self.options.trace is not None:
            try:
                self._trace = TraceWriter(
                    self.options.trace, trace_columns(self.rig), hold_ms=self._period_us / 1000
                )
            except OSError as exc:
                self.close()
                raise DeviceError(
                    f"gpio: cannot write the trace {self.options.trace}: {exc}"
                ) from exc

    def _open_outputs(self) -> None:
        for act in self.rig.actuators:
            # gpiozero warns at each pin factory it falls back from: say it once, on failure
            with warnings.catch_warnings(record=True) as fallbacks:
                warnings.simplefilter("always")
                try:
                    output = build_output(act, self.pin_factory)
                except Exception as exc:
                    tried = "; ".join(str(w.message) for w in fallbacks)
                    raise DeviceError(
                        f"gpio: cannot claim the pins of {act.id!r}: {_why(exc)}"
                        + (f" [{tried}]" if tried else "")
                    ) from exc
            self._outputs.append(output)
            output.zero()

    def _open_sensors(self, hal: _Hal) -> None:
        """Open each heater's sensor and take a first reading; DeviceError if one has none."""
        hal.sensor_of = {}
        readers: list[TempReader] = []
        for ch in self._heaters:
            gpio = self.rig.actuators[ch].bindings.gpio
            assert gpio is not None and gpio.sensor is not None  # _check_heaters
            try:
                reader = open_reader(
                    gpio.sensor, w1_root=self.w1_root, pin_factory=self.pin_factory
                )
            except Exception as exc:
                raise DeviceError(
                    f"gpio: cannot open the sensor of {self._ids[ch]!r}: {_why(exc)}"
                ) from exc
            hal.sensor_of[ch] = len(readers)
            readers.append(reader)
        self._poller = hal.poller = SensorPoller(readers)
        self._poller.read_all()
        for ch, index in hal.sensor_of.items():
            if self._poller.errors[index]:
                raise DeviceError(
                    f"gpio: heater {self._ids[ch]!r} has no temperature reading: "
                    f"{self._poller.errors[index]}"
                )

    def _open_heartbeat(self) -> None:
        if self.rig.heartbeat_pin is None:
            return
        from gpiozero import DigitalOutputDevice

        try:
            self._heartbeat = DigitalOutputDevice(
                self.rig.heartbeat_pin, initial_value=False, pin_factory=self.pin_factory
            )
        except Exception as exc:
            raise DeviceError(
                f"gpio: cannot claim the heartbeat on GPIO{self.rig.heartbeat_pin}: {_why(exc)}"
            ) from exc

    def _open_button(self) -> None:
        if self.rig.estop_pin is None:
            return
        from gpiozero import Button

        try:
            # a short hold_time: closing a Button waits out its hold thread's current wait
            self._button = Button(
                self.rig.estop_pin,
                pull_up=True,
                bounce_time=None,
                hold_time=0.05,
                pin_factory=self.pin_factory,
            )
        except Exception as exc:
            raise DeviceError(
                f"gpio: cannot claim the emergency stop on GPIO{self.rig.estop_pin}: {_why(exc)}"
            ) from exc
        self._button.when_pressed = self._on_estop

    def start(self) -> None:
        """Session time 0 is now: clear any latched fault and start ticking.

        Refuses (SafetyStop) while the emergency-stop button is held down, and
        (SafetyError) a heater without a temperature sensor.
        """
        executor = self._require_open()
        _check_heaters(self.rig)
        if self._button is not None and self._button.is_pressed:
            raise SafetyStop("the emergency stop is pressed: release it before starting")
        if self._heaters and not self._poller.readers:
            assert self._hal is not None
            self._open_sensors(self._hal)
        with self._lock:
            self._estop_seen = False
            self._zeroed_for = 0
            executor.clear_faults()
            self._origin = self._now_abs_us()
            self._next_grid = self._origin
            self._started = True
            self._beating = True
            executor.feed()
            pending, self._pending = self._pending, []
            self._schedule(pending)
            self._record(self._origin)
        self._poller.start()
        if not self._stepped and self._thread is None:
            self._halt.clear()
            self._thread = threading.Thread(target=self._run, name="massager-gpio", daemon=True)
            self._thread.start()

    def send(self, commands: Sequence[Command]) -> None:
        """Queue commands stamped in session ms; before start() they wait for session time 0."""
        self._require_open()
        with self._lock:
            self._heard_from_host()
            if not self._started:
                for command in commands:
                    self._channel_of(command)
                self._pending.extend(commands)
                return
            self._schedule(commands)

    def _channel_of(self, command: Command) -> int:
        try:
            return self._channel[command.actuator]
        except KeyError:
            raise unknown_actuator_error(command.actuator, self.rig) from None

    def _schedule(self, commands: Sequence[Command]) -> None:
        executor = self._executor
        assert executor is not None
        for command in commands:
            ch = self._channel_of(command)
            at = self._origin + command.at_ms * 1000 + executor.shift_us
            op, a, b, c, d = command.args()
            err = executor.schedule(at & TICKS_MAX, ch, op, a, b, c, d)
            if err == codes.OK:
                if self.wake_on_commands:
                    heapq.heappush(self._due, at)
            elif err == codes.ERR_FAULT:
                return  # the latched fault is what poll() reports
            else:
                what = f"the {command.op} command for {command.actuator} at {command.at_ms} ms"
                raise refusal_error(err, what, names.fault_names(executor.faults))

    def poll(self) -> DeviceStatus:
        """Run the device up to now (stepped mode), feed its watchdog and report its status."""
        executor = self._require_open()
        with self._lock:
            self._heard_from_host()
            if self._failure is not None:
                raise DeviceError(self._failure)
            if executor.faults & codes.FAULT_HAL:
                raise DeviceError(self._hal_failure())
            now = self._pause_abs if executor.paused and self._pause_abs is not None else None
            if now is None:
                now = self._now_abs_us()
            session_us = now - self._origin - executor.shift_us if self._started else 0
            return DeviceStatus(
                session_ms=max(0, session_us) / 1000.0,
                levels=dict(zip(self._ids, executor.levels, strict=True)),
                faults=tuple(names.fault_names(executor.faults)),
                temps={self._ids[ch]: executor.temps[ch] for ch in self._heaters},
                paused=executor.paused,
            )

    def pause(self) -> None:
        """Ramp every output down (within 1 s) and hold the session clock."""
        executor = self._require_open()
        with self._lock:
            self._heard_from_host()
            if not executor.paused:
                self._pause_abs = self._now_abs_us()
            executor.pause()

    def resume(self) -> None:
        """Continue the session clock; outputs ramp back up."""
        executor = self._require_open()
        with self._lock:
            self._heard_from_host()
            before = executor.shift_us
            executor.resume()
            self._pause_abs = None
            moved = executor.shift_us - before
            if moved and self._due:
                self._due = [t + moved for t in self._due]
                heapq.heapify(self._due)

    def set_intensity(self, intensity: float) -> None:
        """Scale every output by `intensity` from the next tick, through the slew limits."""
        executor = self._require_open()
        with self._lock:
            self._heard_from_host()
            executor.set_scale(intensity)

    def stop(self) -> None:
        """Drop queued commands; every output ramps to zero at its slew limit."""
        executor = self._require_open()
        with self._lock:
            self._heard_from_host()
            self._pending.clear()
            self._due.clear()
            executor.stop()

    def off(self) -> None:
        """Every output of the rig to zero now, whatever the state. Never raises."""
        locked = self._lock.acquire(timeout=0.5)
        try:
            self._beating = False
            self._pending.clear()
            self._due.clear()
            if self._executor is not None:
                with contextlib.suppress(Exception):
                    self._executor.off()
            self._zero_outputs()
            with contextlib.suppress(Exception):
                self._record(self._now_abs_us())
        finally:
            if locked:
                self._lock.release()

    def close(self) -> None:
        """Stop ticking, turn everything off and release every pin. Idempotent; never raises."""
        if self._closed:
            return
        self._closed = True
        self._halt.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        self.off()
        if self._button is not None:
            try:
                self._button.when_pressed = None
                self._button.close()
            except Exception:
                pass
            self._button = None
        if self._heartbeat is not None:
            with contextlib.suppress(Exception):
                self._heartbeat.close()
            self._heartbeat = None
        self._poller.close()
        for output in self._outputs:
            output.close()
        trace, self._trace = self._trace, None
        if trace is not None:
            with contextlib.suppress(Exception):
                trace.close()
        _OPEN.discard(self)

    # -- the tick ----------------------------------------------------------------------------

    def _run(self) -> None:
        """The tick thread: sleep to each deadline, tick, until closed."""
        if self.realtime:
            self.realtime = _make_realtime()
        halt = self._halt
        while not halt.is_set():
            delay_us = self._next_deadline() - self._now_abs_us()
            if delay_us > 0:
                halt.wait(delay_us / 1_000_000)
                continue
            with self._lock:
                if halt.is_set():
                    return
                self._tick_now()

    def _next_deadline(self) -> int:
        deadline = self._next_grid
        if self._due and self._due[0] < deadline:
            deadline = self._due[0]
        return deadline

    def _heard_from_host(self) -> None:
        """A message from the session: run the device up to now, then feed its watchdog."""
        self._advance()
        if self._executor is not None:
            self._executor.feed()

    def _advance(self) -> None:
        """Stepped mode: tick at every deadline up to the caller's clock. Call under the lock."""
        if not self._stepped or self._executor is None:
            return
        target = self._clock_abs_us()
        if self._started:
            while (deadline := self._next_deadline()) <= target:
                self._dev_us = max(self._dev_us, deadline)
                self._tick_now()
        self._dev_us = max(self._dev_us, target)

    def _tick_now(self) -> None:
        """One tick at the device's current time. Call under the lock."""
        executor = self._executor
        assert executor is not None
        now = self._now_abs_us()
        period = self._period_us
        if now >= self._next_grid:
            behind = (now - self._next_grid) // period
            self.overruns += behind
            self._next_grid += (behind + 1) * period
        due = self._due
        while due and due[0] <= now:
            heapq.heappop(due)
        if self._failure is not None:
            return
        try:
            button = self._button
            if (
                button is not None
                and not executor.faults & codes.FAULT_ESTOP
                and (self._estop_seen or button.is_pressed)
            ):
                self._estop_seen = True
                executor.latch(codes.FAULT_ESTOP)
                self._zero_outputs()
            executor.tick()
            self.ticks += 1
            self._record(now)
        except Exception as exc:
            self._fail(f"gpio: the device tick failed: {type(exc).__name__}: {exc}")
            return
        if executor.faults & codes.FAULT_HAL:
            self._fail(self._hal_failure())
        elif executor.faults & ~self._zeroed_for:
            # a fault the executor latched (watchdog, over-temperature, sensor): it wrote
            # level 0 to each output; drive every pin low too (a phase pin included)
            self._zeroed_for = executor.faults
            self._zero_outputs()
        self._beat(self._beating and not executor.faults and self._failure is None)

    def _record(self, now_abs_us: int) -> None:
        """Add the applied levels (and heater temperatures) at `now_abs_us` to the trace."""
        trace, executor, hal = self._trace, self._executor, self._hal
        if trace is None or executor is None or hal is None or not self._started:
            return
        t_ms = (now_abs_us - self._origin) / 1000.0
        for ch, level in enumerate(executor.levels):
            temp: float | None = None
            if ch in hal.sensor_of:
                temp = hal.read_temp(ch)
                if not math.isfinite(temp):
                    temp = None
            trace.sample(ch, t_ms, level, temp)

    def _beat(self, healthy: bool) -> None:
        """Toggle the heartbeat pin while healthy; hold it low otherwise."""
        heartbeat = self._heartbeat
        if heartbeat is None:
            return
        try:
            if healthy:
                heartbeat.toggle()
            elif heartbeat.value:
                heartbeat.off()
        except Exception as exc:
            heartbeat.close()  # released: the watchdog sees no more beats
            self._heartbeat = None
            if healthy:
                self._fail(f"gpio: the heartbeat write failed: {type(exc).__name__}: {exc}")

    def _hal_failure(self) -> str:
        error = self._hal.error if self._hal is not None else None
        what = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
        return f"gpio: an output write failed ({what}); every output was turned off"

    def _fail(self, message: str) -> None:
        """An output or the tick failed: every pin to zero, remember why for poll()."""
        if self._failure is None:
            self._failure = message
        if self._executor is not None:
            with contextlib.suppress(Exception):
                self._executor.latch(codes.FAULT_HAL)
        self._zero_outputs()

    def _zero_outputs(self) -> None:
        """Drive every output pin low, bypassing the executor; a pin that refuses is released."""
        self._beat(False)
        for output in self._outputs:
            try:
                output.zero()
            except Exception:
                output.close()  # a released pin is an input: the driver's pull-down holds it low

    # -- emergency stop ----------------------------------------------------------------------

    def _on_estop(self) -> None:
        """The button's edge callback (gpiozero's thread): latch the stop, every output off."""
        self._estop_seen = True
        locked = self._lock.acquire(timeout=_LOCK_WAIT_S)
        try:
            if locked and self._executor is not None:
                self._executor.latch(codes.FAULT_ESTOP)
            self._zero_outputs()  # without the lock too: the next tick latches the fault
        finally:
            if locked:
                self._lock.release()

    def _require_open(self) -> ex.Executor:
        if self._executor is None or self._closed:
            raise DeviceError("gpio: the device is not open")
        return self._executor


def _make_realtime() -> bool:
    """Put the calling thread under SCHED_FIFO; False where the system does not allow it.

    The tick thread sleeps nearly all the time, so a real-time priority costs
    the rest of the system little and keeps a busy CPU from delaying a tick.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
    except (OSError, AttributeError):
        return False
    return True
