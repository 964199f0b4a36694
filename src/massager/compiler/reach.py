"""Which actuators of a rig a step drives, and how hard each may press."""

from __future__ import annotations

from massager import zones
from massager.rig.model import Actuator, Rig

TECHNIQUE_KINDS: dict[str, tuple[str, ...]] = {
    "rub": ("roller",),
    "toe_work": ("roller",),
    "point_press": ("roller", "air"),
    "heel_press": ("roller", "air"),
    "roller_pass": ("roller",),
    "knead": ("roller",),
    "achilles": ("air", "roller"),
    "ankle_circles": ("air",),
    "pebble_walk": ("roller", "vibration", "air"),
    "vibrate": ("vibration",),
    "heat": ("heater",),
    "rest": (),
    "curve": ("roller", "vibration", "air"),
}
"""The actuator kinds each technique is made of."""

FOOT_ORDER: tuple[str, ...] = (
    "toe1",
    "toe2",
    "toe3",
    "toe4",
    "toe5",
    "ball",
    "arch",
    "heel",
    "achilles",
    "ankle_inner",
    "ankle_outer",
    "instep",
    "shin",
    "calf",
)
"""Leaf zones from the tip of the toes back and up the leg (roller passes travel along it)."""


def kinds_of(step: object) -> tuple[str, ...]:
    """The actuator kinds a step drives: its technique's, or (a curve's) those keyframed."""
    technique = str(getattr(step, "technique", ""))
    own = getattr(step, "kinds", None)
    return tuple(own) if isinstance(own, tuple) else TECHNIQUE_KINDS[technique]


def feet_of(feet: str) -> tuple[str, ...]:
    """The feet a `feet:` value works on."""
    return ("left", "right") if feet in ("both", "alternate") else (feet,)


def zone_limit(rig: Rig, act: Actuator) -> float:
    """Sensitivity an actuator's level is scaled by: the lowest of every zone it touches."""
    return min(rig.zone_sensitivity(leaf) for leaf in act.leaf_zones)


def position(act: Actuator) -> int:
    """Where along the foot an actuator sits (its front-most zone in FOOT_ORDER)."""
    return min(FOOT_ORDER.index(leaf) for leaf in act.leaf_zones)


def reaching(
    rig: Rig,
    technique: str,
    zone_names: tuple[str, ...] | list[str],
    foot: str,
    kinds: tuple[str, ...] | None = None,
) -> list[Actuator]:
    """Actuators of the technique's kinds (or `kinds`) on `foot` reaching any of the zones."""
    kinds = TECHNIQUE_KINDS[technique] if kinds is None else kinds
    wanted = set(zones.expand(tuple(zone_names)))
    return [
        a
        for a in rig.actuators
        if a.kind in kinds and a.foot == foot and wanted.intersection(a.leaf_zones)
    ]


def unreachable(
    rig: Rig,
    technique: str,
    zone_names: tuple[str, ...],
    feet: str,
    kinds: tuple[str, ...] | None = None,
) -> list[tuple[str, str]]:
    """(foot, zone) pairs of a step that no actuator of the rig can work on."""
    kinds = TECHNIQUE_KINDS[technique] if kinds is None else kinds
    if not kinds:
        return []
    return [
        (foot, zone)
        for foot in feet_of(feet)
        for zone in zone_names
        if not reaching(rig, technique, (zone,), foot, kinds)
    ]
