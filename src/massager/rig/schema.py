"""The JSON Schema of rig files, accepting what the rig loader accepts.

Pydantic's schema of the models describes validated values; a rig *file*
differs, and the differences are added here:

- `name` may be left out (it defaults to the file name);
- `max_on` and `heat_max` are written with units (`30s`, `20m`), their
  defaults shown that way; the loader also takes them in whole milliseconds
  as `max_on_ms` and `heat_max_ms` (one of the two spellings, not both);
- `sensitivity` names zones, each at most its default (a parent zone: its
  most sensitive child's);
- what depends on an actuator's `kind`: the shape of its `gpio` binding
  (a roller's forward and backward or phase and enable; a `pin`, and for
  air an optional `valve`, for the others), `sensor` and `max_temp_c` for
  heaters only; and on a sensor's `type` (a ds18b20's `id`, an mcp3008's
  `channel`).

Rules across fields that JSON Schema cannot say (distinct actuator ids and
GPIO pins, `min_level` at most `max_level`, a heater cap in 30C..45C, limits
that fit the wire protocol) stay with `massager validate`.
"""

from __future__ import annotations

from typing import Any

from massager import zones
from massager.rig.model import MIN_ON_MS, Rig
from massager.units import MAX_DURATION_MS, format_duration

SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"
_PINS = ("forward", "backward", "phase", "enable", "pin", "valve")
_NULL: dict[str, Any] = {"type": "null"}
_PIN: dict[str, Any] = {"type": "integer"}


def rig_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a rig file."""
    document = Rig.model_json_schema(by_alias=True)
    defs = document["$defs"]
    document["required"] = [r for r in document.get("required", []) if r != "name"]
    _in_ms(document, "heat_max")
    _in_ms(defs["Actuator"], "max_on", MIN_ON_MS)
    document["properties"]["sensitivity"] = _sensitivity(document["properties"]["sensitivity"])
    rules = [_kind_rule(k) for k in ("roller", "vibration", "air", "heater")]
    defs["Actuator"].setdefault("allOf", []).extend(rules)
    defs["Bindings"]["anyOf"] = [
        {"required": [name], "properties": {name: {"type": "object"}}}
        for name in ("gpio", "serial")
    ]
    defs["TempSensor"]["allOf"] = [
        _if_then(
            "type",
            "ds18b20",
            {
                "required": ["id"],
                "properties": {
                    "id": {"type": "string", "pattern": r"^[0-9a-f]{2}-[0-9a-f]{12}$"},
                    "channel": _NULL,
                },
            },
        ),
        _if_then(
            "type",
            "mcp3008",
            {"required": ["channel"], "properties": {"channel": _PIN, "id": _NULL}},
        ),
    ]
    document["$schema"] = SCHEMA_URL
    return document


def _in_ms(model: dict[str, Any], key: str, minimum: int = 1) -> None:
    """`key` written with units, its default so too; `KEY_ms` in milliseconds, not both."""
    prop = model["properties"][key]
    prop["default"] = format_duration(prop["default"])
    model["properties"][f"{key}_ms"] = {
        "anyOf": [
            {"type": "integer", "minimum": minimum, "maximum": MAX_DURATION_MS},
            {k: v for k, v in prop.items() if k in ("type", "pattern")},
        ],
        "description": f"{key} in whole milliseconds (write one of {key} and {key}_ms)",
    }
    model.setdefault("allOf", []).append({"not": {"required": [key, f"{key}_ms"]}})


def _sensitivity(prop: dict[str, Any]) -> dict[str, Any]:
    """Every zone, each at most its default (a parent: its most sensitive child's)."""
    limits = {
        zone: max(zones.DEFAULT_SENSITIVITY[leaf] for leaf in zones.leaves(zone))
        for zone in zones.ALL_ZONES
    }
    return {
        "type": "object",
        "description": prop.get("description", ""),
        "properties": {
            zone: {"type": "number", "minimum": 0, "maximum": top} for zone, top in limits.items()
        },
        "additionalProperties": False,
    }


def _kind_rule(kind: str) -> dict[str, Any]:
    """What an actuator of `kind` may have: its gpio binding's shape, sensor, max_temp_c."""
    if kind == "roller":
        gpio: dict[str, Any] = {
            "anyOf": [_only(("forward", "backward"), ()), _only(("phase", "enable"), ())]
        }
    else:
        gpio = _only(("pin",), ("valve",) if kind == "air" else ())
    if kind != "heater":
        gpio = {"allOf": [gpio, {"properties": {"sensor": _NULL}}]}
    then: dict[str, Any] = {
        "properties": {"bindings": {"properties": {"gpio": {"anyOf": [_NULL, gpio]}}}}
    }
    if kind != "heater":
        then["properties"]["max_temp_c"] = _NULL
    return _if_then("kind", kind, then)


def _only(needed: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, Any]:
    """A gpio binding with the `needed` pins, maybe the `optional` ones, no other pin."""
    props = {
        p: _PIN if p in needed else ({"anyOf": [_PIN, _NULL]} if p in optional else _NULL)
        for p in _PINS
    }
    return {"type": "object", "required": list(needed), "properties": props}


def _if_then(key: str, value: str, then: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"required": [key], "properties": {key: {"const": value}}}, "then": then}
