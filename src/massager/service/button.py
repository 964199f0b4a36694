"""The start button as a client of the service: press to start (the last profile) or to pause
and resume, hold to stop. `massager remote button` runs it; it talks to the Unix socket."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from massager.errors import MassagerError
from massager.service.local import LocalClient

log = logging.getLogger("massager.button")
HOLD_S = 1.5
"""A press held this long is a stop."""


class ButtonRemote:
    """What a press and a hold do, through the service's API (one short connection each)."""

    def __init__(
        self, socket: Path, default_profile: str, *, report: Callable[[str], None] = print
    ) -> None:
        self.socket = socket
        self.default_profile = default_profile
        self.report = report
        self._lock = threading.Lock()

    def _call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        with LocalClient(self.socket) as client:
            return client.call(method, params)

    def last_profile(self) -> str:
        """The profile of the latest session that was a bundled one, else the default."""
        from massager import api

        bundled = set(api.bundled_profiles())
        for row in self._call("history.list", {"limit": 20}):
            if row["profile"] in bundled:
                return str(row["profile"])
        return self.default_profile

    def press(self) -> str:
        """Idle: start the last profile; running: pause; paused: resume. What it did."""
        with self._lock:
            try:
                state = self._call("status.get")["state"]
                if state == "idle":
                    profile = self.last_profile()
                    self._call("session.start", {"profile": profile})
                    done = f"started {profile}"
                elif state == "running":
                    self._call("session.pause")
                    done = "paused"
                elif state == "paused":
                    self._call("session.resume")
                    done = "resumed"
                elif state == "fault":
                    done = (
                        "a fault is latched: acknowledge it (page or `massager remote acknowledge`)"
                    )
                else:
                    done = f"nothing to do while {state}"
            except MassagerError as exc:
                done = f"refused: {exc}"
        self.report(f"button: {done}")
        return done

    def hold(self) -> str:
        """Stop (always accepted by the service)."""
        try:
            self._call("session.stop")
            done = "stopped"
        except MassagerError as exc:
            done = f"stop failed: {exc}"
        self.report(f"button: {done}")
        return done


def run_button(
    remote: ButtonRemote, pin: int, hold_s: float = HOLD_S, pin_factory: Any = None
) -> Any:
    """Wire `remote` to a gpiozero Button on BCM `pin` (to ground): a press shorter than
    `hold_s` is `press()`, a longer one `hold()`. Returns the Button (close it to stop)."""
    from gpiozero import Button

    button = Button(pin, hold_time=hold_s, bounce_time=0.05, pin_factory=pin_factory)
    held = threading.Event()

    def on_held() -> None:
        held.set()
        remote.hold()

    def on_released() -> None:
        if held.is_set():
            held.clear()
            return
        remote.press()

    button.when_held = on_held
    button.when_released = on_released
    return button
