"""Read rig files: YAML into a validated Rig, every problem located in the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from massager import diagnostics, yamlio
from massager.errors import CompileWarning, InputError
from massager.rig.model import Actuator, Bindings, GpioBinding, Rig, SerialBinding, TempSensor
from massager.units import exact_duration_ms, exact_ms_text, format_duration, whole_ms
from massager.yamlio import Loc, Located

WHY_MS = "times are whole milliseconds"

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
        rig = Rig.model_validate(data)
    except ValidationError as exc:
        raise InputError(diagnostics.problems(exc, doc, (), _allowed)) from None
    rig.set_warnings(rounded(doc, rig))
    return rig


def rounded(doc: Located, rig: Rig) -> list[CompileWarning]:
    """A `rounded` warning for each duration of the rig written finer than a millisecond.

    The rule is the profiles' (docs/rigs.md, "Durations"): the devices keep times in
    whole milliseconds, so `max_on: 1.5ms` is enforced as 2ms, and said so.
    """
    found: list[tuple[Loc, str | None, str]] = [
        ((key,), None, key) for key in ("heat_max", "heat_max_ms") if key in doc.data
    ]
    for k, (raw, act) in enumerate(zip(doc.data["actuators"], rig.actuators, strict=True)):
        if isinstance(raw, dict):
            found += [(("actuators", k, key), act.id, key) for key in ("max_on", "max_on_ms")]
    out: list[CompileWarning] = []
    for loc, actuator, key in found:
        text = _value(doc.data, loc)
        if not isinstance(text, str) or whole_ms(exact := exact_duration_ms(text)):
            continue
        line, col = doc.where(loc)
        played = format_duration(round(exact))
        who = f"{actuator}: " if actuator else ""
        message = f"{who}{key} {text} ({exact_ms_text(exact)} ms) is enforced as {played}: {WHY_MS}"
        out.append(
            CompileWarning(doc.path, line, col, message, "rounded", None, actuator, text, played)
        )
    return out


def _value(data: Any, loc: Loc) -> object:
    """The value at `loc` in parsed data, or None where there is none."""
    for part in loc:
        if isinstance(part, int):
            data = data[part] if isinstance(data, list) and part < len(data) else None
        else:
            data = data.get(part) if isinstance(data, dict) else None
    return data


def _allowed(loc: Loc) -> list[str]:
    """The field names valid where an unknown field `loc` was found."""
    model: type[BaseModel] = Rig
    parents = [p for p in loc[:-1] if isinstance(p, str)]
    if parents[:1] == ["actuators"]:
        model = Actuator
        for part in parents[1:]:
            model = _NESTED.get(part, model)
    return sorted(diagnostics.written_names(model))
