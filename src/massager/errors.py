"""The project's error types, each carrying the exit code the CLI gives for it."""

from __future__ import annotations

from typing import Any

from massager.records import record


@record
class Problem:
    """One located problem in an input file: where it is and what is wrong."""

    path: str
    line: int
    col: int
    message: str

    def __init__(self, path: str, line: int, col: int, message: str) -> None:
        set_field = object.__setattr__
        set_field(self, "path", path)
        set_field(self, "line", line)
        set_field(self, "col", col)
        set_field(self, "message", message)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


@record
class CompileWarning:
    """Something the compiler changed or dropped of what a profile asked for.

    Located at the profile field responsible (``path:line:col``), naming the step
    (numbered from 1, as the live view and the plot number them), the actuator
    (when one is concerned), what was asked and what was applied. ``kind`` is one
    of ``skipped`` (an optional step, or part of it, the rig cannot reach),
    ``nothing`` (a step that compiles to no motion), ``slowed``, ``lowered``,
    ``dropped`` (motion left out on an actuator), ``shortened`` and ``rounded``.
    """

    path: str
    line: int
    col: int
    message: str
    kind: str
    step: int | None
    actuator: str | None
    asked: str | None
    applied: str | None

    def __init__(
        self,
        path: str,
        line: int,
        col: int,
        message: str,
        kind: str = "changed",
        step: int | None = None,
        actuator: str | None = None,
        asked: str | None = None,
        applied: str | None = None,
    ) -> None:
        set_field = object.__setattr__
        set_field(self, "path", path)
        set_field(self, "line", line)
        set_field(self, "col", col)
        set_field(self, "message", message)
        set_field(self, "kind", kind)
        set_field(self, "step", step)
        set_field(self, "actuator", actuator)
        set_field(self, "asked", asked)
        set_field(self, "applied", applied)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: warning: {self.message}"

    def to_json(self) -> dict[str, Any]:
        """The warning as a JSON object (the stream header's `warnings` entries)."""
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "kind": self.kind,
            "step": self.step,
            "actuator": self.actuator,
            "asked": self.asked,
            "applied": self.applied,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> CompileWarning:
        """Rebuild a warning from its JSON object."""

        def text(key: str) -> str | None:
            value = obj.get(key)
            return None if value is None else str(value)

        step = obj.get("step")
        return cls(
            path=str(obj.get("path", "<profile>")),
            line=int(obj.get("line", 1)),
            col=int(obj.get("col", 1)),
            message=str(obj.get("message", "")),
            kind=str(obj.get("kind", "changed")),
            step=None if step is None else int(step),
            actuator=text("actuator"),
            asked=text("asked"),
            applied=text("applied"),
        )


class MassagerError(Exception):
    """Base of every error massager reports to a user (never as a traceback)."""

    exit_code = 1


class InputError(MassagerError):
    """A profile, rig or setting is invalid; holds one or more located problems."""

    exit_code = 1

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SafetyError(MassagerError):
    """The compiled stream would break a safety limit; names step, actuator and limit."""

    exit_code = 1


class StrictError(MassagerError):
    """`--strict`: the compiler changed what the profile asked for (its warnings, as errors)."""

    exit_code = 1

    def __init__(self, warnings: tuple[CompileWarning, ...] | list[CompileWarning]) -> None:
        self.warnings = tuple(warnings)
        lines = [str(w).replace(": warning: ", ": error: ", 1) for w in self.warnings]
        lines.append(f"--strict: {len(self.warnings)} warning(s) treated as errors")
        super().__init__("\n".join(lines))


class UsageError(MassagerError):
    """The command line was used wrongly (unknown option value, bad --set, ...)."""

    exit_code = 2


class DeviceError(MassagerError):
    """The device or its link failed; outputs were brought to a safe state."""

    exit_code = 3


class OutputError(MassagerError):
    """A file or stream massager writes (stdout, a trace, a picture) could not be written."""

    exit_code = 3


class TraceError(OutputError):
    """The trace file could not be written, at start, mid-run or in its final flush."""


class SafetyStop(MassagerError):
    """A safety stop at run time: emergency stop, watchdog, over-temperature, ..."""

    exit_code = 4


class Interrupted(MassagerError):
    """The run was stopped from outside: a stop signal (Ctrl-C, SIGTERM, SIGHUP, ...), a
    closed stdout or terminal, or `massager off`; outputs were ramped down (or turned off)."""

    exit_code = 130
