"""The command stream: JSON Lines round trip, determinism, and level evaluation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from massager.stream import Command, CommandStream, StepInfo, Timeline


def _stream() -> CommandStream:
    return CommandStream(
        profile="demo",
        rig="reference",
        duration_ms=4000,
        actuators=("left_toe_roller", "left_sole_heater"),
        steps=[StepInfo(0, "warm up", "rub", ("toes",), 0, 4000)],
        commands=[
            Command(0, "left_toe_roller", "ramp", level=0.5, duration_ms=1000, step=0),
            Command(0, "left_sole_heater", "heat", level=0.6, target_c=40.0, step=0),
            Command(
                1000, "left_toe_roller", "wave", shape="sine", hz=1.0, low=0.5, high=0.9, step=0
            ),
            Command(3000, "left_toe_roller", "ramp", level=0.0, duration_ms=1000, step=0),
            Command(4000, "left_toe_roller", "off", step=0),
            Command(4000, "left_sole_heater", "off", step=0),
        ],
    )


def test_jsonl_round_trip_is_byte_identical() -> None:
    text = _stream().to_jsonl()
    again = CommandStream.from_jsonl(text.splitlines())
    assert again == _stream()
    assert again.to_jsonl() == text


def test_jsonl_header_first_and_only_used_fields_written() -> None:
    lines = _stream().to_jsonl().splitlines()
    assert lines[0].startswith('{"format":"massager-stream","version":1,')
    assert lines[1] == (
        '{"at":0,"actuator":"left_toe_roller","op":"ramp","level":0.5,"duration_ms":1000,"step":0}'
    )
    assert lines[-1] == '{"at":4000,"actuator":"left_sole_heater","op":"off","step":0}'


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty stream"), ('{"format":"other","version":1}', "not a massager-stream")],
)
def test_from_jsonl_rejects_bad_header(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CommandStream.from_jsonl(text.splitlines())


def test_timeline_follows_ramp_wave_and_ramp_down() -> None:
    timeline = Timeline(_stream().by_actuator()["left_toe_roller"])
    assert timeline.level_at(-1) == 0.0
    assert timeline.level_at(500) == pytest.approx(0.25)
    assert timeline.level_at(1000) == pytest.approx(0.5)
    assert timeline.level_at(1500) == pytest.approx(0.9)
    assert timeline.level_at(2000) == pytest.approx(0.5)
    # the ramp down starts from wherever the wave was when it ended (one full period: low)
    assert timeline.start_level(2) == pytest.approx(0.5)
    assert timeline.level_at(3500) == pytest.approx(0.25)
    assert timeline.level_at(4000) == 0.0


def test_step_at_returns_running_steps() -> None:
    stream = _stream()
    assert [s.name for s in stream.step_at(10)] == ["warm up"]
    assert stream.step_at(4000) == []


@given(
    target=st.floats(-1, 1),
    duration=st.integers(1, 60_000),
    t=st.integers(0, 120_000),
)
def test_ramp_stays_between_its_ends(target: float, duration: int, t: int) -> None:
    timeline = Timeline([Command(0, "a", "ramp", level=target, duration_ms=duration)])
    level = timeline.level_at(t)
    assert min(0.0, target) - 1e-12 <= level <= max(0.0, target) + 1e-12
    if t >= duration:
        assert math.isclose(level, target)
