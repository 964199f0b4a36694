"""Turn what the compiler changed into located warnings (the warning channel).

The motion helpers and techniques record Notes (a wave slowed, a level lowered,
motion left out); the builder reports steps an optional rig skips and steps
that compile to nothing. `Warnings` gives each a place in the profile (the
field responsible, when the author wrote it; else the step), names the step
by its number from 1 and the actuator, and merges the same change repeated in
every round of a `repeat` into one warning listing the step numbers.
"""

from __future__ import annotations

from typing import Any

from massager.compiler.motion import Note
from massager.compiler.reach import feet_of, kinds_of
from massager.errors import CompileWarning
from massager.records import record
from massager.units import format_duration


@record(frozen=False)
class _Entry:
    """One warning being collected: the step, its numbers in the step table, its change."""

    step: Any
    numbers: list[int]
    name: str
    note: Note

    def __init__(self, step: Any, numbers: list[int], name: str, note: Note) -> None:
        self.step = step
        self.numbers = numbers
        self.name = name
        self.note = note


def written(step: Any, key: str) -> bool:
    """Whether the author wrote field `key` (as the file spells it) of `step`."""
    fields = getattr(type(step), "model_fields", {})
    names = {name for name, info in fields.items() if (info.alias or name) == key}
    return bool(names & set(getattr(step, "model_fields_set", ())))


def located(step: Any, key: str | None) -> tuple[str, int, int]:
    """(path, line, col) of a step's field `key`, if the author wrote it, else of the step.

    `key` may go deeper, with dots: ``keyframes.roller.2.at`` (list items by index).
    """
    origin = getattr(step, "origin", None)
    if origin is None:
        return "<profile>", 1, 1
    parts = [] if key is None else [int(p) if p.isdigit() else p for p in key.split(".")]
    at = origin.loc if not parts or not written(step, str(parts[0])) else (*origin.loc, *parts)
    line, col = origin.doc.where(at)
    return origin.doc.path, line, col


@record(frozen=False)
class Warnings:
    """Collects the warnings of one compile, in step order, merged across repeat rounds."""

    rig: str
    entries: dict[tuple[Any, ...], _Entry]

    def __init__(self, rig: str) -> None:
        self.rig = rig
        self.entries = {}

    def add(self, step: Any, number: int, name: str, note: Note) -> None:
        """One change to step `number` (named `name` in the step table)."""
        key = (id(step), note.kind, note.field, note.actuator, note.text)
        entry = self.entries.get(key)
        if entry is None:
            self.entries[key] = _Entry(step, [number], name, note)
        elif number not in entry.numbers:
            entry.numbers.append(number)

    def skipped(self, step: Any, number: int, name: str, missing: list[tuple[str, str]]) -> None:
        """An optional step (or some of its zones) that no actuator of the rig reaches."""
        kinds = " or ".join(kinds_of(step))
        if not missing:
            return
        whole = len(missing) == len(feet_of(step.feet)) * len(step.zones)
        if whole:
            text = (
                f"skipped on rig {self.rig!r}: no {kinds} reaches its zones; it is left "
                f"out and takes no time (of its {format_duration(step.total_ms)})"
            )
            self.add(step, number, name, Note("skipped", "optional", None, "run", "skipped", text))
            return
        by_zone: dict[str, list[str]] = {}
        for foot, zone in missing:
            by_zone.setdefault(zone, []).append(foot)
        for zone, feet in by_zone.items():
            where = "either foot" if len(feet) > 1 else f"the {feet[0]} foot"
            text = (
                f"zone {zone!r} skipped on {where}: no {kinds} of rig {self.rig!r} reaches it "
                "(the rest of the step runs)"
            )
            self.add(step, number, name, Note("skipped", "zones", None, zone, "skipped", text))

    def nothing(self, step: Any, number: int, name: str) -> None:
        """A step that reaches actuators but compiles to no motion at all."""
        text = (
            f"compiles to no motion on rig {self.rig!r}: it plays as "
            f"{format_duration(step.total_ms)} of stillness (see the warnings on its actuators)"
        )
        self.add(step, number, name, Note("nothing", "intensity", None, "motion", "none", text))

    def result(self) -> tuple[CompileWarning, ...]:
        """Every warning, located and worded, in the order they arose."""
        out: list[CompileWarning] = []
        for entry in self.entries.values():
            note = entry.note
            path, line, col = located(entry.step, note.field)
            if len(entry.numbers) == 1:
                who = f"step {entry.numbers[0]} {entry.name!r}"
            else:
                numbers = ", ".join(str(n) for n in entry.numbers)
                who = f"steps {numbers} {entry.step.label!r}"
            where = f"{who} ({entry.step.technique})"
            if note.actuator:
                where += f": {note.actuator}"
            out.append(
                CompileWarning(
                    path,
                    line,
                    col,
                    f"{where}: {note.text}",
                    kind=note.kind,
                    step=entry.numbers[0],
                    actuator=note.actuator,
                    asked=note.asked,
                    applied=note.applied,
                )
            )
        return tuple(out)
