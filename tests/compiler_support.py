"""Helpers for compiler tests: a small rig and one-step profiles."""

from __future__ import annotations

from typing import Any

from massager import api
from massager.rig.model import Rig
from massager.stream import Command, CommandStream


def actuator(
    ident: str, kind: str, reaches: list[str], channel: int, **limits: Any
) -> dict[str, Any]:
    """One actuator entry of a rig file, bound to a serial channel."""
    foot = "right" if ident.startswith("right") else "left"
    entry: dict[str, Any] = {
        "id": ident,
        "kind": kind,
        "foot": foot,
        "reaches": reaches,
        "bindings": {"serial": {"channel": channel}},
    }
    if kind == "heater":
        entry["max_temp_c"] = "42C"
    entry.update(limits)
    return entry


def small_rig(**rig_fields: Any) -> Rig:
    """A left-foot rig: heel roller, arch roller, calf air, arch vibration, sole heater."""
    actuators = [
        actuator("left_heel", "roller", ["heel"], 0, max_slew=2.0, min_level=0.1),
        actuator("left_arch", "roller", ["arch"], 1, max_slew=2.0, min_level=0.1),
        actuator("left_calf", "air", ["calf"], 2, max_slew=1.0, max_level=0.8),
        actuator("left_vib", "vibration", ["arch"], 3, max_slew=5.0, min_level=0.2),
        actuator("left_heater", "heater", ["sole"], 4, max_level=0.6),
    ]
    return api.rig_from_data({"name": "small", "actuators": actuators, **rig_fields})


def one_step(step: dict[str, Any], rig: Rig | None = None, **settings: Any) -> CommandStream:
    """Compile a profile made of this one step (on the left foot unless it says otherwise)."""
    if step.get("technique") != "rest":
        step = {"feet": "left", **step}
    profile = api.profile_from_data({"name": "one", "steps": [step]})
    return api.compile_stream(profile, rig or small_rig(), **settings)


def of(stream: CommandStream, actuator_id: str, op: str | None = None) -> list[Command]:
    """The commands of one actuator (of one op, if given), in time order."""
    return [c for c in stream.commands if c.actuator == actuator_id and (op is None or c.op == op)]


def peaks(commands: list[Command]) -> list[float]:
    """Levels of the ramps that leave zero (the peaks of pulses)."""
    return [c.level for c in commands if c.op == "ramp" and c.level != 0]
