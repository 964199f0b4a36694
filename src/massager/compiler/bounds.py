"""Limits on how much work compiling a profile may take, checked before any of it is done.

A profile file is small, but a repeat multiplies its steps and an include
pulls in a whole profile, so a few lines can stand for millions of steps.
The number of steps a profile places on the session clock is computed from
the written structure (repeats multiplied, never expanded) and refused above
MAX_STEPS, at the repeat or block that makes it so; the commands the
techniques build are counted as they are built and refused above
MAX_COMMANDS, at the step where the stream passes it.
"""

from __future__ import annotations

from typing import Any

from massager.errors import InputError, Problem
from massager.profile.model import Item, Origin, Profile, Repeat, children

MAX_STEPS = 50_000
"""Most steps a profile may place on the session clock, repeats and includes expanded."""

MAX_COMMANDS = 100_000
"""Most commands a compiled stream may hold (a long session needs a few tens of thousands)."""


def check_steps(profile: Profile) -> None:
    """Refuse a profile that expands into more than MAX_STEPS steps, before expanding it.

    The message points at the repeat that multiplies past the limit, or at the
    step or block where the running count passes it.
    """
    total = profile.expanded_steps
    if total <= MAX_STEPS:
        return
    limit = f"more than the {MAX_STEPS:,} steps a profile may compile into"
    items: list[Item] = list(profile.steps)
    placed = 0
    while True:
        for item in items:
            count = item.expanded_steps
            if count > MAX_STEPS:
                if isinstance(item, Repeat):
                    raise InputError(
                        _problem(
                            item,
                            "repeat",
                            f"repeat {item.repeat} x {_steps(item.once_steps)} = "
                            f"{_steps(count)}, {limit}",
                        )
                    )
                items = children(item)
                break
            placed += count
            if placed > MAX_STEPS:
                raise InputError(
                    _problem(
                        item,
                        None,
                        f"the profile expands into {_steps(total)}, {limit} "
                        f"(it passes the limit here, at {_steps(placed)})",
                    )
                )
        else:  # pragma: no cover - the counts above add up to `total`
            raise InputError(Problem("<profile>", 1, 1, f"{_steps(total)}, {limit}"))


def check_commands(count: int, step: Any, label: str) -> None:
    """Refuse a stream whose `count` commands so far pass MAX_COMMANDS at `step` (`label`)."""
    if count > MAX_COMMANDS:
        raise InputError(
            _problem(
                step,
                None,
                f"step {label!r} ({step.technique}): the stream passes {MAX_COMMANDS:,} "
                "commands here, more than a profile may compile into; use fewer or longer steps",
            )
        )


def _steps(count: int) -> str:
    return f"{count:,} step" + ("" if count == 1 else "s")


def _problem(item: Any, field: str | None, message: str) -> Problem:
    origin: Origin | None = item.origin
    if origin is None:
        return Problem("<profile>", 1, 1, message)
    return origin.problem(message, field)
