"""Profile loading: bundled profiles, params and --set, includes, blocks, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from massager import api
from massager.errors import InputError, UsageError
from massager.profile import loader
from massager.profile.model import Heat, Include, Parallel, Repeat, Rub, iter_steps

BRIEF_TECHNIQUES = {
    "rub",
    "toe_work",
    "point_press",
    "heel_press",
    "roller_pass",
    "knead",
    "achilles",
    "ankle_circles",
    "pebble_walk",
    "vibrate",
    "heat",
    "rest",
}


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_bundled_profiles_load_and_cover_every_technique() -> None:
    names = api.bundled_profiles()
    assert len(names) >= 8
    for required in (
        "classic",
        "warmup",
        "toe-care",
        "heel-relief",
        "roller-passes",
        "pebble-walk",
        "deep-knead",
        "quick",
    ):
        assert required in names
    used: set[str] = set()
    for name in names:
        profile = api.load_profile(name)
        assert profile.name == name
        assert profile.description
        used.update(profile.techniques())
    assert used == BRIEF_TECHNIQUES


def test_classic_follows_the_articles_order() -> None:
    classic = api.load_profile("classic")
    assert classic.techniques() == [
        "rub",
        "toe_work",
        "point_press",
        "heel_press",
        "achilles",
        "ankle_circles",
        "knead",
        "rest",
    ]
    assert classic.duration_ms == 13 * 60_000


def test_bundled_durations_and_shapes() -> None:
    assert api.load_profile("quick").duration_ms == 5 * 60_000
    pebbles = api.load_profile("pebble-walk")
    assert 9 * 60_000 <= pebbles.duration_ms <= 11 * 60_000
    walk = [s for s in iter_steps(pebbles.steps) if s.technique == "pebble_walk"]
    assert walk[0].feet == "alternate"
    knead = api.load_profile("deep-knead")
    block = knead.steps[0]
    assert isinstance(block, Parallel)
    assert any(isinstance(track, Heat) for track in block.parallel)


def test_step_defaults_and_units() -> None:
    profile = api.profile_from_data({"steps": [{"technique": "rub", "duration": "1m30s"}]})
    step = profile.steps[0]
    assert isinstance(step, Rub)
    assert (step.duration_ms, step.intensity, step.zones, step.feet) == (
        90_000,
        0.4,
        ("sole",),
        "both",
    )
    assert step.frequency == 1.5
    assert not step.optional
    assert profile.name == "profile"


def test_block_durations_are_computed_without_expanding() -> None:
    profile = api.profile_from_data(
        {
            "steps": [
                {"technique": "rub", "duration": "1m"},
                {
                    "repeat": 3,
                    "steps": [
                        {"technique": "knead", "duration": "30s"},
                        {"technique": "rest", "duration": "10s"},
                    ],
                },
                {
                    "parallel": [
                        {"technique": "heat", "duration": "2m"},
                        {"steps": [{"technique": "knead", "duration": "90s"}]},
                    ]
                },
            ]
        }
    )
    repeat = profile.steps[1]
    assert isinstance(repeat, Repeat)
    assert repeat.once_ms == 40_000
    assert profile.total_ms == 60_000 + 120_000 + 120_000


def test_params_substitute_and_set_overrides_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        "params:\n  strength: 0.6\n  long: 2m\n  hot: 41C\n"
        "steps:\n"
        "  - {technique: knead, duration: $long, intensity: $strength}\n"
        "  - {technique: heat, duration: 1m, target: $hot}\n",
    )
    profile = loader.load(path)
    assert profile.steps[0].intensity == 0.6  # type: ignore[union-attr]
    assert profile.steps[0].duration_ms == 120_000  # type: ignore[union-attr]
    changed = loader.with_params(profile, {"strength": "0.3", "long": "5m", "hot": "39C"})
    assert changed.steps[0].intensity == 0.3  # type: ignore[union-attr]
    assert changed.total_ms == 360_000
    assert changed.steps[1].target_c == 39.0  # type: ignore[union-attr]
    assert profile.steps[0].intensity == 0.6  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ({"nope": "1"}, "--set nope=1: the profile has no param 'nope'; its params: hot, strength"),
        ({"strength": "strong"}, "--set strength=strong: strength is a number (default 0.6)"),
    ],
)
def test_bad_set_options_are_usage_errors(
    tmp_path: Path, sets: dict[str, str], message: str
) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        "params: {strength: 0.6, hot: 40C}\nsteps:\n  - {technique: knead, duration: 1m}\n",
    )
    with pytest.raises(UsageError) as info:
        loader.load(path, params=sets)
    assert str(info.value).startswith(message)


def test_a_set_value_out_of_range_is_a_usage_error_pointing_at_its_use(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        "params: {strength: 0.6}\nsteps:\n"
        "  - {technique: knead, duration: 1m, intensity: $strength}\n",
    )
    with pytest.raises(UsageError) as info:
        loader.load(path, params={"strength": "1.4"})
    assert str(info.value) == (
        f"--set strength=1.4: intensity 1.4 is outside 0..1 "
        f"(where the profile uses strength, at {path}:3:49)"
    )


def test_a_param_default_out_of_range_stays_a_located_input_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        "params: {strength: 1.4}\nsteps:\n"
        "  - {technique: knead, duration: 1m, intensity: $strength}\n",
    )
    with pytest.raises(InputError) as info:
        loader.load(path)
    assert str(info.value) == f"{path}:3:49: intensity 1.4 is outside 0..1 (param strength = 1.4)"


def test_parse_set_options() -> None:
    assert loader.parse_set_options(["a=1", " b = x=y "]) == {"a": "1", "b": "x=y"}
    assert loader.parse_set_options(None) == {}
    for bad in ("novalue", "=3"):
        with pytest.raises(UsageError, match="NAME=VALUE"):
            loader.parse_set_options([bad])


def test_includes_from_the_own_folder_a_subfolder_and_the_bundle(tmp_path: Path) -> None:
    write(tmp_path, "parts/warm.yaml", "steps:\n  - {technique: rub, duration: 30s}\n")
    write(
        tmp_path,
        "sub.yaml",
        "params: {n: 2}\nsteps:\n  - {technique: toe_work, duration: 1m, strokes: $n}\n",
    )
    main = write(
        tmp_path,
        "main.yaml",
        "steps:\n"
        "  - include: parts/warm.yaml\n"
        "  - include: sub\n"
        "    set: {n: 5}\n"
        "  - include: quick\n",
    )
    profile = loader.load(main)
    assert [type(s) for s in profile.steps] == [Include, Include, Include]
    sub = profile.steps[1]
    assert isinstance(sub, Include)
    assert sub.profile.steps[0].strokes == 5  # type: ignore[union-attr]
    assert profile.total_ms == 30_000 + 60_000 + api.load_profile("quick").total_ms
    assert "toe_work" in profile.techniques()


def test_include_set_errors_point_at_the_including_file(tmp_path: Path) -> None:
    write(tmp_path, "sub.yaml", "params: {n: 2}\nsteps:\n  - {technique: rest, duration: 1m}\n")
    main = write(tmp_path, "main.yaml", "steps:\n  - include: sub\n    set: {m: 5}\n")
    with pytest.raises(InputError) as info:
        loader.load(main)
    assert str(info.value) == f"{main}:3:11: the profile has no param 'm'; its params: n"


def test_include_by_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = write(
        tmp_path, "outside/secret.yaml", "steps:\n  - {technique: rest, duration: 1m}\n"
    )
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "link.yaml").symlink_to(outside)
    main = write(folder, "main.yaml", "steps:\n  - include: link\n")
    with pytest.raises(InputError, match="escapes the allowed folders"):
        loader.load(main)


def test_self_include_is_a_cycle(tmp_path: Path) -> None:
    main = write(tmp_path, "me.yaml", "steps:\n  - include: me\n")
    with pytest.raises(InputError) as info:
        loader.load(main)
    assert str(info.value) == f"{main}:2:14: include cycle: me.yaml -> me.yaml"


def test_independent_problems_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        "bogus: 1\n"
        "steps:\n"
        "  - {technique: rub, duration: 1m, intensity: 3}\n"
        "  - repeat: 0\n"
        "    steps:\n"
        "      - {technique: knead, duration: 5}\n"
        "  - {parallel: [{technique: rest, duration: 1s}]}\n"
        "  - 42\n"
        "  - {name: nothing}\n",
    )
    with pytest.raises(InputError) as info:
        loader.load(path)
    lines = str(info.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        f"{path}:1:1",
        f"{path}:3:47",
        f"{path}:6:38",
        f"{path}:4:13",
        f"{path}:7:16",
        f"{path}:8:5",
        f"{path}:9:5",
    ]
    assert "unknown field 'bogus'" in lines[0]
    assert "repeat: input should be greater than or equal to 1" in lines[3]
    assert lines[4].endswith("parallel: list should have at least 2 items, not 1")
    assert "this entry has no 'technique'" in lines[6]


def test_profile_name_defaults_to_a_cleaned_file_stem(tmp_path: Path) -> None:
    path = write(tmp_path, "My Evening.yaml", "steps:\n  - {technique: rest, duration: 1m}\n")
    assert loader.load(path).name == "my-evening"


def test_the_api_finds_files_and_bundled_names(tmp_path: Path) -> None:
    path = write(tmp_path, "mine.yaml", "steps:\n  - {technique: rest, duration: 1m}\n")
    assert api.load_profile(path).name == "mine"
    assert api.load_profile(str(path)).name == "mine"
    with pytest.raises(InputError, match="no bundled profile of that name; bundled: classic"):
        api.load_profile("no-such")


def test_an_existing_folder_is_named_as_a_folder_not_looked_up_as_a_bundled_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "evening").mkdir()
    monkeypatch.chdir(tmp_path)
    for ref in ("evening", str(tmp_path / "evening"), tmp_path):
        with pytest.raises(InputError) as info:
            api.load_profile(ref)
        assert str(info.value) == f"{ref}:1:1: is a folder, not a profile file"
    with pytest.raises(InputError, match="evening:1:1: is a folder, not a rig file"):
        api.load_rig("evening")
    write(tmp_path, "mine", "steps:\n  - {technique: rest, duration: 1m}\n")
    assert api.load_profile("mine").name == "mine"  # an existing file without a suffix
