"""The compile-time safety envelope: each limit, checked on hand-made streams and on compiles."""

from __future__ import annotations

from dataclasses import replace

import pytest
from compiler_support import of, one_step, small_rig

from massager import api
from massager.compiler import safety
from massager.errors import InputError, SafetyError, UsageError
from massager.stream import Command, CommandStream, StepInfo

RIG = small_rig()
ENDING = [Command(10_000, a.id, "off", step=0) for a in RIG.actuators]


def stream_of(*commands: Command) -> CommandStream:
    """A stream of one step 'probe' with these commands, then every actuator off at 10 s."""
    return CommandStream(
        profile="probe",
        rig=RIG.name,
        duration_ms=10_000,
        actuators=tuple(a.id for a in RIG.actuators),
        steps=[StepInfo(0, "probe", "rub", ("heel",), 0, 10_000)],
        commands=sorted([replace(c, step=0) for c in (*commands, *ENDING)], key=lambda c: c.at_ms),
    )


def refused(*commands: Command) -> str:
    with pytest.raises(SafetyError) as info:
        safety.check(stream_of(*commands), RIG, lambda i, field: f"step {i + 1} 'probe'")
    return str(info.value)


def test_a_clean_stream_passes() -> None:
    safety.check(
        stream_of(
            Command(0, "left_heel", "ramp", level=-0.5, duration_ms=250),
            Command(250, "left_heel", "wave", low=-0.5, high=0.5, hz=0.5),
            Command(4250, "left_heel", "ramp", level=0.0, duration_ms=250),
            Command(0, "left_heater", "heat", level=0.5, target_c=40.0),
            Command(5000, "left_heater", "off"),
        ),
        RIG,
    )


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        (
            [Command(0, "left_heel", "ramp", level=1.2, duration_ms=1000)],
            "step 1 'probe': left_heel: level 1.2 is outside -1..1 (limit: max_level",
        ),
        (
            [Command(0, "left_arch", "ramp", level=0.75, duration_ms=1000)],
            "left_arch: level 0.75 is outside -0.7..0.7 "
            "(limit: max_level and zone sensitivity 0.7)",
        ),
        (
            [Command(0, "left_vib", "ramp", level=-0.3, duration_ms=1000)],
            "left_vib: level -0.3 is outside 0..0.7 (limit: range 0.7)",
        ),
        (
            [Command(0, "left_heel", "set", level=0.5)],
            "left_heel: jumps from 0 to 0.5 (limit: max_slew 2/s)",
        ),
        (
            [Command(0, "left_heel", "ramp", level=0.5, duration_ms=100)],
            "left_heel: changes at 5 per second (limit: max_slew 2/s)",
        ),
        (
            [Command(0, "left_heel", "wave", low=-0.5, high=0.5, hz=0.5)],
            "left_heel: wave starts at -0.5 but the level is 0 (limit: max_slew 2/s",
        ),
        (
            [
                Command(0, "left_heel", "ramp", level=-0.5, duration_ms=500),
                Command(500, "left_heel", "wave", low=-0.5, high=0.5, hz=2.0),
                Command(4500, "left_heel", "ramp", level=0.0, duration_ms=500),
            ],
            "left_heel: changes at 6.28 per second (limit: max_slew 2/s)",
        ),
        (
            [
                Command(0, "left_heel", "ramp", level=0.05, duration_ms=500),
                Command(2000, "left_heel", "ramp", level=0.0, duration_ms=500),
            ],
            "left_heel: holds 0.05, where the motor stalls (limit: min_level 0.1)",
        ),
        (
            [Command(0, "left_heel", "ramp", level=0.5, duration_ms=500)],
            "left_heel: jumps from 0.5 to off (limit: ramp to 0 first (max_slew))",
        ),
        (
            [Command(0, "left_heater", "heat", level=0.5, target_c=43.0)],
            "left_heater: target 43C is above the cap (limit: max_temp_c 42C)",
        ),
        (
            [Command(0, "left_heater", "heat", level=0.65, target_c=40.0)],
            "left_heater: duty 0.65 is outside 0..0.6",
        ),
        (
            [Command(0, "left_vib", "heat", level=0.5, target_c=40.0)],
            "left_vib: heat sent to a non-heater (limit: heat is for heaters)",
        ),
    ],
)
def test_each_violation_names_step_actuator_and_limit(
    commands: list[Command], expected: str
) -> None:
    assert expected in refused(*commands)


