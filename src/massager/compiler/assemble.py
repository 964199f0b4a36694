"""Compile a profile for a rig: place every step on the session clock and build the stream.

Order of work: the session cap is checked from the profile's computed
duration (a repeat is multiplied, never expanded, so a huge count is refused
at once); every step is checked against the rig's reach; then steps are
placed (repeats expanded, parallel tracks side by side), each technique
builds its motion, and the finished stream goes through the safety check.

An optional step that no actuator of the rig reaches is skipped: it takes no
time (it stays in the step table, marked `skipped`, with no length). Whatever
the compiler changes of what the profile asked becomes a warning on the stream.
"""

from __future__ import annotations

import gc
from typing import Any

from massager.compiler import bounds, reach, rounding, safety
from massager.compiler.bounds import problem_at
from massager.compiler.motion import PULSE_REST_MS
from massager.compiler.notes import Warnings, located
from massager.compiler.techniques import TECHNIQUES, Job, Window
from massager.errors import InputError, Problem, UsageError
from massager.limits import DEFAULT_CAP_MS
from massager.profile.model import (
    Group,
    Include,
    Item,
    Origin,
    Parallel,
    Profile,
    Repeat,
)
from massager.profile.model import children as _children
from massager.records import record
from massager.rig.model import Rig
from massager.stream import Command, CommandStream, StepInfo
from massager.units import format_duration

STEP_REST_MS = 250
"""Every step's motion ends this long (a fifth of a short step) before the step does."""


@record
class Settings:
    """What the user chooses when compiling: intensity and session cap."""

    intensity: float
    session_cap_ms: int

    def __init__(self, intensity: float = 1.0, session_cap_ms: int = DEFAULT_CAP_MS) -> None:
        set_field = object.__setattr__
        set_field(self, "intensity", intensity)
        set_field(self, "session_cap_ms", session_cap_ms)


def compile_profile(profile: Profile, rig: Rig, settings: Settings | None = None) -> CommandStream:
    """Compile `profile` for `rig` into a checked, deterministic command stream.

    Raises InputError (cap, reach, conflicting tracks), SafetyError (a limit
    the stream would break) or UsageError (bad settings).
    """
    # The compile allocates up to 100,000 commands (bounds.py) and keeps them all:
    # the cycle collector's passes over that growing heap made compile time grow
    # faster than the stream (2.3x per keyframe at 50,000). Nothing here needs it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _compile(profile, rig, settings)
    finally:
        if collecting:
            gc.enable()


def _compile(profile: Profile, rig: Rig, settings: Settings | None) -> CommandStream:
    settings = settings or Settings()
    if not 0.0 <= settings.intensity <= 1.0:
        raise UsageError(f"intensity {settings.intensity:g} is outside 0..1")
    if settings.session_cap_ms <= 0:
        raise UsageError("the session cap must be above zero")
    check_cap(profile, settings.session_cap_ms)
    bounds.check_steps(profile)
    builder = _Builder(rig, settings)
    builder.place_all(profile.steps, 0, 0, "")
    if builder.problems:
        raise InputError(builder.problems)
    end = sum(builder.length(item) for item in profile.steps)
    if end == 0:
        raise InputError(
            problem_at(
                profile,
                None,
                f"nothing of profile {profile.name!r} runs on rig {rig.name!r}: every step "
                "is optional and no actuator of the rig reaches it",
            )
        )
    commands = sorted(builder.commands, key=_at)
    commands.extend(Command(end, a.id, "off", step=len(builder.steps) - 1) for a in rig.actuators)
    stream = CommandStream(
        profile=profile.name,
        rig=rig.name,
        duration_ms=end,
        actuators=tuple(a.id for a in rig.actuators),
        steps=builder.steps,
        commands=commands,
        intensity=settings.intensity,
        warnings=(*rig.warnings, *builder.warnings.result()),
    )
    safety.check(stream, rig, builder.describe)
    return stream


def _at(command: Command) -> int:
    return command.at_ms


def check_cap(profile: Profile, cap_ms: int) -> None:
    """Refuse a profile longer than the cap, pointing at the step or repeat that makes it so."""
    total = profile.total_ms
    if total <= cap_ms:
        return
    cap = f"longer than the session cap {format_duration(cap_ms)}"
    where = bounds.passing(profile.steps, _total_ms, cap_ms)
    if where is None:
        raise InputError(
            Problem("<profile>", 1, 1, f"the profile lasts {format_duration(total)}, {cap}")
        )
    item = where.item
    if where.placed is None:
        if isinstance(item, Repeat):
            message = (
                f"repeat {item.repeat} x {format_duration(item.once_ms)} = "
                f"{format_duration(item.total_ms)}, {cap}"
            )
            raise InputError(problem_at(item, "repeat", message))
        message = f"lasts {format_duration(item.total_ms)}, {cap}"
        raise InputError(problem_at(item, _duration_field(item), message))
    message = (
        f"the profile lasts {format_duration(total)}, {cap} "
        f"(it passes the cap here, at {format_duration(where.placed)})"
    )
    raise InputError(problem_at(item, _duration_field(item), message))


