"""The project's error types, each carrying the exit code the CLI gives for it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem in an input file: where it is and what is wrong."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


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


class UsageError(MassagerError):
    """The command line was used wrongly (unknown option value, bad --set, ...)."""

    exit_code = 2


class DeviceError(MassagerError):
    """The device or its link failed; outputs were brought to a safe state."""

    exit_code = 3


class SafetyStop(MassagerError):
    """A safety stop at run time: emergency stop, watchdog, over-temperature, ..."""

    exit_code = 4


class Interrupted(MassagerError):
    """The user interrupted the run (Ctrl-C, SIGTERM); outputs were ramped down."""

    exit_code = 130
