"""The firmware's executor hosted in the simulator: ticking on its grid, fed from a backlog.

`SimDevice` owns the executor from `firmware_bridge`, runs it on `SimHal`'s
clock every `TICK_US` of device time (jumping over stretches where nothing is
due), and holds the host's commands in a backlog while the device's queue is
full. It knows nothing of wall time: the driver tells it how far the clock is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Final

from firmware_bridge import codes, names
from firmware_bridge import executor as ex
from firmware_bridge.ticks import TICKS_MAX, ticks_diff
from massager.drivers.base import refusal_error
from massager.drivers.sim_hal import SimHal
from massager.errors import DeviceError
from massager.rig import Rig
from massager.stream import Command

TICK_US: Final = 10_000
"""The device tick: the executor runs every 10 ms of device time, as on the Pico."""
MAX_RAMP_TICKS: Final = 100_000
"""Longest ramp `zero_at_us` counts (1000 s on the 10 ms tick: past any slew limit)."""


class SimDevice:
    """The executor on the simulated HAL, with its tick grid and the host's backlog."""

    def __init__(self, hal: SimHal, ids: list[str], *, per_tick: bool = False) -> None:
        self.hal = hal
        self.per_tick = per_tick
        """Run the executor at every tick, never jumping over ticks where nothing is due
        (the reference the jumps are tested against)."""
        self.index = {a: i for i, a in enumerate(ids)}
        """Channel of each actuator id."""
        self.executor: ex.Executor | None = None
        self.started = False
        """Whether session time has started (the backlog is pushed only from then on)."""
        self.pause_el = 0
        """`hal.el_us` when the program was paused."""
        self.backlog: deque[Command] = deque()
        self._next_tick = 0
        self._last_tick = -TICK_US

    def open(self, rig: Rig, watchdog_ms: int, queue_size: int) -> ex.Executor:
        """Power the device up at elapsed time 0 and configure every channel from `rig`."""
        self.hal.set_time(0)
        executor = ex.Executor(self.hal, len(self.index), watchdog_ms, queue_size)
        for ch, act in enumerate(rig.actuators):
            code = executor.configure(
                ch,
                *act.device_limits(),
            )
            if code != codes.OK:
                raise DeviceError(f"sim: cannot configure {act.id}: {names.reason_name(code)}")
        self.executor = executor
        self._next_tick = 0
        self._last_tick = -TICK_US
        return executor

    def run(self, now: int) -> ex.Executor:
        """Tick the device up to elapsed device time `now` (us); return its executor."""
        executor = self.executor
        if executor is None:
            raise DeviceError("sim: the device is not open")
        hal = self.hal
        tick = executor.tick
        next_due = executor.next_due_us
        last = self._last_tick
        step = TICK_US
        t = self._next_tick
        pushing = self.started
        start = hal.start_us
        while t <= now:
            hal.el_us = t  # hal.set_time(t), inlined: this loop is the simulator's hot path
            hal.t_s = t / 1e6
            hal.now_dev = (start + t) & TICKS_MAX
            if pushing and self.backlog:
                self.push(executor)
            tick()
            last = t
            due = None if self.per_tick else next_due()
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

    def zero_at_us(self) -> int:
        """Elapsed device time (us) of the tick at which every output of a stopped (or
        paused) device is at zero: each output's slew steps toward zero, counted from its
        last tick as the executor takes them (that tick if all are at zero already)."""
        executor = self.executor
        if executor is None:
            return self._last_tick
        motion = executor._motion  # the sim's own executor: its slew state is ours to read
        rates = motion._fast if executor.paused else motion._slew
        levels = motion.levels
        longest = 0
        for ch in motion.active:
            cur = levels[ch]
            step = rates[ch] * TICK_US
            k = 0
            while cur != 0.0 and k < MAX_RAMP_TICKS:
                cur = max(0.0, cur - step) if cur > 0.0 else min(0.0, cur + step)
                k += 1
            longest = max(longest, k)
        return self._last_tick + longest * TICK_US

    def wake(self) -> None:
        """The host changed something: the device ticks again from the next tick on its grid."""
        step = TICK_US
        last = self._last_tick
        first = last + step * ((self.hal.el_us - last) // step + 1)
        if first < self._next_tick:
            self._next_tick = first

    def queue(self, commands: Iterable[Command]) -> None:
        """Hold `commands` in the backlog (the caller checked their actuators)."""
        self.backlog.extend(commands)

    def push(self, executor: ex.Executor) -> None:
        """Queue backlog commands on the device while it has room."""
        backlog = self.backlog
        while backlog:
            command = backlog[0]
            op, a, b, c, d = command.args()
            ch = self.index[command.actuator]  # the driver let only known actuators in
            code = executor.schedule(self._device_us(command.at_ms, executor), ch, op, a, b, c, d)
            if code == codes.ERR_FULL:
                return
            backlog.popleft()
            if code != codes.OK:
                self._refused(command, code, executor)
            self.wake()

    def _device_us(self, at_ms: float, executor: ex.Executor) -> int:
        el = self.hal.origin_us + round(at_ms * 1000.0) + executor.shift_us
        return (self.hal.start_us + el) & TICKS_MAX

    def _refused(self, command: Command, code: int, executor: ex.Executor) -> None:
        what = f"{command.op} for {command.actuator} at {command.at_ms} ms"
        raise refusal_error(code, what, names.fault_names(executor.faults))

    def session_ms(self) -> float:
        """Program time reached: ms since start, minus the time spent paused."""
        executor = self.executor
        if executor is None or not self.started:
            return 0.0
        hal = self.hal
        el = hal.el_us - hal.origin_us - executor.shift_us
        if executor.paused:
            el -= hal.el_us - self.pause_el
        return el / 1000.0
