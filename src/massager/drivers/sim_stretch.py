"""The simulator's fast path: a stretch of ticks with nothing but output evaluation, at once.

Between two of the device's events (a queued command's start, a heater reading, the
watchdog's deadline, the host's next call) each tick of the firmware's executor only
evaluates its outputs, and each output's course depends on nothing but its own state.
`run_stretch` plays such a stretch of `n` ticks output by output instead of tick by
tick: the same arithmetic, in the same order, as `Executor._evaluate` run `n` times
(so every level, on-time count, cut and trace row is bit for bit the same; the
simulator's tests compare the traces of both paths byte for byte), with the
physics and the trace fed each output's writes at once. The executor stays the thing
simulated: the simulator falls back to its `tick()` wherever anything else happens.
"""

from __future__ import annotations

from math import cos, floor
from operator import ne

from firmware_bridge import executor as ex
from firmware_bridge.codes import (
    KIND_HEATER,
    OP_HEAT,
    OP_OFF,
    OP_RAMP,
    OP_SET,
    OP_WAVE,
    SHAPE_TRIANGLE,
)
from firmware_bridge.motion import Motion
from firmware_bridge.waveforms import TWO_PI, wave_max_slope
from massager.drivers.sim_hal import SimHal


class _Course:
    """What one output did over a stretch: its writes and how it ended."""

    __slots__ = ("ch", "levels", "moving", "rest", "self_idle", "ticks")

    def __init__(self, ch: int) -> None:
        self.ch = ch
        self.ticks: list[int] = []
        """The stretch's tick index of each write."""
        self.levels: list[float] = []
        """The level written at each of them."""
        self.rest = -1
        """The tick at whose end the output rests (off, at zero), or -1."""
        self.self_idle = False
        """Whether the output itself marked that tick idle (a cut, or resting already)."""
        self.moving = False
        """Whether the output counts as moving at the last tick it was evaluated."""


def run_stretch(executor: ex.Executor, hal: SimHal, t0: int, n: int, dt: int) -> None:
    """Run `n` ticks of the executor, `dt` us apart, the first at elapsed time `t0`.

    The caller guarantees that these ticks only evaluate outputs: no fault latched
    or latching (the watchdog not due, the HAL not failing), no command due, no heater
    reading due, and the tick before `t0` ran `dt` before it.
    """
    x = executor
    paused = x.paused
    if paused:
        x._pause_acc += n * dt
    motion = x._motion
    runs: list[Run] = []
    courses: list[_Course] = []
    moving = 0
    for pos, ch in enumerate(motion.active):
        followed = None if paused else _follow(motion, ch, n, dt)
        if followed is not None:
            if followed:
                runs.append((pos, ch, None, followed))
                moving += 1
            continue
        course = _course(motion, ch, n, dt, paused)
        courses.append(course)
        if course.ticks:
            runs.append((pos, ch, course.ticks, course.levels))
    if courses:
        moving += _settle(motion, courses, n)
    motion.moving = moving
    _feed(hal, runs, t0, n, dt)
    hal.set_time(t0 + (n - 1) * dt)
    x._now = hal.now_dev


Run = tuple[int, int, "list[int] | None", list[float]]
"""An output's writes over a stretch: its position in the active list, its channel, the
ticks it wrote at (None: every tick) and the levels it wrote."""


def _follow(x: Motion, ch: int, n: int, dt: int) -> list[float] | None:
    """The common cases of output `ch` over `n` ticks, not paused: a level it holds (no
    write: []), or a wave or a ramp its slew limit follows exactly with a write every tick
    (the levels); None for anything else (`_course` then plays it)."""
    levels, ops, el, on_us, a, b, c, shape, hi, lo, steady, max_on, temps, soft_cap = x._hot
    on = on_us[ch]
    if on + n * dt > max_on[ch]:
        return None
    if steady[ch]:  # holding a level it reached: only the on-time counts
        on_us[ch] = on + n * dt
        return []
    op = ops[ch]
    e = el[ch]
    if e + dt <= 0 or temps[ch] >= soft_cap[ch]:
        return None
    scale = x.scale
    if op == OP_WAVE:
        targets = _wave(shape[ch], a[ch], b[ch], c[ch], scale, range(e + dt, e + n * dt + 1, dt))
        slope = wave_max_slope(shape[ch], a[ch], b[ch], c[ch]) * scale / 1e6
    elif op == OP_RAMP and e + n * dt < b[ch] and int(b[ch]) > 0:
        start = x.start[ch]
        duration = int(b[ch])
        span = a[ch] - start
        targets = [(start + span * t / duration) * scale for t in range(e + dt, e + n * dt + 1, dt)]
        slope = abs(span) / duration * scale
    else:
        return None
    cur = levels[ch]
    if not _tracks(targets, cur, x._slew[ch] * dt, slope * dt, lo[ch], hi[ch]):
        return None
    if not all(map(ne, targets, [cur, *targets[:-1]])):
        return None  # a tick with nothing to write: `_course` plays it
    if 0.0 in targets:
        on = (targets[::-1].index(0.0)) * dt
    else:
        on += n * dt
    levels[ch] = targets[-1]
    el[ch] = e + n * dt
    on_us[ch] = on
    return targets