def _total_ms(item: Item) -> int:
    return item.total_ms


def _duration_field(item: Any) -> str | None:
    """`duration` for a step (where its length is written), None for a block."""
    return "duration" if "duration_ms" in type(item).model_fields else None


def reach_problems(step: Any, number: int, rig: Rig) -> list[Problem]:
    """Why a (not optional) step `number` cannot run on `rig`: one problem per zone it misses.

    Each problem points at the zone in the step's `zones` list (or at the step,
    when it works on its default zones).
    """
    missing: dict[str, list[str]] = {}
    step_kinds = reach.kinds_of(step)
    for foot, zone in reach.unreachable(
        rig, step.technique, tuple(step.zones), step.feet, step_kinds
    ):
        missing.setdefault(zone, []).append(foot)
    problems: list[Problem] = []
    kinds = " or ".join(step_kinds)
    for zone, feet in missing.items():
        where = "either foot" if len(feet) > 1 else f"the {feet[0]} foot"
        message = (
            f"step {number} {step.label!r} ({step.technique}): no {kinds} on {where} of rig "
            f"{rig.name!r} reaches zone {zone!r} (add optional: true to skip it there)"
        )
        problems.append(_zone_problem(step, zone, message))
    return problems + _unused_kinds(step, number, rig)


def _unused_kinds(step: Any, number: int, rig: Rig) -> list[Problem]:
    """A curve's kinds that no actuator on one of its feet reaches (its keyframes would be lost)."""
    kinds = reach.kinds_of(step)
    if step.technique != "curve" or len(kinds) < 2:
        return []  # one kind: the zone check above already covers it
    out = []
    for kind in kinds:
        feet = [
            foot
            for foot in reach.feet_of(step.feet)
            if not reach.reaching(rig, step.technique, step.zones, foot, (kind,))
        ]
        if feet:
            where = "either foot" if len(feet) > 1 else f"the {feet[0]} foot"
            out.append(
                problem_at(
                    step,
                    "keyframes",
                    f"step {number} {step.label!r} (curve): no {kind} on {where} of rig "
                    f"{rig.name!r} reaches zones {', '.join(step.zones)}, so its {kind} "
                    "keyframes would be lost (add optional: true to skip them there)",
                )
            )
    return out


def _zone_problem(step: Any, zone: str, message: str) -> Problem:
    origin: Origin | None = step.origin
    if origin is None:
        return Problem("<profile>", 1, 1, message)
    if "zones" not in step.model_fields_set:
        return origin.problem(message)
    written = origin.doc.align((*origin.loc, "zones"))
    raw = origin.doc.data
    for part in written:
        raw = raw[part]
    if isinstance(raw, list) and zone in raw:
        return origin.doc.problem((*written, raw.index(zone)), message)
    return origin.problem(message, "zones")


