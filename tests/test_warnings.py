"""The warning channel: whatever the compiler changes of a profile is a located warning."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from compiler_support import actuator, of, one_step, small_rig

from massager import api, bundled
from massager.cli import run
from massager.errors import CompileWarning
from massager.stream import CommandStream


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_classic_on_the_minimal_rig_warns_for_each_skipped_step_and_drops_its_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = api.compile_stream(api.load_profile("classic"), api.load_rig("pi-gpio-minimal"))
    skipped = [s for s in stream.steps if s.skipped]
    assert [s.number for s in skipped] == [5, 6]
    assert stream.duration_ms == 780_000 - 90_000 - 60_000
    assert [(w.kind, w.step) for w in stream.warnings] == [("skipped", 5), ("skipped", 6)]
    first = stream.warnings[0]
    # located at the step's `optional: true` (line 36 of classic.yaml)
    classic = str(bundled.find("profiles", "classic"))  # a path the user can open
    assert (first.path, first.line, first.col) == (classic, 36, 15)
    assert str(first).startswith(
        f"{classic}:36:15: warning: step 5 'Achilles tendon' (achilles): skipped"
    )
    assert run(["validate", "classic", "--rig", "pi-gpio-minimal"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("ok: classic")
    assert captured.err.count(": warning: ") == 2
    assert run(["validate", "classic", "--rig", "pi-gpio-minimal", "--strict"]) == 1
    err = capsys.readouterr().err
    assert f"{classic}:36:15: error: step 5 'Achilles tendon'" in err
    assert "--strict: 2 warning(s) treated as errors" in err


def test_the_stream_header_carries_the_warnings_and_reads_them_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["compile", "classic", "--rig", "pi-gpio-minimal"]) == 0
    captured = capsys.readouterr()
    header = json.loads(captured.out.splitlines()[0])
    assert [w["step"] for w in header["warnings"]] == [5, 6]
    assert header["warnings"][0]["kind"] == "skipped"
    assert header["steps"][4]["skipped"] is True and "skipped" not in header["steps"][0]
    assert captured.err.count(": warning: ") == 2  # stdout stays a clean stream
    again = CommandStream.from_jsonl(captured.out.splitlines())
    assert [str(w) for w in again.warnings] == [
        line for line in captured.err.splitlines() if ": warning: " in line
    ]
    assert run(["compile", "classic", "--rig", "pi-gpio-minimal", "--strict"]) == 1
    assert capsys.readouterr().out == ""


def test_bundled_profiles_on_the_rigs_they_fit_pass_strict() -> None:
    for name in api.bundled_profiles():
        for rig in ("reference", "pico-serial"):
            stream = api.compile_stream(api.load_profile(name), api.load_rig(rig))
            assert stream.warnings == (), (name, rig, [str(w) for w in stream.warnings])


def test_a_wave_slowed_for_the_slew_is_one_warning_at_the_frequency_field(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        "steps:\n"
        "  - technique: rub\n"
        "    zones: [heel, arch]\n"
        "    feet: left\n"
        "    duration: 30s\n"
        "    intensity: 0.8\n"
        "    frequency: 3Hz\n",
    )
    stream = api.compile_stream(api.load_profile(path), small_rig())
    (warning,) = stream.warnings
    assert (warning.line, warning.col, warning.kind) == (7, 16, "slowed")
    assert warning.actuator == "left_heel"  # the faster-swinging one limits the step
    assert warning.asked == "3Hz" and float(warning.applied.rstrip("Hz")) < 3
    waves = [of(stream, a, "wave")[0] for a in ("left_heel", "left_arch")]
    assert waves[0].hz == waves[1].hz == pytest.approx(float(warning.applied[:-2]) / 2, 1e-3)


def test_a_level_above_max_level_is_lowered_with_a_warning() -> None:
    rig = api.rig_from_data(
        {"name": "low", "actuators": [actuator("left_heel", "roller", ["heel"], 0, max_level=0.5)]}
    )
    stream = one_step({"technique": "point_press", "zones": "heel", "duration": "10s"}, rig)
    (warning,) = stream.warnings
    assert (warning.kind, warning.actuator, warning.asked, warning.applied) == (
        "lowered",
        "left_heel",
        "0.7",
        "0.5",
    )
    assert "(limit: max_level 0.5)" in warning.message


def test_a_level_below_min_level_is_left_out_and_a_silent_step_says_so() -> None:
    stream = one_step(
        {"technique": "rub", "zones": "heel", "duration": "10s", "intensity": 0.05}, small_rig()
    )
    kinds = {w.kind for w in stream.warnings}
    assert kinds == {"nothing", "dropped"}
    dropped = next(w for w in stream.warnings if w.kind == "dropped")
    assert "below min_level 0.1" in dropped.message and dropped.actuator == "left_heel"


def test_achilles_slows_down_rather_than_getting_weaker() -> None:
    stream = one_step(
        {"technique": "achilles", "zones": "calf", "duration": "20s", "frequency": "2Hz"}
    )
    peaks = {c.level for c in of(stream, "left_calf", "ramp") if c.level}
    assert peaks == {round(0.6 * 0.8, 4)}  # the full level, every squeeze
    (warning,) = stream.warnings
    assert warning.kind == "slowed" and warning.asked == "2Hz"
    assert float(warning.applied[:-2]) < 2


def test_repeated_rounds_give_one_warning_listing_every_step_number() -> None:
    profile = api.profile_from_data(
        {
            "steps": [
                {
                    "repeat": 2,
                    "steps": [
                        {"technique": "rest", "duration": "1s"},
                        {"technique": "heat", "duration": "5s", "optional": True},
                    ],
                }
            ]
        }
    )
    stream = api.compile_stream(profile, api.load_rig("pi-gpio-minimal"))
    (warning,) = stream.warnings
    assert warning.message.startswith("steps 2, 4 'heat' (heat): skipped")


def test_warning_json_round_trip() -> None:
    warning = CompileWarning(
        "a.yaml", 3, 5, "step 1 'x' (rub): slowed", "slowed", 1, "r", "2Hz", "1Hz"
    )
    assert CompileWarning.from_json(warning.to_json()) == warning


def test_a_session_never_announces_a_skipped_step_and_keeps_the_numbers() -> None:
    from dataclasses import replace

    from fake_driver import FakeDriver
    from fake_driver import stream as fake_stream

    from massager.runtime.events import EventBus, Recorder, StepStarted
    from massager.runtime.session import Session
    from massager.stream import StepInfo

    played = fake_stream()
    air = StepInfo(1, "air", "ankle_circles", ("ankle",), 1500, 1500, 0, skipped=True)
    played.steps = [played.steps[0], air, replace(played.steps[1], index=2)]
    played.commands = [replace(c, step=2) if c.step == 1 else c for c in played.commands]
    bus = EventBus()
    recorder = Recorder(bus)
    assert Session(played, FakeDriver(), bus=bus).run().reason == "done"
    started = recorder.of(StepStarted)
    assert [(e.step.number, e.count) for e in started] == [(1, 3), (3, 3)]


def test_run_and_simulate_strict_refuse_warnings_before_any_device_is_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = tmp_path / "no-such-port"  # opening it would fail: exit 3
    trace = tmp_path / "trace.csv"
    device = f"serial:{port}"
    args = ["classic", "--rig", "pi-gpio-minimal", "--trace", str(trace)]
    assert run(["run", *args, "--device", device]) == 3  # warned, then the device was tried
    assert capsys.readouterr().err.count(": warning: step ") == 2
    assert run(["run", *args, "--device", device, "--strict"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "--strict: 2 warning(s) treated as errors" in captured.err
    assert ": error: step 5 'Achilles tendon'" in captured.err
    assert str(port) not in captured.err and not trace.exists()
    assert run(["simulate", *args, "--strict"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "--strict: 2 warning(s) treated as errors" in captured.err
    assert not trace.exists()
    assert run(["simulate", "classic", "--strict"]) == 0  # nothing to warn about on reference
    assert capsys.readouterr().out.startswith("classic on reference: done")


def _bundled_table() -> dict[str, str]:
    """The rows of docs/profiles.md's table of bundled profiles' warnings on pi-gpio-minimal."""
    doc = (Path(__file__).parents[1] / "docs" / "profiles.md").read_text()
    section = doc.split("## The bundled profiles on each rig", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z-]+)` \| (.*?) \|", section, flags=re.M)
    return dict(rows)


def test_every_warning_of_a_bundled_profile_is_explained_in_the_docs() -> None:
    table = _bundled_table()
    warned = {}
    for name in api.bundled_profiles():
        stream = api.compile_stream(api.load_profile(name), api.load_rig("pi-gpio-minimal"))
        if stream.warnings:
            warned[name] = stream.warnings
    assert set(warned) == set(table)
    for name, warnings in warned.items():
        for warning in warnings:
            step = _step_label(warning)
            assert warning.kind in table[name] and f"step {warning.step} {step}" in table[name], (
                name,
                str(warning),
            )


def _step_label(warning: CompileWarning) -> str:
    """`'label'` of the step a warning is about, as its message names it."""
    match = re.match(r"steps? [\d, ]+ ('[^']*')", warning.message)
    assert match, warning.message
    return match.group(1)
