"""One session as the service plays it: what the core knows of it, and how its end is reported.

`Run` is the session being played (its `Session`, stream, when and for whom it
started, the faults it reported, why it paused). `ending(run)` turns its finish
into the outcome the API and the history report, and the fault it latches, if any.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from massager.runtime.events import Finished
from massager.runtime.session import Session
from massager.service.history import History
from massager.stream import CommandStream

OUTCOMES: dict[str, str] = {
    "done": "done",
    "stopped": "stopped",
    "cap": "cap",
    "pause_limit": "stopped",
    "interrupted": "stopped",
    "fault": "fault",
    "error": "error",
}
"""A session's finish reason -> the outcome the API and history report."""


def now_iso() -> str:
    """The time now in UTC, ISO 8601 to the second with a `Z` (as the history keeps it)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Run:
    """The session being played and what the core knows about it."""

    session: Session
    stream: CommandStream
    started_at: str
    remote: bool
    """Started over the network (not the Unix socket): the remote dead-man watches it."""
    thread: threading.Thread | None = None
    finished: Finished | None = None
    faults: tuple[str, ...] = ()
    deadman_paused: bool = False
    user_paused: bool = False


@dataclass(frozen=True)
class Ending:
    """How a session ended, as reported: its outcome, message and the fault it latches."""

    outcome: str
    message: str
    fault: dict[str, str] | None
    """`{"reason", "message"}` for a fault or error outcome (the core latches it), else None."""


def ending(run: Run) -> Ending:
    """The outcome, message and latched fault of `run`, whose session thread has returned."""
    finished = run.finished
    reason = finished.reason if finished is not None else "error"
    message = finished.message if finished is not None else "internal error in the session"
    outcome = OUTCOMES.get(reason, "error")
    if run.deadman_paused and reason == "pause_limit":
        outcome = "deadman"
    fault = None
    if outcome in ("fault", "error"):
        kind = run.faults[0] if run.faults else ("safety" if reason == "fault" else "device")
        fault = {"reason": kind, "message": message}
    return Ending(outcome, message, fault)


def record(history: History | None, run: Run, end: Ending, duration_ms: int) -> None:
    """Add the ended `run` to the history (if there is one): queued, written by its `flush()`."""
    if history is None:
        return
    history.add(
        profile=run.stream.profile,
        started_at=run.started_at,
        duration_ms=duration_ms,
        outcome=end.outcome,
        message=end.message,
        faults=list(run.faults),
    )
