"""`massager import`: haptic files become curve profiles; every loss and refusal is located."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from massager import api
from massager.cli import run
from massager.drivers.base import DriverOptions
from massager.drivers.sim import SimDriver
from massager.errors import InputError
from massager.haptic import thin
from massager.haptic.sources import Sample
from massager.runtime.session import Session
from massager.stream import Timeline
from massager.trace import LEVEL_TOLERANCE, read_trace

DATA = Path(__file__).parent / "data" / "haptic"
RIG = api.load_rig("reference")


def test_a_funscript_imports_compiles_and_runs_on_the_simulator(tmp_path: Path) -> None:
    imported, profile = api.import_haptic(DATA / "wave.funscript", RIG, zones=("arch",))
    out = tmp_path / "wave.yaml"
    out.write_text(imported.text)
    again = api.load_profile(out)  # what it wrote reads back as the same profile
    assert again.name == profile.name == "wave"
    stream = api.compile_stream(again, RIG)
    # thinned to what the actuators follow: the compiler slows nothing down
    assert [w.kind for w in stream.warnings if w.kind == "slowed"] == []
    trace_path = tmp_path / "trace.csv"
    driver = SimDriver(RIG, DriverOptions(virtual=True, trace=trace_path))
    assert Session(stream, driver).run().reason == "done"
    trace = read_trace(trace_path)
    # the arch vibration (sensitivity 0.7) follows pos/100 x 0.7, a 3 s sine around 0.5
    actions = json.loads((DATA / "wave.funscript").read_text())["actions"]
    vib = [c for c in stream.commands if c.actuator == "left_arch_vibration"]
    timeline = Timeline(vib)
    for action in actions[4:-4:3]:
        want = action["pos"] / 100 * 0.7
        if want < 0.1:  # below the motor's min_level: run as 0, and said so
            continue
        assert timeline.level_at(action["at"]) == pytest.approx(want, abs=0.03), action
        got = trace.level_at("left_arch_vibration", action["at"])
        assert got == pytest.approx(want, abs=0.03 + LEVEL_TOLERANCE), action
    assert trace.final_levels() == {a.id: 0.0 for a in RIG.actuators}


def test_every_loss_is_reported_at_its_place_in_the_file() -> None:
    imported, _ = api.import_haptic(DATA / "edge.funscript", RIG)
    shown = [str(p).split(": warning: ", 1) for p in imported.problems]
    where = {message: place for place, message in shown}
    name = str(DATA / "edge.funscript")
    assert where["actions[3].pos: pos 130 clamped to 100"] == f"{name}:18:14"
    assert where["actions[4].pos: pos -10 clamped to 0"] == f"{name}:22:14"
    assert where["actions[1]: actions out of time order, sorted"] == f"{name}:8:5"
    assert where["actions[5]: a third point at 3000 ms, left out"] == f"{name}:24:5"
    kinds = {loss.kind for loss in imported.losses}
    assert {"clamped", "sorted", "dropped", "slowed"} <= kinds
    fast = [m for m in where if m.startswith("actions[9]..actions[28]")]
    assert fast and "slowed, changes faster than the vibration can follow" in fast[0]
    stall = [m for m in where if m.startswith("actions[28]..actions[30]")]
    assert stall and "levels below 0.143 run as 0" in stall[0]


@pytest.mark.parametrize("name", ["edge.funscript", "inverted.funscript", "pattern.ahap"])
def test_imported_keyframes_compile_without_being_slowed(name: str) -> None:
    _, profile = api.import_haptic(DATA / name, RIG, zones=("arch",))
    stream = api.compile_stream(profile, RIG)
    assert [str(w) for w in stream.warnings if w.kind == "slowed"] == []


def test_an_ahap_pattern_keeps_its_events_and_drops_what_a_massager_cannot_do() -> None:
    imported, profile = api.import_haptic(DATA / "pattern.ahap", RIG, zones=("arch",))
    messages = [str(p).split(": warning: ", 1)[1] for p in imported.problems]
    assert (
        "Pattern[2].Event.EventParameters[0].ParameterValue: HapticIntensity 1.5 clamped to 1"
        in messages
    )
    assert "Pattern[3].Event: AudioCustom event left out (not haptic)" in messages
    assert "HapticSharpness of 1 event(s) left out: a massager has no sharpness" in messages
    step = profile.steps[0]
    frames = step.keyframes.vibration  # type: ignore[union-attr]
    times = [f.at.value for f in frames]
    levels = [f.level for f in frames]

    def at(t: float) -> float:
        for (t0, v0), (t1, v1) in pairwise(zip(times, levels, strict=True)):
            if t0 <= t <= t1:
                return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1
        return levels[-1]

    assert at(1000) == pytest.approx(0.8, abs=0.03)  # 0.8 x intensity control 1.0
    assert at(500) == pytest.approx(0.8 * 0.6, abs=0.03)  # control halfway from 0.2 to 1.0
    # the stronger of two overlapping events, x the control's last value (0.5), held
    assert at(6500) == pytest.approx(0.9 * 0.5, abs=0.03)
    assert at(7500) == pytest.approx(0.6 * 0.5, abs=0.03)
    assert at(9000) == 0.0


BAD = [
    ("not_json.funscript", "2:14: not JSON: Expecting ',' delimiter"),
    ("wrong_shape.funscript", "2:14: actions: actions must be a list"),
    ("negative_time.funscript", "3:10: actions[1].at: negative time -40"),
    ("nan.funscript", "3:22: NaN is not a number a haptic file may hold"),
    ("string_pos.funscript", "2:20: actions[0].pos: pos must be a number, not '10'"),
    ("empty.funscript", "1:31: actions is empty: nothing to import"),
    ("top_list.funscript", '1:1: not a funscript: expected an object with "actions": [{at, pos}]'),
    ("no_pattern.ahap", '1:1: not an AHAP file: expected an object with "Pattern": [...]'),
    ("negative.ahap", "5:17: Pattern[0].Event.Time: negative time -1.0"),
    (
        "past_the_cap.funscript",
        "2:3: the file runs 1h1ms, longer than the longest session (60m)",
    ),
]


@pytest.mark.parametrize(("name", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_files_give_a_located_error_and_exit_1(
    name: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InputError) as info:
        api.import_haptic(DATA / name, RIG)
    assert str(info.value) == f"{DATA / name}:{message}"
    out = tmp_path / "x.yaml"
    assert run(["import", str(DATA / name), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"{DATA / name}:{message}" and "Traceback" not in err
    assert not out.exists()


def test_a_million_points_are_refused_before_any_work(tmp_path: Path) -> None:
    path = tmp_path / "huge.funscript"
    actions = ",".join(f'{{"at":{i},"pos":50}}' for i in range(1_000_000))
    path.write_text('{"actions":[' + actions + "]}")
    with pytest.raises(InputError, match="1,000,000 actions, more than the 100,000"):
        api.import_haptic(path, RIG)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "heater"], "--kind 'heater': choose one of vibration, air, roller"),
        (["--zones", "knee_back"], "--zones: 'knee_back' is not a zone a step may work on"),
        (["--zones", "calf"], "no vibration of rig 'reference' reaches calf"),
        (["--name", "Bad Name"], "--name 'Bad Name': lower-case letters"),
        (["--tolerance", "0"], "--tolerance 0: give a level from 0.001 to 0.5"),
    ],
)
def test_bad_options_are_usage_errors(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["import", str(DATA / "wave.funscript"), "-o", str(tmp_path / "w.yaml"), *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_the_command_writes_the_profile_and_reports_losses_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "edge.yaml"
    assert run(["import", str(DATA / "edge.funscript"), "-o", str(out), "--name", "edgy"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{DATA / 'edge.funscript'}: 32 points over 12s -> ")
    assert captured.out.strip().endswith(f"wrote {out} (profile edgy)")
    assert all(": warning: " in line for line in captured.err.splitlines())
    assert api.load_profile(out).name == "edgy"
    assert run(["import", str(DATA / "edge.funscript"), "-o", str(tmp_path / "x.txt")]) == 2


@settings(max_examples=60, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.integers(0, 20_000), st.floats(0.0, 1.0)), min_size=1, max_size=60
    ),
    slew=st.floats(0.2, 20.0),
    tolerance=st.floats(0.005, 0.2),
)
def test_thinned_keyframes_stay_within_the_tolerance_of_what_the_actuators_follow(
    points: list[tuple[int, float]], slew: float, tolerance: float
) -> None:
    samples = [Sample(t, v, ()) for t, v in sorted(points)]
    times, _source, response = thin.follow(samples, slew)
    for a, b in pairwise(response):  # the followed course never passes max_slew
        assert abs(b - a) <= slew * thin.GRID_MS / 1000 + 1e-9
    keep = thin.thin(times, response, tolerance)
    assert keep[0] == 0 and keep[-1] == len(times) - 1 and keep == sorted(set(keep))
    for i0, i1 in pairwise(keep):
        for k in range(i0, i1 + 1):
            chord = response[i0] + (response[i1] - response[i0]) * (k - i0) / (i1 - i0)
            assert abs(chord - response[k]) <= tolerance + 1e-9


def test_the_import_examples_of_the_docs_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import re
    import shlex
    import shutil

    doc = (Path(__file__).parents[1] / "docs" / "profiles.md").read_text()
    section = doc.split("### Importing haptic files", 1)[1]
    block = re.search(r"```\n(.*?)```", section, flags=re.S)
    assert block is not None
    lines = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    shutil.copy(DATA / "wave.funscript", tmp_path / "song.funscript")
    shutil.copy(DATA / "pattern.ahap", tmp_path / "tap.ahap")
    shutil.copy(DATA / "edge.funscript", tmp_path / "stroke.funscript")
    monkeypatch.chdir(tmp_path)
    assert len(lines) == 3
    for line in lines:
        args = shlex.split(line)
        assert args[0] == "massager"
        assert run(args[1:]) == 0, capsys.readouterr().err
        written = args[args.index("-o") + 1]
        api.compile_stream(
            api.load_profile(Path(written)),
            api.load_rig(args[args.index("--rig") + 1] if "--rig" in args else None),
        )


def _ahap(tmp_path: Path, *entries: object) -> Path:
    """An AHAP file: a 4 s continuous event at 0.8, then `entries`."""
    event = {"Time": 0.0, "EventType": "HapticContinuous", "EventDuration": 4.0}
    event["EventParameters"] = [{"ParameterID": "HapticIntensity", "ParameterValue": 0.8}]
    path = tmp_path / "control.ahap"
    path.write_text(json.dumps({"Pattern": [{"Event": event}, *entries]}, indent=1))
    return path


def test_intensity_control_as_a_parameter_or_a_curve_scales_the_events(tmp_path: Path) -> None:
    one = {"ParameterID": "HapticIntensityControl", "Time": 2.0, "ParameterValue": 0.5}
    points = [{"Time": 0.0, "ParameterValue": 1.0}, {"Time": 1.0, "ParameterValue": 0.25}]
    curve = {"ParameterID": "HapticIntensityControl", "Time": 2.0}
    other = {"ParameterID": "HapticSharpnessControl", "Time": 0.0, "ParameterValue": 0.1}
    for entry, level in (
        ({"Parameter": one}, 0.8 * 0.5),
        ({"ParameterCurve": {**curve, "ParameterCurveControlPoints": points}}, 0.8 * 0.25),
    ):
        path = _ahap(tmp_path, entry, {"Parameter": other}, {"ParameterCurve": other})
        imported, profile = api.import_haptic(path, RIG, zones=("arch",))
        messages = [str(p).split(": warning: ", 1)[1] for p in imported.problems]
        assert "Pattern[2].Parameter: HapticSharpnessControl left out" in messages
        assert "Pattern[3].ParameterCurve: HapticSharpnessControl curve left out" in messages
        frames = profile.steps[0].keyframes.vibration  # type: ignore[union-attr]
        course = [(f.at.value, f.level) for f in frames]
        for t in (1_000, 3_500):  # before the control, and held after its last point
            want = 0.8 if t < 2_000 else level
            assert _level_at(course, t) == pytest.approx(want, abs=0.03), (t, course)


def _level_at(course: list[tuple[float, float]], t: float) -> float:
    """The level of keyframes (time, level), linear between them, at `t`."""
    for (t0, v0), (t1, v1) in pairwise(course):
        if t0 <= t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1
    return course[-1][1]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"Parameter": 3}, "Pattern[1].Parameter: a parameter must be an object"),
        ({"ParameterCurve": []}, "Pattern[1].ParameterCurve: a parameter curve must be an object"),
        (
            {
                "ParameterCurve": {
                    "ParameterID": "HapticIntensityControl",
                    "ParameterCurveControlPoints": [{"Time": 0, "ParameterValue": 1}, 7],
                }
            },
            "Pattern[1].ParameterCurve.ParameterCurveControlPoints[1]: a control point must be "
            "an object",
        ),
        (
            {"Parameter": {"ParameterID": "HapticIntensityControl", "ParameterValue": 1}},
            "Pattern[1].Parameter.Time",
        ),
    ],
)
def test_bad_intensity_control_is_a_located_error(
    tmp_path: Path, entry: object, message: str
) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        api.import_haptic(_ahap(tmp_path, entry), RIG)