def _course(x: Motion, ch: int, n: int, dt: int, paused: bool) -> _Course:
    """Evaluate output `ch` over `n` ticks (`Motion.evaluate`'s arithmetic, one output)."""
    levels, ops, el, on_us, a, b, c, shape, hi, lo, steady, max_on, temps, soft_cap = x._hot
    out = _Course(ch)
    ticks = out.ticks
    written = out.levels
    rate = (x._fast if paused else x._slew)[ch]
    scale = x.scale
    st = steady[ch]
    on = on_us[ch]
    op = ops[ch]
    e = el[ch]
    cur = levels[ch]
    mo = max_on[ch]
    h = hi[ch]
    lw = lo[ch]
    ca = a[ch]
    cb = b[ch]
    cc = c[ch]
    sh = shape[ch]
    capped = temps[ch] >= soft_cap[ch]
    heater = x._kind[ch] == KIND_HEATER
    moving = False
    k = 0
    while k < n:
        if st:
            o = on + dt
            if o <= mo:
                on = o
                moving = False
                k += 1
                continue
            st = False
        now_op = op
        if paused or now_op == OP_OFF:
            target = 0.0
        else:
            e += dt
            if now_op == OP_WAVE:
                if e <= 0:
                    w = ca
                else:
                    cycles = cc * e / 1000000.0
                    phase = cycles - floor(cycles)
                    if sh == SHAPE_TRIANGLE:
                        unit = 2.0 * phase if phase < 0.5 else 2.0 - 2.0 * phase
                    else:
                        unit = (1.0 - cos(TWO_PI * phase)) * 0.5
                    w = ca + (cb - ca) * unit
                target = w * scale
            elif now_op == OP_SET:
                target = ca * scale
            elif now_op == OP_HEAT:
                target = x._duty[ch] * scale
            else:
                if now_op == OP_RAMP:
                    start = x.start[ch]
                    duration = int(cb)
                    if e <= 0:
                        v = start
                    elif duration <= 0 or e >= duration:
                        v = ca
                    else:
                        v = start + (ca - start) * e / duration
                else:
                    v = 0.0
                target = v * scale
                if now_op == OP_RAMP and e >= cb:
                    op = OP_SET if ca != 0.0 else OP_OFF
            if target > h:
                target = h
            elif target < lw:
                target = lw
            if capped and now_op != OP_HEAT:
                target = 0.0
        if target != 0.0:
            o = on + dt
            if o > mo:
                op = OP_OFF
                on = 0
                x.cut_mask |= 1 << ch
                cur = 0.0
                ticks.append(k)
                written.append(0.0)
                out.rest = k
                out.self_idle = True
                moving = False
                break
            on = o
        else:
            on = 0
        if target != cur:
            step = rate * dt
            if target > cur:
                new = cur + step
                if new > target:
                    new = target
            else:
                new = cur - step
                if new < target:
                    new = target
            ticks.append(k)
            written.append(new)
            cur = new
        elif target == 0.0 and now_op == OP_OFF:
            out.rest = k
            out.self_idle = True
            moving = True
            break
        if now_op == OP_SET and cur == target and target != 0.0 and not paused:
            if heater:
                moving = True
            else:
                st = True
                moving = False
        else:
            moving = True
        if op == OP_OFF and cur == 0.0:
            out.rest = k
            out.moving = moving
            break
        k += 1
    out.moving = moving
    levels[ch] = cur
    ops[ch] = op
    el[ch] = e
    on_us[ch] = on
    steady[ch] = st
    return out


def _wave(shape: int, low: float, high: float, hz: float, scale: float, at: range) -> list[float]:
    """`waveforms.wave_value(shape, low, high, hz, e) * scale` for each `e` of `at` (all > 0):
    the same expression, term by term."""
    span = high - low
    cos_, floor_, two_pi = cos, floor, TWO_PI  # the comprehensions read locals
    if shape == SHAPE_TRIANGLE:
        return [
            (
                low
                + span
                * (2.0 * p if (p := (x := hz * e / 1000000.0) - floor_(x)) < 0.5 else 2.0 - 2.0 * p)
            )
            * scale
            for e in at
        ]
    return [
        (low + span * ((1.0 - cos_(two_pi * ((x := hz * e / 1000000.0) - floor_(x)))) * 0.5))
        * scale
        for e in at
    ]


