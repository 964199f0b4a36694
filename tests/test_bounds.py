"""Bounded answers (issue 8): the work validate and compile do is bounded by their input.

These tests measure work done (documents parsed, steps placed, values converted,
memory allocated), never wall-clock time; the 5 s / 500 MB figures are in
bench/bench_bounds.py and docs/performance.md.
"""

from __future__ import annotations

import struct
import tracemalloc
from itertools import pairwise
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import codec
from massager import api, bundled, yamlio
from massager.cli import run
from massager.compiler import assemble, bounds
from massager.errors import InputError
from massager.profile import includes, loader
from massager.rig.model import MIN_SLEW
from massager.stream import StepInfo
from massager.ui.thin import MAX_DRAWN_STEPS, drawn_steps

BOUNDS = Path(__file__).parent / "data" / "bounds"


def _never(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError("this work should never have started")


def _fanout(folder: Path, levels: int, width: int) -> Path:
    """`levels` files, each including the next `width` times, over a 1 ms rest."""
    for i in range(levels):
        text = "steps:\n" + f"  - include: f{i + 1}\n" * width
        (folder / f"f{i}.yaml").write_text(text)
    (folder / f"f{levels}.yaml").write_text("steps:\n  - {technique: rest, duration: 1ms}\n")
    return folder / "f0.yaml"


def test_an_include_fan_out_parses_and_builds_each_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = _fanout(tmp_path, 5, 6)  # 6**5 = 7,776 included rests
    built: list[str] = []
    real = loader._Builder.build

    def counting(self: loader._Builder, *args: object, **kwargs: object) -> object:
        built.append(self.doc.path)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(loader._Builder, "build", counting)
    before = yamlio.parses
    profile = api.load_profile(top)
    assert yamlio.parses - before == 6
    assert len(built) == 6
    assert profile.expanded_steps == 6**5
    assert profile.total_ms == 6**5


def test_a_file_included_with_other_set_values_is_built_again_but_parsed_once(
    tmp_path: Path,
) -> None:
    (tmp_path / "part.yaml").write_text(
        "params: {long: 1s}\nsteps:\n  - {technique: rest, duration: $long}\n"
    )
    (tmp_path / "top.yaml").write_text(
        "steps:\n"
        "  - {include: part, set: {long: 2s}}\n"
        "  - {include: part, set: {long: 3s}}\n"
        "  - {include: part, set: {long: 2s}}\n"
    )
    before = yamlio.parses
    profile = api.load_profile(tmp_path / "top.yaml")
    assert yamlio.parses - before == 2
    assert profile.total_ms == 7000


def test_include_builds_are_limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(includes, "MAX_INCLUDE_BUILDS", 3)
    (tmp_path / "part.yaml").write_text(
        "params: {long: 1s}\nsteps:\n  - {technique: rest, duration: $long}\n"
    )
    lines = [f"  - {{include: part, set: {{long: {n}s}}}}\n" for n in range(1, 6)]
    (tmp_path / "top.yaml").write_text("steps:\n" + "".join(lines))
    with pytest.raises(InputError) as info:
        api.load_profile(tmp_path / "top.yaml")
    message = (
        "includes build more than 3 different profiles "
        "(a file included with other set: values counts again); refusing to go on"
    )
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path / 'top.yaml'}:{line}:15: {message}" for line in (5, 6)
    ]


def test_a_bad_set_value_is_located_at_each_include_that_gives_it(tmp_path: Path) -> None:
    (tmp_path / "part.yaml").write_text(
        "params: {n: 1}\nsteps:\n  - {technique: rest, duration: 1s}\n"
    )
    (tmp_path / "top.yaml").write_text(
        "steps:\n  - {include: part, set: {m: 2}}\n  - {include: part, set: {m: 2}}\n"
    )
    with pytest.raises(InputError) as info:
        api.load_profile(tmp_path / "top.yaml")
    assert [(p.line, p.col) for p in info.value.problems] == [(2, 27), (3, 27)]


