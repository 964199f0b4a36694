"""Invariants of the warning channel, over generated steps, rigs and user intensities."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from massager import api

RIGS = {name: api.load_rig(name) for name in api.bundled_rigs()}
TECHNIQUES = ["rub", "knead", "toe_work", "point_press", "heel_press", "achilles", "vibrate"]
ZONES = {"toe_work": ["toes"], "heel_press": ["heel"], "achilles": ["achilles", "calf"]}


@st.composite
def steps(draw: st.DrawFn) -> dict[str, Any]:
    technique = draw(st.sampled_from(TECHNIQUES))
    step: dict[str, Any] = {
        "technique": technique,
        "duration": f"{draw(st.integers(1, 40))}s",
        "intensity": draw(st.floats(0.0, 1.0)),
        "zones": ZONES.get(technique, ["sole"]),
        "optional": True,
    }
    if technique in ("rub", "knead", "achilles", "vibrate"):
        step["frequency"] = f"{draw(st.floats(0.1, 8.0)):.2f}Hz"
    return step


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    step=steps(),
    rig=st.sampled_from(sorted(RIGS)),
    intensity=st.floats(0.0, 1.0),
)
def test_no_step_is_silent_or_slowed_without_a_warning(
    step: dict[str, Any], rig: str, intensity: float
) -> None:
    profile = api.profile_from_data({"steps": [step, {"technique": "rest", "duration": "1s"}]})
    stream = api.compile_stream(profile, RIGS[rig], intensity=intensity)
    warned = {(w.step, w.kind) for w in stream.warnings}
    moved = any(c.step == 0 and c.op != "off" for c in stream.commands)
    if not moved:  # stillness is always explained
        assert warned & {(1, "nothing"), (1, "skipped"), (1, "dropped")}, stream.warnings
    asked = float(step.get("frequency", "0Hz")[:-2])
    per_wave = asked / 2 if step["technique"] in ("rub", "knead") else asked
    waves = [c for c in stream.commands if c.op == "wave"]
    if any(c.hz < round(per_wave, 4) - 1e-4 for c in waves):
        assert (1, "slowed") in warned
    assert all(1 <= (w.step or 1) <= len(stream.steps) for w in stream.warnings)
