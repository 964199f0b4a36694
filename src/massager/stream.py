"""The compiled command stream: timed per-actuator commands, as objects and as JSON Lines.

A stream is what the compiler produces and every device plays. Times are on
the session clock in milliseconds from the start of the profile. Semantics of
each op (see docs/stream-format.md):

- ``set``: the actuator goes to ``level`` at ``at``.
- ``ramp``: a straight line from the level the actuator has at ``at`` to
  ``level``, reached ``duration_ms`` later.
- ``wave``: a periodic wave between ``low`` and ``high`` at ``hz``, starting at
  ``low`` at ``at``, until the actuator's next command.
- ``heat``: closed-loop heating toward ``target_c`` with duty at most ``level``.
- ``off``: level 0, heater loop stopped, air vented.

Each command holds until the actuator's next command.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from firmware_bridge import codes, names
from firmware_bridge import waveforms as wf
from massager.errors import CompileWarning
from massager.records import record

FORMAT = "massager-stream"
VERSION = 1
Op = Literal["set", "ramp", "wave", "heat", "off"]
Shape = Literal["sine", "triangle"]
_DIGITS = 4  # levels and frequencies are written rounded, so output is byte-stable


@record
class Command:
    """One timed command for one actuator."""

    at_ms: int
    actuator: str
    op: Op
    level: float
    duration_ms: int
    shape: Shape
    hz: float
    low: float
    high: float
    target_c: float
    step: int

    def __init__(
        self,
        at_ms: int,
        actuator: str,
        op: Op,
        level: float = 0.0,
        duration_ms: int = 0,
        shape: Shape = "sine",
        hz: float = 0.0,
        low: float = 0.0,
        high: float = 0.0,
        target_c: float = 0.0,
        step: int = -1,
    ) -> None:
        set_field = object.__setattr__
        set_field(self, "at_ms", at_ms)
        set_field(self, "actuator", actuator)
        set_field(self, "op", op)
        set_field(self, "level", level)
        set_field(self, "duration_ms", duration_ms)
        set_field(self, "shape", shape)
        set_field(self, "hz", hz)
        set_field(self, "low", low)
        set_field(self, "high", high)
        set_field(self, "target_c", target_c)
        set_field(self, "step", step)

    def args(self) -> tuple[int, float, float, float, float]:
        """The op code and its (a, b, c, d) arguments as the executor takes them (times in us)."""
        if self.op == "ramp":
            return codes.OP_RAMP, self.level, float(self.duration_ms * 1000), 0.0, 0.0
        if self.op == "wave":
            return codes.OP_WAVE, self.low, self.high, self.hz, float(names.SHAPE_CODES[self.shape])
        if self.op == "heat":
            return codes.OP_HEAT, self.level, self.target_c, 0.0, 0.0
        if self.op == "set":
            return codes.OP_SET, self.level, 0.0, 0.0, 0.0
        return codes.OP_OFF, 0.0, 0.0, 0.0, 0.0

    def to_json(self) -> dict[str, Any]:
        """The command as a JSON object holding only the fields its op uses."""
        out: dict[str, Any] = {"at": self.at_ms, "actuator": self.actuator, "op": self.op}
        if self.op in ("set", "ramp", "heat"):
            out["level"] = round(self.level, _DIGITS)
        if self.op == "ramp":
            out["duration_ms"] = self.duration_ms
        if self.op == "wave":
            out["shape"] = self.shape
            out["hz"] = round(self.hz, _DIGITS)
            out["low"] = round(self.low, _DIGITS)
            out["high"] = round(self.high, _DIGITS)
        if self.op == "heat":
            out["target_c"] = round(self.target_c, 2)
        out["step"] = self.step
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Command:
        """Rebuild a command from its JSON object."""
        return cls(
            at_ms=int(obj["at"]),
            actuator=str(obj["actuator"]),
            op=obj["op"],
            level=float(obj.get("level", 0.0)),
            duration_ms=int(obj.get("duration_ms", 0)),
            shape=obj.get("shape", "sine"),
            hz=float(obj.get("hz", 0.0)),
            low=float(obj.get("low", 0.0)),
            high=float(obj.get("high", 0.0)),
            target_c=float(obj.get("target_c", 0.0)),
            step=int(obj.get("step", -1)),
        )


@record
class StepInfo:
    """A profile step as placed on the session clock, for progress display and plots."""

    index: int
    name: str
    technique: str
    zones: tuple[str, ...]
    start_ms: int
    end_ms: int
    track: int
    skipped: bool

    def __init__(
        self,
        index: int,
        name: str,
        technique: str,
        zones: tuple[str, ...],
        start_ms: int,
        end_ms: int,
        track: int = 0,
        skipped: bool = False,
    ) -> None:
        set_field = object.__setattr__
        set_field(self, "index", index)
        set_field(self, "name", name)
        set_field(self, "technique", technique)
        set_field(self, "zones", zones)
        set_field(self, "start_ms", start_ms)
        set_field(self, "end_ms", end_ms)
        set_field(self, "track", track)
        set_field(self, "skipped", skipped)

    @property
    def number(self) -> int:
        """The step's number as users see it (from 1): live view, plot, messages."""
        return self.index + 1

    def to_json(self) -> dict[str, Any]:
        """The step as a JSON object (`skipped` only when true)."""
        out: dict[str, Any] = {
            "index": self.index,
            "name": self.name,
            "technique": self.technique,
            "zones": list(self.zones),
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "track": self.track,
        }
        if self.skipped:
            out["skipped"] = True
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> StepInfo:
        """Rebuild a step from its JSON object."""
        return cls(
            index=int(obj["index"]),
            name=str(obj["name"]),
            technique=str(obj["technique"]),
            zones=tuple(obj["zones"]),
            start_ms=int(obj["start_ms"]),
            end_ms=int(obj["end_ms"]),
            track=int(obj.get("track", 0)),
            skipped=bool(obj.get("skipped", False)),
        )


