"""What `profile.list` and `profile.describe` return: profiles as data a page can draw."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from massager import api
from massager.errors import MassagerError
from massager.stream import CommandStream, Timeline

if TYPE_CHECKING:
    from massager.service.core import ServiceCore
    from massager.service.models import DescribeParams

MAX_POINTS = 400
"""Most points per actuator lane in a described timeline."""


def summary() -> list[dict[str, Any]]:
    """Name, description, duration and techniques of every bundled profile that loads."""
    out = []
    for name in api.bundled_profiles():
        try:
            profile = api.load_profile(name)
        except MassagerError:
            continue
        out.append(
            {
                "name": profile.name,
                "description": profile.description.strip(),
                "duration_ms": profile.duration_ms,
                "techniques": profile.techniques(),
            }
        )
    return out


def lane(timeline: Timeline, times: list[float], duration_ms: int) -> list[tuple[float, float]]:
    """[t_ms, level] points of one actuator: its corners, or at most MAX_POINTS even samples."""
    corners = sorted({0.0, *times, *(max(0.0, t - 1.0) for t in times), float(duration_ms)})
    if len(corners) > MAX_POINTS:
        step = duration_ms / (MAX_POINTS - 1)
        corners = [i * step for i in range(MAX_POINTS)]
    return [(round(t, 1), round(timeline.level_at(t), 3)) for t in corners]


def describe(core: ServiceCore, params: DescribeParams, stream: CommandStream) -> dict[str, Any]:
    """The description of a compiled profile for the core's rig (see docs/api.md)."""
    profile = (
        api.profile_from_text(params.text)
        if params.text is not None
        else api.load_profile(params.profile or "")
    )
    steps = sorted(stream.steps, key=lambda s: (s.start_ms, s.index))
    by_actuator = stream.by_actuator()
    timeline = {
        actuator: lane(Timeline(commands), [float(c.at_ms) for c in commands], stream.duration_ms)
        for actuator, commands in by_actuator.items()
    }
    return {
        "name": stream.profile,
        "description": profile.description.strip(),
        "duration_ms": stream.duration_ms,
        "params": {k: v for k, v in profile.params.items()},
        "steps": [
            {
                "index": i + 1,
                "label": s.name or s.technique,
                "technique": s.technique,
                "zones": list(s.zones),
                "start_ms": s.start_ms,
                "end_ms": s.end_ms,
            }
            for i, s in enumerate(steps)
        ],
        "actuators": [
            {"id": a.id, "kind": a.kind, "foot": a.foot, "zones": list(a.reaches)}
            for a in core.rig.actuators
        ],
        "timeline": timeline,
        "warnings": list(getattr(stream, "warnings", []) or []),
    }
