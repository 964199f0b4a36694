"""What `profile.list` and `profile.describe` return: profiles as data a page can draw."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from massager import api
from massager.errors import MassagerError
from massager.stream import Command, CommandStream, Timeline
from massager.ui.plot import envelope

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


def lane(commands: list[Command], duration_ms: int) -> list[tuple[float, float]]:
    """[t_ms, level] points of one actuator, joined by straight lines, as the stream plays it.

    The corners of its course, evaluated by `Timeline`: each command's start (the level
    before it and the level it sets), a ramp's end and the level at the next command. A wave
    is drawn through its turns (16 points a period of a sine) when the lane's MAX_POINTS
    allow it, or else as its envelope: points alternating between its high and its low.
    A lane with more corners than MAX_POINTS even so is drawn as its envelope in MAX_POINTS / 2
    slices (`massager.ui.plot.envelope`).
    """
    timeline = Timeline(commands)
    end = float(duration_ms)
    spans = []
    for i, command in enumerate(commands):
        a = float(command.at_ms)
        if a > end:
            break
        b = float(commands[i + 1].at_ms) if i + 1 < len(commands) else end
        spans.append((i, command, a, min(b, end)))
    waves = sum(b - a for _, c, a, b in spans if c.op == "wave" and c.hz > 0)
    budget = max(0, MAX_POINTS - 4 * len(spans) - 2)  # what the waves' turns may use
    points: list[tuple[float, float]] = [(0.0, 0.0)]
    for i, command, a, b in spans:
        points.append((a, timeline.start_level(i)))
        corners = [a]
        if command.op == "ramp" and a + command.duration_ms < b:
            corners.append(a + command.duration_ms)
        elif command.op == "wave" and command.hz > 0 and b > a:
            share = int(budget * (b - a) / waves)
            step = 1000.0 / command.hz / (2 if command.shape == "triangle" else 16)
            if (b - a) / step <= share:
                corners += [t for t in (a + k * step for k in range(1, share + 1)) if t < b]
            else:
                gap = (b - a) / (share + 1)
                swing = (command.high, command.low)
                points += [(a, command.low)]
                points += [(a + k * gap, swing[(k - 1) % 2]) for k in range(1, share + 1)]
                corners = []
        points += [(t, timeline.level_at(t)) for t in corners]
        if b > a:  # the level just before the next command (or at the end of the profile)
            last = timeline.start_level(i + 1) if i + 1 < len(commands) else timeline.level_at(b)
            points.append((b, last))
    if points[-1][0] < end:
        points.append((end, points[-1][1]))
    if len(points) > MAX_POINTS:
        points = _envelope_points(commands, duration_ms)
    return [(round(t, 1), round(v, 3)) for t, v in points]


def _envelope_points(commands: list[Command], duration_ms: int) -> list[tuple[float, float]]:
    """MAX_POINTS points: each slice's lowest and highest level, in the order they alternate."""
    slices = MAX_POINTS // 2
    width = max(duration_ms, 1) / slices
    edges = [k * width for k in range(slices + 1)]
    lo, hi = envelope(commands, edges)
    points: list[tuple[float, float]] = []
    for k in range(slices):
        first, second = (lo[k], hi[k]) if k % 2 == 0 else (hi[k], lo[k])
        points += [(edges[k], first), (edges[k] + width / 2, second)]
    return points


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
        actuator: lane(commands, stream.duration_ms) for actuator, commands in by_actuator.items()
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
