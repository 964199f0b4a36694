"""Each technique compiles into the motion the brief's table describes."""

from __future__ import annotations

import pytest
from compiler_support import of, one_step, peaks, small_rig

from firmware_bridge import codes
from firmware_bridge import waveforms as wf
from massager import api
from massager.errors import SafetyError


def test_rub_swings_rollers_both_ways_after_ramping_in() -> None:
    stream = one_step({"technique": "rub", "zones": ["heel"], "duration": "30s"})
    heel = of(stream, "left_heel")
    level = 0.4 * 1.0  # intensity x heel sensitivity
    assert heel[0].op == "ramp" and heel[0].level == -level and heel[0].at_ms == 0
    wave = heel[1]
    assert (wave.op, wave.low, wave.high) == ("wave", -level, level)
    assert wave.at_ms == heel[0].at_ms + heel[0].duration_ms
    # frequency 1.5Hz = 1.5 direction changes a second: a 0.75 Hz wave (two turns a cycle)
    assert wave.hz == 0.75
    assert wf.wave_max_slope(codes.SHAPE_SINE, wave.low, wave.high, wave.hz) <= 2.0
    assert stream.warnings == ()
    assert heel[2].op == "ramp" and heel[2].level == 0
    assert [c.op for c in of(stream, "left_arch")] == ["off"]  # only the final off


def test_knead_sets_neighbouring_rollers_against_each_other() -> None:
    stream = one_step({"technique": "knead", "zones": ["sole"], "duration": "30s"})
    arch, heel = of(stream, "left_arch", "wave")[0], of(stream, "left_heel", "wave")[0]
    assert (arch.low, arch.high) == (pytest.approx(-0.8 * 0.7), pytest.approx(0.8 * 0.7))
    assert (heel.low, heel.high) == (pytest.approx(0.8), pytest.approx(-0.8))
    assert heel.hz <= 0.5


def test_toe_work_strokes_each_toe_in_turn() -> None:
    stream = one_step(
        {"technique": "toe_work", "duration": "50s", "strokes": 2, "feet": "left"},
        api.load_rig("reference"),
    )
    toe = of(stream, "left_toe_roller")
    strokes = peaks(toe)
    assert len(strokes) == 5 * 2
    assert all(p == pytest.approx(0.5 * 0.6) for p in strokes)
    assert not of(stream, "right_toe_roller")[:-1]


def test_point_press_goes_through_the_points_in_foot_order() -> None:
    stream = one_step(
        {"technique": "point_press", "zones": ["sole"], "duration": "30s", "feet": "left"},
        api.load_rig("reference"),
    )
    arch_starts = [c.at_ms for c in of(stream, "left_arch_roller") if c.level > 0]
    heel_starts = [c.at_ms for c in of(stream, "left_heel_roller") if c.level > 0]
    assert len(arch_starts) == 2  # ball, then arch: both reached by the arch roller
    assert len(heel_starts) == 1
    assert max(arch_starts) < min(heel_starts)
    # the arch roller also touches the ball, so its level is scaled by the gentler zone
    assert peaks(of(stream, "left_arch_roller"))[0] == pytest.approx(0.7 * 0.7)
    assert peaks(of(stream, "left_heel_roller"))[0] == pytest.approx(0.7 * 1.0)


def test_heel_press_uses_the_highest_level_the_heel_allows() -> None:
    rig = api.load_rig("reference")
    stream = one_step({"technique": "heel_press", "duration": "40s", "presses": 4}, rig)
    heel = peaks(of(stream, "left_heel_roller"))
    assert heel == [rig.actuator("left_heel_roller").max_level] * 4
    assert of(stream, "left_arch_roller") == of(stream, "left_arch_roller", "off")


def test_roller_pass_travels_toe_to_heel_and_back() -> None:
    rig = api.load_rig("reference")
    ids = ("left_toe_roller", "left_arch_roller", "left_heel_roller")
    for direction, order, sign in (("toe_to_heel", ids, 1), ("heel_to_toe", ids[::-1], -1)):
        stream = one_step(
            {"technique": "roller_pass", "duration": "20s", "passes": 2, "direction": direction},
            rig,
        )
        first = [of(stream, a)[0] for a in order]
        assert [c.at_ms for c in first] == sorted(c.at_ms for c in first)
        assert first[0].at_ms < first[1].at_ms < first[2].at_ms
        assert all(c.level * sign > 0 for c in first)
        assert len(peaks(of(stream, order[0]))) == 2


def test_achilles_squeezes_and_vents_the_calf_bladder() -> None:
    stream = one_step({"technique": "achilles", "zones": ["calf"], "duration": "30s"})
    calf = of(stream, "left_calf")
    squeezes = peaks(calf)
    assert len(squeezes) == 5  # 0.2 Hz: six 5 s squeezes do not fit before the closing rest
    assert all(p == pytest.approx(0.6 * 0.8) for p in squeezes)
    offs = [c for c in calf if c.op == "off"]
    assert len(offs) == len(squeezes) + 1  # vented after every squeeze, and at the end


