"""Helpers for session tests: timed control actions driven by progress events."""

from __future__ import annotations

from collections.abc import Callable

from massager.runtime.events import Progress
from massager.runtime.session import Session


def script(session: Session, actions: dict[float, Callable[[], object]]) -> None:
    """Run each action once the session reaches its wall time (pauses included)."""
    pending = sorted(actions.items())

    def on_progress(event: Progress) -> None:
        while pending and event.wall_ms >= pending[0][0]:
            pending.pop(0)[1]()

    session.bus.subscribe(on_progress, Progress)