class _Builder:
    """Places items on the session clock and collects the step table and commands."""

    def __init__(self, rig: Rig, settings: Settings) -> None:
        self.rig = rig
        self.settings = settings
        self.steps: list[StepInfo] = []
        self.commands: list[Command] = []
        self.used: list[tuple[str, int]] = []
        self.sources: list[Any] = []
        self.widths: dict[int, int] = {}
        self.lengths: dict[int, int] = {}
        self.warnings = Warnings(rig.name)
        self.problems: list[Problem] = []
        self.checked: set[int] = set()

    def describe(self, index: int, field: str | None = None) -> str:
        """`file:line:col: step N 'label'` for messages about step `index` (N from 1).

        Located at the step's `field` when the author wrote it, else at the step.
        """
        if not 0 <= index < len(self.steps):
            return "end of session"
        info = self.steps[index]
        path, line, col = located(self.sources[index], field)
        return f"{path}:{line}:{col}: step {info.number} {info.name!r} ({info.technique})"

    def skipped(self, step: Any) -> bool:
        """Whether `step` is optional and no actuator of the rig reaches any of its zones."""
        if not step.optional or step.technique == "rest":
            return False
        kinds = reach.kinds_of(step)
        return not any(
            reach.reaching(self.rig, step.technique, step.zones, foot, kinds)
            for foot in reach.feet_of(step.feet)
        )

    def length(self, item: Item) -> int:
        """How long an item runs on this rig: as written, less the steps the rig skips."""
        key = id(item)
        if key not in self.lengths:
            if isinstance(item, Parallel):
                value = max(self.length(i) for i in item.parallel)
            elif isinstance(item, Repeat):
                value = item.repeat * sum(self.length(i) for i in item.steps)
            elif isinstance(item, Group | Include):
                value = sum(self.length(i) for i in _children(item))
            else:
                value = 0 if self.skipped(item) else item.total_ms
            self.lengths[key] = value
        return self.lengths[key]

    def width(self, item: Item) -> int:
        """How many tracks an item runs side by side at most."""
        key = id(item)
        if key not in self.widths:
            if isinstance(item, Parallel):
                value = sum(self.width(i) for i in item.parallel)
            elif isinstance(item, Group | Include | Repeat):
                value = max(self.width(i) for i in _children(item))
            else:
                value = 1
            self.widths[key] = value
        return self.widths[key]

    def place_all(self, items: list[Item], t: int, track: int, suffix: str) -> None:
        for item in items:
            self.place(item, t, track, suffix)
            t += self.length(item)

    def place(self, item: Item, t: int, track: int, suffix: str) -> None:
        if isinstance(item, Parallel):
            self.place_parallel(item, t, track, suffix)
        elif isinstance(item, Repeat):
            once = sum(self.length(i) for i in item.steps)
            for k in range(item.repeat):
                mark = f"{suffix} ({k + 1}/{item.repeat})" if item.repeat > 1 else suffix
                self.place_all(item.steps, t + k * once, track, mark)
        elif isinstance(item, Group):
            self.place_all(item.steps, t, track, suffix)
        elif isinstance(item, Include):
            self.place_all(item.profile.steps, t, track, suffix)
        else:
            self.compile_step(item, t, track, suffix)

    def place_parallel(self, block: Parallel, t: int, track: int, suffix: str) -> None:
        owners: dict[str, tuple[int, int]] = {}
        offset = 0
        for number, sub in enumerate(block.parallel, start=1):
            mark = len(self.used)
            self.place(sub, t, track + offset, suffix)
            offset += self.width(sub)
            for actuator, step in self.used[mark:]:
                other = owners.get(actuator)
                if other is not None and other[0] != number:
                    first = self.steps[other[1]].name
                    raise InputError(
                        problem_at(
                            block,
                            "parallel",
                            f"tracks {other[0]} and {number} of this parallel block both drive "
                            f"{actuator} (steps {first!r} and {self.steps[step].name!r}); "
                            "parallel tracks need separate actuators",
                        )
                    )
                owners.setdefault(actuator, (number, step))

    def compile_step(self, step: Any, t: int, track: int, suffix: str) -> None:
        index = len(self.steps)
        skipped = self.skipped(step)
        end = t + self.length(step)
        name = step.label + suffix
        info = StepInfo(index, name, step.technique, tuple(step.zones), t, end, track, skipped)
        self.steps.append(info)
        self.sources.append(step)
        if not skipped:
            for note in rounding.time_notes(step):
                self.warnings.add(step, info.number, name, note)
        if step.technique == "rest":
            return
        if step.optional:
            missing = reach.unreachable(
                self.rig, step.technique, tuple(step.zones), step.feet, reach.kinds_of(step)
            )
            self.warnings.skipped(step, info.number, name, missing)
        elif id(step) not in self.checked:
            self.checked.add(id(step))
            self.problems.extend(reach_problems(step, info.number, self.rig))
        if skipped:
            return
        motion_end = end - min(STEP_REST_MS, max(step.total_ms // 5, PULSE_REST_MS))
        job = Job(step, index, self.rig, self.settings.intensity)
        for window in self.windows(step, t, motion_end):
            self.used.extend((a.id, index) for a in window.acts)
            TECHNIQUES[step.technique](job, window)
        moved = False
        for line in job.lines.values():
            self.commands.extend(line.commands)
            moved = moved or any(c.op != "off" for c in line.commands)
        if not moved:
            self.warnings.nothing(step, info.number, name)
        for note in job.all_notes():
            self.warnings.add(step, info.number, name, note)
        bounds.check_commands(len(self.commands), step, name)

    def windows(self, step: Any, start: int, end: int) -> list[Window]:
        feet = reach.feet_of(step.feet)
        kinds = reach.kinds_of(step)
        acts = {
            foot: reach.reaching(self.rig, step.technique, step.zones, foot, kinds) for foot in feet
        }
        if step.feet == "alternate" and step.technique != "pebble_walk":
            middle = start + (end - start) // 2
            gap = min(STEP_REST_MS, (end - start) // 10)
            return [
                Window(start, middle - gap, acts["left"], "left"),
                Window(middle, end, acts["right"], "right"),
            ]
        together = [a for foot in feet for a in acts[foot]]
        return [Window(start, end, together, feet[0] if len(feet) == 1 else None)]
