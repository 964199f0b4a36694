"""The device's messages as the host reads them: status reports, identity, refusals.

Each is decoded once from its wire payload (firmware_bridge.codec) into a
frozen record; the link hands them to the handlers registered for their type.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge import codec, codes, names
from firmware_bridge.names import fault_names


@dataclass(frozen=True, slots=True)
class Status:
    """One status report of the device, as decoded, with when it arrived."""

    token: int
    now_us: int
    flags: int
    faults: int
    cut_mask: int
    shift_us: int
    queued: int
    refused: int
    last_id: int
    last_code: int
    levels: list[float]
    temps: list[float | None]
    currents: list[float | None]
    received_at: float
    acked: int
    """Every host frame numbered below this had been handled when the report was made."""

    @classmethod
    def decode(cls, payload: bytes, received_at: float, acked: int) -> Status:
        """A STATUS_REPLY payload (ValueError if malformed)."""
        return cls(*codec.decode_status_reply(payload), received_at=received_at, acked=acked)

    @property
    def paused(self) -> bool:
        """Whether the device's program is paused."""
        return bool(self.flags & codes.FLAG_PAUSED)


@dataclass(frozen=True, slots=True)
class Identity:
    """What the device said about itself in its identify reply."""

    version: int
    nonce: int
    session: int
    channels: int
    caps: int
    queue_size: int
    max_payload: int
    now_us: int
    faults: int
    firmware: str

    @classmethod
    def decode(cls, payload: bytes) -> Identity:
        """An IDENTIFY_REPLY payload (ValueError if malformed)."""
        return cls(*codec.decode_identify_reply(payload))


@dataclass(frozen=True, slots=True)
class Refusal:
    """A message the device refused: its type, the command id or channel, and why."""

    mtype: int
    ident: int
    ch: int
    code: int

    @classmethod
    def decode(cls, payload: bytes) -> Refusal:
        """A REFUSED payload (ValueError if malformed)."""
        return cls(*codec.decode_refused(payload))

    @property
    def reason(self) -> str:
        """The refusal reason spelled out."""
        return names.reason_name(self.code)


TOKEN_REPLIES = {
    codes.MSG_STATUS_REPLY: lambda p: codec.decode_status_reply(p)[0],
    codes.MSG_CLOCK_REPLY: lambda p: codec.decode_clock_reply(p)[0],
    codes.MSG_STATS_REPLY: lambda p: codec.decode_stats_reply(p)[0],
}
"""Replies that answer a request by its token: how to read the token of each."""


def device_state(
    st: Status | None, channels: dict[str, int]
) -> tuple[dict[str, float], dict[str, float], tuple[str, ...]]:
    """Each actuator's level and temperature, and the faults, by a report (all zero if none)."""
    levels = {a: 0.0 for a in channels}
    temps: dict[str, float] = {}
    if st is None:
        return levels, temps, ()
    for actuator, ch in channels.items():
        if ch < len(st.levels):
            levels[actuator] = st.levels[ch]
            temp = st.temps[ch]
            if temp is not None:
                temps[actuator] = temp
    return levels, temps, tuple(fault_names(st.faults))
