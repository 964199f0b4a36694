"""Properties of `curve` steps: any curve compiles inside every limit, or is refused, located.

Random keyframes (times as durations or percents, levels over the whole range),
every interpolation, loops, per-foot offsets, any user intensity, on bundled
rigs and on rigs with random limits (slow slew, high min_level, short max_on).
The compiler's own safety check runs on every stream; the independent oracle
of test_properties_compiler checks it again, and the follower's promises are
checked here: it never holds a level where the motor stalls, never leaves an
output on past max_on, and every compile is deterministic.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties_compiler import check_envelope

from massager import api
from massager.errors import InputError
from massager.rig.model import Rig
from massager.stream import CommandStream, Timeline

BUNDLED = {name: api.load_rig(name) for name in api.bundled_rigs()}


@st.composite
def random_rig(draw: st.DrawFn) -> Rig:
    """Both feet: a roller, an air bladder and a vibration motor on the sole, random limits."""
    entries = []
    channel = 0
    for foot in ("left", "right"):
        for kind in ("roller", "air", "vibration"):
            max_level = draw(st.floats(0.3, 1.0))
            entries.append(
                {
                    "id": f"{foot}_{kind}",
                    "kind": kind,
                    "foot": foot,
                    "reaches": ["sole"],
                    "max_level": max_level,
                    "min_level": draw(st.floats(0.0, min(0.3, max_level))),
                    "max_slew": draw(st.floats(0.2, 20.0)),
                    "max_on": f"{draw(st.integers(2, 600))}s",
                    "bindings": {"serial": {"channel": channel}},
                }
            )
            channel += 1
    return api.rig_from_data({"name": "random", "actuators": entries})


def key_time(cycle_ms: int) -> st.SearchStrategy[tuple[int, str]]:
    """A keyframe time inside the cycle: (ms, as written)."""
    ms = st.integers(0, cycle_ms).map(lambda t: (t, f"{t}ms"))
    pct = st.integers(0, 1000).map(lambda p: (round(p / 1000 * cycle_ms), f"{p / 10:g}%"))
    return st.one_of(ms, pct)


@st.composite
def keyframes(draw: st.DrawFn, cycle_ms: int, low: float) -> list[dict[str, Any]]:
    times = sorted(draw(st.lists(key_time(cycle_ms), min_size=1, max_size=60)))
    return [{"at": text, "level": draw(st.floats(low, 1.0))} for _, text in times]


@st.composite
def curve_step(draw: st.DrawFn) -> dict[str, Any]:
    duration = draw(st.one_of(st.integers(300, 5_000), st.integers(300, 240_000)))
    step: dict[str, Any] = {"technique": "curve", "duration": f"{duration}ms"}
    cycle = duration
    if draw(st.booleans()):
        cycle = draw(st.integers(100, duration))
        step["loop"] = f"{cycle}ms"
    step["interpolation"] = draw(st.sampled_from(["step", "linear", "smooth"]))
    step["feet"] = draw(st.sampled_from(["left", "right", "both"]))
    step["zones"] = draw(st.sampled_from([["sole"], ["heel"], ["arch"], ["toes", "sole"]]))
    step["intensity"] = draw(st.one_of(st.just(1.0), st.floats(0.0, 1.0)))
    if draw(st.booleans()):
        step["offset"] = {"right": f"{draw(st.integers(0, duration - 1))}ms"}
    kinds = draw(st.sets(st.sampled_from(["roller", "air", "vibration"]), min_size=1))
    step["keyframes"] = {k: draw(keyframes(cycle, -1.0 if k == "roller" else 0.0)) for k in kinds}
    step["optional"] = True  # a bundled rig may lack a kind on some zone
    return step


def _check_follower(stream: CommandStream, rig: Rig) -> None:
    """Held levels are 0 or at least min_level; on-time never passes max_on."""
    grouped = stream.by_actuator()
    for act in rig.actuators:
        commands = grouped[act.id]
        timeline = Timeline(commands)
        on_since: float | None = None
        for i, c in enumerate(commands):
            nxt = commands[i + 1].at_ms if i + 1 < len(commands) else None
            if c.op == "ramp":
                arrive = c.at_ms + c.duration_ms
                if nxt is None or nxt > arrive:
                    assert c.level == 0 or abs(c.level) >= act.min_level - 1e-9, (act.id, c)
            start = timeline.start_level(i)
            if on_since is None and (c.op != "off" and (start or c.level)):
                on_since = c.at_ms
            if on_since is not None:
                end = c.at_ms + c.duration_ms
                if c.op in ("ramp", "off") and c.level == 0 and (nxt is None or nxt - end >= 50):
                    assert end - on_since <= act.max_on_ms, (act.id, c, on_since)
                    on_since = None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    step=curve_step(),
    rig=st.one_of(random_rig(), st.sampled_from(sorted(BUNDLED)).map(BUNDLED.__getitem__)),
    intensity=st.floats(0.0, 1.0),
)
def test_any_curve_compiles_inside_every_limit(
    step: dict[str, Any], rig: Rig, intensity: float
) -> None:
    profile = api.profile_from_data(
        {"name": "curve", "steps": [step, {"technique": "rest", "duration": "1s"}]}
    )
    try:
        stream = api.compile_stream(profile, rig, intensity=intensity, session_cap_ms=3_600_000)
    except InputError as exc:  # refused: every problem is located in the profile
        assert all(p.line >= 1 and p.path == "<data>" for p in exc.problems)
        return
    check_envelope(stream, rig)
    _check_follower(stream, rig)
    again = api.compile_stream(profile, rig, intensity=intensity, session_cap_ms=3_600_000)
    assert again.to_jsonl() == stream.to_jsonl()
