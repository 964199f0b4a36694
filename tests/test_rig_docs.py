"""docs/rigs.md against the code: its field tables, ranges, examples and messages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from massager import api
from massager.errors import InputError
from massager.rig.schema import rig_schema

DOC = (Path(__file__).parents[1] / "docs" / "rigs.md").read_text()
EXAMPLE: dict[str, Any] = yaml.safe_load(re.findall(r"```yaml\n(.*?)```", DOC, flags=re.S)[0])


def _section(title: str) -> str:
    """The text of the doc's section `title`, up to the next heading."""
    start = DOC.index(f"{title}\n")
    following = re.search(r"\n#+ ", DOC[start + len(title) :])
    return DOC[start : start + len(title) + (following.start() if following else len(DOC))]


def _table_fields(title: str) -> set[str]:
    """The backticked names in the first column of the table under `title`."""
    return set(re.findall(r"^\| `([a-z_0-9]+)` \|", _section(title), flags=re.M))


def _props(name: str | None = None) -> set[str]:
    schema = rig_schema()
    return set((schema if name is None else schema["$defs"][name])["properties"])


def test_the_tables_list_exactly_the_fields_the_loader_takes() -> None:
    assert _table_fields("## The file") == _props()
    assert _table_fields("### Actuators") == _props("Actuator")
    kinds, sensors = _section("### Bindings").split("A heater's")
    assert set(re.findall(r"^\| `([a-z]+)` \|", kinds, flags=re.M)) == {
        "roller",
        "vibration",
        "air",
        "heater",
    }
    assert _props("GpioBinding") <= set(re.findall(r"`([a-z_]+)`", kinds))
    assert set(re.findall(r"^\| `([a-z0-9]+)` \|", sensors, flags=re.M)) == {
        "type",
        "ds18b20",
        "mcp3008",
    }
    assert _props("TempSensor") - {"type"} <= set(re.findall(r"`([a-z_0-9]+)`", sensors))


def test_the_example_uses_every_field_and_loads_without_a_warning() -> None:
    used_top = set(EXAMPLE)
    used_actuator = {k for a in EXAMPLE["actuators"] for k in a}
    gpio = [a["bindings"]["gpio"] for a in EXAMPLE["actuators"]]
    used_gpio = {k for g in gpio for k in g}
    used_sensor = {k for g in gpio for k in g.get("sensor", {})}
    # heat_max and heat_max_ms are one value: a rig writes one of them
    assert used_top | {"heat_max_ms"} == _props()
    assert used_actuator == _props("Actuator")
    assert used_gpio == _props("GpioBinding")
    assert used_sensor == _props("TempSensor")
    assert api.rig_from_data(EXAMPLE).warnings == ()


@pytest.mark.parametrize(
    ("field", "text", "low", "high"),
    [
        ("max_slew", "0.001..100", 0.001, 100),
        ("max_level", "0..1", 0, 1),
        ("min_level", "0..1", 0, 1),
        ("watchdog_ms", "20..5000", 20, 5000),
        ("channel", "0..15", 0, 15),
        ("pwm_hz", "1..40000", 1, 40000),
        ("forward", "0..27", 0, 27),
    ],
)
def test_each_documented_range_is_the_loaders(
    field: str, text: str, low: float, high: float
) -> None:
    assert text in DOC
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == field and isinstance(value, dict):
                    options = value.get("anyOf", [value])
                    found.extend((o.get("minimum"), o.get("maximum")) for o in options)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(rig_schema())
    assert (low, high) in found


BASE = """\
name: r
actuators:
  - id: roller
    kind: roller
    foot: left
    reaches: [sole]
    bindings:
      serial: {channel: 0}
"""
VIBRATION = """\
  - id: vibration
    kind: vibration
    foot: left
    reaches: [arch]
    bindings:
      serial: {channel: 1}
"""
CASES = {
    "actuator id 'roller' is used twice": BASE
    + BASE.split("actuators:\n")[1].replace("channel: 0", "channel: 1"),
    "serial channel 0 is used twice": BASE + VIBRATION.replace("channel: 1", "channel: 0"),
    "GPIO17 is used twice": "estop_pin: 17\n"
    + BASE.replace("serial: {channel: 0}", "gpio: {forward: 17, backward: 27}"),
    "a roller's gpio binding needs": BASE.replace("serial: {channel: 0}", "gpio: {pin: 17}"),
    "has no binding": BASE.replace(
        "    bindings:\n      serial: {channel: 0}\n", "    bindings: {}\n"
    ),
    "no actuator may reach 'knee_back'": BASE.replace("[sole]", "[knee_back]"),
    "min_level 0.6 is above max_level 0.5": BASE.replace(
        "    bindings", "    max_level: 0.5\n    min_level: 0.6\n    bindings"
    ),
    "max_temp_c applies to heaters only": BASE.replace(
        "    bindings", "    max_temp_c: 40C\n    bindings"
    ),
    "sensitivity of arch may only be lowered": "sensitivity: {arch: 0.8}\n" + BASE,
    "write one of max_on and max_on_ms": BASE.replace(
        "    bindings", "    max_on: 10m\n    max_on_ms: 600000\n    bindings"
    ),
}


@pytest.mark.parametrize("start", list(CASES))
def test_every_refusal_the_doc_shows_is_the_loaders(start: str, tmp_path: Path) -> None:
    [shown] = [line for line in _section("## What is refused").splitlines() if start in line]
    shown_message = shown.split(": ", 1)[1]
    path = tmp_path / "rig.yaml"
    path.write_text(CASES[start])
    with pytest.raises(InputError) as caught:
        api.load_rig(path)
    message = re.sub(r"^\S+?:\d+:\d+: ", "", str(caught.value))
    # the doc's rig names its actuator left_roller where the case's is roller
    assert message == shown_message.replace("left_roller", "roller")


def test_the_rounding_example_is_what_validate_prints(tmp_path: Path) -> None:
    shown = next(line for line in DOC.splitlines() if ": warning: " in line)
    path = tmp_path / "my-rig.yaml"
    rig = EXAMPLE | {"actuators": [dict(EXAMPLE["actuators"][0], max_on="10.0004s")]}
    path.write_text(yaml.safe_dump(rig))
    [warning] = api.load_rig(path).warnings
    assert str(warning).split(": warning: ")[1] == shown.split(": warning: ")[1]
