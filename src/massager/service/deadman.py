"""The remote dead-man: a session started over the network pauses when no one controls it.

It counts from the moment the last controlling client left (`Control.gone_since`)
while a remote session is running and nobody holds control; after `limit_s`
seconds the core ramps the session down and pauses it. A session started on
the Unix socket (the button, scripts on the Pi) is exempt; `limit_s` None: off.
"""

from __future__ import annotations

import time

from massager.service.control import Control
from massager.service.playing import Run


class DeadMan:
    """When the remote dead-man of the service with `control` pauses the session playing."""

    def __init__(self, limit_s: float | None, control: Control) -> None:
        self.limit_s = limit_s
        self.control = control

    def left_s(self, run: Run | None, state: str, now: float | None = None) -> float | None:
        """Seconds until `run` (in `state`) is paused, or None when the dead-man is not counting."""
        limit, since = self.limit_s, self.control.gone_since
        if run is None or not run.remote or limit is None or since is None:
            return None
        if state != "running" or self.control.controller is not None:
            return None
        now = time.monotonic() if now is None else now
        return max(0.0, limit - (now - since))

    def warning(self) -> str:
        """What the status says once the dead-man has paused a session."""
        return f"dead-man: paused after {self.limit_s:g} s without a controlling client"
