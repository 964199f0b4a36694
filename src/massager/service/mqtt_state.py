"""What the MQTT bridge publishes: the state JSON built from a status object, and when.

The state JSON is small and flat enough for Home Assistant's templates. Its fields are
fast (state, profile, step, intensity, fault, controller: published the moment they
change) or slow (time left, session time, temperatures: republished at most once per
`state_interval`). Actuator levels are never published: they change tens of times a
second and belong to the phone page, not the broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SLOW_FIELDS", "StateThrottle", "session_end_event", "state_payload"]

SLOW_FIELDS: frozenset[str] = frozenset({"time_left_s", "session_s", "temps"})
"""Fields that change continuously while a session plays."""

IN_SESSION: frozenset[str] = frozenset({"running", "paused", "stopping"})
"""States in which a session is in progress."""


def state_payload(status: dict[str, Any], *, profile: str, intensity: float) -> dict[str, Any]:
    """The bridge's state JSON for a service status object.

    `profile` and `intensity` are what the bridge's select and number hold while no
    session plays (what `start` would use); a playing session's own values win.
    """
    state = str(status.get("state", "idle"))
    playing = state in IN_SESSION
    step = status.get("step") or {}
    fault = status.get("fault") or {}
    controller = status.get("controller") or {}
    temps = status.get("temps") or {}
    level = float(status.get("intensity", intensity)) if playing else intensity
    return {
        "state": state,
        "profile": (status.get("profile") or profile) if playing else profile,
        "step": str(step.get("label") or "none"),
        "intensity": round(level * 100),
        "running": "ON" if playing else "OFF",
        "fault": "ON" if state == "fault" else "OFF",
        "fault_reason": str(fault.get("reason") or ""),
        "controller": str(controller.get("name") or ""),
        "time_left_s": round(int(status.get("time_left_ms") or 0) / 1000) if playing else 0,
        "session_s": round(int(status.get("session_ms") or 0) / 1000) if playing else 0,
        "temps": {str(k): round(float(v), 1) for k, v in sorted(temps.items())},
    }


@dataclass
class StateThrottle:
    """Decides whether a new state JSON goes to the broker now.

    A change of a fast field publishes at once (carrying the slow fields along); a
    change of slow fields only publishes `interval_s` after the last publication.
    """

    interval_s: float
    last: dict[str, Any] | None = None
    last_at: float = field(default=-1e18)

    def due(self, payload: dict[str, Any], now: float) -> bool:
        """True if `payload` should be published at monotonic time `now`."""
        if self.last is None:
            return True
        if payload == self.last:
            return False
        fast = {k: v for k, v in payload.items() if k not in SLOW_FIELDS}
        was = {k: v for k, v in self.last.items() if k not in SLOW_FIELDS}
        return fast != was or now - self.last_at >= self.interval_s

    def published(self, payload: dict[str, Any], now: float) -> None:
        """Record that `payload` went out at `now`."""
        self.last = payload
        self.last_at = now

    def forget(self) -> None:
        """Publish the next state whatever it is (after a reconnect)."""
        self.last = None


def session_end_event(before: str, status: dict[str, Any]) -> dict[str, Any] | None:
    """The event payload if the state went from a session in progress to its end, else None."""
    after = str(status.get("state", "idle"))
    if before not in IN_SESSION or after in IN_SESSION:
        return None
    outcome = status.get("last_outcome") or {}
    kind = str(outcome.get("outcome") or ("fault" if after == "fault" else "stopped"))
    event_type = {"done": "finished", "fault": "faulted"}.get(kind, "stopped")
    if after == "fault":
        event_type = "faulted"
    return {"event_type": event_type, "outcome": kind, "message": str(outcome.get("message") or "")}
