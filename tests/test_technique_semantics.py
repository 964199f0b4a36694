"""docs/profiles.md and the compiler agree, technique by technique: each test reads the
compiled stream for what the doc says the technique does (and what its frequency means).

The rest of each technique's motion is pinned in test_compiler_techniques.py.
"""

from __future__ import annotations

import itertools
import math

import pytest
from compiler_support import of, one_step, peaks, small_rig

from massager import api
from massager.stream import Command, CommandStream

REFERENCE = api.load_rig("reference")
LEFT_ROLLERS = ("left_toe_roller", "left_arch_roller", "left_heel_roller")
RIGHT_ROLLERS = tuple(r.replace("left", "right") for r in LEFT_ROLLERS)


def _first_wave(stream: CommandStream, actuator: str) -> Command:
    return of(stream, actuator, "wave")[0]


def test_rub_frequency_is_direction_changes_per_second_for_every_roller_in_step() -> None:
    step = {"technique": "rub", "zones": ["toes", "sole"], "duration": "1m", "frequency": "2Hz"}
    stream = one_step({**step, "feet": "both"}, REFERENCE)
    waves = [_first_wave(stream, a) for a in LEFT_ROLLERS + RIGHT_ROLLERS]
    # 2 direction changes a second = a 1 Hz wave (each cycle turns twice)
    assert {w.hz for w in waves} == {1.0}
    assert len({w.at_ms for w in waves}) == 1  # together
    assert all(w.low < 0 < w.high for w in waves)  # every roller starts backward: in step
    assert stream.warnings == ()


def test_rub_too_fast_for_one_roller_slows_them_all_with_one_warning() -> None:
    step = {"technique": "rub", "zones": ["toes", "sole"], "duration": "1m", "frequency": "5Hz"}
    stream = one_step({**step, "intensity": 0.8, "feet": "left"}, REFERENCE)
    hz = {_first_wave(stream, a).hz for a in LEFT_ROLLERS}
    assert len(hz) == 1 and hz.pop() < 2.5
    (warning,) = stream.warnings
    assert warning.kind == "slowed" and warning.asked == "5Hz"
    assert "direction changes per second" in warning.message


@pytest.mark.parametrize("feet", ["left", "both", "alternate"])
def test_knead_neighbouring_rollers_of_each_foot_in_antiphase_whatever_feet_says(
    feet: str,
) -> None:
    stream = one_step(
        {"technique": "knead", "zones": ["toes", "sole"], "duration": "1m", "feet": feet},
        REFERENCE,
    )
    for rollers in (LEFT_ROLLERS, RIGHT_ROLLERS) if feet != "left" else (LEFT_ROLLERS,):
        toe, arch, heel = (_first_wave(stream, a) for a in rollers)
        # toe to heel: forward-first, backward-first, forward-first
        assert toe.low < 0 < arch.low and heel.low < 0
        assert toe.hz == arch.hz == heel.hz == 0.25  # 0.5 direction changes a second


def test_heel_press_intensity_is_a_share_of_the_highest_level_the_heel_allows() -> None:
    full = one_step({"technique": "heel_press", "duration": "10s"}, REFERENCE)
    heel_max = REFERENCE.actuator("left_heel_roller").max_level  # 0.9, under the heel's 1.0
    assert set(peaks(of(full, "left_heel_roller"))) == {heel_max}
    assert full.warnings == ()  # the top level is the technique, not a change
    half = one_step({"technique": "heel_press", "duration": "10s", "intensity": 0.5}, REFERENCE)
    assert peaks(of(half, "left_heel_roller")) == [pytest.approx(0.45)] * 3


def test_achilles_frequency_is_squeezes_per_second_slowed_never_weakened() -> None:
    slow = one_step(
        {"technique": "achilles", "zones": "calf", "duration": "20s", "frequency": "0.5Hz"}
    )
    starts = [c.at_ms for c in of(slow, "left_calf", "ramp") if c.level]
    assert [b - a for a, b in itertools.pairwise(starts)] == [2000] * (len(starts) - 1)
    fast = one_step(
        {"technique": "achilles", "zones": "calf", "duration": "20s", "frequency": "3Hz"}
    )
    squeezes = peaks(of(fast, "left_calf"))
    assert squeezes == [pytest.approx(0.6 * 0.8)] * len(squeezes) and squeezes
    (warning,) = fast.warnings
    assert (warning.kind, warning.asked) == ("slowed", "3Hz")


