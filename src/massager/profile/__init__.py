"""Profiles: what a massage does, step by step, in zones and techniques."""

from massager.profile.model import (
    TECHNIQUES,
    Group,
    Include,
    Item,
    Parallel,
    Profile,
    Repeat,
    Rest,
    StepBase,
    iter_steps,
)

__all__ = [
    "TECHNIQUES",
    "Group",
    "Include",
    "Item",
    "Parallel",
    "Profile",
    "Repeat",
    "Rest",
    "StepBase",
    "iter_steps",
]