@record(frozen=False)
class CommandStream:
    """A compiled profile: header facts, the step table and the commands in time order."""

    profile: str
    rig: str
    duration_ms: int
    actuators: tuple[str, ...]
    steps: list[StepInfo]
    commands: list[Command]
    intensity: float
    warnings: tuple[CompileWarning, ...]
    """What the compiler changed or dropped of what the profile asked for."""

    def __init__(
        self,
        profile: str,
        rig: str,
        duration_ms: int,
        actuators: tuple[str, ...],
        steps: list[StepInfo] | None = None,
        commands: list[Command] | None = None,
        intensity: float = 1.0,
        warnings: tuple[CompileWarning, ...] = (),
    ) -> None:
        self.profile = profile
        self.rig = rig
        self.duration_ms = duration_ms
        self.actuators = actuators
        self.steps = [] if steps is None else steps
        self.commands = [] if commands is None else commands
        self.intensity = intensity
        self.warnings = warnings

    def header(self) -> dict[str, Any]:
        """The first JSON Lines record: format, version and the stream's facts."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "profile": self.profile,
            "rig": self.rig,
            "intensity": round(self.intensity, _DIGITS),
            "duration_ms": self.duration_ms,
            "actuators": list(self.actuators),
            "steps": [s.to_json() for s in self.steps],
            "warnings": [w.to_json() for w in self.warnings],
        }

    def iter_jsonl(self) -> Iterator[str]:
        """The stream as JSON Lines, one line per record, without newlines."""
        import json  # not at import: `validate` never writes a stream

        dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        yield dumps(self.header())
        for command in self.commands:
            yield dumps(command.to_json())

    def to_jsonl(self) -> str:
        """The whole stream as JSON Lines text (deterministic, newline-terminated)."""
        return "".join(line + "\n" for line in self.iter_jsonl())

    @classmethod
    def from_jsonl(cls, lines: Iterable[str]) -> CommandStream:
        """Read a stream back from JSON Lines; raises ValueError on a bad format."""
        import json

        it = (line for line in lines if line.strip())
        try:
            head = json.loads(next(it))
        except StopIteration:
            raise ValueError("empty stream: expected a header line") from None
        if head.get("format") != FORMAT or head.get("version") != VERSION:
            raise ValueError(f"not a {FORMAT} version {VERSION} stream")
        return cls(
            profile=str(head["profile"]),
            rig=str(head["rig"]),
            duration_ms=int(head["duration_ms"]),
            actuators=tuple(head["actuators"]),
            steps=[StepInfo.from_json(s) for s in head["steps"]],
            commands=[Command.from_json(json.loads(line)) for line in it],
            intensity=float(head.get("intensity", 1.0)),
            warnings=tuple(CompileWarning.from_json(w) for w in head.get("warnings", [])),
        )

    def by_actuator(self) -> dict[str, list[Command]]:
        """The commands of each actuator, in time order."""
        out: dict[str, list[Command]] = {a: [] for a in self.actuators}
        for command in self.commands:
            out.setdefault(command.actuator, []).append(command)
        return out

    def step_at(self, t_ms: int) -> list[StepInfo]:
        """The steps running at session time `t_ms` (several inside a parallel block)."""
        return [s for s in self.steps if s.start_ms <= t_ms < s.end_ms]


class Timeline:
    """The commanded level of one actuator over time, evaluated from its commands."""

    def __init__(self, commands: list[Command]) -> None:
        self._commands = commands
        self._times = [c.at_ms for c in commands]
        self._starts: list[float] = []
        level = 0.0
        for i, command in enumerate(commands):
            self._starts.append(level)
            end = commands[i + 1].at_ms if i + 1 < len(commands) else command.at_ms
            level = self._value(i, end - command.at_ms)

    def _value(self, i: int, elapsed_ms: float) -> float:
        op, a, b, c, d = self._commands[i].args()
        return wf.op_value(op, a, b, c, d, self._starts[i], int(elapsed_ms * 1000))

    def level_at(self, t_ms: float) -> float:
        """Commanded level at session time `t_ms` (0 before the first command)."""
        i = bisect_right(self._times, t_ms) - 1
        if i < 0:
            return 0.0
        return self._value(i, t_ms - self._times[i])

    def start_level(self, i: int) -> float:
        """The level the actuator had when its `i`-th command began."""
        return self._starts[i]
