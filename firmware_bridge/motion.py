"""What each output follows and the level it is at: the executor's per-tick evaluation.

``Motion(hal, limits, heat)`` keeps, per channel, the op being followed and
its arguments (``op``, ``a``..``d``, ``shape``, the level it started from,
microseconds into it), the applied level (``levels``), the continuous
on-time, and which channels are active (``active``: not at rest at zero).
``start_due`` starts the queue's due commands; ``evaluate`` runs one tick:
each active output's target (scaled by ``scale``, clamped to its range, zero
above a heater's soft cap), the on-time cut (``cut_mask``), the slew limit,
and the HAL writes of levels that changed. Flat lists throughout, nothing
allocated per tick.
"""

from firmware_bridge.codes import FAULT_HAL, KIND_HEATER, OP_HEAT, OP_OFF, OP_RAMP, OP_SET, OP_WAVE
from firmware_bridge.ticks import ticks_add, ticks_diff
from firmware_bridge.waveforms import op_value, wave_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from firmware_bridge.cmdqueue import CommandQueue
    from firmware_bridge.hal_types import Hal
    from firmware_bridge.heater import HeaterLoop
    from firmware_bridge.limits import ChannelLimits


class Motion:
    """Every channel's motion and applied level, moved one tick at a time inside the envelope."""

    def __init__(self, hal: "Hal", limits: "ChannelLimits", heat: "HeaterLoop") -> None:
        n = limits.channels
        self._hal = hal
        self._heat = heat
        self._duty = heat.duty
        self._configured = limits.configured
        self._kind = limits.kind
        self._slew = limits.slew
        self._fast = limits.fast
        self._max_on = limits.max_on
        self.op = [OP_OFF] * n
        self.a = [0.0] * n
        self.b = [0.0] * n
        self.c = [0.0] * n
        self.d = [0.0] * n
        self.shape = [0] * n
        self.start = [0.0] * n
        self.el = [0] * n  # microseconds since the op began, as of the last tick
        self.on_us = [0] * n
        # holding a set level, already reached: only the on-time still counts
        self.steady = [False] * n
        self.moving = 0  # active outputs not steady, as of the last tick
        self.active = []  # type: list[int]
        self._is_active = [False] * n
        self.levels = [0.0] * n
        self.scale = 1.0
        self.cut_mask = 0
        # the lists the tick's loop reads, in the order it unpacks them (each list is kept
        # for the object's life: its items change, never the list)
        self._hot = (
            self.levels,
            self.op,
            self.el,
            self.on_us,
            self.a,
            self.b,
            self.c,
            self.shape,
            limits.hi,
            limits.lo,
            self.steady,
            limits.max_on,
            heat.temps,
            limits.soft_cap,
        )

    def start_due(self, queue: "CommandQueue", now: int, dt: int) -> None:
        """Start every command of `queue` due by `now` (the tick `dt` microseconds long)."""
        prev_now = ticks_add(now, -dt)
        qt = queue.t
        ops = self.op
        a = self.a
        b = self.b
        c = self.c
        d = self.d
        el = self.el
        begin = self.start
        while queue.count and ticks_diff(now, qt[queue.head]) >= 0:
            i = queue.pop()
            ch = queue.ch[i]
            t = qt[i]
            prev = ops[ch]
            if prev == OP_OFF:
                start = 0.0
            else:
                e = el[ch] + ticks_diff(t, prev_now)
                start = op_value(prev, a[ch], b[ch], c[ch], d[ch], begin[ch], e)
            op = queue.op[i]
            qd = queue.d[i]
            if op == OP_SET and queue.a[i] == 0.0:
                op = OP_OFF  # the same output, and the channel can go idle
            ops[ch] = op
            a[ch] = queue.a[i]
            b[ch] = queue.b[i]
            c[ch] = queue.c[i]
            d[ch] = qd
            self.shape[ch] = int(qd)
            begin[ch] = start
            # elapsed as of the previous tick: the evaluation adds this tick's dt
            el[ch] = ticks_diff(prev_now, t)
            if op != OP_HEAT:
                self._heat.reset(ch)
            self.cut_mask &= ~(1 << ch)
            self.steady[ch] = False
            self.moving += 1
            if not self._is_active[ch]:
                self._is_active[ch] = True
                self.active.append(ch)

    def unsteady(self) -> None:
        """Every active output is evaluated in full at the next tick (scale, pause, resume)."""
        steady = self.steady
        for ch in self.active:
            steady[ch] = False
        self.moving = len(self.active)

    def add_elapsed(self, us: int) -> None:
        """Move every active channel `us` microseconds further into its op (pause, resume)."""
        el = self.el
        for ch in self.active:
            el[ch] += us

    def stop(self) -> None:
        """Every active output's op becomes off: it ramps to zero at its slew limit."""
        self.unsteady()
        op = self.op
        for ch in self.active:
            op[ch] = OP_OFF
            self._heat.reset(ch)

    def zero_all(self) -> bool:
        """Every output to zero now, written to the HAL; False if a write raised."""
        hal = self._hal
        failed = False
        for ch in range(len(self.levels)):
            self.op[ch] = OP_OFF
            self._heat.reset(ch)
            self.on_us[ch] = 0
            self.steady[ch] = False
            self._is_active[ch] = False
            self.levels[ch] = 0.0
            if self._configured[ch]:
                try:
                    hal.set_output(ch, 0.0)
                except Exception:
                    failed = True
        self.active = []
        self.moving = 0
        return not failed

    def on_time_due(self, now: int, due: int) -> int:
        """The earlier of `due` and the first moment a steady output passes its on-time."""
        max_on = self._max_on
        on_us = self.on_us
        for ch in self.active:  # all steady: only their on-time runs
            left = max_on[ch] - on_us[ch]
            if left < 1000000:
                expiry = ticks_add(now, left + 1)
                if ticks_diff(expiry, due) < 0:
                    due = expiry
        return due

    def evaluate(self, dt: int, paused: bool) -> int:
        """Move every active output through a tick `dt` long; returns 0, or FAULT_HAL."""
        # the hot loop: every list is a local (one unpack of `_hot`, not a dozen attribute
        # reads a tick), ops dispatch to the shared motion math
        levels, ops, el, on_us, a, b, c, shape, hi, lo, steady, max_on, temps, soft_cap = self._hot
        set_output = self._hal.set_output
        rates = self._fast if paused else self._slew
        scale = self.scale
        idle = False
        moving = 0
        for ch in self.active:
            if steady[ch]:
                on = on_us[ch] + dt
                if on <= max_on[ch]:
                    on_us[ch] = on
                    continue
                steady[ch] = False  # the full path below cuts it
            op = ops[ch]
            if paused or op == OP_OFF:
                target = 0.0
            else:
                e = el[ch] + dt
                el[ch] = e
                if op == OP_WAVE:
                    target = wave_value(shape[ch], a[ch], b[ch], c[ch], e) * scale
                elif op == OP_SET:
                    target = a[ch] * scale
                elif op == OP_HEAT:
                    target = self._duty[ch] * scale
                else:
                    v = op_value(op, a[ch], b[ch], c[ch], self.d[ch], self.start[ch], e)
                    target = v * scale
                    if op == OP_RAMP and e >= b[ch]:
                        # a finished ramp holds its target: the same as a set (or an off), cheaper
                        ops[ch] = OP_SET if a[ch] != 0.0 else OP_OFF
                if target > hi[ch]:
                    target = hi[ch]
                elif target < lo[ch]:
                    target = lo[ch]
                if temps[ch] >= soft_cap[ch] and op != OP_HEAT:
                    target = 0.0
            if target != 0.0:
                on = on_us[ch] + dt
                if on > max_on[ch]:
                    # continuous on-time exceeded: this output goes off at once
                    ops[ch] = OP_OFF
                    on_us[ch] = 0
                    self.cut_mask |= 1 << ch
                    levels[ch] = 0.0
                    try:
                        set_output(ch, 0.0)
                    except Exception:
                        return FAULT_HAL
                    idle = True
                    continue
                on_us[ch] = on
            else:
                on_us[ch] = 0
            cur = levels[ch]
            if target != cur:
                step = rates[ch] * dt
                if target > cur:
                    new = cur + step
                    if new > target:
                        new = target
                else:
                    new = cur - step
                    if new < target:
                        new = target
                levels[ch] = new
                try:
                    set_output(ch, new)
                except Exception:
                    return FAULT_HAL
                cur = new
            elif target == 0.0 and op == OP_OFF:
                idle = True
            # steady[ch] is False here (a steady channel either continued above or was unset)
            if op == OP_SET and cur == target and target != 0.0 and not paused:
                if self._kind[ch] == KIND_HEATER:  # a heater keeps its temperature check
                    moving += 1
                else:
                    steady[ch] = True
            else:
                moving += 1
        self.moving = moving
        if idle:
            keep = []
            for ch in self.active:
                if ops[ch] == OP_OFF and levels[ch] == 0.0:
                    self._is_active[ch] = False
                else:
                    keep.append(ch)
            self.active = keep
        return 0
