"""The JSON Schema of profile files, accepting exactly what the loader accepts.

Pydantic's schema of the models describes validated values; a profile *file*
differs in two ways, both added here: `name` may be left out (it defaults to
the file name), and any value inside `steps` (a step's field, a zone of a
list, a block's `repeat`) may be a `$param` reference, which the loader
substitutes before validating. The only exceptions are `technique` (the
loader refuses a `$param` there, so editors can tell the steps apart) and the
lists of steps themselves.
"""

from __future__ import annotations

import copy
from typing import Any

from massager.profile.model import PARAM_REF, Profile

SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"
_NOT_PARAMS = frozenset({"technique", "steps", "parallel"})


def profile_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a profile file."""
    document = Profile.model_json_schema(by_alias=True)
    document["required"] = [r for r in document.get("required", []) if r != "name"]
    for model in document.get("$defs", {}).values():
        for key, prop in model.get("properties", {}).items():
            if key not in _NOT_PARAMS:
                model["properties"][key] = _with_param(prop)
    document["$schema"] = SCHEMA_URL
    return document


def _with_param(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, or a $param reference; array items (a list of zones) likewise."""
    out = copy.deepcopy(schema)
    for branch in [out, *out.get("anyOf", [])]:
        items = branch.get("items")
        if isinstance(items, dict) and not _takes_param(items):
            branch["items"] = {"anyOf": [items, PARAM_REF]}
    if _takes_param(out):
        return out
    notes: dict[str, Any] = {k: out.pop(k) for k in ("title", "description", "default") if k in out}
    return {"anyOf": [out, PARAM_REF], **notes}


def _takes_param(schema: dict[str, Any]) -> bool:
    return PARAM_REF in schema.get("anyOf", [])
