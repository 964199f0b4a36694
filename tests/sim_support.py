"""Rigs, streams and a slew-limited reference model for the simulator tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from massager.drivers.base import DriverOptions
from massager.drivers.sim import SimDriver
from massager.rig import Rig
from massager.runtime.session import Session
from massager.stream import Command, CommandStream, Timeline


def actuator(aid: str, kind: str, channel: int, **limits: Any) -> dict[str, Any]:
    """An actuator entry of a rig file."""
    entry: dict[str, Any] = {
        "id": aid,
        "kind": kind,
        "foot": "left",
        "reaches": ["sole"],
        "bindings": {"serial": {"channel": channel}},
    }
    if kind == "heater":
        entry["max_temp_c"] = "42C"
    entry.update(limits)
    return entry


def rig(*entries: dict[str, Any], **extra: Any) -> Rig:
    """A rig built in code."""
    return Rig.model_validate({"name": "test", "actuators": list(entries), **extra})


RIG = rig(
    actuator("roller", "roller", 0, max_level=0.9, min_level=0.15, max_slew=3.0),
    actuator("vib", "vibration", 1, max_slew=5.0),
    actuator("bladder", "air", 2, max_slew=2.0, max_on_ms=30_000),
    actuator("pad", "heater", 3, max_level=0.8, max_slew=1.0),
)


def stream(commands: list[Command], duration_ms: int, the_rig: Rig = RIG) -> CommandStream:
    """A stream over `the_rig` ending with every actuator off at `duration_ms`."""
    ids = tuple(a.id for a in the_rig.actuators)
    ends = [Command(duration_ms, a, "off") for a in ids]
    return CommandStream(
        profile="test",
        rig=the_rig.name,
        duration_ms=duration_ms,
        actuators=ids,
        commands=sorted(commands + ends, key=lambda c: c.at_ms),
    )


PROGRAM = stream(
    [
        Command(0, "roller", "ramp", level=0.6, duration_ms=1000),
        Command(1500, "roller", "wave", low=-0.6, high=0.6, hz=0.8),
        Command(0, "vib", "wave", low=0.1, high=0.7, hz=1.5, shape="triangle"),
        Command(4000, "vib", "set", level=0.3),
        Command(500, "bladder", "ramp", level=0.7, duration_ms=2000),
        Command(5000, "bladder", "off"),
        Command(0, "pad", "heat", level=0.8, target_c=38.0),
        Command(6500, "roller", "ramp", level=0.0, duration_ms=1500),
    ],
    9000,
)


def simulate(
    the_stream: CommandStream,
    the_rig: Rig = RIG,
    trace: Path | None = None,
    max_pause_ms: float = 60_000,
    **options: Any,
) -> tuple[SimDriver, Session]:
    """Play `the_stream` on a virtual-clock simulator (run it with `session.run()`)."""
    driver = SimDriver(the_rig, DriverOptions(virtual=True, trace=trace, **options))
    return driver, Session(the_stream, driver, max_pause_ms=max_pause_ms)


def slew_reference(
    the_stream: CommandStream, the_rig: Rig, tick_ms: float, intensity: float = 1.0
) -> dict[str, list[float]]:
    """The level a slew-limited device applies at each tick, by actuator (heaters excluded).

    An independent model of the executor's envelope for streams within the
    limits: the commanded level, scaled and clamped, followed at most
    `max_slew` per second, sampled on the device's tick grid.
    """
    out: dict[str, list[float]] = {}
    by = the_stream.by_actuator()
    ticks = int(the_stream.duration_ms / tick_ms) + int(3000 / tick_ms)
    for act in the_rig.actuators:
        if act.kind == "heater":
            continue
        timeline = Timeline(by.get(act.id, []))
        step = act.max_slew * tick_ms / 1000.0
        level = 0.0
        levels = [0.0]
        for k in range(1, ticks):
            target = timeline.level_at(k * tick_ms) * intensity
            target = min(act.max_level, max(act.low_bound, target))
            level = min(target, level + step) if target > level else max(target, level - step)
            levels.append(level)
        out[act.id] = levels
    return out
