"""The simulated device: the firmware's executor on a virtual or scaled clock, with physics.

The executor from `firmware_bridge` runs exactly as on the Pico, ticking every
`TICK_US` of device time on a 32-bit wrapping microsecond clock that starts at
`options.clock_start_us` (`sim_device`). Its outputs drive physical models (roller speed,
bladder pressure, heater temperature; see `physics` and `sim_hal`), and each heater's
temperature comes back to it through a noisy simulated sensor. Every call
from the host first runs the device up to the clock's present (`sim_pacing` says
how that clock moves); `poll()` and `send()` are the host's heartbeat and feed the
device's watchdog.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence

from firmware_bridge import executor as ex
from firmware_bridge import names
from firmware_bridge.names import FAULT_BITS
from massager.clock import Clock
from massager.drivers import sim_pacing
from massager.drivers.base import (
    DeviceStatus,
    Driver,
    DriverOptions,
    unknown_actuator_error,
)
from massager.drivers.physics import Heater, Model, TempSensor, model_for
from massager.drivers.sim_device import TICK_US, SimDevice
from massager.drivers.sim_hal import SimHal
from massager.rig import Rig
from massager.stream import Command


class SimDriver(Driver):
    """The simulated massager: the device executor, physical models and an optional trace."""

    name = "sim"
    TICK_US = TICK_US
    """The device tick: the executor runs every 10 ms of device time, as on the Pico."""
    QUEUE_SIZE = ex.QUEUE_SIZE
    MAX_WATCHDOG_MS = 200_000
    """Longest watchdog in device time (wrap-safe comparisons need under 2**29 us)."""

    def __init__(
        self,
        rig: Rig,
        options: DriverOptions | None = None,
        *,
        seed: int = 0,
        per_tick: bool = False,
    ) -> None:
        super().__init__(rig, options)
        opts = self.options
        self._clock: Clock = sim_pacing.sim_clock(opts, self.watchdog_ms)
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
        self.hal = SimHal(
            models,
            {self._index[a]: s for a, s in self.sensors.items()},
            opts.clock_start_us,
        )
        self.device = SimDevice(self.hal, self.ids, per_tick=per_tick)
        """The executor on the HAL's tick grid, and the commands held for it (`per_tick`:
        every tick through the executor's `tick()`, never jumping over ticks where nothing
        is due: the reference the jumps are tested against)."""
        self._t0_ms = 0.0
        self._closed = False
        self._peaks: list[float] | None = None

    @property
    def executor(self) -> ex.Executor | None:
        """The device's executor (None until the device is open)."""
        return self.device.executor

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
        return sim_pacing.device_watchdog_ms(base, self.options, self.MAX_WATCHDOG_MS)

    def lag_note(self) -> str:
        """Says once how much the real clock slowed because the host could not keep up."""
        return sim_pacing.lag_note(self._clock, self.options.speed)

    @property
    def poll_gap_ms(self) -> float:
        """Each poll feeds the watchdog: 2.5 polls per watchdog, so the rig's shortest
        (20 ms) holds too (a poll every 8 ms of clock time)."""
        return self.watchdog_ms / sim_pacing.WATCHDOG_POLLS

    @property
    def clock(self) -> Clock:
        """The clock the device runs on (virtual, or real time scaled by `options.speed`)."""
        return self._clock

    # -- the device's time ----------------------------------------------------------------

    def _run(self) -> ex.Executor:
        """Tick the device up to the clock's present (DeviceError before it is open); return
        its executor."""
        return self.device.run(round((self._clock.now_ms() - self._t0_ms) * 1000.0))

    # -- the Driver interface -------------------------------------------------------------

    def open(self) -> None:
        """Power the simulated device up and configure every channel from the rig."""
        if self.executor is not None:
            return
        self._t0_ms = self._clock.now_ms()
        self.device.open(self.rig, self.watchdog_ms, self.QUEUE_SIZE)
        columns = [(a, self.physics[a].column) for a in self.ids]
        self.hal.trace = self.open_trace(columns, hold_ms=self.TICK_US / 1000.0)

    def start(self) -> None:
        """Session time 0 is now; queue what was sent before."""
        executor = self._run()
        self.hal.origin_us = self.hal.el_us
        self.device.started = True
        executor.feed()
        if self.hal.trace is not None:
            for ch, actuator in enumerate(self.ids):
                model = self.physics[actuator]
                phys = model.value(self.hal.t_s) if model.column else None
                self.hal.trace.sample(ch, 0.0, executor.levels[ch], phys)
        self.device.push(executor)

    def send(self, commands: Sequence[Command]) -> None:
        """Queue commands stamped in session ms (held on the host while the device is full)."""
        executor = self._run()
        executor.feed()
        for command in commands:
            if command.actuator not in self._index:
                raise unknown_actuator_error(command.actuator, self.rig)
        self.device.queue(commands)
        if self.device.started:
            self.device.push(executor)

    def poll(self) -> DeviceStatus:
        """Run the device up to now, feed its watchdog and report its state."""
        self._poll_device()
        return self.status()

    def poll_quiet(
        self, until_ms: float, gap_ms: float, woken: Callable[[], object]
    ) -> DeviceStatus:
        """Poll; on a virtual clock, poll on every `gap_ms` (jumping the clock, as the
        session's wait would) while session time moves and stays below `until_ms`,
        nothing is latched, the trace is fine and `woken()` is false (see
        `Driver.poll_quiet`). Report the last poll."""
        poll = self._poll_device
        executor = poll()
        if self.options.virtual:
            clock = self._clock
            session_ms = self.device.session_ms
            trace = self.hal.trace
            t = session_ms()
            while (
                t < until_ms
                and not executor.faults
                and (trace is None or trace.failure is None)
                and not woken()
            ):
                clock.sleep_until(clock.now_ms() + gap_ms)
                poll()
                moved = session_ms()
                if moved <= t:  # (time stands still only while paused: never here)
                    break
                t = moved
        return self.status()

    def _poll_device(self) -> ex.Executor:
        """Run the device up to now, push what it has room for, feed its watchdog, sample
        the trace; return its executor."""
        executor = self._run()
        device = self.device
        if device.backlog and device.started:
            device.push(executor)
        executor.feed()
        trace = self.hal.trace
        if trace is not None and self.hal.sample_physics(executor.levels):
            trace.flush_due()
        peaks = self._peaks
        if peaks is not None:
            self._peaks = list(map(max, peaks, map(abs, executor.levels)))
        return executor

    def track_peaks(self) -> None:
        """From now on note, at every poll (the session's and the quiet ones), each output's
        largest magnitude (`peaks`): what a `Progress` subscriber would see, without asking
        for every poll to be the session's own."""
        self._peaks = [0.0] * len(self.ids)

    def peaks(self) -> dict[str, float]:
        """Each output's largest magnitude at a poll since `track_peaks` (0.0 without it)."""
        peaks = self._peaks or [0.0] * len(self.ids)
        return dict(zip(self.ids, peaks, strict=True))

    def ramp_down_ms(self, levels: Mapping[str, float]) -> float:
        """Clock ms until every output reads zero, ramping down after `stop()`: exact.

        The device's own slew steps are counted from its levels (not `levels`, the
        report's copy of them), one tick after another from its last tick, so the
        session looks again at the very tick the last output reaches zero.
        """
        return max(0.0, (self.device.zero_at_us() - self.hal.el_us) / 1000.0)

    def status(self) -> DeviceStatus:
        """The device's state as of the last time it ran (no ticking, no feeding)."""
        executor = self.executor
        if executor is None:
            return DeviceStatus(session_ms=0.0)
        temps = executor.temps
        faults = executor.faults
        return DeviceStatus(
            self.device.session_ms(),
            dict(zip(self.ids, executor.levels, strict=True)),
            tuple(names.fault_names(faults)) if faults else (),
            {actuator: temps[ch] for actuator, ch in self._heater_ids},
            executor.paused,
        )

    def session_ms(self) -> float:
        """Program time reached: ms since start, minus the time spent paused."""
        return self.device.session_ms()

    def pause(self) -> None:
        """Ramp every output down within 1 s and hold the program."""
        executor = self._run()
        if not executor.paused:
            self.device.pause_el = self.hal.el_us
        executor.pause()
        self.device.wake()

    def resume(self) -> None:
        """Continue the program; outputs ramp back up through their slew limits."""
        self._run().resume()
        self.device.wake()

    def set_intensity(self, intensity: float) -> None:
        """Scale every output by `intensity` from the next tick."""
        self._run().set_scale(intensity)
        self.device.wake()

    def stop(self) -> None:
        """Drop queued commands; every output ramps to zero at its slew limit."""
        executor = self._run()
        self.device.backlog.clear()
        executor.stop()
        self.device.wake()

    def off(self) -> None:
        """Every output to zero now. Never raises."""
        self.device.backlog.clear()
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
                    self.hal.sample_physics(self.executor.levels)
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
        self.device.wake()