def test_ankle_circles_a_quarter_turn_apart_and_both_ways() -> None:
    rig = api.load_rig("reference")
    stream = one_step({"technique": "ankle_circles", "duration": "40s", "feet": "left"}, rig)
    inner = [c.at_ms for c in of(stream, "left_ankle_inner_air") if c.op == "ramp" and c.level]
    outer = [c.at_ms for c in of(stream, "left_ankle_outer_air") if c.op == "ramp" and c.level]
    period = 5000
    assert outer[0] - inner[0] == period // 4
    assert inner[-1] - outer[-1] == period // 4  # the second half circles the other way
    assert max(peaks(of(stream, "left_ankle_inner_air"))) <= 0.35 + 1e-9


def test_pebble_walk_is_seeded_and_alternates_feet() -> None:
    rig = api.load_rig("reference")
    step = {
        "technique": "pebble_walk",
        "duration": "20s",
        "seed": 3,
        "pace": "1Hz",
        "feet": "alternate",
    }
    first, again = one_step(step, rig), one_step(step, rig)
    assert first.to_jsonl() == again.to_jsonl()
    other = one_step({**step, "seed": 4}, rig)
    assert other.to_jsonl() != first.to_jsonl()
    for second in range(19):
        feet = {
            c.actuator.split("_")[0]
            for c in first.commands
            if c.op == "ramp" and c.level != 0 and second * 1000 <= c.at_ms < (second + 1) * 1000
        }
        assert len(feet) <= 1
        if feet:
            assert feet == {("left", "right")[second % 2]}


def test_vibrate_steady_or_as_a_wave() -> None:
    steady = of(
        one_step({"technique": "vibrate", "zones": ["arch"], "duration": "10s"}), "left_vib"
    )
    assert [c.op for c in steady] == ["ramp", "ramp", "off"]
    assert steady[0].level == pytest.approx(0.5 * 0.7)
    wave = of(
        one_step(
            {
                "technique": "vibrate",
                "zones": ["arch"],
                "duration": "10s",
                "frequency": "2Hz",
                "low": 0.3,
                "shape": "triangle",
            }
        ),
        "left_vib",
        "wave",
    )
    assert len(wave) == 1
    assert (wave[0].low, wave[0].high, wave[0].shape, wave[0].hz) == (
        pytest.approx(0.3 * 0.7),
        pytest.approx(0.5 * 0.7),
        "triangle",
        2.0,
    )


def test_heat_runs_the_closed_loop_then_turns_off_before_the_step_ends() -> None:
    stream = one_step({"technique": "heat", "duration": "2m", "target": "41C"})
    heater = of(stream, "left_heater")
    assert heater[0].op == "heat" and heater[0].target_c == 41.0 and heater[0].at_ms == 0
    assert heater[0].level == pytest.approx(0.8 * 0.7 * 1.0)  # sole takes its gentlest zone
    assert heater[1].op == "off" and heater[1].at_ms < 120_000


def test_heat_above_the_heater_cap_is_refused() -> None:
    with pytest.raises(SafetyError) as info:
        one_step({"name": "too hot", "technique": "heat", "duration": "1m", "target": "43C"})
    assert "'too hot'" in str(info.value)
    assert "left_heater" in str(info.value)
    assert "max_temp_c 42C" in str(info.value)


def test_heat_longer_than_the_heat_timer_is_refused() -> None:
    rig = small_rig(heat_max="5m")
    with pytest.raises(SafetyError, match=r"left_heater: heats for .* \(limit: heat_max 5m\)"):
        one_step({"technique": "heat", "duration": "6m"}, rig)


def test_rest_drives_nothing() -> None:
    stream = one_step({"technique": "rest", "duration": "1m"})
    assert all(c.op == "off" and c.at_ms == 60_000 for c in stream.commands)
    assert len(stream.commands) == len(stream.actuators)


def test_long_sustained_motion_rests_before_max_on() -> None:
    rig = small_rig()
    stream = one_step(
        {"technique": "rub", "zones": ["heel"], "duration": "25m"}, rig, session_cap_ms=3_600_000
    )
    waves = of(stream, "left_heel", "wave")
    assert len(waves) == 3  # 25 minutes in bursts of at most max_on (10 minutes)
    ramps_to_zero = [c for c in of(stream, "left_heel", "ramp") if c.level == 0]
    for ramp, nxt in zip(ramps_to_zero, waves[1:], strict=False):
        assert nxt.at_ms - (ramp.at_ms + ramp.duration_ms) >= 1000


def test_alternate_feet_work_left_then_right() -> None:
    stream = one_step(
        {"technique": "heel_press", "duration": "20s", "feet": "alternate"},
        api.load_rig("reference"),
    )
    left = of(stream, "left_heel_roller")[:-1]
    right = of(stream, "right_heel_roller")[:-1]
    assert left and right
    assert max(c.at_ms + c.duration_ms for c in left) < min(c.at_ms for c in right)
