"""The simulated device: the firmware's executor on a virtual or scaled clock, with physics.

The executor from `firmware_bridge` runs exactly as on the Pico, ticking every
`TICK_US` of device time on a 32-bit wrapping microsecond clock that starts at
`options.clock_start_us`. Its outputs drive physical models (roller speed,
bladder pressure, heater temperature; see `physics`), and each heater's
temperature comes back to it through a noisy simulated sensor. Every call
from the host first runs the device up to the clock's present; `poll()` and
`send()` are the host's heartbeat and feed the device's watchdog.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Sequence

from firmware_bridge import codes, names
from firmware_bridge import executor as ex
from firmware_bridge.names import FAULT_BITS
from firmware_bridge.ticks import TICKS_MAX, ticks_diff
from massager.clock import Clock, MonotonicClock, VirtualClock
from massager.drivers.base import (
    DeviceStatus,
    Driver,
    DriverOptions,
    refusal_error,
    unknown_actuator_error,
)
from massager.drivers.physics import Heater, Model, TempSensor, model_for
from massager.errors import DeviceError
from massager.rig import Rig
from massager.stream import Command
from massager.trace import TraceWriter


class SimHal:
    """The executor's hardware seam in the simulator: a settable clock, models as outputs."""

    def __init__(self, models: list[Model], sensors: dict[int, TempSensor], start_us: int) -> None:
        self.models = models
        self.sensors = sensors
        self.start_us = start_us
        self.el_us = 0
        """Device time elapsed since the device was opened, unwrapped."""
        self.t_s = 0.0
        """The same in seconds (what the physical models run on)."""
        self.now_dev = start_us & TICKS_MAX
        self.trace: TraceWriter | None = None
        self.origin_us = 0
        """`el_us` at session time 0 (trace times count from there)."""
        self.fail_writes = False
        self.fail_reads = False
        # outputs whose physics matter (a vibration motor has none to advance)
        self._physical: list[Model | None] = [m if m.column else None for m in models]
        self.written = [-1] * len(models)
        """`el_us` of each output's latest write with a trace open (it sampled the trace)."""

    def set_time(self, el_us: int) -> None:
        """Move the device clock to `el_us` after opening."""
        self.el_us = el_us
        self.t_s = el_us / 1e6
        self.now_dev = (self.start_us + el_us) & TICKS_MAX

    def now_us(self) -> int:
        """The device clock (wrapping microseconds)."""
        return self.now_dev

    def set_output(self, ch: int, level: float) -> None:
        """Drive output `ch`'s physical model (and record a trace sample)."""
        if self.fail_writes:
            raise OSError(5, "simulated output failure")
        model = self._physical[ch]
        phys = None if model is None else model.command(self.t_s, level)
        trace = self.trace
        if trace is not None:
            self.written[ch] = self.el_us
            trace.sample(ch, (self.el_us - self.origin_us) / 1000.0, level, phys)

    def read_temp(self, ch: int) -> float:
        """A noisy reading of heater `ch`'s temperature."""
        if self.fail_reads:
            raise OSError(5, "simulated sensor failure")
        return self.sensors[ch].read(self.t_s)


WATCHDOG_POLLS = 2.5
"""Polls the session makes per watchdog period, at least (its heartbeat adapts to the rig)."""
PACE_SHARE = 0.1
"""On a real clock the simulator's time moves at most this share of the watchdog (wall time)
between two reads beyond the sleep asked for: a host starved of CPU slows the simulated world
(device included) instead of tripping a watchdog or making a command late. Between two feeds
the session reads the clock about five times and sleeps at most 1/WATCHDOG_POLLS of it."""
LAG_NOTE_MS = 50.0
"""Wall time lost to a slowed clock above which the run says so (once, at its end)."""


