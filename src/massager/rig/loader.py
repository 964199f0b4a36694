"""Read rig files: YAML into a validated Rig, every problem located in the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from massager import diagnostics, yamlio
from massager.errors import InputError
from massager.rig.model import Actuator, Bindings, GpioBinding, Rig, SerialBinding, TempSensor
from massager.yamlio import Loc, Located

_NESTED: dict[str, type[BaseModel]] = {
    "bindings": Bindings,
    "gpio": GpioBinding,
    "serial": SerialBinding,
    "sensor": TempSensor,
}


def load(path: Path, *, display: str | None = None) -> Rig:
    """Load and validate the rig file at `path`."""
    return build(yamlio.load(path, display=display))


def from_data(data: dict[str, Any], *, path: str = "<data>") -> Rig:
    """Validate already-parsed rig data (no positions known)."""
    return build(yamlio.from_data(data, path))


def build(doc: Located) -> Rig:
    """Validate a parsed rig document into a Rig; InputError lists every problem."""
    data = dict(doc.data)
    if "name" not in data and doc.file is not None:
        data["name"] = doc.file.stem
    try:
        return Rig.model_validate(data)
    except ValidationError as exc:
        raise InputError(diagnostics.problems(exc, doc, (), _allowed)) from None


def _allowed(loc: Loc) -> list[str]:
    """The field names valid where an unknown field `loc` was found."""
    model: type[BaseModel] = Rig
    parents = [p for p in loc[:-1] if isinstance(p, str)]
    if parents[:1] == ["actuators"]:
        model = Actuator
        for part in parents[1:]:
            model = _NESTED.get(part, model)
    return sorted(f.alias or n for n, f in model.model_fields.items())
