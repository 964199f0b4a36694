"""What the schema tests share: the validator of what `massager schema KIND` prints."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import jsonschema

from massager.cli import run


def schema_validator(kind: str) -> jsonschema.protocols.Validator:
    """A jsonschema validator of the schema `massager schema KIND` prints (itself checked)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run(["schema", kind]) == 0
    schema = json.loads(out.getvalue())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def errors(validator: jsonschema.protocols.Validator, data: Any) -> list[str]:
    """Every error the validator finds in `data`, with its path."""
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
