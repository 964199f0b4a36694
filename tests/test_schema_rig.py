"""`massager schema rig` accepts what the rig loader accepts: a real JSON Schema validator
(jsonschema) over every bundled rig, every rig example of the docs, and cases on each side."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from schema_support import errors, schema_validator

from massager import api, bundled
from massager.errors import InputError
from massager.units import (
    DURATION_PATTERN,
    FREQUENCY_PATTERN,
    TEMPERATURE_PATTERN,
    parse_duration_ms,
    parse_frequency_hz,
    parse_temperature_c,
)

DOCS = Path(__file__).parents[1] / "docs"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    """The validator of what `massager schema rig` prints."""
    return schema_validator("rig")


@pytest.mark.parametrize("name", ["reference", "pico-serial", "pi-gpio-minimal"])
def test_every_bundled_rig_passes_the_schema(
    validator: jsonschema.protocols.Validator, name: str
) -> None:
    path = bundled.find("rigs", name)
    assert path is not None
    assert errors(validator, yaml.safe_load(path.read_text())) == []


def _doc_rigs() -> list[Any]:
    """Every rig of the docs: each yaml example with actuators, and each inline `sensor:`
    (docs/raspberry-pi.md) as the binding of a heater."""
    out = []
    for doc in sorted(DOCS.glob("*.md")):
        text = doc.read_text()
        for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
            data = yaml.safe_load(block)
            if isinstance(data, dict) and "actuators" in data:
                out.append(data)
        for sensor in re.findall(r"`(sensor: \{[^`]*\})`", text):
            gpio = {"pin": 18, **yaml.safe_load(sensor)}
            heater = {"id": "h", "kind": "heater", "foot": "left", "reaches": ["sole"]}
            out.append({"name": doc.stem, "actuators": [{**heater, "bindings": {"gpio": gpio}}]})
    return out


def test_the_docs_have_rig_examples() -> None:
    rigs = _doc_rigs()
    assert len(rigs) >= 4  # profiles.md's two rigs, raspberry-pi.md's two sensors
    gpio = [r["actuators"][0]["bindings"].get("gpio") or {} for r in rigs]
    assert {g.get("sensor", {}).get("type") for g in gpio} >= {"ds18b20", "mcp3008"}


@pytest.mark.parametrize("data", _doc_rigs(), ids=lambda d: str(d)[:40])
def test_every_doc_rig_passes_the_schema_and_loads(
    validator: jsonschema.protocols.Validator, data: Any
) -> None:
    assert errors(validator, data) == []
    api.rig_from_data(data)


def _rig(**actuator: Any) -> dict[str, Any]:
    """A one-actuator rig: a left heel roller on serial channel 0, changed by `actuator`."""
    act: dict[str, Any] = {
        "id": "a",
        "kind": "roller",
        "foot": "left",
        "reaches": ["heel"],
        "bindings": {"serial": {"channel": 0}},
    }
    for key, value in actuator.items():
        if value is None:
            act.pop(key)
        else:
            act[key] = value
    return {"name": "r", "actuators": [act]}


def _with(data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    out.update(fields)
    return out


def _gpio(kind: str, **pins: Any) -> dict[str, Any]:
    return _rig(kind=kind, bindings={"gpio": pins})


ACCEPTED = {
    "no name (the file's)": {"actuators": _rig()["actuators"]},
    "spaced durations": _with(_rig(max_on="1m 30s"), heat_max="20 m"),
    "milliseconds": _with(_rig(max_on_ms=30_000), heat_max_ms=600_000),
    "phase and enable": _gpio("roller", phase=5, enable=6),
    "forward and backward, pwm": _gpio("roller", forward=5, backward=6, pwm_hz=20_000),
    "air with a valve": _gpio("air", pin=5, valve=6),
    "air without a valve": _gpio("air", pin=5, valve=None),
    "both bindings": _rig(bindings={"gpio": {"pin": 5}, "serial": {"channel": 3}}, kind="air"),
    "heater, mcp3008": _rig(
        kind="heater",
        reaches=["sole"],
        max_temp_c="40 C",
        bindings={"gpio": {"pin": 5, "sensor": {"type": "mcp3008", "channel": 2}}},
    ),
    "a parent zone's sensitivity": _with(_rig(), sensitivity={"sole": 1.0, "arch": 0.7}),
    "every top-level field": _with(
        _rig(), description="d", estop_pin=3, heartbeat_pin=4, watchdog_ms=20
    ),
}


@pytest.mark.parametrize("data", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_what_the_loader_accepts_the_schema_accepts(
    validator: jsonschema.protocols.Validator, data: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "my-rig.yaml"
    path.write_text(yaml.safe_dump(data))
    assert api.load_rig(str(path)).name == data.get("name", "my-rig")
    assert errors(validator, data) == []


REFUSED = {
    "unknown kind": _rig(kind="motor"),
    "unknown foot": _rig(foot="middle"),
    "forbidden zone": _rig(reaches=["knee_back"]),
    "unknown zone": _rig(reaches=["elbow"]),
    "no zone": _rig(reaches=[]),
    "unknown field": _rig(speed=2),
    "no bindings": _rig(bindings=None),
    "empty bindings": _rig(bindings={}),
    "a null binding": _rig(bindings={"gpio": None}),
    "a roller on one pin": _gpio("roller", pin=5),
    "a roller, half of each pair": _gpio("roller", forward=5, enable=6),
    "a roller with a null pin": _gpio("roller", forward=5, backward=None),
    "a vibration on a motor's pins": _gpio("vibration", forward=5, backward=6),
    "a vibration with a valve": _gpio("vibration", pin=5, valve=6),
    "air without its pin": _gpio("air", valve=6),
    "a sensor on a vibration": _gpio("vibration", pin=5, sensor={"type": "mcp3008", "channel": 0}),
    "max_temp_c on a roller": _rig(max_temp_c="42C"),
    "ds18b20 without id": _gpio("heater", pin=5, sensor={"type": "ds18b20"}),
    "ds18b20, bad id": _gpio("heater", pin=5, sensor={"type": "ds18b20", "id": "28-xyz"}),
    "ds18b20 with a channel": _gpio(
        "heater", pin=5, sensor={"type": "ds18b20", "id": "28-00000abc1234", "channel": 1}
    ),
    "mcp3008 without channel": _gpio("heater", pin=5, sensor={"type": "mcp3008"}),
    "mcp3008 with an id": _gpio(
        "heater", pin=5, sensor={"type": "mcp3008", "channel": 1, "id": "28-00000abc1234"}
    ),
    "a sensitivity raised": _with(_rig(), sensitivity={"arch": 0.9}),
    "a parent's sensitivity raised": _with(_rig(), sensitivity={"toes": 0.7}),
    "the forbidden zone's sensitivity": _with(_rig(), sensitivity={"knee_back": 0.1}),
    "an unknown zone's sensitivity": _with(_rig(), sensitivity={"elbow": 0.1}),
    "max_on without a unit": _rig(max_on="10"),
    "max_on a number": _rig(max_on=600),
    "max_on twice": _rig(max_on="10s", max_on_ms=10_000),
    "max_on over 24h": _rig(max_on_ms=86_400_001),
    "heat_max misspelt": _with(_rig(), heat_max="20 minutes"),
    "a slow pwm": _gpio("air", pin=5, pwm_hz=0),
    "a channel past 15": _rig(bindings={"serial": {"channel": 16}}),
    "a pin past 27": _with(_rig(), estop_pin=28),
    "a short watchdog": _with(_rig(), watchdog_ms=10),
    "no slew": _rig(max_slew=0),
    "a level past 1": _rig(max_level=1.5),
    "a capital in the name": _with(_rig(), name="My rig"),
    "no actuators": {"name": "r", "actuators": []},
    "a level as text": _rig(max_level="0.5"),
    "a level as true": _rig(max_level=True),
    "a slew as text": _rig(max_slew="2"),
    "a channel as text": _rig(bindings={"serial": {"channel": "2"}}),
    "a pin as text": _with(_rig(), estop_pin="3"),
    "a watchdog as text": _with(_rig(), watchdog_ms="250"),
    "a sensitivity as text": _with(_rig(), sensitivity={"arch": "0.5"}),
}


@pytest.mark.parametrize("data", REFUSED.values(), ids=REFUSED.keys())
def test_what_the_loader_refuses_the_schema_refuses(
    validator: jsonschema.protocols.Validator, data: dict[str, Any]
) -> None:
    with pytest.raises(InputError):
        api.rig_from_data(data)
    assert errors(validator, data) != []


def _reads(parse: Callable[[str], object], text: str) -> bool:
    """Whether `parse` reads the form of `text` (a value out of range is still read)."""
    try:
        parse(text)
    except ValueError as exc:
        return "cannot read" not in str(exc)
    return True


@given(st.text("0123456789.mhs ", max_size=10))
def test_the_duration_pattern_reads_what_the_parser_reads(text: str) -> None:
    assert bool(re.search(DURATION_PATTERN, text)) == _reads(parse_duration_ms, text)


@given(st.text("0123456789.-HzC %\t", max_size=8))
def test_the_frequency_and_temperature_patterns_read_what_the_parsers_read(text: str) -> None:
    assert bool(re.search(FREQUENCY_PATTERN, text)) == _reads(parse_frequency_hz, text)
    assert bool(re.search(TEMPERATURE_PATTERN, text)) == _reads(parse_temperature_c, text)


def test_a_number_written_as_text_or_true_is_refused_at_its_field(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "actuators:\n"
        "  - id: a\n"
        "    kind: roller\n"
        "    foot: left\n"
        "    reaches: [heel]\n"
        "    max_level: true\n"
        '    bindings: {serial: {channel: "2"}}\n'
    )
    with pytest.raises(InputError) as info:
        api.load_rig(str(path))
    assert [str(p) for p in info.value.problems] == [
        f"{path}:6:16: max_level must be a number, not true",
        f"{path}:7:34: channel must be a number, not '2' (leave out the quotes)",
    ]
