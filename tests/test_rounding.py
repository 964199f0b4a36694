"""Rounding: a time or a frequency the device cannot play exactly as written is a warning.

Each test reads the compiled stream itself: when there is no `rounded` warning,
the stream plays exactly what was written; when there is one, it plays what
the warning says.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from compiler_support import of, one_step, small_rig
from hypothesis import assume, given
from hypothesis import strategies as st

from massager import api
from massager.cli import run
from massager.stream import CommandStream


def _rounded(stream: CommandStream) -> list[Any]:
    return [w for w in stream.warnings if w.kind == "rounded"]


def _squeeze_starts(stream: CommandStream, actuator: str) -> list[int]:
    """When each squeeze of an actuator starts: the ramps that leave zero."""
    starts, level = [], 0.0
    for c in of(stream, actuator):
        if c.op == "ramp" and level == 0 and c.level:
            starts.append(c.at_ms)
        level = c.level if c.op == "ramp" else 0.0
    return starts


def _periods(stream: CommandStream, actuator: str) -> set[int]:
    """The times between one squeeze and the next (ankle circles: in each half of the step,
    where one bladder leads, the other a quarter behind)."""
    starts = _squeeze_starts(stream, actuator)
    gaps = [b - a for a, b in pairwise(starts)]
    return (
        set(gaps) if not gaps or "ankle" not in actuator else {Counter(gaps).most_common(1)[0][0]}
    )


def test_a_duration_finer_than_a_millisecond_is_played_rounded_with_a_warning_at_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "steps:\n"
        "  - technique: rest\n"
        "    duration: 1.0004s\n"
        "  - {technique: point_press, zones: heel, feet: left, duration: 2.5s}\n"
    )
    stream = api.compile_stream(api.load_profile(path), small_rig())
    (warning,) = stream.warnings
    assert (warning.line, warning.col, warning.kind, warning.step) == (3, 15, "rounded", 1)
    assert (warning.asked, warning.applied) == ("1.0004s", "1s")
    assert "duration 1.0004s (1000.4 ms) is played as 1s: times are whole milliseconds" in str(
        warning
    )
    assert stream.steps[0].end_ms == 1000 and stream.duration_ms == 3500


@pytest.mark.parametrize(
    ("technique", "zones", "field", "hz", "period"),
    [
        ("achilles", "calf", "frequency", 0.3, 3333),
        ("achilles", "calf", "frequency", 0.7, 1429),
        ("ankle_circles", "ankle", "frequency", 0.3, 3333),
        ("pebble_walk", "sole", "pace", 3.0, 333),
    ],
)
def test_a_period_that_is_not_a_whole_millisecond_is_warned_with_the_frequency_played(
    technique: str, zones: str, field: str, hz: float, period: int
) -> None:
    step = {"technique": technique, "zones": zones, "duration": "20s", field: f"{hz:g}Hz"}
    stream = one_step(step, api.load_rig("reference"))
    (warning,) = _rounded(stream)
    assert warning.asked == f"{hz:g}Hz"
    assert float(warning.applied[:-2]) == pytest.approx(1000 / period, rel=1e-4)
    assert f"lasts a whole number of milliseconds ({period} ms" in warning.message
    if technique != "pebble_walk":  # its footsteps start at random inside the period
        actuator = "left_calf_air" if technique == "achilles" else "left_ankle_inner_air"
        assert _periods(stream, actuator) == {period}


@pytest.mark.parametrize(
    ("technique", "zones", "hz"),
    [("achilles", "calf", 0.25), ("achilles", "calf", 0.2), ("ankle_circles", "ankle", 0.5)],
)
def test_a_frequency_with_a_whole_millisecond_period_is_exact_and_not_warned(
    technique: str, zones: str, hz: float
) -> None:
    step = {"technique": technique, "zones": zones, "duration": "40s", "frequency": f"{hz:g}Hz"}
    stream = one_step(step, api.load_rig("reference"))
    assert stream.warnings == ()
    actuator = "left_calf_air" if technique == "achilles" else "left_ankle_inner_air"
    assert _periods(stream, actuator) == {round(1000 / hz)}


def test_a_wave_hz_with_more_than_four_decimals_is_rounded_down_with_a_warning() -> None:
    rub = one_step(
        {"technique": "rub", "zones": "heel", "duration": "30s", "frequency": "1.2345Hz"}
    )
    (warning,) = _rounded(rub)
    assert (warning.asked, warning.applied) == ("1.2345Hz", "1.2344Hz")
    assert "(a wave of 0.6172Hz: half the frequency)" in warning.message
    assert {c.hz for c in of(rub, "left_heel", "wave")} == {0.6172}
    exact = one_step(
        {"technique": "rub", "zones": "heel", "duration": "30s", "frequency": "1.234Hz"}
    )
    assert _rounded(exact) == [] and {c.hz for c in of(exact, "left_heel", "wave")} == {0.617}
    vibrate = {"technique": "vibrate", "zones": "arch", "duration": "10s", "low": 0.2}
    wave = one_step({**vibrate, "frequency": "2.00005Hz"})
    (warning,) = _rounded(wave)
    assert (warning.asked, warning.applied) == ("2.00005Hz", "2Hz")
    assert {c.hz for c in of(wave, "left_vib", "wave")} == {2.0}


def test_curve_times_rounded_point_at_the_keyframe_and_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "curve.yaml"
    path.write_text(
        "steps:\n"
        "  - technique: curve\n"
        "    zones: arch\n"
        "    feet: left\n"
        "    duration: 10s\n"
        "    loop: 3s\n"
        "    offset: {left: 0.0015s}\n"
        "    keyframes:\n"
        "      vibration:\n"
        "        - {at: 0s, level: 0}\n"
        "        - {at: 33.33%, level: 0.5}\n"
        "        - {at: 66.66%, level: 0.3}\n"
    )
    stream = api.compile_stream(api.load_profile(path), small_rig())
    at, offset = _rounded(stream)
    assert (at.line, at.col) == (11, 16)  # the `at` of the first rounded keyframe
    assert at.message.endswith(
        "vibration keyframe 2 at 33.33% of 3s (999.9 ms) is played at 1s "
        "(and 1 more vibration keyframe(s)): times are whole milliseconds"
    )
    assert (offset.line, offset.col) == (7, 20)
    assert "the left offset 1.5 ms is played as 2ms" in offset.message


def test_a_heat_target_is_played_to_two_decimals() -> None:
    stream = one_step({"technique": "heat", "duration": "30s", "target": "40.123C"})
    (warning,) = stream.warnings
    assert (warning.kind, warning.asked, warning.applied) == ("rounded", "40.123C", "40.12C")
    assert {c.target_c for c in of(stream, "left_heater", "heat")} == {40.12}


def test_strict_refuses_a_rounding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "steps:\n  - {technique: achilles, zones: calf, duration: 20s, frequency: 0.3Hz}\n"
    )
    assert run(["validate", str(path)]) == 0
    assert ": warning: step 1 'achilles' (achilles): frequency 0.3Hz is played as 0.30003Hz" in (
        capsys.readouterr().err
    )
    assert run(["validate", str(path), "--strict"]) == 1
    assert "--strict: 1 warning(s) treated as errors" in capsys.readouterr().err


@given(st.integers(1, 3_000), st.integers(1, 4))
def test_no_rounded_warning_means_the_squeezes_are_exactly_the_frequency(
    centi: int, digits: int
) -> None:
    hz = centi / 10**digits
    text = f"{hz:.{digits}f}Hz"
    stream = one_step(
        {"technique": "achilles", "zones": "calf", "duration": "20s", "frequency": text},
        api.load_rig("reference"),
    )
    periods = _periods(stream, "left_calf_air")
    assume(periods)  # two squeezes at least, to measure one period
    (period,) = periods
    slowed = [w for w in stream.warnings if w.kind == "slowed"]
    rounded = _rounded(stream)
    if slowed:
        assert period > round(1000 / hz) and not rounded
    elif rounded:
        assert float(rounded[0].applied[:-2]) == pytest.approx(1000 / period, rel=1e-5)
        assert 1000 / period != pytest.approx(hz, rel=1e-9)
    else:
        assert 1000 / period == pytest.approx(hz, rel=1e-9)


@given(st.integers(1, 9_999), st.integers(1, 4))
def test_no_rounded_warning_means_the_step_lasts_exactly_what_was_written(
    tenths: int, digits: int
) -> None:
    seconds = tenths / 10**digits
    assume(seconds >= 0.001)  # shorter is refused: a duration is at least 1 ms
    text = f"{seconds:.{digits}f}s"
    profile = api.profile_from_data(
        {
            "steps": [
                {"technique": "rest", "duration": text},
                {"technique": "rest", "duration": "1s"},
            ]
        }
    )
    stream = api.compile_stream(profile, small_rig())
    length = stream.steps[0].end_ms
    if _rounded(stream):
        assert length != pytest.approx(seconds * 1000, abs=1e-6)
        assert abs(length - seconds * 1000) <= 0.5
    else:
        assert length == pytest.approx(seconds * 1000, abs=1e-6)
