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

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from massager.errors import InputError, Problem
from massager.profile.model import Item, Origin, Profile, Repeat, children

MAX_STEPS = 50_000
"""Most steps a profile may place on the session clock, repeats and includes expanded."""

MAX_COMMANDS = 100_000
"""Most commands a compiled stream may hold (a long session needs a few tens of thousands)."""


def passing(items: Sequence[Item], size: Callable[[Item], int], limit: int) -> Passing | None:
    """Where items placed one after the other, `size` each, first go past `limit`.

    Walks in written order, keeping a running total. An item over the limit on
    its own is opened (its children walked instead, the total carried on) unless
    it is a repeat or has no children: then it is the answer, alone. Otherwise
    the answer is the item at which the running total passes the limit. None if
    the sizes never pass it.
    """
    placed = 0
    todo = list(items)
    while True:
        for item in todo:
            count = size(item)
            if count > limit:
                inner = [] if isinstance(item, Repeat) else children(item)
                if not inner:
                    return Passing(item, None)
                todo = inner
                break
            placed += count
            if placed > limit:
                return Passing(item, placed)
        else:
            return None


class Passing(NamedTuple):
    """Where a limit is passed: `item`, alone over it (`placed` None) or where the running
    total reaches `placed`."""

    item: Item
    placed: int | None


def check_steps(profile: Profile) -> None:
    """Refuse a profile that expands into more than MAX_STEPS steps, before expanding it.

    The message points at the repeat that multiplies past the limit, or at the
    step or block where the running count passes it.
    """
    total = profile.expanded_steps
    if total <= MAX_STEPS:
        return
    limit = f"more than the {MAX_STEPS:,} steps a profile may compile into"
    where = passing(profile.steps, _expanded, MAX_STEPS)
    if where is None:  # pragma: no cover - the counts above add up to `total`
        raise InputError(Problem("<profile>", 1, 1, f"{_steps(total)}, {limit}"))
    item = where.item
    if where.placed is None and isinstance(item, Repeat):
        count = _steps(item.expanded_steps)
        message = f"repeat {item.repeat} x {_steps(item.once_steps)} = {count}, {limit}"
        raise InputError(problem_at(item, "repeat", message))
    raise InputError(
        problem_at(
            item,
            None,
            f"the profile expands into {_steps(total)}, {limit} "
            f"(it passes the limit here, at {_steps(where.placed or 0)})",
        )
    )


def _expanded(item: Item) -> int:
    return item.expanded_steps


def check_commands(count: int, step: Any, label: str) -> None:
    """Refuse a stream whose `count` commands so far pass MAX_COMMANDS at `step` (`label`)."""
    if count > MAX_COMMANDS:
        raise InputError(
            problem_at(
                step,
                None,
                f"step {label!r} ({step.technique}): the stream passes {MAX_COMMANDS:,} "
                "commands here, more than a profile may compile into; use fewer or longer steps",
            )
        )


def _steps(count: int) -> str:
    return f"{count:,} step" + ("" if count == 1 else "s")


def problem_at(item: Any, field: str | None, message: str) -> Problem:
    """A problem located at `item` (a step or block), or at its `field` when given."""
    origin: Origin | None = item.origin
    if origin is None:
        return Problem("<profile>", 1, 1, message)
    return origin.problem(message, field)
