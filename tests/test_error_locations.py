"""Every error points at its cause in the file the user named, and suggests the right word."""

from __future__ import annotations

from pathlib import Path

import pytest
from compiler_support import actuator

from massager import api
from massager.cli import run
from massager.errors import InputError, SafetyError, UsageError


def _file(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _problems(call: object, *args: object) -> list[str]:
    with pytest.raises(InputError) as info:
        call(*args)  # type: ignore[operator]
    return [str(p) for p in info.value.problems]


def test_heat_time_adding_up_names_the_step_that_pushed_it_over(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "steps:\n"
        "  - {technique: heat, duration: 12m, feet: left}\n"
        "  - {technique: rest, duration: 10s}\n"
        "  - name: second heat\n"
        "    technique: heat\n"
        "    feet: left\n"
        "    duration: 12m\n",
    )
    with pytest.raises(SafetyError) as info:
        api.compile_stream(api.load_profile(path), api.load_rig(), session_cap_ms=3_600_000)
    assert str(info.value).startswith(f"{path}:7:15: step 3 'second heat' (heat): left_sole_heater")
    assert "this step takes it past the limit (limit: heat_max 20m)" in str(info.value)


def test_a_heat_target_over_the_cap_points_at_the_target(tmp_path: Path) -> None:
    path = _file(tmp_path, "steps:\n  - technique: heat\n    duration: 1m\n    target: 44C\n")
    with pytest.raises(SafetyError, match=rf"^{path}:4:13: step 1 'heat' \(heat\)"):
        api.compile_stream(api.load_profile(path), api.load_rig())


def test_every_bad_zone_of_a_list_is_reported_with_a_suggestion(tmp_path: Path) -> None:
    path = _file(
        tmp_path, "steps:\n  - technique: rub\n    zones: [heal, sole, toez]\n    duration: 1m\n"
    )
    problems = _problems(api.load_profile, path)
    assert problems[0].startswith(f"{path}:3:13: unknown zone 'heal' (did you mean 'heel'?)")
    assert problems[1].startswith(f"{path}:3:25: unknown zone 'toez' (did you mean 'toes'?)")


def test_an_unreachable_zone_points_at_that_zone_in_the_list(tmp_path: Path) -> None:
    path = _file(
        tmp_path, "steps:\n  - technique: heel_press\n    zones: [heel, calf]\n    duration: 1m\n"
    )
    problems = _problems(
        api.compile_stream, api.load_profile(path), api.load_rig("pi-gpio-minimal")
    )
    assert problems == [
        f"{path}:3:19: step 1 'heel_press' (heel_press): no roller or air on either foot of rig "
        "'pi-gpio-minimal' reaches zone 'calf' (add optional: true to skip it there)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "  - {technique: kneed, duration: 1m}\n",
            "unknown technique 'kneed' (did you mean 'knead'?)",
        ),
        ("  - {technique: rub, duration: 90sec}\n", "'90sec' (did you mean '90s'?)"),
        ("  - {technique: rub, duration: 1m, frequency: 2hz}\n", "'2hz' (did you mean '2Hz'?)"),
        ("  - {technique: heat, duration: 1m, target: 40c}\n", "'40c' (did you mean '40C'?)"),
        (
            "  - {technique: rub, duration: 1m, intensty: 0.3}\n",
            "'intensty' (did you mean 'intensity'?)",
        ),
        ("  - {technique: rub, duration: 1m, feet: bth}\n", "(got 'bth') (did you mean 'both'?)"),
        ("  - {techniqe: rub, duration: 1m}\n", "(did you mean 'technique'?)"),
    ],
)
def test_did_you_mean_for_profile_words(tmp_path: Path, text: str, expected: str) -> None:
    path = _file(tmp_path, "steps:\n" + text)
    (problem,) = _problems(api.load_profile, path)
    assert expected in problem and problem.startswith(f"{path}:2:")


def test_did_you_mean_for_names_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "clasic"]) == 1
    assert "(did you mean 'classic'?)" in capsys.readouterr().err
    assert run(["validate", "classic", "--rig", "refrence"]) == 1
    assert "(did you mean 'reference'?)" in capsys.readouterr().err
    assert run(["off", "--device", "gpoi"]) == 2
    assert "unknown device 'gpoi' (did you mean 'gpio'?)" in capsys.readouterr().err
    with pytest.raises(UsageError, match=r"no param 'strenght' \(did you mean 'strength'\?\)"):
        api.load_profile("classic", params={"strenght": "0.5"})


def _rig(**fields: object) -> dict[str, object]:
    acts = [
        actuator("left_heel", "roller", ["heel"], 0),
        actuator("left_arch", "roller", ["ball", "arch"], 1),
    ]
    return {"name": "r", "actuators": acts, **fields}


