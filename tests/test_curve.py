"""`curve` steps: keyframes followed exactly where the limits allow, changed (and said) if not."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from compiler_support import of, one_step, small_rig

from massager import api
from massager.drivers.base import DriverOptions
from massager.drivers.sim import SimDriver
from massager.errors import InputError
from massager.runtime.session import Session
from massager.stream import CommandStream, Timeline
from massager.trace import LEVEL_TOLERANCE, read_trace

RIG_REF = api.load_rig("reference")
HEEL = "left_heel"  # roller, max_slew 2/s, min_level 0.1, heel sensitivity 1.0


def curve(keys: list[tuple[str, float]], kind: str = "roller", **fields: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"technique": "curve", "duration": "20s", "zones": ["heel"]}
    step.update(fields)
    step["keyframes"] = {kind: [{"at": at, "level": level} for at, level in keys]}
    return step


def level(stream: CommandStream, actuator: str, t_ms: float) -> float:
    return Timeline(of(stream, actuator)).level_at(t_ms)


def test_a_gentle_linear_curve_is_followed_exactly() -> None:
    keys = [("0s", 0.0), ("2s", 0.6), ("50%", 0.3), ("15s", -0.5), ("18s", 0.0)]
    stream = one_step(curve(keys))
    for at, want in [(0, 0.0), (1000, 0.3), (2000, 0.6), (10_000, 0.3), (15_000, -0.5)]:
        assert level(stream, HEEL, at) == pytest.approx(want, abs=1e-3), at
    ramps = of(stream, HEEL, "ramp")
    assert [r.at_ms for r in ramps[:4]] == [0, 2000, 10_000, 15_000]
    assert level(stream, HEEL, 19_800) == 0.0  # back at zero before the step ends


def test_levels_are_scaled_by_intensity_zone_and_user() -> None:
    keys = [("0s", 0.0), ("5s", 1.0), ("20s", 1.0)]
    stream = one_step(curve(keys, zones=["arch"], intensity=0.5), intensity=0.8)
    # the arch roller: sensitivity 0.7 -> 1.0 x 0.5 x 0.7 x 0.8
    assert level(stream, "left_arch", 6000) == pytest.approx(0.28, abs=1e-3)


def test_step_holds_each_level_and_changes_at_max_slew() -> None:
    stream = one_step(curve([("0s", 0.2), ("5s", 0.8), ("10s", 0.4)], interpolation="step"))
    assert level(stream, HEEL, 4900) == pytest.approx(0.2, abs=1e-3)
    assert level(stream, HEEL, 5150) == pytest.approx(0.2 + 2.0 * 0.15, abs=0.01)  # ramping
    assert level(stream, HEEL, 5400) == pytest.approx(0.8, abs=1e-3)
    assert level(stream, HEEL, 9900) == pytest.approx(0.8, abs=1e-3)


def test_smooth_never_overshoots_a_keyframe() -> None:
    keys = [("0s", 0.0), ("3s", 0.9), ("4s", 0.85), ("8s", 0.2), ("9s", 0.9), ("14s", 0.0)]
    stream = one_step(curve(keys, interpolation="smooth"))
    times = [0, 3000, 4000, 8000, 9000, 14_000]
    levels = [v for _, v in keys]
    for (a, b), (va, vb) in zip(pairwise(times), pairwise(levels), strict=True):
        lo, hi = min(va, vb), max(va, vb)
        for t in range(a + 400, b, 50):  # after catching up with the start
            assert lo - 1e-3 <= level(stream, HEEL, t) <= hi + 1e-3, t
    linear = one_step(curve(keys, interpolation="linear"))
    assert level(stream, HEEL, 6000) != pytest.approx(level(linear, HEEL, 6000), abs=1e-3)


def test_a_loop_repeats_and_an_offset_delays_one_foot() -> None:
    rig = api.load_rig("reference")
    keys = [("0s", 0.0), ("1s", 0.6), ("2s", 0.0)]
    step = curve(keys, loop="4s", offset={"right": "1s"}, feet="both")
    profile = api.profile_from_data({"name": "loop", "steps": [step]})
    stream = api.compile_stream(profile, rig)
    # heel rollers: max_level 0.9, heel 1.0
    for k in range(4):
        assert level(stream, "left_heel_roller", k * 4000 + 1000) == pytest.approx(0.6, abs=1e-3)
        assert level(stream, "right_heel_roller", k * 4000 + 2000) == pytest.approx(0.6, abs=1e-3)
        assert level(stream, "left_heel_roller", k * 4000 + 3000) == 0.0
    assert level(stream, "right_heel_roller", 500) == 0.0


STEEP = """name: steep
steps:
  - technique: curve
    duration: 70s
    zones: [calf]
    feet: left
    keyframes:
      air:
        - {at: 0s, level: 0}
        - {at: 100ms, level: 1}
        - {at: 60s, level: 0.05}
