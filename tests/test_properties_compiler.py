"""Properties of the compiler and the loader, for any input hypothesis can build.

- Any valid profile, on any bundled rig, at any user intensity: times never
  decrease, every level stays inside every limit, every change stays inside
  max_slew, the stream ends with every actuator off, and its duration is the
  profile's computed duration, within the cap. The checks here are written
  apart from compiler.safety, so they do not share its mistakes.
- Any mutation of a bundled profile's YAML loads, or raises InputError with a
  located problem: nothing else escapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from firmware_bridge import codes
from firmware_bridge import waveforms as wf
from massager import api, bundled, zones
from massager.compiler.reach import zone_limit
from massager.errors import InputError, MassagerError
from massager.rig.model import Rig
from massager.stream import CommandStream, Timeline

RIGS = {name: api.load_rig(name) for name in api.bundled_rigs()}
CAP_MS = 4 * 3_600_000
PRESSING_ZONES = [z for z in zones.ALL_ZONES if z not in zones.PRESS_FORBIDDEN]
TECHNIQUE_ZONES: dict[str, list[str]] = {
    "rub": PRESSING_ZONES,
    "toe_work": PRESSING_ZONES,
    "point_press": PRESSING_ZONES,
    "heel_press": PRESSING_ZONES,
    "roller_pass": PRESSING_ZONES,
    "knead": PRESSING_ZONES,
    "pebble_walk": PRESSING_ZONES,
    "achilles": PRESSING_ZONES,
    "ankle_circles": list(zones.ALL_ZONES),
    "vibrate": list(zones.ALL_ZONES),
}


def durations(low_ms: int = 200, high_ms: int = 120_000) -> st.SearchStrategy[str]:
    return st.integers(low_ms, high_ms).map(lambda ms: f"{ms}ms")


@st.composite
def motion_step(draw: st.DrawFn) -> dict[str, Any]:
    technique = draw(st.sampled_from(sorted(TECHNIQUE_ZONES)))
    step: dict[str, Any] = {
        "technique": technique,
        "duration": draw(durations()),
        "intensity": draw(st.floats(0.0, 1.0)),
        "zones": draw(
            st.lists(st.sampled_from(TECHNIQUE_ZONES[technique]), min_size=1, max_size=3)
        ),
        "feet": draw(st.sampled_from(["left", "right", "both", "alternate"])),
        "optional": draw(st.sampled_from([True, True, True, False])),
    }
    if technique in ("rub", "knead", "achilles", "ankle_circles"):
        step["frequency"] = f"{draw(st.floats(0.05, 5.0)):.3f}Hz"
    if technique == "vibrate" and draw(st.booleans()):
        step["frequency"] = f"{draw(st.floats(0.1, 20.0)):.3f}Hz"
        step["low"] = draw(st.floats(0.0, step["intensity"]))
        step["shape"] = draw(st.sampled_from(["sine", "triangle"]))
    if technique in ("toe_work",):
        step["strokes"] = draw(st.integers(1, 20))
    if technique in ("point_press", "heel_press"):
        step["presses"] = draw(st.integers(1, 20))
    if technique == "roller_pass":
        step["passes"] = draw(st.integers(1, 30))
        step["direction"] = draw(st.sampled_from(["toe_to_heel", "heel_to_toe", "both"]))
    if technique == "pebble_walk":
        step["pace"] = f"{draw(st.floats(0.2, 5.0)):.2f}Hz"
        step["seed"] = draw(st.integers(0, 10_000))
    return step


def heat_step() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "technique": st.just("heat"),
            "duration": durations(high_ms=600_000),
            "intensity": st.floats(0.0, 1.0),
            "target": st.integers(30, 42).map(lambda c: f"{c}C"),
            "feet": st.sampled_from(["left", "right", "both"]),
            "optional": st.just(True),
        }
    )


def rest_step() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"technique": st.just("rest"), "duration": durations()})


@st.composite
def items(draw: st.DrawFn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["step", "step", "rest", "repeat", "parallel"]))
        if kind == "step":
            out.append(draw(motion_step()))
        elif kind == "rest":
            out.append(draw(rest_step()))
        elif kind == "repeat":
            body = draw(st.lists(st.one_of(motion_step(), rest_step()), min_size=1, max_size=2))
            out.append({"repeat": draw(st.integers(1, 3)), "steps": body})
        else:
            out.append({"parallel": [draw(heat_step()), draw(motion_step())]})
    return out


def check_envelope(stream: CommandStream, rig: Rig) -> None:
    """Every limit, checked from the commands as a device would run them.

    An independent oracle of compiler/safety.py, on purpose, not a duplicate to merge:
    it checks the stream in its own, simpler code, so a mistake in the compiler's check
    is not repeated here. It shares only the definitions of the limits (the rig's zone
    sensitivity through zone_limit, the wave slope from firmware_bridge.waveforms).
    """
    times = [c.at_ms for c in stream.commands]
    assert times == sorted(times)
    grouped = stream.by_actuator()
    for act in rig.actuators:
        commands = grouped[act.id]
        cap = min(act.max_level, zone_limit(rig, act)) + 1e-9
        low = -cap if act.kind == "roller" else 0.0
        last = commands[-1]
        assert (last.op, last.at_ms) == ("off", stream.duration_ms)
        timeline = Timeline(commands)
        for i, c in enumerate(commands):
            start = timeline.start_level(i)
            if c.op in ("set", "ramp", "heat"):
                assert low <= c.level <= cap, (act.id, c)
            if c.op == "ramp" and abs(c.level - start) > 1e-3:
                assert c.duration_ms > 0
                assert abs(c.level - start) * 1000 / c.duration_ms <= act.max_slew * (1 + 1e-6)
            if c.op == "set" and act.kind != "heater":
                assert abs(c.level - start) <= 1e-3
            if c.op == "wave":
                assert low <= min(c.low, c.high) and max(c.low, c.high) <= cap
                assert abs(start - c.low) <= 1e-3
                shape = codes.SHAPE_TRIANGLE if c.shape == "triangle" else codes.SHAPE_SINE
                assert wf.wave_max_slope(shape, c.low, c.high, c.hz) <= act.max_slew * (1 + 1e-6)
            if c.op == "off" and act.kind != "heater":
                assert abs(start) <= 1e-3
            if c.op == "heat":
                assert act.kind == "heater"
                assert act.max_temp_c is not None and c.target_c <= act.max_temp_c
        for k in range(101):
            level = timeline.level_at(stream.duration_ms * k / 100)
            assert low - 1e-9 <= level <= cap


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=items(),
    rig_name=st.sampled_from(sorted(RIGS)),
    intensity=st.floats(0.0, 1.0),
)
def test_any_valid_profile_compiles_inside_the_envelope(
    steps: list[dict[str, Any]], rig_name: str, intensity: float
) -> None:
    rig = RIGS[rig_name]
    profile = api.profile_from_data({"name": "generated", "steps": steps})
    try:
        stream = api.compile_stream(profile, rig, intensity=intensity, session_cap_ms=CAP_MS)
    except InputError as exc:
        unreachable = all(
            "reaches zone" in p.message or p.message.startswith("nothing of") for p in exc.problems
        )
        assume(not unreachable)
        raise
    check_envelope(stream, rig)
    # an optional step the rig cannot reach at all takes no time; nothing else changes it
    assert stream.duration_ms <= profile.total_ms <= CAP_MS
    if not any(s.skipped for s in stream.steps):
        assert stream.duration_ms == profile.total_ms
    assert stream.intensity == intensity


BUNDLED = {
    name: (bundled.find("profiles", name) or Path()).read_text() for name in api.bundled_profiles()
}
JUNK = st.text(
    alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#%@`,? \n\t0123456789abcxyz$.")), max_size=12
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = BUNDLED[draw(st.sampled_from(sorted(BUNDLED)))]
    for _ in range(draw(st.integers(1, 3))):
        lines = text.splitlines(keepends=True)
        where = draw(st.integers(0, max(len(text) - 1, 0)))
        action = draw(st.sampled_from(["insert", "delete", "replace_line", "swap", "dup"]))
        if action == "insert":
            text = text[:where] + draw(JUNK) + text[where:]
        elif action == "delete":
            text = text[:where] + text[where + draw(st.integers(1, 40)) :]
        elif lines:
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if action == "replace_line":
                lines[i] = draw(JUNK) + "\n"
            elif action == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(i, lines[j])
            text = "".join(lines)
    return text


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the mutants (pytest's, cleaned like every tmp_path)."""
    return tmp_path_factory.mktemp("mutations")


@settings(max_examples=150, deadline=None)
@given(text=mutated())
def test_any_mutated_bundled_profile_loads_or_gives_a_located_error(work: Path, text: str) -> None:
    path = work / "mutant.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        profile = api.load_profile(path)
    except InputError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.line >= 1 and problem.col >= 1
            assert problem.message
        return
    try:
        api.compile_stream(profile, RIGS["reference"], session_cap_ms=CAP_MS)
    except MassagerError as exc:
        assert str(exc)