def test_a_rig_may_lower_a_parent_zone_which_caps_each_child() -> None:
    rig = api.rig_from_data(_rig(sensitivity={"sole": 0.8}))
    assert rig.zone_sensitivity("heel") == 0.8
    assert rig.zone_sensitivity("ball") == 0.8
    assert rig.zone_sensitivity("arch") == 0.7  # already lower: kept
    stream = api.compile_stream(
        api.profile_from_data(
            {
                "steps": [
                    {"technique": "point_press", "zones": "heel", "duration": "5s", "feet": "left"}
                ]
            }
        ),
        rig,
    )
    assert max(c.level for c in stream.commands) == pytest.approx(0.7 * 0.8)


RIG = """name: r
sensitivity:
  heel: 0.5
  arch: ARCH
actuators:
  - id: a
    kind: roller
    foot: left
    reaches: [heel]
    bindings: {gpio: {forward: 5, backward: 6}}
  - id: ID
    kind: vibration
    foot: left
    reaches: [arch]
    bindings: {gpio: {pin: PIN}}
"""


@pytest.mark.parametrize(
    ("values", "where", "message"),
    [
        ({"ID": "a"}, "11:9", "actuator id 'a' is used twice"),
        ({"ARCH": "0.9"}, "4:9", "sensitivity of arch may only be lowered (default 0.7"),
        ({"PIN": "6"}, "15:28", "GPIO6 is used twice: by a (backward) and by b (pin)"),
        ({"ARCH": "elbow"}, "4:3", "sensitivity: unknown zone 'elbow'"),
    ],
)
def test_rig_errors_point_at_the_rig_field(
    tmp_path: Path, values: dict[str, str], where: str, message: str
) -> None:
    text = RIG
    for key, value in {"ID": "b", "ARCH": "0.5", "PIN": "7", **values}.items():
        text = text.replace(key, value)
    if values.get("ARCH") == "elbow":
        text = text.replace("arch: elbow", "elbow: 0.5")
    path = _file(tmp_path, text, "r.yaml")
    (problem,) = _problems(api.load_rig, path)
    assert problem.startswith(f"{path}:{where}: {message}")


PART = (
    "params:\n  strength: 0.5\nsteps:\n  - {technique: knead, duration: 1m, intensity: $strength}\n"
)


def test_a_bad_value_passed_into_an_include_points_at_the_including_set(tmp_path: Path) -> None:
    _file(tmp_path, PART, "part.yaml")
    main = _file(tmp_path, "steps:\n  - include: part\n    set: {strength: 5}\n", "main.yaml")
    (problem,) = _problems(api.load_profile, main)
    part = tmp_path / "part.yaml"
    assert problem == (
        f"{main}:3:21: intensity 5 is outside 0..1 "
        f"(strength = 5 is passed to {part}, used at {part}:4:49)"
    )


def test_a_bad_set_option_passed_on_into_an_include_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _file(tmp_path, PART, "part.yaml")
    main = _file(
        tmp_path,
        "params:\n  power: 0.6\nsteps:\n  - include: part\n    set:\n      strength: $power\n",
        "main.yaml",
    )
    api.compile_stream(api.load_profile(main), api.load_rig())  # its own default fits
    with pytest.raises(UsageError, match=r"^--set power=3: intensity 3 is outside 0\.\.1"):
        api.load_profile(main, params={"power": "3"})
    assert run(["compile", str(main), "--set", "power=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("--set power=3: intensity 3 is outside 0..1")
    assert f"passed on by the include at {main}:6:17" in err


def test_a_step_longer_than_the_cap_points_at_its_duration(tmp_path: Path) -> None:
    path = _file(tmp_path, "steps:\n  - technique: rest\n    duration: 25m\n")
    problems = _problems(api.compile_stream, api.load_profile(path), api.load_rig())
    assert problems == [f"{path}:3:15: lasts 25m, longer than the session cap 20m"]


def test_the_bundled_profiles_warn_on_the_small_rig_as_the_doc_says() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "profiles.md").read_text()
    table = doc.split("## The bundled profiles on each rig")[1].split("\n## ")[0]
    expected = {"classic": [5, 6], "heel-relief": [4], "deep-knead": [1]}
    minimal = api.load_rig("pi-gpio-minimal")
    for name in api.bundled_profiles():
        stream = api.compile_stream(api.load_profile(name), minimal)
        assert [w.step for w in stream.warnings] == expected.get(name, []), name
        assert all(w.kind == "skipped" for w in stream.warnings)
        for number in expected.get(name, []):
            assert f"| `{name}` | " in table and f"step {number} '" in table
