"""The foot's zones: their hierarchy, default sensitivities and the forbidden zone."""

from __future__ import annotations

FORBIDDEN_ZONE = "knee_back"
"""The hollow of the knee: vessels lie close to the skin. No step or rig may reach it."""

PARENTS: dict[str, tuple[str, ...]] = {
    "toes": ("toe1", "toe2", "toe3", "toe4", "toe5"),
    "sole": ("ball", "arch", "heel"),
    "ankle": ("ankle_inner", "ankle_outer"),
}
"""Parent zones and their children; an actuator reaching a parent reaches each child."""

LEAVES_WITHOUT_PARENT: tuple[str, ...] = ("achilles", "instep", "shin", "calf")

DEFAULT_SENSITIVITY: dict[str, float] = {
    "toe1": 0.6,
    "toe2": 0.6,
    "toe3": 0.6,
    "toe4": 0.6,
    "toe5": 0.6,
    "ball": 0.85,
    "arch": 0.7,
    "heel": 1.0,
    "achilles": 0.5,
    "ankle_inner": 0.35,
    "ankle_outer": 0.35,
    "instep": 0.4,
    "shin": 0.5,
    "calf": 0.8,
}
"""Sensitivity factor (0..1) of every leaf zone: coarse skin takes more force."""

ALL_ZONES: tuple[str, ...] = (*PARENTS, *DEFAULT_SENSITIVITY)
"""Every zone a profile or rig may name (the forbidden one excluded)."""

PRESS_FORBIDDEN: frozenset[str] = frozenset({"ankle", "ankle_inner", "ankle_outer"})
"""The ankle bones are circled, never pressed."""


def check(name: object) -> None:
    """Raise ValueError (with a "did you mean") unless `name` is a known, allowed zone."""
    import difflib

    if isinstance(name, str) and is_zone(name):
        return
    if name == FORBIDDEN_ZONE:
        raise ValueError(f"zone {FORBIDDEN_ZONE!r} (the hollow of the knee) is forbidden")
    close = difflib.get_close_matches(str(name), ALL_ZONES, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown zone {name!r}{hint}; known zones: {', '.join(ALL_ZONES)}")


def is_zone(name: str) -> bool:
    """True if `name` is a known, allowed zone."""
    return name in PARENTS or name in DEFAULT_SENSITIVITY


def leaves(zone: str) -> tuple[str, ...]:
    """The leaf zones under `zone` (itself when it is a leaf)."""
    return PARENTS.get(zone, (zone,))


def expand(zones: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """All leaf zones covered by `zones`, in first-seen order, without repeats."""
    seen: dict[str, None] = {}
    for zone in zones:
        for leaf in leaves(zone):
            seen.setdefault(leaf, None)
    return tuple(seen)


def sensitivity(zone: str, overrides: dict[str, float] | None = None) -> float:
    """Sensitivity of a zone: a parent's is the lowest of its children's (the safe choice).

    `overrides` (a rig's `sensitivity:`) lower zones: a leaf's value replaces its
    default when lower, a parent's value caps each of its children.
    """
    table = dict(DEFAULT_SENSITIVITY)
    for name, factor in (overrides or {}).items():
        for leaf in leaves(name):
            table[leaf] = min(table[leaf], factor)
    return min(table[leaf] for leaf in leaves(zone))