def _tracks(
    targets: list[float], cur: float, step: float, slope: float, lo: float, hi: float
) -> bool:
    """Whether a slew-limited output at `cur` follows `targets` exactly, tick by tick: each
    target within the envelope `lo..hi`, the first within one `step` of `cur`, and no two
    apart by more than `slope` (the course's steepest change a tick), well under a step."""
    if not (lo <= min(targets) and max(targets) <= hi):
        return False
    if slope * (1.0 + 1e-6) + 1e-12 >= step:
        return False
    target = targets[0]
    if target > cur:
        new = cur + step
        return new >= target
    if target < cur:
        new = cur - step
        return new <= target
    return True


def _settle(x: Motion, courses: list[_Course], n: int) -> int:
    """Which outputs left the active list and when, and the moving count, as `n` ticks of
    `_evaluate` would leave them (an output at rest leaves at the first tick from its rest
    on that some output marked idle; resting, it marks the next tick idle itself)."""
    idle = [False] * (n + 1)
    for course in courses:
        if course.self_idle:
            idle[course.rest] = True
    resting = sorted((c.rest, i) for i, c in enumerate(courses) if c.rest >= 0 and not c.self_idle)
    gone: set[int] = {c.ch for c in courses if c.self_idle}
    moving = sum(1 for c in courses if c.rest < 0 and c.moving)
    for c in courses:
        if c.self_idle and c.rest == n - 1 and c.moving:
            moving += 1
    for rest, i in resting:
        course = courses[i]
        if idle[rest]:
            gone.add(course.ch)
            if rest == n - 1 and course.moving:
                moving += 1
        elif rest + 1 < n:
            idle[rest + 1] = True
            gone.add(course.ch)
            if rest + 1 == n - 1:
                moving += 1  # evaluated once more: off at zero, it counts as moving
        elif course.moving:
            moving += 1
    if gone:
        is_active = x._is_active
        for ch in gone:
            is_active[ch] = False
        x.active = [ch for ch in x.active if ch not in gone]
    return moving


def _feed(hal: SimHal, runs: list[Run], t0: int, n: int, dt: int) -> None:
    """Drive each output's physics with its writes, and the trace with the samples they make
    (in the order the ticks would have made them)."""
    trace = hal.trace
    physical = hal._physical
    every = range(n)
    times = [(t0 + k * dt) / 1e6 for k in every]
    if trace is None:
        for _, ch, ticks, levels in runs:
            model = physical[ch]
            if model is not None:
                at = times if ticks is None else [times[k] for k in ticks]
                model.command_run(at, levels)
        return
    origin = hal.origin_us
    written = hal.written
    trace.begin_batch()
    for pos, ch, ticks, levels in runs:
        model = physical[ch]
        if ticks is None:
            ticks = list(every)
        els = [t0 + k * dt for k in ticks]
        phys: list[float] | list[None]
        if model is None:
            phys = [None] * len(ticks)
        else:
            phys = model.command_run([times[k] for k in ticks], levels)
        trace.sample_run(
            ch,
            [(t - origin) / 1000.0 for t in els],
            levels,
            phys,
            [k * 64 + pos for k in ticks],
        )
        written[ch] = els[-1]
    trace.end_batch()


def ticks_to_zero(executor: ex.Executor, dt: int) -> int:
    """How many more ticks, `dt` us apart, until every output of a stopped (or paused)
    `executor` is at zero: each output's slew steps toward zero, counted as
    `Motion.evaluate` takes them."""
    motion = executor._motion
    rates = motion._fast if executor.paused else motion._slew
    levels = motion.levels
    longest = 0
    for ch in motion.active:
        cur = levels[ch]
        step = rates[ch] * dt
        k = 0
        while cur != 0.0 and k < MAX_RAMP_TICKS:
            if cur > 0.0:
                cur -= step
                if cur < 0.0:
                    cur = 0.0
            else:
                cur += step
                if cur > 0.0:
                    cur = 0.0
            k += 1
        if k > longest:
            longest = k
    return longest


MAX_RAMP_TICKS = 100_000
"""Longest ramp `ticks_to_zero` counts (1000 s on the 10 ms tick: past any slew limit)."""