def test_continuous_on_time_is_bounded_and_a_rest_resets_it() -> None:
    rig = small_rig()
    long_air = [
        Command(0, "left_calf", "ramp", level=0.5, duration_ms=500),
        Command(40_000, "left_calf", "ramp", level=0.0, duration_ms=500),
    ]
    ending = [Command(60_000, a.id, "off") for a in rig.actuators]
    stream = CommandStream("p", rig.name, 60_000, tuple(a.id for a in rig.actuators))
    stream.commands = [*long_air, *ending]
    with pytest.raises(
        SafetyError, match=r"left_calf: on for 40.5s without rest \(limit: max_on 30s\)"
    ):
        safety.check(stream, rig)
    rested = [
        Command(0, "left_calf", "ramp", level=0.5, duration_ms=500),
        Command(20_000, "left_calf", "ramp", level=0.0, duration_ms=500),
        Command(21_000, "left_calf", "ramp", level=0.5, duration_ms=500),
        Command(40_000, "left_calf", "ramp", level=0.0, duration_ms=500),
    ]
    stream.commands = [*rested, *ending]
    safety.check(stream, rig)


def test_the_stream_must_end_with_everything_off_and_never_go_back_in_time() -> None:
    stream = stream_of()
    stream.commands = stream.commands[:-1]
    with pytest.raises(SafetyError, match="left_heater: stream does not end with it off"):
        safety.check(stream, RIG)
    stream = stream_of(Command(5000, "left_vib", "off"))
    stream.commands.insert(0, Command(6000, "left_heel", "off"))
    with pytest.raises(SafetyError, match="time goes back from 6000 ms to 5000 ms"):
        safety.check(stream, RIG)


def test_user_intensity_scales_every_level_and_drops_stalling_ones() -> None:
    step = {"technique": "heel_press", "duration": "20s", "presses": 2, "zones": ["heel"]}
    full = one_step(step)
    half = one_step(step, intensity=0.5)
    assert [c.level for c in of(half, "left_heel", "ramp")] == [
        pytest.approx(c.level * 0.5) for c in of(full, "left_heel", "ramp")
    ]
    faint = one_step(step, intensity=0.05)  # 0.05 is below the roller's min_level 0.1
    assert [c.op for c in of(faint, "left_heel")] == ["off"]
    silent = one_step(step, intensity=0.0)
    assert all(c.op == "off" for c in silent.commands)


def test_a_rig_can_lower_a_zone_sensitivity() -> None:
    gentle = small_rig(sensitivity={"heel": 0.5})
    stream = one_step({"technique": "heel_press", "duration": "20s"}, gentle)
    assert max(c.level for c in of(stream, "left_heel")) == pytest.approx(0.5)


def test_intensity_outside_0_1_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"intensity 1.5 is outside 0\.\.1"):
        one_step({"technique": "rest", "duration": "1m"}, intensity=1.5)


def test_session_cap_default_and_raised() -> None:
    step = {"technique": "knead", "zones": ["heel"], "duration": "25m"}
    with pytest.raises(InputError, match="lasts 25m, longer than the session cap 20m"):
        one_step(step)
    assert one_step(step, session_cap_ms=30 * 60_000).duration_ms == 25 * 60_000


def test_unreachable_steps_fail_unless_optional() -> None:
    step = {"name": "calves", "technique": "vibrate", "zones": ["calf"], "duration": "1m"}
    with pytest.raises(InputError, match=r"step 1 'calves' .* reaches zone 'calf'"):
        one_step(step)
    rest = {"technique": "rest", "duration": "10s"}
    profile = api.profile_from_data({"steps": [{**step, "optional": True, "feet": "left"}, rest]})
    stream = api.compile_stream(profile, small_rig())
    assert stream.steps[0].name == "calves" and stream.steps[0].skipped
    assert (stream.steps[0].start_ms, stream.steps[0].end_ms) == (0, 0)  # takes no time
    assert stream.duration_ms == 10_000
    assert all(c.op == "off" for c in stream.commands)
    (warning,) = stream.warnings
    assert warning.kind == "skipped" and warning.step == 1
    assert "step 1 'calves' (vibrate): skipped on rig 'small'" in str(warning)


def test_optional_steps_use_what_the_rig_can_reach() -> None:
    stream = one_step(
        {"technique": "heel_press", "zones": ["heel", "calf"], "duration": "20s", "optional": True}
    )
    assert of(stream, "left_heel", "ramp")
    assert of(stream, "left_calf", "ramp")  # air presses the calf
    minimal = api.load_rig("pi-gpio-minimal")
    with pytest.raises(InputError, match="nothing of profile 'one' runs on rig 'pi-gpio-minimal'"):
        one_step({"technique": "ankle_circles", "duration": "20s", "optional": True}, minimal)