class SimDriver(Driver):
    """The simulated massager: the device executor, physical models and an optional trace."""

    name = "sim"
    TICK_US = 10_000
    """The device tick: the executor runs every 10 ms of device time, as on the Pico."""
    QUEUE_SIZE = ex.QUEUE_SIZE
    STOP_MARGIN_MS = TICK_US / 1000.0
    """A ramp-down's last step lands on the device's next tick (`Driver.ramp_down_ms`)."""
    MAX_WATCHDOG_MS = 200_000
    """Longest watchdog in device time (wrap-safe comparisons need under 2**29 us)."""

    def __init__(self, rig: Rig, options: DriverOptions | None = None, *, seed: int = 0) -> None:
        super().__init__(rig, options)
        opts = self.options
        self._clock: Clock = (
            VirtualClock()
            if opts.virtual
            else MonotonicClock(opts.speed, max_gap_ms=self._watchdog_wall_ms() * PACE_SHARE)
        )
        self.ids = [a.id for a in rig.actuators]
        self._index = {a: i for i, a in enumerate(self.ids)}
        self.physics: dict[str, Model] = {a.id: model_for(a) for a in rig.actuators}
        models = [self.physics[a] for a in self.ids]
        self.sensors: dict[str, TempSensor] = {
            a: TempSensor(m, seed=seed + i)
            for i, (a, m) in enumerate(self.physics.items())
            if isinstance(m, Heater)
        }
        self._heater_ids = [(a, self._index[a]) for a in self.sensors]
        self._moving_parts = [(ch, m) for ch, m in enumerate(models) if m.column]
        """The outputs with physics (a trace's physical column), by channel."""
        self.hal = SimHal(
            models,
            {self._index[a]: s for a, s in self.sensors.items()},
            opts.clock_start_us,
        )
        self.executor: ex.Executor | None = None
        self._t0_ms = 0.0
        self._next_tick = 0
        self._last_tick = -self.TICK_US
        self._started = False
        self._pause_el = 0
        self._backlog: deque[Command] = deque()
        self._closed = False

    @property
    def watchdog_ms(self) -> int:
        """The device watchdog, in device time.

        The rig's (or `options.watchdog_ms`). On a real clock sped up by
        `options.speed` it is that many times longer: the watchdog catches a
        host gone silent, and a host's silences last wall time, so a 250 ms
        watchdog still means 250 ms of wall time at --speed 60 (at most
        MAX_WATCHDOG_MS of device time).
        """
        base = self.options.watchdog_ms or self.rig.watchdog_ms
        if self.options.virtual or self.options.speed <= 1.0:
            return base
        return min(round(base * self.options.speed), self.MAX_WATCHDOG_MS)

    def _watchdog_wall_ms(self) -> float:
        return self.watchdog_ms / max(self.options.speed, 1e-9)

    def lag_note(self) -> str:
        """Says once how much the real clock slowed because the host could not keep up."""
        lost = getattr(self._clock, "lost_ms", 0.0)
        if lost < LAG_NOTE_MS:
            return ""
        return (
            f"note: this machine could not keep up with --speed {self.options.speed:g}; "
            f"the simulator slowed its clock by {lost / 1000:.1f} s of real time rather than "
            "report a fault the device did not have (a lower --speed, or `simulate`, runs "
            "without slowing)"
        )

    @property
    def poll_gap_ms(self) -> float:
        """Each poll feeds the watchdog: 2.5 polls per watchdog, so the rig's shortest
        (20 ms) holds too (a poll every 8 ms of clock time)."""
        return self.watchdog_ms / WATCHDOG_POLLS

    @property
    def clock(self) -> Clock:
        """The clock the device runs on (virtual, or real time scaled by `options.speed`)."""
        return self._clock

    # -- the device's time ----------------------------------------------------------------

    def _elapsed_us(self) -> int:
        return round((self._clock.now_ms() - self._t0_ms) * 1000.0)

    def _run(self) -> ex.Executor:
        """Tick the device up to the clock's present; return its executor."""
        executor = self.executor
        if executor is None:
            raise DeviceError("sim: the device is not open")
        now = self._elapsed_us()
        hal = self.hal
        tick = executor.tick
        next_due = executor.next_due_us
        last = self._last_tick
        step = self.TICK_US
        t = self._next_tick
        pushing = self._started
        start = hal.start_us
        while t <= now:
            hal.el_us = t  # hal.set_time(t), inlined: this loop is the simulator's hot path
            hal.t_s = t / 1e6
            hal.now_dev = (start + t) & TICKS_MAX
            if pushing and self._backlog:
                self._push(executor)
            tick()
            last = t
            due = next_due()
            if due is None:
                t += step
            else:  # nothing moves: jump to the tick before the next event's, so the
                # event's tick sees one tick of elapsed time (the slew limit is per elapsed
                # time: a longer gap would let an output jump at its first tick)
                gap = ticks_diff(due, hal.now_dev)
                t += step * max(1, -(-gap // step) - 1)
        grid = last + step * ((now - last) // step)
        if grid > last:
            # skipping past the present: a tick on the last grid point (nothing is due, so it
            # changes nothing) keeps the device's clock current, so the first tick after the
            # host's next message measures its slew step over one tick, as on the device
            hal.el_us = grid
            hal.t_s = grid / 1e6
            hal.now_dev = (start + grid) & TICKS_MAX
            tick()
            last = grid
        self._next_tick = t
        self._last_tick = last
        hal.set_time(now)
        return executor

    def _wake(self) -> None:
        """The host changed something: the device ticks again from the next tick on its grid."""
        step = self.TICK_US
        last = self._last_tick
        first = last + step * ((self.hal.el_us - last) // step + 1)
        if first < self._next_tick:
            self._next_tick = first

    def _device_us(self, at_ms: float, executor: ex.Executor) -> int:
        el = self.hal.origin_us + round(at_ms * 1000.0) + executor.shift_us
        return (self.hal.start_us + el) & TICKS_MAX

    def _push(self, executor: ex.Executor) -> None:
        """Queue backlog commands on the device while it has room."""
        backlog = self._backlog
        while backlog:
            command = backlog[0]
            op, a, b, c, d = command.args()
            ch = self._index[command.actuator]  # send() let only known actuators in
            code = executor.schedule(self._device_us(command.at_ms, executor), ch, op, a, b, c, d)
            if code == codes.ERR_FULL:
                return
            backlog.popleft()
            if code != codes.OK:
                self._refused(command, code, executor)
            self._wake()

    def _refused(self, command: Command, code: int, executor: ex.Executor) -> None:
        what = f"{command.op} for {command.actuator} at {command.at_ms} ms"
        raise refusal_error(code, what, names.fault_names(executor.faults))

    # -- the Driver interface -------------------------------------------------------------

    def open(self) -> None:
        """Power the simulated device up and configure every channel from the rig."""
        if self.executor is not None:
            return
        rig = self.rig
        self._t0_ms = self._clock.now_ms()
        self.hal.set_time(0)
        executor = ex.Executor(self.hal, len(self.ids), self.watchdog_ms, self.QUEUE_SIZE)
        for ch, act in enumerate(rig.actuators):
            code = executor.configure(
                ch,
                *act.device_limits(),
            )
            if code != codes.OK:
                raise DeviceError(f"sim: cannot configure {act.id}: {names.reason_name(code)}")
        self.executor = executor
        self._next_tick = 0
        self._last_tick = -self.TICK_US
        columns = [(a, self.physics[a].column) for a in self.ids]
        self.hal.trace = self.open_trace(columns, hold_ms=self.TICK_US / 1000.0)

    def start(self) -> None:
        """Session time 0 is now; queue what was sent before."""
        executor = self._run()
        self.hal.origin_us = self.hal.el_us
        self._started = True
        executor.feed()
        if self.hal.trace is not None:
            for ch, actuator in enumerate(self.ids):
                model = self.physics[actuator]
                phys = model.value(self.hal.t_s) if model.column else None
                self.hal.trace.sample(ch, 0.0, executor.levels[ch], phys)
        self._push(executor)

    def send(self, commands: Sequence[Command]) -> None:
        """Queue commands stamped in session ms (held on the host while the device is full)."""
        executor = self._run()
        executor.feed()
        for command in commands:
            if command.actuator not in self._index:
                raise unknown_actuator_error(command.actuator, self.rig)
        self._backlog.extend(commands)
        if self._started:
            self._push(executor)

    def poll(self) -> DeviceStatus:
        """Run the device up to now, feed its watchdog and report its state."""
        executor = self._run()
        if self._backlog and self._started:
            self._push(executor)
        executor.feed()
        trace = self.hal.trace
        if trace is not None:
            self._sample_physics(trace, executor)
            trace.flush_due()
        return self.status()

    def _sample_physics(self, trace: TraceWriter, executor: ex.Executor) -> None:
        """Sample the physics still moving under a level that holds (an output written at
        this very moment sampled itself: the same sample again would change nothing)."""
        hal = self.hal
        t_s = hal.t_s
        el = hal.el_us
        t_ms = (el - hal.origin_us) / 1000.0
        written = hal.written
        levels = executor.levels
        for ch, model in self._moving_parts:
            if written[ch] != el and not model.settled:
                trace.sample(ch, t_ms, levels[ch], model.value(t_s))

    def status(self) -> DeviceStatus:
        """The device's state as of the last time it ran (no ticking, no feeding)."""
        executor = self.executor
        if executor is None:
            return DeviceStatus(session_ms=0.0)
        temps = executor.temps
        return DeviceStatus(
            session_ms=self.session_ms(),
            levels=dict(zip(self.ids, executor.levels, strict=True)),
            faults=tuple(names.fault_names(executor.faults)) if executor.faults else (),
            temps={actuator: temps[ch] for actuator, ch in self._heater_ids},
            paused=executor.paused,
        )

    def session_ms(self) -> float:
        """Program time reached: ms since start, minus the time spent paused."""
        executor = self.executor
        if executor is None or not self._started:
            return 0.0
        hal = self.hal
        el = hal.el_us - hal.origin_us - executor.shift_us
        if executor.paused:
            el -= hal.el_us - self._pause_el
        return el / 1000.0

    def pause(self) -> None:
        """Ramp every output down within 1 s and hold the program."""
        executor = self._run()
        if not executor.paused:
            self._pause_el = self.hal.el_us
        executor.pause()
        self._wake()

    def resume(self) -> None:
        """Continue the program; outputs ramp back up through their slew limits."""
        self._run().resume()
        self._wake()

    def set_intensity(self, intensity: float) -> None:
        """Scale every output by `intensity` from the next tick."""
        self._run().set_scale(intensity)
        self._wake()

    def stop(self) -> None:
        """Drop queued commands; every output ramps to zero at its slew limit."""
        executor = self._run()
        self._backlog.clear()
        executor.stop()
        self._wake()

    def off(self) -> None:
        """Every output to zero now. Never raises."""
        self._backlog.clear()
        executor = self.executor
        if executor is None:
            return
        with contextlib.suppress(Exception):  # off() works whatever state the device is in
            self._run()
        was_failing = self.hal.fail_writes
        self.hal.fail_writes = False  # the model must still see zero even after a HAL fault
        try:
            executor.off()
        finally:
            self.hal.fail_writes = was_failing

    def close(self) -> None:
        """Turn everything off and finish the trace. Idempotent; never raises."""
        if self._closed:
            return
        self._closed = True
        self.off()
        trace = self.hal.trace
        if trace is not None:
            try:
                if self.executor is not None:
                    self._sample_physics(trace, self.executor)
                trace.close()
            except OSError:
                pass

    # -- for tests ------------------------------------------------------------------------

    def levels(self) -> dict[str, float]:
        """The level each output has now."""
        executor = self.executor
        return dict(zip(self.ids, executor.levels, strict=True)) if executor else {}

    @property
    def cuts(self) -> tuple[str, ...]:
        """Actuators the device cut for exceeding their continuous on-time."""
        mask = self.executor.cut_mask if self.executor else 0
        return tuple(a for ch, a in enumerate(self.ids) if mask & (1 << ch))

    def inject(self, fault: str) -> None:
        """Test hook: latch a device fault by name (e.g. 'estop'), or make the HAL fail.

        'hal' makes every output write raise from now on, 'sensor' every
        temperature read; the executor latches the matching fault at its next tick.
        """
        if fault == "hal":
            self.hal.fail_writes = True
        elif fault == "sensor":
            self.hal.fail_reads = True
        elif fault in FAULT_BITS:
            self._run().latch(FAULT_BITS[fault])
        else:
            raise ValueError(f"unknown fault {fault!r}")
        self._wake()
