"""The executor: a queue of timed commands run on the device's own clock.

The same code runs on the Pico (MicroPython), in the Pi's GPIO driver thread
and in the simulator. It talks to hardware only through a HAL object with:

- ``now_us() -> int``: the device clock, microseconds modulo 2**30 (wrapping);
- ``set_output(ch, level)``: write a level (-1..1 for rollers, 0..1 otherwise);
- ``read_temp(ch) -> float``: a heater channel's temperature in degrees C.

API:

- ``Executor(hal, channels, watchdog_ms=250, queue_size=64)``; ``channels`` is
  the number of output channels; ``queue_size`` bounds the commands waiting,
  over all channels together.
- ``configure(ch, kind, max_level, min_level, max_slew, max_on_ms, max_temp_c)``:
  kind codes roller 0, vibration 1, air 2, heater 3 (``codes.KIND_*``);
  ``max_slew`` in level per second; ``max_temp_c`` None except for heaters.
  Returns ``OK``, ``ERR_CHANNEL`` or ``ERR_ARG``.
- ``schedule(t_us, ch, op, a, b, c, d) -> int``: queue a command at device
  time ``t_us`` (op codes and arguments as in ``waveforms``); returns ``OK`` or
  an error code: ``ERR_LATE`` (``t_us`` before the last tick, or before the
  moment of the pause while paused), ``ERR_LIMIT`` (a level outside the
  channel's range, a heat target above its ``max_temp_c``, heat on a channel
  that is not a heater), ``ERR_CHANNEL`` (no such configured channel),
  ``ERR_FULL`` (queue full: send it again later), ``ERR_FAULT`` (a fault is
  latched), ``ERR_ARG`` (unknown op, shape, negative duration, a frequency
  outside 0..MAX_WAVE_HZ, a value that is not a finite number). Refused
  commands are never executed. Commands at the same time run in the order
  they were queued.
- ``feed()``: the host is alive: resets the watchdog, and arms it (it is
  disarmed until the first ``feed()`` and again by ``off()``). Call it for
  every message that arrives from the host; nothing else feeds it.
- ``tick()``: read the clock, start due commands, evaluate every output,
  enforce the envelope, write the outputs that changed. Call it often (100 Hz
  or more). The envelope: each level is clamped to the channel's range
  (``-max_level..max_level`` for rollers, ``0..max_level`` otherwise), then
  moves toward that target by at most ``max_slew`` per second; a channel
  whose commanded level stayed non-zero at every tick for longer than
  ``max_on_ms`` is cut (output 0 at once, motion dropped, its bit set in
  ``cut_mask``) until its next command; heaters are read every 100 ms, a
  reading above ``max_temp_c`` latches ``FAULT_OVERTEMP``, an unreadable one
  ``FAULT_SENSOR``, and a heater within 1 C of its cap gets no duty; no
  ``feed()`` for ``watchdog_ms`` latches ``FAULT_WATCHDOG``. ``min_level`` is
  kept for the HAL (``min_level[ch]``): the executor does not snap levels
  below it, so soft starts pass through it as on the real motor.
- ``heat`` runs a PI loop toward its target temperature with the duty never
  above the command's ceiling; other ops on a heater drive its duty directly.
- ``set_scale(x)``: user intensity 0..1, applied from the next tick through the
  slew limits.
- ``pause()`` / ``resume()``: pause ramps outputs down within 1 s (at their
  slew limit, or faster where that would take longer) and freezes the
  program; resume shifts every queued time by the paused span (``shift_us``
  accumulates it, so the host adds it to the times it sends) and ramps back
  up through the slew limits. Waves and ramps continue where they stopped.
- ``stop()``: drop the queue and ramp every output to zero at its slew limit.
- ``off()``: every output to zero at once (hal written immediately).
- ``latch(fault)``: latch a fault bit (all outputs 0 at once, queue dropped,
  commands refused) until ``clear_faults()``. Bits: ``FAULT_WATCHDOG``,
  ``FAULT_OVERTEMP``, ``FAULT_ESTOP``, ``FAULT_HAL`` (the HAL raised),
  ``FAULT_SENSOR`` (``codes.py``; ``names.fault_names(bits)`` spells them out).
- Read-only state: ``levels`` (applied level per channel), ``temps`` (last
  reading per heater channel), ``faults`` (bitmask), ``cut_mask`` (channels
  cut by on-time; a channel's bit clears at its next command or by
  ``clear_faults()``), ``shift_us``, ``paused``,
  ``queued()`` (commands waiting), ``busy()`` (any output moving or queued),
  ``armed()`` (the watchdog is armed), ``next_command_us()`` (when the next
  queued command is due, for a loop that wakes then),
  ``next_due_us()`` (when the next tick has work, for simulators that skip idle ticks).
"""

