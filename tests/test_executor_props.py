"""Executor invariants under any commands and any pause/resume/intensity schedule (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass

from fake_hal import AIR, HEATER, ROLLER, TICK_US, VIBRATION, FakeHal
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import codes
from firmware_bridge import executor as ex

EPS = 1e-9


@dataclass(frozen=True)
class Channel:
    kind: int
    max_level: float
    max_slew: float
    max_on_ms: int
    temp_c: float


channels = st.builds(
    Channel,
    kind=st.sampled_from([ROLLER, VIBRATION, AIR, HEATER]),
    max_level=st.floats(0.1, 1.0),
    max_slew=st.floats(0.2, 30.0),
    max_on_ms=st.integers(100, 5000),
    temp_c=st.floats(20.0, 43.0),  # some above the 42 C cap: over-temperature happens
)
level = st.floats(-1.2, 1.2)
commands = st.tuples(
    st.integers(0, 5000),  # at, ms
    st.integers(0, 3),  # channel (modulo the count)
    st.sampled_from([codes.OP_SET, codes.OP_RAMP, codes.OP_WAVE, codes.OP_HEAT, codes.OP_OFF]),
    level,
    st.floats(-1.2, 3_000_000.0),  # b: high, duration or target C
    st.floats(0.0, 8.0),  # c: hz
    st.sampled_from([codes.SHAPE_SINE, codes.SHAPE_TRIANGLE]),
)
controls = st.tuples(
    st.integers(0, 6000),
    st.sampled_from(["pause", "resume", "scale", "silence"]),
    st.floats(0.0, 1.0),
)


def check_envelope(
    executor: ex.Executor, spec: list[Channel], before: list[float], dt_us: int
) -> None:
    for ch, c in enumerate(spec):
        lvl = executor.levels[ch]
        low = -c.max_level if c.kind == ROLLER else 0.0
        assert low - EPS <= lvl <= c.max_level + EPS, (ch, lvl)
        if lvl != 0.0:  # a jump straight to zero is always allowed (cut, fault, off)
            rate = max(c.max_slew, c.max_level / (ex.PAUSE_RAMP_US / 1e6))
            assert abs(lvl - before[ch]) <= rate * dt_us / 1e6 + EPS, (ch, before[ch], lvl)
        if executor.faults:
            assert lvl == 0.0


@settings(max_examples=60, deadline=None)
@given(
    spec=st.lists(channels, min_size=1, max_size=4),
    program=st.lists(commands, max_size=25),
    schedule=st.lists(controls, max_size=8),
)
def test_no_level_leaves_the_envelope_and_stop_ends_at_zero(
    spec: list[Channel], program: list[tuple], schedule: list[tuple]
) -> None:
    hal = FakeHal(start_us=(1 << 30) - 2_000_000)  # and the clock wraps on the way
    executor = ex.Executor(hal, len(spec))
    for ch, c in enumerate(spec):
        temp = 42.0 if c.kind == HEATER else None
        assert executor.configure(ch, c.kind, c.max_level, 0.0, c.max_slew, c.max_on_ms, temp) == 0
        hal.temps[ch] = c.temp_c
    executor.feed()
    for at, ch, op, a, b, c, d in sorted(program):
        code = executor.schedule(hal.at(at * 1000), ch % len(spec), op, a, b, c, d)
        assert code in (codes.OK, codes.ERR_LIMIT, codes.ERR_ARG, codes.ERR_FULL, codes.ERR_FAULT)
    events = sorted(schedule)
    silent_until = -1
    paused_at = None
    for tick in range(1, 700):
        el = tick * TICK_US
        while events and events[0][0] * 1000 <= el:
            _, action, x = events.pop(0)
            if action == "pause":
                if not executor.paused:
                    paused_at = el
                executor.pause()
            elif action == "resume":
                executor.resume()
                paused_at = None
            elif action == "scale":
                executor.set_scale(x)
            else:
                silent_until = el + int(x * 400_000)  # the host goes quiet for up to 0.4 s
        before = list(executor.levels)
        hal.el_us = el
        if el >= silent_until:
            executor.feed()
        executor.tick()
        check_envelope(executor, spec, before, TICK_US)
        if paused_at is not None and el - paused_at >= 1_000_000:
            assert all(lvl == 0.0 for lvl in executor.levels)  # paused: off within 1 s
    executor.stop()
    for tick in range(700, 1400):  # long enough for the slowest slew to reach zero
        before = list(executor.levels)
        hal.el_us = tick * TICK_US
        executor.feed()
        executor.tick()
        check_envelope(executor, spec, before, TICK_US)
    assert executor.levels == [0.0] * len(spec)
    assert all(hal.outputs.get(ch, 0.0) == 0.0 for ch in range(len(spec)))
    assert not executor.busy()
    executor.off()
    assert executor.levels == [0.0] * len(spec)
