"""Commands arriving over MQTT: read and check a payload, and drop repeats.

Nothing here touches the device: a payload becomes a `Command` or a `Refused` whose
message is the log line; the bridge then makes the same API call any client makes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from massager.service.discovery import BUTTONS, Topics

__all__ = ["MAX_PAYLOAD", "Command", "Deduplicator", "Refused", "parse_command"]

MAX_PAYLOAD = 256
"""Longest command payload in bytes; every real command is a few bytes."""

BUTTON_METHODS: dict[str, str] = {
    "start": "session.start",
    "pause": "session.pause",
    "resume": "session.resume",
    "stop": "session.stop",
    "acknowledge": "fault.acknowledge",
}
"""The API method each button press calls."""


class Refused(ValueError):
    """A command payload that is not acted on; the message says why."""


@dataclass(frozen=True)
class Command:
    """One checked command: a button press, a profile choice or an intensity (0..1)."""

    kind: Literal["button", "profile", "intensity"]
    button: str = ""
    profile: str = ""
    intensity: float = 0.0


def _text(payload: bytes) -> str:
    """The payload as short UTF-8 text without surrounding blanks."""
    if len(payload) > MAX_PAYLOAD:
        raise Refused(f"payload of {len(payload)} bytes is too large (at most {MAX_PAYLOAD})")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("payload is not UTF-8 text") from None
    if not text.isprintable():
        raise Refused(f"payload {text!r} holds control characters")
    return text.strip()


def parse_command(topics: Topics, topic: str, payload: bytes, profiles: Sequence[str]) -> Command:
    """Check one command message; raises Refused with a message fit for the log."""
    text = _text(payload)
    if topic == topics.command:
        if text not in BUTTONS:
            raise Refused(f"unknown command {text!r}; expected one of {', '.join(BUTTONS)}")
        return Command("button", button=text)
    if topic == topics.profile_set:
        if text not in profiles:
            raise Refused(f"unknown profile {text!r}; expected one of {', '.join(profiles)}")
        return Command("profile", profile=text)
    if topic == topics.intensity_set:
        try:
            percent = float(text)
        except ValueError:
            raise Refused(f"intensity {text!r} is not a number (0..100 %)") from None
        if not math.isfinite(percent) or not 0 <= percent <= 100:
            raise Refused(f"intensity must be within 0..100 %, got {text}")
        return Command("intensity", intensity=percent / 100)
    raise Refused(f"no command is read on topic {topic!r}")


@dataclass
class Deduplicator:
    """Drops a command equal to the one accepted just before, within `window_s` seconds.

    A broker redelivering a QoS 1 message, or a double tap on a tile, arrives as the
    same topic and payload moments apart; a different command in between ends the run.
    """

    window_s: float = 1.0
    _last: tuple[str, bytes] | None = None
    _at: float = field(default=-1e18)

    def repeated(self, topic: str, payload: bytes, now: float) -> bool:
        """True if this is a repeat to drop; otherwise remember it as the last command."""
        key = (topic, payload.strip())
        if key == self._last and now - self._at < self.window_s:
            return True
        self._last, self._at = key, now
        return False