def test_ankle_circles_frequency_is_circles_per_second_slowed_never_weakened() -> None:
    stream = one_step(
        {"technique": "ankle_circles", "duration": "20s", "frequency": "2Hz"}, REFERENCE
    )
    level = 0.6 * 0.35
    squeezes = peaks(of(stream, "left_ankle_inner_air"))
    assert squeezes == [pytest.approx(level, abs=1e-4)] * len(squeezes) and squeezes
    assert [w.kind for w in stream.warnings] == ["slowed"]
    inner = [c.at_ms for c in of(stream, "left_ankle_inner_air", "ramp") if c.level]
    outer = [c.at_ms for c in of(stream, "left_ankle_outer_air", "ramp") if c.level]
    period = inner[1] - inner[0]
    assert outer[0] - inner[0] == period // 4  # a quarter of a circle apart
    assert 1000 / period == pytest.approx(float(stream.warnings[0].applied[:-2]), rel=1e-3)


def test_pebble_walk_pace_is_footsteps_per_second_at_most_ten() -> None:
    stream = one_step(
        {"technique": "pebble_walk", "duration": "5s", "pace": "20Hz", "feet": "left"}, REFERENCE
    )
    assert [(w.kind, w.asked, w.applied) for w in stream.warnings][:1] == [
        ("slowed", "20Hz", "10Hz")
    ]


def test_vibrate_frequency_is_wave_cycles_per_second() -> None:
    stream = one_step(
        {
            "technique": "vibrate",
            "zones": "arch",
            "duration": "10s",
            "frequency": "2Hz",
            "low": 0.1,
            "intensity": 0.3,
        }
    )
    wave = _first_wave(stream, "left_vib")
    assert wave.hz == 2.0 and stream.warnings == ()
    assert math.pi * (wave.high - wave.low) * wave.hz <= 5.0  # the sine's steepest slope


def test_heat_is_the_one_jump_its_duty_switches_at_once() -> None:
    stream = one_step({"technique": "heat", "duration": "1m", "feet": "left"}, small_rig())
    heater = of(stream, "left_heater")
    assert [c.op for c in heater] == ["heat", "off", "off"]
    assert heater[0].at_ms == 0 and heater[0].level == 0.56  # 0.8 x sole 0.7; no ramp first
    assert heater[1].at_ms == 60_000 - 250  # off at once, before the step ends


def test_a_skipped_optional_step_is_not_played_and_takes_no_time() -> None:
    minimal = api.load_rig("pi-gpio-minimal")
    profile = api.profile_from_data(
        {
            "steps": [
                {"technique": "rub", "duration": "10s"},
                {"name": "air", "technique": "ankle_circles", "duration": "1m", "optional": True},
                {"technique": "knead", "duration": "10s"},
            ]
        }
    )
    stream = api.compile_stream(profile, minimal)
    assert stream.duration_ms == 20_000
    assert [(s.number, s.skipped, s.start_ms, s.end_ms) for s in stream.steps] == [
        (1, False, 0, 10_000),
        (2, True, 10_000, 10_000),
        (3, False, 10_000, 20_000),
    ]
    assert not [c for c in stream.commands if c.step == 1]


def test_roller_pass_both_alternates_toe_to_heel_forward_then_heel_to_toe_backward() -> None:
    stream = one_step(
        {"technique": "roller_pass", "duration": "30s", "passes": 3, "direction": "both"},
        REFERENCE,
    )
    span = (30_000 - 250) // 3
    for p, (order, sign) in enumerate(
        ((LEFT_ROLLERS, 1), (LEFT_ROLLERS[::-1], -1), (LEFT_ROLLERS, 1))
    ):
        starts = []
        for actuator in order:
            ups = [
                c
                for c in of(stream, actuator, "ramp")
                if c.level != 0 and p * span <= c.at_ms < (p + 1) * span
            ]
            assert ups and all(c.level * sign > 0 for c in ups), (p, actuator)
            starts.append(ups[0].at_ms)
        assert starts == sorted(starts) and len(set(starts)) == 3, (p, starts)
