"""`massager schema profile` accepts what the loader accepts: a real JSON Schema validator
(jsonschema) over every bundled profile and every example of docs/profiles.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from schema_support import errors, schema_validator

from massager import api, bundled

DOC = Path(__file__).parents[1] / "docs" / "profiles.md"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    """The validator of what `massager schema profile` prints."""
    return schema_validator("profile")


@pytest.mark.parametrize("name", api.bundled_profiles())
def test_every_bundled_profile_passes_the_schema(
    validator: jsonschema.protocols.Validator, name: str
) -> None:
    path = bundled.find("profiles", name)
    assert path is not None
    assert errors(validator, yaml.safe_load(path.read_text())) == []


def _doc_profiles() -> list[Any]:
    """Each yaml example of the doc, as the whole profile file it belongs in."""
    out = []
    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S):
        data = yaml.safe_load(block)
        if isinstance(data, dict) and "actuators" in data:
            continue  # a rig
        if isinstance(data, dict) and "steps" in data and ("name" in data or "params" in data):
            out.append(data)
        else:
            out.append({"steps": data if isinstance(data, list) else [data]})
    return out


@pytest.mark.parametrize("data", _doc_profiles(), ids=lambda d: str(d)[:40])
def test_every_doc_example_passes_the_schema(
    validator: jsonschema.protocols.Validator, data: Any
) -> None:
    assert errors(validator, data) == []


@pytest.mark.parametrize(
    "step",
    [
        {"technique": "toe_work", "duration": "$long", "strokes": "$n", "zones": ["$z", "heel"]},
        {"technique": "rub", "duration": "1m", "feet": "$side", "optional": "$opt"},
        {"technique": "vibrate", "duration": "1m", "shape": "$shape", "name": "$label"},
    ],
)
def test_a_param_is_accepted_wherever_the_loader_takes_one(
    validator: jsonschema.protocols.Validator, step: dict[str, Any]
) -> None:
    params = {"long": "1m", "n": 2, "z": "toes", "side": "left", "opt": True}
    params.update({"shape": "triangle", "label": "x"})
    data = {"params": params, "steps": [step, {"repeat": "$n", "steps": [step]}]}
    assert errors(validator, data) == []
    api.profile_from_data(data)  # and the loader takes it too


@pytest.mark.parametrize(
    ("data", "loader_error"),
    [
        ({"steps": [{"technique": "rub", "duration": "1m", "feet": "middle"}]}, "feet"),
        ({"steps": [{"technique": "rub", "duration": "90"}]}, "duration"),
        ({"steps": [{"technique": "rub", "duration": "1m", "zones": ["elbow"]}]}, "zone"),
        ({"steps": [{"technique": "rub", "duration": "1m", "speed": 2}]}, "speed"),
        ({"params": {"t": "rub"}, "steps": [{"technique": "$t", "duration": "1m"}]}, "technique"),
        ({"steps": [{"technique": "knee", "duration": "1m"}]}, "technique"),
    ],
)
def test_what_the_loader_refuses_the_schema_refuses(
    validator: jsonschema.protocols.Validator, data: dict[str, Any], loader_error: str
) -> None:
    assert errors(validator, data) != []
    with pytest.raises(Exception, match=loader_error):
        api.profile_from_data(data)