@pytest.mark.parametrize(
    ("argv", "parses"),
    [
        (["validate", "rig.yaml"], 1),
        (["validate", "profile.yaml"], 2),  # the profile, and the bundled rig it compiles for
    ],
)
def test_validate_parses_each_file_once(
    argv: list[str], parses: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    reference = bundled.find("rigs", "reference")
    assert reference is not None
    (tmp_path / "rig.yaml").write_bytes(reference.read_bytes())
    (tmp_path / "profile.yaml").write_text("steps:\n  - {technique: rub, duration: 1m}\n")
    before = yamlio.parses
    assert run(argv) == 0
    assert yamlio.parses - before == parses


def test_nested_repeats_are_refused_before_any_step_is_placed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    profile = api.load_profile(BOUNDS / "repeat_nested.yaml")
    monkeypatch.setattr(assemble._Builder, "place_all", _never)
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"1,048,576 steps, more than the 50,000"):
            api.compile_stream(profile, api.load_rig())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # the refusal costs what the file costs, not the million steps


def test_the_step_limit_blames_the_repeat_that_multiplies_past_it() -> None:
    inner = {"repeat": 1000, "steps": [{"technique": "rest", "duration": "1ms"}]}
    profile = api.profile_from_data(
        {"steps": [{"technique": "rest", "duration": "1s"}, {"repeat": 60, "steps": [inner]}]}
    )
    with pytest.raises(InputError) as info:
        api.compile_stream(profile, api.load_rig(), session_cap_ms=3_600_000)
    assert str(info.value) == (
        "<data>:1:1: repeat 60 x 1,000 steps = 60,000 steps, more than the 50,000 "
        "steps a profile may compile into"
    )


