"""Rig durations follow the profiles' rounding rule, and the rig's field hints are exact.

docs/rigs.md, "Durations": a `max_on` or `heat_max` written finer than a millisecond is
enforced rounded to the nearest one, with a located `rounded` warning that every compile
for the rig carries (an error under --strict); `*_ms` fields take whole milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from massager import api
from massager.cli import run as cli
from massager.errors import InputError

RIG = """\
name: tiny
heat_max: {heat_max}
actuators:
  - id: heel
    kind: roller
    foot: left
    reaches: [heel]
    max_on: {max_on}
    bindings:
      serial: {{channel: 0}}
"""
PROFILE = "steps:\n  - {technique: rub, zones: heel, feet: left, duration: 10s}\n"


def _rig(tmp_path: Path, max_on: str = "10m", heat_max: str = "20m", text: str = "") -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(text or RIG.format(max_on=max_on, heat_max=heat_max))
    return path


def _refused(tmp_path: Path, old: str, new: str) -> str:
    """The message loading the rig refused with, once `old` is replaced with `new`."""
    text = RIG.format(max_on="10m", heat_max="20m").replace(old, new)
    with pytest.raises(InputError) as caught:
        api.load_rig(_rig(tmp_path, text=text))
    return str(caught.value)


def test_a_max_on_finer_than_a_millisecond_is_a_located_warning(tmp_path: Path) -> None:
    rig = api.load_rig(_rig(tmp_path, max_on="10.0004s"))
    assert rig.actuators[0].max_on_ms == 10_000
    [warning] = rig.warnings
    assert str(warning) == (
        f"{tmp_path / 'tiny.yaml'}:8:13: warning: heel: max_on 10.0004s (10000.4 ms) is "
        "enforced as 10s: times are whole milliseconds"
    )
    assert (warning.kind, warning.actuator, warning.asked, warning.applied, warning.step) == (
        "rounded",
        "heel",
        "10.0004s",
        "10s",
        None,
    )


def test_heat_max_too(tmp_path: Path) -> None:
    rig = api.load_rig(_rig(tmp_path, heat_max="10m0.5ms"))
    assert rig.heat_max_ms == 600_000
    assert [w.message for w in rig.warnings] == [
        "heat_max 10m0.5ms (600000.5 ms) is enforced as 10m: times are whole milliseconds"
    ]


def test_whole_milliseconds_give_no_warning(tmp_path: Path) -> None:
    assert api.load_rig(_rig(tmp_path, max_on="1.5s", heat_max="0.25s")).warnings == ()
    for name in api.bundled_rigs():
        assert api.load_rig(name).warnings == ()


@given(ms=st.integers(1001, 86_400_000), micro=st.integers(0, 999))
def test_warned_exactly_when_not_whole_and_enforced_to_the_nearest(ms: int, micro: int) -> None:
    text = f"{ms - 1}.{micro:03d}ms"
    exact = ms - 1 + micro / 1000
    rig = api.rig_from_data(
        {
            "name": "r",
            "actuators": [
                {
                    "id": "a",
                    "kind": "roller",
                    "foot": "left",
                    "reaches": ["heel"],
                    "max_on": text,
                    "bindings": {"serial": {"channel": 0}},
                }
            ],
        }
    )
    assert rig.actuators[0].max_on_ms == round(exact)
    assert len(rig.warnings) == (0 if micro == 0 else 1)


def test_every_compile_for_the_rig_carries_it_and_strict_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = _rig(tmp_path, max_on="10m0.5ms")
    profile = tmp_path / "p.yaml"
    profile.write_text(PROFILE)
    stream = api.compile_stream(api.load_profile(profile), api.load_rig(rig))
    assert [w.kind for w in stream.warnings] == ["rounded"]
    assert stream.warnings[0].path == str(rig)
    assert cli(["validate", str(rig)]) == 0
    assert "warning: heel: max_on 10m0.5ms" in capsys.readouterr().err
    for argv in (
        ["validate", str(rig)],
        ["validate", str(profile), "--rig", str(rig)],
        ["compile", str(profile), "--rig", str(rig), "-o", str(tmp_path / "s.jsonl")],
        ["simulate", str(profile), "--rig", str(rig), "-q"],
    ):
        assert cli([*argv, "--strict"]) == 1, argv
        err = capsys.readouterr().err
        assert f"{rig}:8:13: error: heel: max_on 10m0.5ms" in err, (argv, err)


def test_a_ms_field_takes_whole_milliseconds(tmp_path: Path) -> None:
    text = RIG.format(max_on="10m", heat_max="20m").replace("max_on: 10m", "max_on_ms: 1500.5")
    with pytest.raises(InputError) as caught:
        api.load_rig(_rig(tmp_path, text=text))
    assert str(caught.value).endswith(
        ":8:16: max_on_ms 1500.5 is not a whole number of milliseconds "
        "(or write max_on with a unit, 1500.5ms, to have it rounded)"
    )
    rig = api.load_rig(_rig(tmp_path, text=text.replace("max_on_ms: 1500.5", "max_on_ms: 1500")))
    assert rig.actuators[0].max_on_ms == 1500 and rig.warnings == ()


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("    max_on: 10m\n", "    max_on: 10m\n    max_on_ms: 600000\n", "9:5", "max_on"),
        ("heat_max: 20m\n", "heat_max: 20m\nheat_max_ms: 1200000\n", "3:1", "heat_max"),
    ],
)
def test_both_spellings_at_once_is_one_clear_error(
    tmp_path: Path, old: str, new: str, where: str, message: str
) -> None:
    assert _refused(tmp_path, old, new) == (
        f"{tmp_path / 'tiny.yaml'}:{where}: write one of {message} and {message}_ms, not both"
    )


ACTUATOR_FIELDS = (
    "bindings, foot, id, kind, max_level, max_on, max_on_ms, max_slew, max_temp_c, min_level, "
    "reaches"
)
RIG_FIELDS = (
    "actuators, description, estop_pin, heartbeat_pin, heat_max, heat_max_ms, name, "
    "sensitivity, watchdog_ms"
)


@pytest.mark.parametrize(
    ("old", "new", "where", "listed"),
    [
        (
            "    max_on: 10m\n",
            "    max_on: 10m\n    max_of: 1\n",
            "9:5: unknown field 'max_of' (did you mean 'max_on'?)",
            ACTUATOR_FIELDS,
        ),
        (
            "heat_max: 20m\n",
            "heat_max: 20m\nheat_maks: 1\n",
            "3:1: unknown field 'heat_maks' (did you mean 'heat_max'?)",
            RIG_FIELDS,
        ),
    ],
)
def test_the_allowed_here_hint_lists_exactly_the_fields_allowed_there(
    tmp_path: Path, old: str, new: str, where: str, listed: str
) -> None:
    said = _refused(tmp_path, old, new)
    assert said == f"{tmp_path / 'tiny.yaml'}:{where}; allowed here: {listed}"
    for name in ("max_on_ms", "heat_max_ms"):  # each listed spelling is taken there
        text = RIG.format(max_on="10m", heat_max="20m")
        text = text.replace(name.removesuffix("_ms") + ":", name + ":")
        assert api.load_rig(_rig(tmp_path, text=text)).warnings == ()


def test_a_profile_takes_only_the_names_it_documents(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("steps:\n  - {technique: rub, duration_ms: 1m}\n")
    with pytest.raises(InputError) as caught:
        api.load_profile(path)
    assert (
        f"{path}:2:22: unknown field 'duration_ms' (did you mean 'duration'?); allowed here: "
        "duration, feet, frequency, intensity, name, optional, technique, zones"
    ) in str(caught.value)
