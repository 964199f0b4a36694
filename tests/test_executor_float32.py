"""MicroPython on the RP2040 computes in single precision: the executor keeps its limits there too.

`F32` is a float whose every arithmetic result is rounded to the nearest
float32, and so is every operation it takes part in (Python asks a float
subclass's reflected operator first). The executor is run with its inputs
as F32 (as they arrive from the wire, where levels are float32 anyway), so
the motion math, the slew steps and the clamps all run rounded to float32.
Every level it writes must lie within the channel's range (the limit as the
device received it, float32), move no faster than the slew limit, and be a
float32 value itself (which shows the rounding took effect).

Why it cannot matter beyond that: each output level is clamped last, by a
comparison against the limit the device stores (a float32 from the wire), so
rounding in the ramp or wave arithmetic only moves a level inside the range;
times and on-time counts are integers, never floats.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pure_support import pure_module

from firmware_bridge import codes
from firmware_bridge.codes import KIND_AIR, KIND_HEATER, KIND_ROLLER, KIND_VIBRATION, OK
from firmware_bridge.ticks import TICKS_PERIOD, ticks_add

Executor = pure_module("firmware_bridge.executor").Executor
"""The executor interpreted, as MicroPython runs it: compiled code would compute an F32 as a
C double (mypyc unboxes floats), so only the interpreted executor rounds at every step."""


def f32(x: float) -> float:
    """`x` rounded to the nearest float32."""
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def _rounded(name: str) -> Callable[[Any, Any], Any]:
    base = getattr(float, name)

    def op(self: float, other: Any) -> Any:
        result = base(self, other)
        return result if result is NotImplemented else F32(result)

    op.__name__ = name
    return op


class F32(float):
    """A float whose arithmetic results are rounded to float32."""

    def __new__(cls, x: float) -> F32:
        return super().__new__(cls, f32(float(x)))

    __add__ = _rounded("__add__")
    __radd__ = _rounded("__radd__")
    __sub__ = _rounded("__sub__")
    __rsub__ = _rounded("__rsub__")
    __mul__ = _rounded("__mul__")
    __rmul__ = _rounded("__rmul__")
    __truediv__ = _rounded("__truediv__")
    __rtruediv__ = _rounded("__rtruediv__")

    def __neg__(self) -> F32:
        return F32(-float(self))


def test_f32_rounds_what_it_touches() -> None:
    third = F32(1.0) / 3
    assert third != 1 / 3 and third == f32(1 / 3)
    assert isinstance(0.1 * F32(3.0), F32) and isinstance(2 - F32(0.5), F32)


class Recorder:
    """A HAL on a stepped clock that keeps every write."""

    def __init__(self, start: int) -> None:
        self.t = start
        self.writes: list[tuple[int, int, float]] = []

    def now_us(self) -> int:
        return self.t

    def set_output(self, ch: int, level: float) -> None:
        self.writes.append((self.t, ch, level))

    def read_temp(self, ch: int) -> float:
        return 30.0


KINDS = (KIND_ROLLER, KIND_VIBRATION, KIND_AIR, KIND_HEATER)
channel = st.tuples(
    st.sampled_from(KINDS),
    st.floats(0.05, 1.0),  # max level
    st.floats(0.2, 20.0),  # max slew, level per second
    st.integers(100, 3000),  # max on-time, ms
)
command = st.tuples(
    st.integers(0, 2500),  # at, ms
    st.integers(0, 3),  # channel
    st.sampled_from([codes.OP_SET, codes.OP_RAMP, codes.OP_WAVE, codes.OP_OFF]),
    st.floats(-1.0, 1.0),  # a level, as a share of the channel's range
    st.floats(-1.0, 1.0),
    st.floats(0.0, 40.0),  # hz, or a ramp's duration in 10 ms
    st.sampled_from([codes.SHAPE_SINE, codes.SHAPE_TRIANGLE]),
)


def level_in(kind: int, hi: float, share: float) -> F32:
    """A level within the channel's range, `share` of the way (negative only for rollers)."""
    if kind != KIND_ROLLER:
        share = abs(share)
    return F32(hi * share * 0.999)


def check_program(
    channels: list[tuple[int, float, float, int]],
    commands: list[tuple[int, int, int, float, float, float, int]],
    scale: float,
    before_wrap_us: int,
) -> int:
    """Run the program in single precision, check every write; how many writes there were."""
    start = TICKS_PERIOD - before_wrap_us
    hal = Recorder(start)
    ex = Executor(hal, 4, 250, 64)
    limits = []
    for ch, (kind, hi, slew, on_ms) in enumerate(channels):
        hi32, slew32 = F32(hi), F32(slew)
        temp = F32(42.0) if kind == KIND_HEATER else None
        assert ex.configure(ch, kind, hi32, F32(0.0), slew32, on_ms, temp) == OK
        limits.append((kind, hi32, slew32))
    for at_ms, ch, op, x, y, z, shape in sorted(commands, key=lambda c: c[0]):
        kind, hi, _ = limits[ch]
        a, b, c = level_in(kind, hi, x), F32(0.0), F32(0.0)
        if op == codes.OP_RAMP:
            b = F32(round(z * 10_000))
        elif op == codes.OP_WAVE:
            b, c = level_in(kind, hi, y), F32(z)
        d = F32(float(shape))
        assert ex.schedule(ticks_add(start, at_ms * 1000), ch, op, a, b, c, d) == OK
    ex.feed()
    ex.set_scale(F32(scale))
    elapsed = 0
    k = 0
    while elapsed < 3_500_000:
        k += 1
        elapsed += 5000 + (k * 53) % 900
        hal.t = ticks_add(start, elapsed)
        ex.feed()
        ex.tick()
    assert ex.faults == 0
    last: dict[int, tuple[int, float]] = {}
    for t, ch, level in hal.writes:
        kind, hi, slew = limits[ch]
        low = -hi if kind == KIND_ROLLER else 0.0
        assert math.isfinite(level)
        assert low <= level <= hi, f"channel {ch} at {level}, outside {low}..{hi}"
        assert abs(level) <= channels[ch][1] + 1e-7  # the rig's own (double) limit, to float32
        assert f32(level) == level, "a level computed in double precision: F32 did not apply"
        if ch in last and level != 0.0:
            t0, before = last[ch]
            dt = (t - t0) % TICKS_PERIOD
            assert abs(level - before) <= slew * dt / 1e6 * (1 + 1e-5) + 1e-6
        last[ch] = (t, level)
    return len(hal.writes)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(channel, min_size=4, max_size=4),
    st.lists(command, min_size=1, max_size=24),
    st.floats(0.1, 1.0),
    st.integers(0, 3_000_000),
)
def test_single_precision_keeps_every_output_within_its_limits(
    channels: list[tuple[int, float, float, int]],
    commands: list[tuple[int, int, int, float, float, float, int]],
    scale: float,
    before_wrap_us: int,
) -> None:
    check_program(channels, commands, scale, before_wrap_us)


def test_a_wave_ramp_and_set_program_in_single_precision() -> None:
    writes = check_program(
        [(KIND_ROLLER, 0.8, 2.0, 3000), (KIND_VIBRATION, 0.7, 5.0, 500)] * 2,
        [(0, 0, codes.OP_WAVE, -1.0, 1.0, 3.0, 0), (100, 1, codes.OP_RAMP, 1.0, 0.0, 50.0, 0),
         (900, 2, codes.OP_SET, -0.5, 0.0, 0.0, 0), (1500, 3, codes.OP_WAVE, 0.1, 0.9, 7.5, 1)],
        0.7,
        2_000_000,
    )  # fmt: skip
    assert writes > 500
