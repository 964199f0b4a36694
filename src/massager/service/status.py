"""The status object every client draws: what the device does now, built from a snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from massager import zones
from massager.rig.model import Rig
from massager.stream import CommandStream, StepInfo


@dataclass
class Snapshot:
    """What the session thread last reported (levels, temperatures, time), kept by the core."""

    session_ms: float = 0.0
    levels: dict[str, float] = field(default_factory=dict)
    temps: dict[str, float] = field(default_factory=dict)
    intensity: float = 1.0
    fault: dict[str, str] | None = None
    last_outcome: dict[str, str] | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def idle(cls, rig: Rig) -> Snapshot:
        """Every output at zero, nothing playing."""
        return cls(levels={a.id: 0.0 for a in rig.actuators})

    @classmethod
    def starting(cls, rig: Rig, intensity: float, previous: Snapshot | None = None) -> Snapshot:
        """A fresh session about to start (temperatures and the last outcome carried over)."""
        snap = cls.idle(rig)
        snap.intensity = intensity
        if previous is not None:
            snap.temps = dict(previous.temps)
            snap.last_outcome = previous.last_outcome
        return snap


def zone_map(rig: Rig) -> dict[str, list[str]]:
    """Each zone the rig reaches -> the actuators reaching it: a leaf zone's own, and a parent
    zone's (sole, toes, ankle) those that reach it or any zone within it."""
    out: dict[str, list[str]] = {}
    for actuator in rig.actuators:
        leaves = zones.expand(actuator.reaches)
        parents = [p for p, children in zones.PARENTS.items() if set(children) & set(leaves)]
        for name in dict.fromkeys((*parents, *leaves)):
            out.setdefault(name, []).append(actuator.id)
    return out


def _current(steps: list[StepInfo], t: float) -> tuple[StepInfo | None, StepInfo | None]:
    """The step playing at `t` (the latest started, on parallel tracks) and the next one."""
    now = [s for s in steps if s.start_ms <= t < s.end_ms]
    current = max(now, key=lambda s: (s.start_ms, s.index)) if now else None
    later = [s for s in steps if s.start_ms > t]
    upcoming = min(later, key=lambda s: (s.start_ms, s.index)) if later else None
    return current, upcoming


def _label(step: StepInfo) -> str:
    return step.name or f"{step.technique} {', '.join(step.zones)}"


def step_fields(stream: CommandStream | None, t: float) -> dict[str, Any]:
    """The `step` and `next_step` members of the status at session time `t`."""
    if stream is None:
        return {"step": None, "next_step": None}
    steps = sorted(stream.steps, key=lambda s: (s.start_ms, s.index))
    current, upcoming = _current(steps, t)
    step = None
    if current is not None:
        step = {
            "index": steps.index(current) + 1,
            "count": len(steps),
            "label": _label(current),
            "technique": current.technique,
            "ends_in_ms": int(max(0.0, current.end_ms - t)),
        }
    next_step = None
    if upcoming is not None:
        next_step = {
            "index": steps.index(upcoming) + 1,
            "label": _label(upcoming),
            "technique": upcoming.technique,
        }
    return {"step": step, "next_step": next_step}


def build_status(
    *,
    state: str,
    snap: Snapshot,
    rig: Rig,
    stream: CommandStream | None,
    controller: dict[str, str] | None,
    you: str | None,
    clients: int,
    deadman_in_s: float | None,
) -> dict[str, Any]:
    """The status object (docs/api.md) from the core's state and snapshot."""
    t = snap.session_ms if stream is not None else 0.0
    duration = stream.duration_ms if stream is not None else 0
    levels = {a: round(v, 3) for a, v in snap.levels.items()}
    zone_levels = {
        zone: round(max(abs(levels.get(a, 0.0)) for a in ids), 3)
        for zone, ids in zone_map(rig).items()
    }
    return {
        "state": state,
        "profile": stream.profile if stream is not None else None,
        "session_ms": int(t),
        "duration_ms": duration,
        "time_left_ms": int(max(0.0, duration - t)),
        **step_fields(stream, t),
        "intensity": snap.intensity,
        "levels": levels,
        "zones": zone_levels,
        "temps": {h: round(v, 1) for h, v in snap.temps.items()},
        "fault": snap.fault,
        "controller": controller,
        "you": you,
        "clients": clients,
        "deadman_in_s": None if deadman_in_s is None else round(deadman_in_s, 1),
        "last_outcome": snap.last_outcome,
        "warnings": list(snap.warnings),
    }