def test_a_stream_is_refused_at_the_step_that_passes_the_command_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bounds, "MAX_COMMANDS", 40)
    path = tmp_path / "many.yaml"
    path.write_text("steps:\n" + "  - {technique: knead, duration: 10s}\n" * 20)
    with pytest.raises(InputError) as info:
        api.compile_stream(api.load_profile(path), api.load_rig())
    message = str(info.value)
    assert message.startswith(f"{path}:")
    assert "the stream passes 40 commands here" in message


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["compile", "quick", "--session-cap", "9" * 400 + "s"],
            "--session-cap: duration '999999999999999...' (401 characters) is too long: "
            "the longest is 24h",
        ),
        (
            ["compile", "quick", "--session-cap", "25h"],
            "--session-cap: duration '25h' is too long: the longest is 24h",
        ),
    ],
)
def test_unrepresentable_options_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_an_unrepresentable_set_value_is_a_usage_error_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("params: {long: 1m}\nsteps:\n  - {technique: rub, duration: $long}\n")
    assert run(["compile", str(path), "--set", "long=" + "9" * 400 + "s"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("--set long=9999")
    assert "is too long: the longest is 24h" in err
    assert "Traceback" not in err


ACTUATOR = {
    "id": "left_roller",
    "kind": "roller",
    "foot": "left",
    "reaches": ["sole"],
    "bindings": {"serial": {"channel": 0}},
}


@settings(max_examples=60, deadline=None)
@given(
    max_level=st.floats(0.0, 1.0),
    slew=st.floats(MIN_SLEW, 100.0),
    max_on_s=st.integers(1, 24 * 3600),
    watchdog=st.integers(20, 5000),
)
def test_every_rig_that_loads_fits_the_wire(
    max_level: float, slew: float, max_on_s: int, watchdog: int
) -> None:
    act = {**ACTUATOR, "max_level": max_level, "max_slew": slew, "max_on": f"{max_on_s}s"}
    rig = api.rig_from_data({"name": "r", "actuators": [act], "watchdog_ms": watchdog})
    payload = codec.encode_config_channel(0, *rig.actuators[0].device_limits())
    decoded = codec.decode_config_channel(payload)
    assert decoded[5] == max_on_s * 1000
    assert decoded[4] > 0.0  # the slew survives float32: never a zero (a stuck output)
    longest_ramp_us = (2.0 / decoded[4] + 0.002) * 1e6  # -1 to 1, with the compiler's margin
    assert longest_ramp_us < 2**32
    assert codec.decode_config_begin(codec.encode_config_begin(0, rig.watchdog_ms))[1] == watchdog


def test_a_rig_field_too_wide_for_the_wire_is_refused_at_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the field bounds keep every value inside the wire; the codec check is the backstop
    def too_narrow(*args: object) -> bytes:
        raise struct.error("'I' format requires 0 <= number <= 4294967295")

    monkeypatch.setattr(codec, "encode_config_channel", too_narrow)
    with pytest.raises(InputError, match="its limits cannot travel in the device's configuration"):
        api.rig_from_data({"name": "r", "actuators": [ACTUATOR]})


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_the_alias_count_finds_the_value_the_converter_would_refuse(data: st.DataObject) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yamlio, "MAX_NODES", data.draw(st.integers(5, 60)))
        _compare_alias_count(data)


def _compare_alias_count(data: st.DataObject) -> None:
    lines = ["a: &a [1, 2]"]
    names = ["a"]
    for i in range(data.draw(st.integers(1, 5))):
        name = f"n{i}"
        refs = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4))
        extra = data.draw(st.lists(st.integers(0, 9), max_size=3))
        items = [f"*{r}" for r in refs] + [str(x) for x in extra]
        lines.append(f"{name}: &{name} [{', '.join(items)}]")
        names.append(name)
    text = "\n".join(lines) + "\n"
    node = yamlio.yaml.compose(text, Loader=yamlio._LOADER)
    fast = yamlio._first_value_past_limit(node)
    converter = yamlio._Converter("t")
    try:
        converter.convert(node, ())
    except InputError as exc:
        assert fast is not None
        assert (exc.problems[0].line, exc.problems[0].col) == yamlio._mark(fast)
    else:
        assert fast is None


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 5000), min_size=1, max_size=1500),
    tracks=st.integers(1, 3),
)
def test_a_picture_draws_a_bounded_number_of_step_boxes(lengths: list[int], tracks: int) -> None:
    steps: list[StepInfo] = []
    t = dict.fromkeys(range(tracks), 0)
    for i, length in enumerate(lengths):
        track = i % tracks
        steps.append(StepInfo(i, f"s{i}", "rub", ("sole",), t[track], t[track] + length, track))
        t[track] += length
    duration = max(t.values())
    drawn, note = drawn_steps(steps, duration)
    assert len(drawn) <= (MAX_DRAWN_STEPS + 1) * tracks
    assert (note == "") == (drawn == steps)
    for track in range(tracks):  # each track still covers the same time, in order
        mine = [s for s in drawn if s.track == track]
        theirs = [s for s in steps if s.track == track]
        if not theirs:
            continue
        assert mine[0].start_ms == theirs[0].start_ms
        assert mine[-1].end_ms == theirs[-1].end_ms
        assert all(a.end_ms == b.start_ms for a, b in pairwise(mine))


def test_a_plot_of_thousands_of_steps_stays_a_picture(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from massager.ui import plot

    steps = [{"technique": "rest", "duration": "100ms"}] * 5000
    stream = api.compile_stream(api.profile_from_data({"steps": steps}), api.load_rig())
    labelled: list[StepInfo] = []
    real = plot._step_label

    def counting(step: StepInfo, width_pt: float, fontsize: float) -> str:
        labelled.append(step)
        return real(step, width_pt, fontsize)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plot, "_step_label", counting)
        path = plot.plot_timeline(stream, tmp_path / "many.png")
    assert len(labelled) <= MAX_DRAWN_STEPS + 1  # steps drawn, not the 5,000 of the profile
    with path.open("rb") as png:  # the notes list is capped: the picture stays page-sized
        height = struct.unpack(">II", png.read(24)[16:24])[1]
    assert height < 1200
