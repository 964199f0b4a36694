"""profile.describe's lanes follow the stream's own evaluation of each command (Timeline)."""

from __future__ import annotations

from bisect import bisect_right
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from massager import api
from massager.service.describe import MAX_POINTS, lane
from massager.stream import Command, CommandStream, Timeline


@cache
def _classic() -> CommandStream:
    return api.compile_stream(api.load_profile("classic"), api.load_rig("reference"))


def _at(points: list[tuple[float, float]], t: float) -> float:
    """The level a page draws at `t`: straight lines between the points."""
    i = bisect_right([p[0] for p in points], t)
    if i == 0:
        return 0.0
    if i == len(points):
        return points[-1][1]
    (t0, v0), (t1, v1) = points[i - 1], points[i]
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


@settings(max_examples=60, deadline=None)
@given(fraction=st.floats(min_value=0.0, max_value=1.0))
def test_classic_lanes_match_the_stream_at_any_time(fraction: float) -> None:
    stream = _classic()
    t = fraction * stream.duration_ms
    for actuator, commands in stream.by_actuator().items():
        points = lane(commands, stream.duration_ms)
        assert 2 <= len(points) <= MAX_POINTS
        assert [p[0] for p in points] == sorted(p[0] for p in points)
        if any(abs(t - c.at_ms) < 0.1 for c in commands):
            continue  # at a jump both sides are drawn
        expected = Timeline(commands).level_at(t)
        now = [c for c in commands if c.at_ms <= t][-1:]
        if now and now[0].op == "wave":  # drawn through its turns or as its low..high band
            low, high = sorted((now[0].low, now[0].high))  # a roller may swing backwards
            assert low - 1e-3 <= _at(points, t) <= high + 1e-3, (actuator, t)
        else:
            assert abs(_at(points, t) - expected) <= 1e-3, (actuator, t)


def test_a_ramps_end_is_a_corner_and_the_lane_ends_at_the_profiles_end() -> None:
    stream = _classic()
    ends = 0
    for commands in stream.by_actuator().values():
        points = lane(commands, stream.duration_ms)
        assert points[0] == (0.0, 0.0) and points[-1][0] == stream.duration_ms
        for i, c in enumerate(commands[:-1]):
            if c.op == "ramp" and c.at_ms + c.duration_ms < commands[i + 1].at_ms:
                assert (float(c.at_ms + c.duration_ms), round(c.level, 3)) in points
                ends += 1
    assert ends > 0  # classic has ramps that finish before their next command


def test_a_slow_wave_is_drawn_through_its_turns() -> None:
    commands = [Command(at_ms=0, actuator="r", op="wave", shape="sine", hz=0.25, low=0.1, high=0.9)]
    points = lane(commands, 20_000)
    timeline = Timeline(commands)
    for k in range(1, 200):
        t = k * 99.7
        assert abs(_at(points, t) - timeline.level_at(t)) <= 0.01 * 0.8 + 1e-3, t