"""


def test_limits_change_the_curve_with_located_warnings(tmp_path: Path) -> None:
    (tmp_path / "steep.yaml").write_text(STEEP)
    rig = small_rig()  # calf air: max_slew 1/s, max_level 0.8, max_on 30s (the air default)
    stream = api.compile_stream(api.load_profile(tmp_path / "steep.yaml"), rig)
    messages = [str(w) for w in stream.warnings]
    assert {w.kind for w in stream.warnings} == {"slowed", "shortened"}
    prefix = f"{tmp_path / 'steep.yaml'}:8:7: warning: step 1 'curve' (curve): left_calf: "
    assert all(m.startswith(prefix) for m in messages), messages
    text = "\n".join(m[len(prefix) :] for m in messages)
    assert "1 keyframe(s) change faster than max_slew 1/s" in text
    assert "keyframe 2 at 0:00.100, 0.8 asked" in text
    assert "rests 1 s at 0:29." in text and "max_on 30s" in text
    # the air bladder is vented for its rest, then rejoins the curve
    calf = of(stream, "left_calf")
    rest = next(c for c in calf if c.op == "off")
    assert 29_000 < rest.at_ms <= 29_800
    assert level(stream, "left_calf", rest.at_ms + 500) == 0.0
    assert level(stream, "left_calf", 40_000) == pytest.approx(0.8 - 0.75 * 39.9 / 59.9, abs=0.01)


def test_max_level_and_min_level_are_kept_and_said() -> None:
    rig = api.load_rig("reference")  # heel roller: max_level 0.9, min_level 0.15
    keys = [("0s", 0.0), ("2s", 1.0), ("6s", 0.1), ("9s", 0.1)]
    profile = api.profile_from_data({"name": "c", "steps": [curve(keys, feet="left")]})
    stream = api.compile_stream(profile, rig)
    assert level(stream, "left_heel_roller", 2000) == pytest.approx(0.9, abs=1e-3)
    assert level(stream, "left_heel_roller", 7000) == 0.0  # 0.1 stalls: run as 0
    text = "\n".join(str(w) for w in stream.warnings)
    assert "left_heel_roller: roller keyframes: 1 level(s) lowered to max_level 0.9" in text
    assert "left_heel_roller: roller keyframes: 2 level(s) below min_level 0.15" in text


def test_a_curve_runs_on_the_simulator_as_compiled(tmp_path: Path) -> None:
    rig = api.load_rig("reference")
    data = {
        "name": "sim-curve",
        "steps": [
            curve(
                [("0s", 0.0), ("3s", 0.7), ("6s", -0.4), ("9s", 0.5), ("12s", 0.0)],
                interpolation="smooth",
                loop="12s",
                offset={"right": "25%"},
                duration="30s",
                feet="both",
            ),
            {"technique": "rest", "duration": "2s"},
        ],
    }
    stream = api.compile_stream(api.profile_from_data(data), rig)
    trace_path = tmp_path / "trace.csv"
    driver = SimDriver(rig, DriverOptions(virtual=True, trace=trace_path))
    assert Session(stream, driver).run().reason == "done"
    assert driver.cuts == ()
    trace = read_trace(trace_path)
    for actuator, shift in (("left_heel_roller", 0), ("right_heel_roller", 3000)):
        timeline = Timeline(of(stream, actuator))
        for t in range(shift + 1000, 29_000, 500):
            got = trace.level_at(actuator, t)
            assert got == pytest.approx(timeline.level_at(t), abs=LEVEL_TOLERANCE + 0.01), t
        assert trace.level_at(actuator, shift + 3000) == pytest.approx(0.7, abs=0.02)
        assert trace.level_at(actuator, shift + 6000) == pytest.approx(-0.4, abs=0.02)
    assert trace.final_levels() == {a.id: 0.0 for a in rig.actuators}


def test_the_schema_describes_curve_steps(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import jsonschema

    from massager.cli import run

    assert run(["schema", "profile"]) == 0
    defs = json.loads(capsys.readouterr().out)["$defs"]
    assert set(defs["Keyframes"]["properties"]) == {"roller", "vibration", "air"}
    curve_props = defs["Curve"]["properties"]
    assert {"keyframes", "interpolation", "loop", "offset"} <= set(curve_props)
    at = jsonschema.Draft202012Validator(defs["Keyframe"]["properties"]["at"])
    for good in ("0", "0s", 0, "1.5s", "250ms", "40%", "1m30s", "1m 30s", "$t"):
        assert at.is_valid(good), good
    for bad in ("1.5", 1.5, "40", "s"):
        assert not at.is_valid(bad), bad
    roller_level = defs["RollerKeyframe"]["properties"]["level"]["anyOf"][0]
    assert (roller_level["minimum"], roller_level["maximum"]) == (-1, 1)


def test_a_dense_random_curve_never_holds_a_stalling_level() -> None:
    """Random levels 60 ms apart (far faster than max_slew): the follower catches up and
    cuts through small levels, but never rests on one under min_level."""
    import random

    rng = random.Random(1)
    keys = [(f"{i * 60}ms", round(rng.uniform(-0.9, 0.9), 3)) for i in range(1000)]
    step = curve(keys, duration="61s", feet="both")
    stream = api.compile_stream(api.profile_from_data({"name": "d", "steps": [step]}), RIG_REF)
    ramps = of(stream, "left_heel_roller", "ramp")
    assert len(ramps) > 900
    for here, after in pairwise(of(stream, "left_heel_roller")):
        if here.op == "ramp" and after.at_ms > here.at_ms + here.duration_ms:
            assert here.level == 0 or abs(here.level) >= 0.15
    assert any(w.kind == "slowed" for w in stream.warnings)
    # both heels have the same limits: the same motion, each on its own actuator
    right = of(stream, "right_heel_roller")
    assert [(c.at_ms, c.op, c.level) for c in right] == [
        (c.at_ms, c.op, c.level) for c in of(stream, "left_heel_roller")
    ]


def test_too_many_keyframes_are_refused(tmp_path: Path) -> None:
    frames = [{"at": f"{i}ms", "level": 0.5} for i in range(100_001)]
    step = {"technique": "curve", "duration": "20m", "keyframes": {"air": frames}}
    with pytest.raises(InputError, match="100,001 keyframes, more than the 100,000"):
        api.profile_from_data({"name": "huge", "steps": [step]})
    # a file of a million keyframes is refused by the reader's own bound, located
    lines = ["name: huge", "steps:", "  - technique: curve", "    duration: 20m"]
    lines += ["    keyframes:", "      air:"]
    lines += [f"        - {{at: {i}ms, level: 0.5}}" for i in range(1_000_000)]
    path = tmp_path / "huge.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        api.load_profile(path)
    assert str(info.value).startswith(f"{path}:")


def test_params_work_in_keyframes() -> None:
    data = {
        "name": "p",
        "params": {"peak": 0.6, "when": "4s"},
        "steps": [curve([("0s", 0.0), ("$when", "$peak"), ("20s", "$peak")], feet="left")],
    }
    profile = api.profile_from_data(data)
    assert level(one_step_profile(profile), HEEL, 4000) == pytest.approx(0.6, abs=1e-3)
    lower = api.compile_stream(profile, small_rig(), params={"peak": "0.3", "when": "8s"})
    assert level(lower, HEEL, 8000) == pytest.approx(0.3, abs=1e-3)
    assert level(lower, HEEL, 4000) == pytest.approx(0.15, abs=1e-3)


def one_step_profile(profile: Any) -> CommandStream:
    return api.compile_stream(profile, small_rig())


def test_a_keyframe_closer_than_a_tick_to_the_next_is_left_out_with_a_warning() -> None:
    keys = [("0s", 0.0), ("1s", 0.3), ("1005ms", 0.2), ("3s", 0.2), ("3s", 0.4), ("5s", 0.4)]
    stream = one_step(curve(keys))
    (warning,) = stream.warnings
    assert (warning.kind, warning.actuator) == ("dropped", HEEL)
    assert "roller keyframes: keyframe 2 at 0:01.000 left out: less than 10 ms" in warning.message
    assert level(stream, HEEL, 1000) < 0.3 - 0.05  # the course heads for 0.2 at 1005 ms
    assert level(stream, HEEL, 1005) == pytest.approx(0.2, abs=1e-3)
    assert level(stream, HEEL, 3200) == pytest.approx(0.4, abs=1e-3)  # a jump at 3 s stays