from firmware_bridge.codes import (
    ERR_ARG,
    ERR_CHANNEL,
    ERR_FAULT,
    ERR_FULL,
    ERR_LATE,
    ERR_LIMIT,
    FAULT_HAL,
    FAULT_OVERTEMP,
    FAULT_SENSOR,
    FAULT_WATCHDOG,
    KIND_HEATER,
    KIND_ROLLER,
    KIND_VIBRATION,
    OK,
    OP_HEAT,
    OP_OFF,
    OP_RAMP,
    OP_SET,
    OP_WAVE,
    SHAPE_SINE,
    SHAPE_TRIANGLE,
)
from firmware_bridge.ticks import ticks_add, ticks_diff
from firmware_bridge.waveforms import op_value, wave_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class Hal(Protocol):
        """The hardware seam the executor drives."""

        def now_us(self) -> int: ...

        def set_output(self, ch: int, level: float) -> None: ...

        def read_temp(self, ch: int) -> float: ...


QUEUE_SIZE = 64
PAUSE_RAMP_US = 800000  # pause reaches zero within this even where the slew limit is lower
TEMP_PERIOD_US = 100000
HEAT_MARGIN_C = 1.0  # no duty this close to the cap, so noise never trips the over-temp latch
HEAT_KP = 0.25  # duty per degree C below target
HEAT_KI = 0.004  # duty per degree C second below target
TEMP_MIN_C = -40.0  # readings outside this range mean a broken sensor
TEMP_MAX_C = 150.0
EPS = 1e-4  # tolerance on levels sent rounded by the host
INF = float("inf")
MAX_WAVE_HZ = 1000.0  # far above any motion (a 200 Hz tick draws up to 100 Hz): a wrong value


