"""Pictures of what the foot feels: lanes per zone and kind, feet merged when alike, marks."""

from __future__ import annotations

from pathlib import Path

import pytest

from massager import api
from massager.cli import run
from massager.stream import Command
from massager.ui.lanes import ActuatorInfo, lanes
from massager.ui.plot import _fast_waves, _marks, plot_timeline

RIG = api.load_rig("reference")
INFO = {a.id: ActuatorInfo(a.kind, a.foot, tuple(a.reaches)) for a in RIG.actuators}


def _stream(steps: list[dict[str, object]]) -> api.CommandStream:  # type: ignore[name-defined]
    return api.compile_stream(api.profile_from_data({"name": "p", "steps": steps}), RIG)


def test_feet_commanded_alike_share_a_lane_and_others_get_one_each() -> None:
    stream = _stream(
        [
            {"technique": "heel_press", "duration": "20s"},
            {"technique": "vibrate", "duration": "20s", "zones": "arch", "feet": "left"},
        ]
    )
    got = lanes(stream.actuators, stream.by_actuator(), INFO)
    labels = [lane.label for lane in got]
    assert "heel\nroller · both feet" in labels
    assert "arch\nvibration · left" in labels
    heel = next(lane for lane in got if lane.label.startswith("heel"))
    assert heel.actuators == ["left_heel_roller", "right_heel_roller"]
    per_actuator = lanes(stream.actuators, stream.by_actuator(), INFO, by="actuator")
    assert [lane.actuators for lane in per_actuator] == [
        ["left_heel_roller"],
        ["left_arch_vibration"],
        ["right_heel_roller"],
    ]


def test_feet_that_differ_keep_their_own_lanes() -> None:
    step = {
        "technique": "curve",
        "duration": "20s",
        "zones": ["heel"],
        "offset": {"right": "5s"},
        "keyframes": {"roller": [{"at": "0s", "level": 0}, {"at": "4s", "level": 0.6}]},
    }
    got = lanes(_stream([step]).actuators, _stream([step]).by_actuator(), INFO)
    assert [lane.label for lane in got] == ["heel\nroller · left", "heel\nroller · right"]


def test_skipped_and_motionless_steps_are_marked() -> None:
    stream = _stream(
        [
            {"technique": "heat", "duration": "10s", "zones": "calf", "optional": True},
            {"technique": "vibrate", "duration": "10s", "zones": "arch", "intensity": 0.05},
            {"technique": "rest", "duration": "5s"},
            {"technique": "knead", "duration": "10s"},
        ]
    )
    marks = _marks(stream)
    by_name = {s.technique: marks.get(s.index) for s in stream.steps}
    assert by_name == {"heat": "skipped", "vibrate": "no motion", "rest": None, "knead": None}


def test_fast_waves_are_labelled_with_their_frequency_and_range() -> None:
    commands = [
        Command(0, "v", "ramp", level=0.1, duration_ms=100),
        Command(100, "v", "wave", hz=4.0, low=0.1, high=0.6),
        Command(60_000, "v", "ramp", level=0.0, duration_ms=100),
        Command(61_000, "v", "wave", hz=0.05, low=0.0, high=0.5),  # slow: drawn, not labelled
        Command(90_000, "v", "off"),
    ]
    waves = _fast_waves(commands, 100_000.0, 1400)
    assert [(a, b, w.hz) for a, b, w in waves] == [(100.0, 60_000.0, 4.0)]


def test_the_pictures_are_drawn(tmp_path: Path) -> None:
    stream = _stream(
        [
            {"technique": "rub", "duration": "30s"},
            {"technique": "heat", "duration": "30s", "zones": "calf", "optional": True},
        ]
    )
    by_zone = plot_timeline(stream, tmp_path / "z.png", actuators=INFO)
    by_act = plot_timeline(stream, tmp_path / "a.png", actuators=INFO, by="actuator")
    assert by_zone.stat().st_size > 20_000 and by_act.stat().st_size > 20_000
    from test_plot import png_size

    assert png_size(by_act)[1] > png_size(by_zone)[1]  # more lanes: a taller picture
    svg = plot_timeline(stream, tmp_path / "z.svg", actuators=INFO).read_text()
    assert "<svg" in svg[:400]
    # each step's box names the step on hover
    assert '<g id="step-1"><title>1. rub: rub, sole, 0:00-0:30</title>' in svg
    assert '<g id="step-2"><title>2. heat: heat, calf, 0:30-0:30 (skipped)</title>' in svg


def test_simulate_plot_draws_speed_and_temperature(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "warm.yaml"
    profile.write_text(
        "name: warm\nsteps:\n"
        "  - parallel:\n"
        "      - {technique: heat, duration: 40s, target: 40C}\n"
        "      - {technique: knead, duration: 40s}\n"
    )
    out = tmp_path / "warm.png"
    assert run(["simulate", str(profile), "--plot", str(out)]) == 0
    assert out.stat().st_size > 20_000
    assert run(["plot", str(profile), "-o", str(tmp_path / "x.png"), "--by", "foot"]) == 2
    assert "--by 'foot': choose zone or actuator" in capsys.readouterr().err
