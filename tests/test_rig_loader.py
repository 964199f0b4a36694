"""Rigs: the three bundled rigs as the brief describes them, and located rig errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from massager import api
from massager.errors import InputError

PARTS = (
    "toe_roller",
    "arch_roller",
    "heel_roller",
    "ankle_inner_air",
    "ankle_outer_air",
    "calf_air",
    "arch_vibration",
    "sole_heater",
)
REFERENCE_IDS = [f"{foot}_{part}" for foot in ("left", "right") for part in PARTS]


def test_default_rig_is_reference_with_sixteen_actuators_on_both_drivers() -> None:
    rig = api.load_rig()
    assert rig.name == "reference"
    assert [a.id for a in rig.actuators] == REFERENCE_IDS
    assert all(a.foot == a.id.split("_")[0] for a in rig.actuators)
    assert all(a.bindings.gpio and a.bindings.serial for a in rig.actuators)
    channels = [a.bindings.serial.channel for a in rig.actuators if a.bindings.serial]
    assert channels == list(range(16))
    pins = [p for a in rig.actuators if a.bindings.gpio for p in a.bindings.gpio.pins()]
    assert rig.estop_pin is not None
    assert len(pins) == len(set(pins)) and rig.estop_pin not in pins


def test_reference_limits() -> None:
    rig = api.load_rig("reference")
    by_kind = {a.kind for a in rig.actuators}
    assert by_kind == {"roller", "air", "vibration", "heater"}
    for act in rig.actuators:
        if act.kind == "heater":
            assert act.max_temp_c == 42.0
            assert act.bindings.gpio and act.bindings.gpio.sensor is not None
        if act.kind == "air":
            assert act.max_on_ms == 30_000
        assert "knee_back" not in act.leaf_zones
        assert act.min_level <= act.max_level
    assert rig.heat_max_ms == 20 * 60_000


def test_pico_serial_is_the_reference_on_channels_only() -> None:
    pico, reference = api.load_rig("pico-serial"), api.load_rig("reference")
    assert [a.id for a in pico.actuators] == REFERENCE_IDS
    for mine, theirs in zip(pico.actuators, reference.actuators, strict=True):
        assert mine.bindings.gpio is None
        assert mine.bindings.serial == theirs.bindings.serial
        assert (mine.kind, mine.reaches, mine.max_level, mine.max_slew) == (
            theirs.kind,
            theirs.reaches,
            theirs.max_level,
            theirs.max_slew,
        )


def test_pi_gpio_minimal_two_rollers_two_vibration_motors_and_an_estop() -> None:
    rig = api.load_rig("pi-gpio-minimal")
    kinds = sorted(a.kind for a in rig.actuators)
    assert kinds == ["roller", "roller", "vibration", "vibration"]
    for act in rig.actuators:
        gpio = act.bindings.gpio
        assert gpio is not None
        if act.kind == "roller":
            assert gpio.forward is not None and gpio.backward is not None
        else:
            assert gpio.pin is not None
    assert rig.estop_pin is not None
    assert {a.foot for a in rig.actuators} == {"left", "right"}


def test_bundled_rigs_listed() -> None:
    assert api.bundled_rigs() == ["pi-gpio-minimal", "pico-serial", "reference"]


def test_rig_problems_are_located_with_the_fields_allowed_there(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: r\n"
        "actuators:\n"
        "  - id: a\n"
        "    kind: roller\n"
        "    foot: middle\n"
        "    reaches: [sole]\n"
        "    max_slew: 0\n"
        "    bindings:\n"
        "      serial: {channel: 3, baud: 9600}\n"
    )
    with pytest.raises(InputError) as info:
        api.load_rig(path)
    assert str(info.value).splitlines() == [
        f"{path}:5:11: foot: choose one of left, right (got 'middle')",
        f"{path}:7:15: max_slew: input should be greater than or equal to 0.001 (got 0)",
        f"{path}:9:28: unknown field 'baud'; allowed here: channel",
    ]


def test_rig_name_defaults_to_the_file_stem_and_durations_take_units(tmp_path: Path) -> None:
    path = tmp_path / "bench-rig.yaml"
    path.write_text(
        "heat_max: 5m\n"
        "actuators:\n"
        "  - {id: a, kind: air, foot: left, reaches: [calf], max_on: 10s,\n"
        "     bindings: {serial: {channel: 0}}}\n"
        "  - {id: b, kind: air, foot: left, reaches: [calf], bindings: {serial: {channel: 1}}}\n"
    )
    rig = api.load_rig(path)
    assert rig.name == "bench-rig"
    assert rig.heat_max_ms == 300_000
    assert [a.max_on_ms for a in rig.actuators] == [10_000, 30_000]


def test_heaters_default_to_a_42c_cap() -> None:
    rig = api.rig_from_data(
        {
            "name": "warm",
            "actuators": [
                {
                    "id": "heater",
                    "kind": "heater",
                    "foot": "left",
                    "reaches": ["sole"],
                    "bindings": {"serial": {"channel": 0}},
                }
            ],
        }
    )
    assert rig.actuators[0].max_temp_c == 42.0
