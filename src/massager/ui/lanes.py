"""Which lanes a timeline picture has: one per foot zone and kind, or one per actuator.

By zone (the default), the actuators of one kind that reach the same zones
share a lane on each foot, and the two feet share one lane when they were
commanded exactly alike; by actuator, every actuator has its own lane. An
actuator a profile never moves gets no lane (the picture lists it instead).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from massager.stream import Command

FEET = ("left", "right")


class ActuatorInfo(NamedTuple):
    """What a picture needs to know of an actuator: its kind, foot and the zones it reaches."""

    kind: str
    foot: str = ""
    zones: tuple[str, ...] = ()


@dataclass
class Lane:
    """One lane of the picture: a label, the kind drawn, and the actuators shown in it."""

    label: str
    kind: str
    actuators: list[str]

    @property
    def shown(self) -> str:
        """The actuator whose commands are drawn (the others of the lane move alike)."""
        return self.actuators[0]


def _motion(commands: Sequence[Command]) -> tuple[tuple[object, ...], ...]:
    """An actuator's commands without its name: equal for actuators commanded alike."""
    return tuple(
        (c.at_ms, c.op, c.level, c.duration_ms, c.shape, c.hz, c.low, c.high, c.target_c)
        for c in commands
    )


def idle(commands: Sequence[Command]) -> bool:
    """Whether an actuator's commands never move it off zero."""
    for command in commands:
        if command.op == "wave" and (command.low or command.high):
            return False
        if command.op in ("set", "ramp", "heat") and command.level:
            return False
    return True


def lanes(
    order: Sequence[str],
    by_actuator: Mapping[str, Sequence[Command]],
    info: Mapping[str, ActuatorInfo],
    *,
    by: str = "zone",
    used: set[str] | None = None,
) -> list[Lane]:
    """The lanes for the actuators in `order` that move (or are in `used`)."""
    moving = [a for a in order if (used and a in used) or not idle(by_actuator.get(a, ()))]
    if by == "actuator":
        return [
            Lane(f"{a}\n({info[a].kind})" if a in info else a, info.get(a, _NONE).kind, [a])
            for a in moving
        ]
    groups: dict[tuple[str, tuple[str, ...]], dict[str, list[str]]] = {}
    for actuator in moving:
        meta = info.get(actuator, _NONE)
        key = (meta.kind, meta.zones or (actuator,))
        groups.setdefault(key, {}).setdefault(meta.foot, []).append(actuator)
    out: list[Lane] = []
    for (kind, zone_names), feet in groups.items():
        where = ", ".join(zone_names)
        sides = {foot: acts for foot, acts in feet.items()}
        motions = {
            foot: {_motion(by_actuator.get(a, ())) for a in acts} for foot, acts in sides.items()
        }
        if (
            set(sides) == set(FEET)
            and motions["left"] == motions["right"]
            and len(motions["left"]) == 1
        ):
            out.append(Lane(f"{where}\n{kind} · both feet", kind, sides["left"] + sides["right"]))
            continue
        for foot in sorted(sides, key=lambda f: FEET.index(f) if f in FEET else 2):
            acts = sides[foot]
            if len(motions[foot]) == 1:
                label = f"{where}\n{kind} · {foot}" if foot else f"{where}\n{kind}"
                out.append(Lane(label, kind, acts))
            else:
                out.extend(Lane(f"{a}\n({kind})", kind, [a]) for a in acts)
    return out


_NONE = ActuatorInfo("")
