"""A rig's GPIO pins: shared or repeated pins and misfit bindings are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from massager.rig.model import Rig


def actuator(ident: str, kind: str, gpio: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A rig actuator entry reaching the sole, bound to `gpio`."""
    entry: dict[str, Any] = {
        "id": ident,
        "kind": kind,
        "foot": "left",
        "reaches": ["sole"],
        "bindings": {"gpio": gpio},
    }
    if kind == "heater":
        entry["max_temp_c"] = "42C"
    entry.update(extra)
    return entry


def rig(*actuators: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A rig document holding `actuators`."""
    return {"name": "pins", "actuators": list(actuators), **extra}


def refused(document: dict[str, Any]) -> str:
    """The validation message for a rig that must be refused."""
    with pytest.raises(ValidationError) as info:
        Rig.model_validate(document)
    return str(info.value)


def test_distinct_pins_are_accepted() -> None:
    loaded = Rig.model_validate(
        rig(
            actuator("roller_l", "roller", {"forward": 12, "backward": 13}),
            actuator("roller_r", "roller", {"phase": 5, "enable": 6}),
            actuator("vib_l", "vibration", {"pin": 16}),
            actuator("air_l", "air", {"pin": 20, "valve": 21}),
            actuator("heat_l", "heater", {"pin": 19, "sensor": {"type": "mcp3008", "channel": 0}}),
            estop_pin=26,
        )
    )
    assert loaded.estop_pin == 26


def test_pin_named_twice_in_one_binding() -> None:
    message = refused(rig(actuator("roller_l", "roller", {"forward": 17, "backward": 17})))
    assert "GPIO17 is named twice in one binding (forward and backward)" in message


def test_pin_shared_by_two_actuators_names_both() -> None:
    message = refused(
        rig(
            actuator("roller_l", "roller", {"forward": 17, "backward": 18}),
            actuator("vib_l", "vibration", {"pin": 18}),
        )
    )
    assert "GPIO18 is used twice: by roller_l (backward) and by vib_l (pin)" in message


def test_estop_on_an_output_pin() -> None:
    message = refused(rig(actuator("vib_l", "vibration", {"pin": 26}), estop_pin=26))
    assert "GPIO26 is used twice: by estop_pin and by vib_l (pin)" in message


def test_heartbeat_on_an_output_pin() -> None:
    message = refused(rig(actuator("vib_l", "vibration", {"pin": 24}), heartbeat_pin=24))
    assert "GPIO24 is used twice: by heartbeat_pin and by vib_l (pin)" in message


def test_mcp3008_reserves_the_spi_pins() -> None:
    message = refused(
        rig(
            actuator("heat_l", "heater", {"pin": 19, "sensor": {"type": "mcp3008", "channel": 1}}),
            actuator("vib_l", "vibration", {"pin": 10}),
        )
    )
    assert "GPIO10 is used twice: by the MCP3008's SPI MOSI and by vib_l (pin)" in message


def test_spi_pins_are_free_without_an_mcp3008() -> None:
    Rig.model_validate(rig(actuator("vib_l", "vibration", {"pin": 10})))


@pytest.mark.parametrize(
    ("kind", "gpio", "words"),
    [
        ("roller", {"forward": 12}, "forward and backward (Motor) or phase and enable"),
        ("roller", {"forward": 12, "enable": 13}, "forward and backward"),
        ("roller", {"pin": 12}, "forward and backward"),
        ("vibration", {"forward": 12, "backward": 13}, "a vibration's gpio binding needs pin"),
        ("vibration", {"pin": 12, "valve": 13}, "needs pin, nothing else"),
        ("air", {"valve": 13}, "needs pin and optionally valve"),
        ("vibration", {"pin": 12, "sensor": {"type": "mcp3008", "channel": 0}}, "heaters only"),
    ],
)
def test_binding_must_fit_the_kind(kind: str, gpio: dict[str, Any], words: str) -> None:
    message = refused(rig(actuator("thing", kind, gpio)))
    assert "actuator 'thing'" in message
    assert words in message


@pytest.mark.parametrize(
    ("sensor", "words"),
    [
        ({"type": "ds18b20"}, "needs its 1-wire id"),
        ({"type": "ds18b20", "id": "28-xyz"}, "'28-xyz' is not a 1-wire id"),
        ({"type": "mcp3008"}, "needs its channel"),
        ({"type": "mcp3008", "channel": 0, "id": "28-00000abc1234"}, "ds18b20 sensors only"),
    ],
)
def test_sensor_must_be_addressed(sensor: dict[str, Any], words: str) -> None:
    message = refused(rig(actuator("heat_l", "heater", {"pin": 19, "sensor": sensor})))
    assert words in message


def test_bundled_rig_with_a_shared_pin_is_refused_at_load(tmp_path: Path) -> None:
    from massager import api
    from massager.errors import InputError

    source = (Path(__file__).parent.parent / "rigs" / "pi-gpio-minimal.yaml").read_text()
    assert "backward: 27" in source
    bad = tmp_path / "bad.yaml"
    bad.write_text(source.replace("backward: 27", "backward: 12"))
    with pytest.raises(InputError) as info:
        api.load_rig(bad)
    assert info.value.exit_code == 1
    assert str(bad) in str(info.value)
    assert "GPIO12 is used twice: by left_roller (backward) and by left_vibration (pin)" in str(
        info.value
    )


def test_pin_named_twice_is_located_at_its_binding(tmp_path: Path) -> None:
    from massager import api
    from massager.errors import InputError

    source = (Path(__file__).parent.parent / "rigs" / "pi-gpio-minimal.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(source.replace("backward: 23", "backward: 22"))
    with pytest.raises(InputError) as info:
        api.load_rig(bad)
    (problem,) = info.value.problems
    assert "GPIO22 is named twice in one binding (forward and backward)" in problem.message
    assert (
        bad.read_text().splitlines()[problem.line - 1].strip() == "backward: 22"
    )  # the second naming of the pin