class Executor:
    """Runs timed commands on the device clock inside a safety envelope."""

    def __init__(
        self, hal: "Hal", channels: int, watchdog_ms: int = 250, queue_size: int = QUEUE_SIZE
    ) -> None:
        self._hal = hal
        self.channels = channels
        self._wd_us = watchdog_ms * 1000
        n = channels
        self._configured = [False] * n
        self._kind = [KIND_VIBRATION] * n
        self._hi = [0.0] * n
        self._lo = [0.0] * n
        self.min_level = [0.0] * n
        self._slew = [0.0] * n  # level per microsecond
        self._fast = [0.0] * n  # pause ramp-down rate, level per microsecond
        self._max_on = [0] * n
        self._max_temp = [0.0] * n
        # open-loop heater duty stops at this temperature; no limit for other kinds
        self._soft_cap = [INF] * n
        # the motion each channel follows
        self._op = [OP_OFF] * n
        self._a = [0.0] * n
        self._b = [0.0] * n
        self._c = [0.0] * n
        self._d = [0.0] * n
        self._shape = [0] * n
        self._start = [0.0] * n
        self._el = [0] * n  # microseconds since the op began, as of the last tick
        self._on_us = [0] * n
        # holding a set level, already reached: only the on-time still counts
        self._steady = [False] * n
        self._moving = 0  # active outputs not steady, as of the last tick
        self._duty = [0.0] * n
        self._integ = [0.0] * n
        self._active = []  # type: list[int]
        self._is_active = [False] * n
        self._heaters = []  # type: list[int]
        self.levels = [0.0] * n
        self.temps = [0.0] * n
        # the lists the tick's loop reads, in the order it unpacks them (each list is kept
        # for the executor's life: its items change, never the list)
        self._hot = (
            self.levels,
            self._op,
            self._el,
            self._on_us,
            self._a,
            self._b,
            self._c,
            self._shape,
            self._hi,
            self._lo,
            self._steady,
            self._max_on,
            self.temps,
            self._soft_cap,
        )
        # the queue: a ring buffer kept in time order
        self._size = queue_size
        self._qt = [0] * queue_size
        self._qch = [0] * queue_size
        self._qop = [0] * queue_size
        self._qa = [0.0] * queue_size
        self._qb = [0.0] * queue_size
        self._qc = [0.0] * queue_size
        self._qd = [0.0] * queue_size
        self._head = 0
        self._count = 0
        now = hal.now_us()
        self._now = now
        self._fed = now
        self._armed = False
        self._next_temp = now
        self._last_temp = now
        self._scale = 1.0
        self.paused = False
        self._pause_at = now
        self._pause_acc = 0
        self.shift_us = 0
        self.faults = 0
        self.cut_mask = 0

    # -- configuration -------------------------------------------------

    def configure(
        self,
        ch: int,
        kind: int,
        max_level: float,
        min_level: float,
        max_slew: float,
        max_on_ms: int,
        max_temp_c: "float | None" = None,
    ) -> int:
        """Set a channel's kind and limits; returns OK, ERR_CHANNEL or ERR_ARG."""
        if ch < 0 or ch >= self.channels:
            return ERR_CHANNEL
        if kind < KIND_ROLLER or kind > KIND_HEATER:
            return ERR_ARG
        if not (0.0 <= max_level <= 1.0) or not (0.0 <= min_level <= 1.0):
            return ERR_ARG
        if not (max_slew > 0.0) or max_on_ms <= 0:
            return ERR_ARG
        if kind == KIND_HEATER and max_temp_c is None:
            return ERR_ARG
        self._configured[ch] = True
        self._kind[ch] = kind
        self._hi[ch] = max_level
        self._lo[ch] = -max_level if kind == KIND_ROLLER else 0.0
        self.min_level[ch] = min_level
        self._slew[ch] = max_slew / 1000000.0
        fast = max_level * 1000000.0 / PAUSE_RAMP_US
        self._fast[ch] = max(max_slew, fast) / 1000000.0
        self._max_on[ch] = max_on_ms * 1000
        self._max_temp[ch] = 0.0 if max_temp_c is None else max_temp_c
        self._soft_cap[ch] = INF if kind != KIND_HEATER else self._max_temp[ch] - HEAT_MARGIN_C
        if kind == KIND_HEATER and ch not in self._heaters:
            self._heaters.append(ch)
        elif kind != KIND_HEATER and ch in self._heaters:
            self._heaters.remove(ch)
        return OK

    # -- messages from the host ----------------------------------------

    def feed(self) -> None:
        """The host is alive: reset (and arm) the watchdog."""
        self._fed = self._hal.now_us()
        self._armed = True

    def schedule(self, t_us: int, ch: int, op: int, a: float, b: float, c: float, d: float) -> int:
        """Queue a command at device time `t_us`; returns OK or an error code."""
        if self.faults:
            return ERR_FAULT
        if ch < 0 or ch >= self.channels or not self._configured[ch]:
            return ERR_CHANNEL
        ref = self._pause_at if self.paused else self._now
        if ticks_diff(t_us, ref) < 0:
            return ERR_LATE
        err = self._check(ch, op, a, b, c, d)
        if err:
            return err
        size = self._size
        if self._count >= size:
            return ERR_FULL
        qt = self._qt
        # insert in time order, after any command at the same time
        i = (self._head + self._count) % size
        while i != self._head:
            j = (i - 1) % size
            if ticks_diff(qt[j], t_us) <= 0:
                break
            qt[i] = qt[j]
            self._qch[i] = self._qch[j]
            self._qop[i] = self._qop[j]
            self._qa[i] = self._qa[j]
            self._qb[i] = self._qb[j]
            self._qc[i] = self._qc[j]
            self._qd[i] = self._qd[j]
            i = j
        qt[i] = t_us
        self._qch[i] = ch
        self._qop[i] = op
        self._qa[i] = a
        self._qb[i] = b
        self._qc[i] = c
        self._qd[i] = d
        self._count += 1
        return OK

    def _check(self, ch: int, op: int, a: float, b: float, c: float, d: float) -> int:
        # x - x is 0 for a finite x, NaN for an infinity or a NaN (which fails every compare)
        if not (a - a == 0.0 and b - b == 0.0 and c - c == 0.0 and d - d == 0.0):
            return ERR_ARG
        lo = self._lo[ch] - EPS
        hi = self._hi[ch] + EPS
        if op == OP_SET:
            return OK if lo <= a <= hi else ERR_LIMIT
        if op == OP_RAMP:
            if b < 0.0:
                return ERR_ARG
            return OK if lo <= a <= hi else ERR_LIMIT
        if op == OP_WAVE:
            if not (0.0 <= c <= MAX_WAVE_HZ) or (int(d) != SHAPE_SINE and int(d) != SHAPE_TRIANGLE):
                return ERR_ARG
            return OK if lo <= a <= hi and lo <= b <= hi else ERR_LIMIT
        if op == OP_HEAT:
            if self._kind[ch] != KIND_HEATER:
                return ERR_LIMIT
            if not (-EPS <= a <= hi) or b > self._max_temp[ch]:
                return ERR_LIMIT
            return OK
        if op == OP_OFF:
            return OK
        return ERR_ARG

    def set_scale(self, x: float) -> None:
        """User intensity 0..1, applied from the next tick through the slew limits."""
        if not (x >= 0.0):  # also catches NaN
            x = 0.0
        self._scale = 1.0 if x > 1.0 else x
        self._unsteady()

    def pause(self) -> None:
        """Freeze the program and ramp every output down within 1 s."""
        if self.paused or self.faults:
            return
        now = self._hal.now_us()
        self.paused = True
        self._unsteady()
        self._pause_at = now
        # the part of the next tick's interval before this moment still ran
        ran = ticks_diff(now, self._now)
        self._pause_acc = -ran
        el = self._el
        for ch in self._active:
            el[ch] += ran

    def resume(self) -> None:
        """Continue the program where it was paused; outputs ramp back up."""
        if not self.paused:
            return
        waited = ticks_diff(self._hal.now_us(), self._now)
        span = self._pause_acc + waited
        self.paused = False
        self._unsteady()
        # the next tick's interval counts the part before this moment: take it back
        el = self._el
        for ch in self._active:
            el[ch] -= waited
        qt = self._qt
        size = self._size
        for k in range(self._count):
            i = (self._head + k) % size
            qt[i] = ticks_add(qt[i], span)
        self.shift_us += span

    def stop(self) -> None:
        """Drop the queue; every output ramps to zero at its slew limit."""
        self._count = 0
        self._unsteady()
        op = self._op
        for ch in self._active:
            op[ch] = OP_OFF
            self._integ[ch] = 0.0
            self._duty[ch] = 0.0

    def off(self) -> None:
        """Every output to zero at once; the queue is dropped and the watchdog disarmed."""
        self._armed = False
        self._zero_all()

    def latch(self, fault: int) -> None:
        """Latch `fault`: all outputs 0 now, queue dropped, commands refused until cleared."""
        self.faults |= fault
        self._zero_all()

    def clear_faults(self) -> None:
        """Clear latched faults and on-time cuts; outputs stay at zero until commanded."""
        self.faults = 0
        self.cut_mask = 0
        self._fed = self._hal.now_us()

    def _unsteady(self) -> None:
        steady = self._steady
        for ch in self._active:
            steady[ch] = False
        self._moving = len(self._active)

    def _zero_all(self) -> None:
        self._count = 0
        hal = self._hal
        failed = False
        for ch in range(self.channels):
            self._op[ch] = OP_OFF
            self._integ[ch] = 0.0
            self._duty[ch] = 0.0
            self._on_us[ch] = 0
            self._steady[ch] = False
            self._is_active[ch] = False
            self.levels[ch] = 0.0
            if self._configured[ch]:
                try:
                    hal.set_output(ch, 0.0)
                except Exception:
                    failed = True
        self._active = []
        self._moving = 0
        if failed:
            self.faults |= FAULT_HAL

    # -- state ---------------------------------------------------------

    def queued(self) -> int:
        """Number of commands waiting in the queue."""
        return self._count

    def busy(self) -> bool:
        """True while a command waits or an output is not at rest at zero."""
        return self._count > 0 or len(self._active) > 0

    def armed(self) -> bool:
        """Whether the watchdog is armed: from the first ``feed()`` until ``off()``."""
        return self._armed

    def next_command_us(self) -> "int | None":
        """The device time the next queued command is due, or None with an empty queue."""
        return self._qt[self._head] if self._count else None

    def next_due_us(self) -> "int | None":
        """The device time of the next thing a tick has to do, or None if every tick matters.

        None while any output moves. While every output rests or holds a set
        level it has reached, the earliest of the next queued command, the
        next heater reading, the watchdog's deadline and the first on-time
        limit, at most 1 s ahead: ticks before it change nothing but the
        on-time counts (which the next tick's interval carries), so a
        simulator may skip them.
        """
        if self._moving:
            return None
        now = self._now
        due = ticks_add(now, 1000000)
        for ch in self._active:  # all steady: only their on-time runs
            left = self._max_on[ch] - self._on_us[ch]
            if left < 1000000:
                expiry = ticks_add(now, left + 1)
                if ticks_diff(expiry, due) < 0:
                    due = expiry
        if self._count and ticks_diff(self._qt[self._head], due) < 0:
            due = self._qt[self._head]
        if self._heaters and not self.faults and ticks_diff(self._next_temp, due) < 0:
            due = self._next_temp
        if self._armed and not self.faults:
            deadline = ticks_add(self._fed, self._wd_us + 1)
            if ticks_diff(deadline, due) < 0:
                due = deadline
        return due

    # -- the tick ------------------------------------------------------

    def tick(self) -> None:
        """Run the device up to now: start due commands, evaluate and write every output."""
        hal = self._hal
        now = hal.now_us()
        dt = ticks_diff(now, self._now)
        if dt < 0:
            dt = 0
        self._now = now
        if self._armed and ticks_diff(now, self._fed) > self._wd_us:
            self.latch(FAULT_WATCHDOG)
        if self.faults:
            return
        paused = self.paused
        if paused:
            self._pause_acc += dt
        if self._heaters and ticks_diff(now, self._next_temp) >= 0:
            self._read_temps(now)
            if self.faults:
                return
        if not paused:
            qt = self._qt
            while self._count and ticks_diff(now, qt[self._head]) >= 0:
                self._start_next(now, dt)
        self._evaluate(dt, paused)

    def _start_next(self, now: int, dt: int) -> None:
        i = self._head
        self._head = (i + 1) % self._size
        self._count -= 1
        ch = self._qch[i]
        t = self._qt[i]
        prev_now = ticks_add(now, -dt)
        prev = self._op[ch]
        if prev == OP_OFF:
            start = 0.0
        else:
            el = self._el[ch] + ticks_diff(t, prev_now)
            start = op_value(
                prev, self._a[ch], self._b[ch], self._c[ch], self._d[ch], self._start[ch], el
            )
        op = self._qop[i]
        if op == OP_SET and self._qa[i] == 0.0:
            op = OP_OFF  # the same output, and the channel can go idle
        self._op[ch] = op
        self._a[ch] = self._qa[i]
        self._b[ch] = self._qb[i]
        self._c[ch] = self._qc[i]
        self._d[ch] = self._qd[i]
        self._shape[ch] = int(self._qd[i])
        self._start[ch] = start
        # elapsed as of the previous tick: the evaluation adds this tick's dt
        self._el[ch] = ticks_diff(prev_now, t)
        if op != OP_HEAT:
            self._integ[ch] = 0.0
            self._duty[ch] = 0.0
        self.cut_mask &= ~(1 << ch)
        self._steady[ch] = False
        self._moving += 1
        if not self._is_active[ch]:
            self._is_active[ch] = True
            self._active.append(ch)

    def _evaluate(self, dt: int, paused: bool) -> None:
        # the hot loop: every list is a local (one unpack of `_hot`, not a dozen attribute
        # reads a tick), ops dispatch to the shared motion math
        levels, ops, el, on_us, a, b, c, shape, hi, lo, steady, max_on, temps, soft_cap = self._hot
        set_output = self._hal.set_output
        rates = self._fast if paused else self._slew
        scale = self._scale
        idle = False
        moving = 0
        for ch in self._active:
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
                    v = op_value(op, a[ch], b[ch], c[ch], self._d[ch], self._start[ch], e)
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
                        self.latch(FAULT_HAL)
                        return
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
                    self.latch(FAULT_HAL)
                    return
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
        self._moving = moving
        if idle:
            keep = []
            for ch in self._active:
                if ops[ch] == OP_OFF and levels[ch] == 0.0:
                    self._is_active[ch] = False
                else:
                    keep.append(ch)
            self._active = keep

    def _read_temps(self, now: int) -> None:
        period = ticks_diff(now, self._last_temp)
        self._last_temp = now
        self._next_temp = ticks_add(now, TEMP_PERIOD_US)
        secs = period / 1000000.0
        for ch in self._heaters:
            try:
                temp = self._hal.read_temp(ch)
            except Exception:
                self.latch(FAULT_SENSOR)
                return
            if not (TEMP_MIN_C <= temp <= TEMP_MAX_C):  # also catches NaN
                self.latch(FAULT_SENSOR)
                return
            self.temps[ch] = temp
            if temp > self._max_temp[ch]:
                self.latch(FAULT_OVERTEMP)
                return
            if self._op[ch] != OP_HEAT or self.paused:
                continue
            ceiling = self._a[ch]
            if temp >= self._max_temp[ch] - HEAT_MARGIN_C:
                self._duty[ch] = 0.0
                continue
            err = self._b[ch] - temp
            p = HEAT_KP * err
            integ = self._integ[ch]
            u = p + integ
            # integrate only while the output is not saturated in the error's direction
            if (u < ceiling or err < 0.0) and (u > 0.0 or err > 0.0):
                integ += HEAT_KI * err * secs
                if integ < 0.0:
                    integ = 0.0
                elif integ > ceiling:
                    integ = ceiling
                self._integ[ch] = integ
            u = p + integ
            if u < 0.0:
                u = 0.0
            elif u > ceiling:
                u = ceiling
            self._duty[ch] = u
