"""Assembling the stream: placement of steps and blocks, the step table, determinism."""

from __future__ import annotations

import gc

import pytest
from compiler_support import small_rig

from massager import api
from massager.compiler import safety
from massager.errors import InputError
from massager.stream import CommandStream


@pytest.mark.parametrize("rig_name", ["reference", "pi-gpio-minimal", "pico-serial"])
@pytest.mark.parametrize("profile_name", api.bundled_profiles())
def test_every_bundled_profile_compiles_on_every_bundled_rig(
    profile_name: str, rig_name: str
) -> None:
    profile, rig = api.load_profile(profile_name), api.load_rig(rig_name)
    stream = api.compile_stream(profile, rig)
    assert all(s.start_ms == s.end_ms for s in stream.steps if s.skipped)
    assert stream.duration_ms == max(s.end_ms for s in stream.steps)
    assert stream.duration_ms <= profile.duration_ms <= api.DEFAULT_CAP_MS
    if not any(s.skipped for s in stream.steps):
        assert stream.duration_ms == profile.duration_ms
    assert stream.actuators == tuple(a.id for a in rig.actuators)
    last = {c.actuator: c for c in stream.commands}
    assert all(c.op == "off" and c.at_ms == stream.duration_ms for c in last.values())
    assert len(last) == len(rig.actuators)
    times = [c.at_ms for c in stream.commands]
    assert times == sorted(times)
    assert {c.step for c in stream.commands} <= set(range(len(stream.steps)))
    safety.check(stream, rig)  # the JSON Lines text is what devices get: check it again
    again = CommandStream.from_jsonl(stream.to_jsonl().splitlines())
    safety.check(again, rig)


def test_compiling_twice_gives_byte_identical_json_lines() -> None:
    profile, rig = api.load_profile("pebble-walk"), api.load_rig()
    first = api.compile_stream(profile, rig, intensity=0.7).to_jsonl()
    second = api.compile_stream(api.load_profile("pebble-walk"), api.load_rig(), intensity=0.7)
    assert first == second.to_jsonl()
    assert first.splitlines()[0].startswith('{"format":"massager-stream","version":1,')


def test_steps_are_placed_in_sequence_and_repeats_are_numbered() -> None:
    profile = api.profile_from_data(
        {
            "steps": [
                {"name": "warm", "technique": "rub", "duration": "1m", "feet": "left"},
                {
                    "repeat": 2,
                    "steps": [
                        {"technique": "heel_press", "duration": "30s", "feet": "left"},
                        {"technique": "rest", "duration": "10s"},
                    ],
                },
            ]
        }
    )
    stream = api.compile_stream(profile, small_rig())
    assert [(s.index, s.name, s.start_ms, s.end_ms) for s in stream.steps] == [
        (0, "warm", 0, 60_000),
        (1, "heel_press (1/2)", 60_000, 90_000),
        (2, "rest (1/2)", 90_000, 100_000),
        (3, "heel_press (2/2)", 100_000, 130_000),
        (4, "rest (2/2)", 130_000, 140_000),
    ]
    assert stream.duration_ms == 140_000
    for command in stream.commands[:-5]:
        info = stream.steps[command.step]
        assert info.start_ms <= command.at_ms <= info.end_ms
    assert [s.name for s in stream.step_at(95_000)] == ["rest (1/2)"]


def test_parallel_tracks_run_at_once_on_their_own_track_numbers() -> None:
    profile = api.profile_from_data(
        {
            "steps": [
                {
                    "parallel": [
                        {"technique": "heat", "duration": "2m", "feet": "left"},
                        {
                            "steps": [
                                {
                                    "technique": "knead",
                                    "zones": "sole",
                                    "duration": "1m",
                                    "feet": "left",
                                },
                                {"technique": "rub", "duration": "30s", "feet": "left"},
                            ]
                        },
                        {"technique": "vibrate", "zones": "arch", "duration": "1m", "feet": "left"},
                    ]
                },
                {"technique": "rest", "duration": "30s"},
            ]
        }
    )
    stream = api.compile_stream(profile, small_rig())
    table = [(s.technique, s.start_ms, s.end_ms, s.track) for s in stream.steps]
    assert table == [
        ("heat", 0, 120_000, 0),
        ("knead", 0, 60_000, 1),
        ("rub", 60_000, 90_000, 1),
        ("vibrate", 0, 60_000, 2),
        ("rest", 120_000, 150_000, 0),
    ]
    assert {s.technique for s in stream.step_at(30_000)} == {"heat", "knead", "vibrate"}
    assert stream.duration_ms == 150_000


def test_parallel_tracks_may_not_share_an_actuator() -> None:
    profile = api.profile_from_data(
        {
            "steps": [
                {
                    "parallel": [
                        {
                            "name": "a",
                            "technique": "knead",
                            "zones": "sole",
                            "duration": "1m",
                            "feet": "left",
                        },
                        {"name": "b", "technique": "rub", "duration": "1m", "feet": "left"},
                    ]
                }
            ]
        }
    )
    with pytest.raises(InputError, match="tracks 1 and 2 of this parallel block both drive"):
        api.compile_stream(profile, small_rig())


def test_include_places_the_included_steps() -> None:
    profile = api.profile_from_data(
        {"steps": [{"include": "warmup"}, {"technique": "rest", "duration": "1m"}]}
    )
    warmup = api.load_profile("warmup")
    stream = api.compile_stream(profile, api.load_rig())
    assert stream.duration_ms == warmup.duration_ms + 60_000
    assert [s.name for s in stream.steps][:2] == ["warm-up rubbing", "light roller passes"]


def test_params_given_at_compile_time_change_the_stream() -> None:
    profile = api.load_profile("classic")
    rig = api.load_rig()
    strong = api.compile_stream(profile, rig)
    soft = api.compile_stream(profile, rig, params={"strength": "0.3"})
    knead = next(s.index for s in strong.steps if s.technique == "knead")
    top = max(abs(c.high) for c in strong.commands if c.step == knead and c.op == "wave")
    low = max(abs(c.high) for c in soft.commands if c.step == knead and c.op == "wave")
    assert low == pytest.approx(top * 0.3 / 0.8, abs=1e-3)


def test_repeat_that_blows_the_cap_names_the_repeat() -> None:
    profile = api.profile_from_data(
        {"steps": [{"repeat": 10**9, "steps": [{"technique": "rest", "duration": "1s"}]}]}
    )
    with pytest.raises(InputError, match=r"repeat 1000000000 x 1s = 277777h46m40s"):
        api.compile_stream(profile, small_rig())


def test_compile_leaves_the_garbage_collector_as_it_found_it() -> None:
    """The compile pauses the cycle collector (its passes over a large stream made
    compile time grow faster than the stream) and always puts it back."""
    rig = api.load_rig()
    assert gc.isenabled()
    api.compile_stream(api.load_profile("quick"), rig)
    assert gc.isenabled()
    bad = api.profile_from_data(
        {"name": "x", "steps": [{"technique": "rub", "zones": ["calf"], "duration": "30m"}]}
    )
    with pytest.raises(InputError):
        api.compile_stream(bad, rig)
    assert gc.isenabled()
    gc.disable()
    try:
        api.compile_stream(api.load_profile("quick"), rig)
        assert not gc.isenabled()
    finally:
        gc.enable()
