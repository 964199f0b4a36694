"""The serial driver's commands on their way to the device: stamped, batched, kept for replay.

Each command is stamped in device time by the session timebase and packed
with others into SCHEDULE frames, as many as the device's queue has room for
(short frames on a noisy link); the rest wait in a backlog. Every command
sent is kept a while, numbered, so a refusal can be named and a recovery can
replay the program from where the device last heard from the host.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from firmware_bridge import codec, codes
from massager.drivers.base import unknown_actuator_error
from massager.drivers.serial_history import CommandHistory
from massager.drivers.serial_link import SerialLink
from massager.drivers.serial_messages import Identity, Refusal
from massager.drivers.serial_timebase import SessionTimebase
from massager.errors import DeviceError
from massager.rig.model import Rig
from massager.stream import Command

NOISY_PAYLOAD = 16
"""Largest SCHEDULE payload on a noisy link (one command a frame): short frames get through."""
MIN_LEAD_MS = 20
"""A command held back (device queue full) that can no longer arrive this early is an error."""
Wire = tuple[int, int, int, float, float, float, float]


class CommandSender:
    """The commands of one session, from the driver's `send` to the device's queue."""

    def __init__(self, rig: Rig, channels: dict[str, int], base: SessionTimebase) -> None:
        self.rig = rig
        self.channels = channels
        self.base = base
        self.pending: list[Command] = []
        """Sent before session time 0 was set (`start()`)."""
        self.backlog: deque[Command] = deque()
        self._queued_at: deque[int] = deque()
        self.history = CommandHistory()
        self.refused_base = 0
        """The device's refusal count when its session became this one's."""

    def add(self, commands: Sequence[Command]) -> None:
        """Take commands for sending (UsageError naming an actuator the rig lacks)."""
        for command in commands:
            if command.actuator not in self.channels:
                raise unknown_actuator_error(command.actuator, self.rig)
        self.history.add(list(commands))
        self.backlog.extend(commands)

    def drop(self) -> None:
        """Forget every command not yet sent (a stop)."""
        self.backlog.clear()
        self.pending.clear()

    def replay_from(self, t_ms: float) -> None:
        """Send the program again from session time `t_ms` (after a recovery)."""
        self._queued_at.clear()
        self.backlog.clear()
        self.backlog.extend(self.history.replay_from(t_ms))

    def flush(self, link: SerialLink, identity: Identity | None, now_ms: float) -> None:
        """Send what the device's queue has room for, at session time `now_ms`.

        DeviceError if a command that must go out now cannot (the queue stays full).
        """
        if not self.backlog or not self.base.started:
            return
        capacity = identity.queue_size if identity is not None else 64
        max_payload = identity.max_payload if identity is not None else codec.MAX_PAYLOAD
        if link.frames.lossy:
            max_payload = min(max_payload, NOISY_PAYLOAD)
        queued = self._queued_at
        while queued and queued[0] < now_ms - 20:
            queued.popleft()
        batch: list[Wire] = []
        first_id = self.history.next_id
        size = 3
        while self.backlog and len(queued) < capacity - 1:
            command = self.backlog.popleft()
            op, a, b, c, d = command.args()
            n = codec.command_size(op)
            if batch and (size + n > max_payload or len(batch) >= 255):
                link.send(codes.MSG_SCHEDULE, codec.encode_schedule(first_id, batch))
                batch, size, first_id = [], 3, self.history.next_id
            ticks = self.base.ticks(command.at_ms)
            batch.append((ticks, self.channels[command.actuator], op, a, b, c, d))
            size += n
            self.history.number(command)
            queued.append(command.at_ms)
        if batch:
            link.send(codes.MSG_SCHEDULE, codec.encode_schedule(first_id, batch))
        if self.backlog and self.backlog[0].at_ms < now_ms + MIN_LEAD_MS:
            late = self.backlog[0]
            raise DeviceError(
                f"the device's command queue ({capacity}) is full: the {late.op} command for "
                f"{late.actuator} at {late.at_ms / 1000:.3f} s could not be sent in time"
            )

    def refusal(self, link: SerialLink) -> Refusal | None:
        """The next refusal to report: one the device sent, or one its status counts."""
        if link.refusals:
            return link.refusals.popleft()
        st = link.status
        if st is not None and (st.refused - self.refused_base) & 0xFFFF:
            return Refusal(codes.MSG_SCHEDULE, st.last_id, 0xFF, st.last_code)
        return None

    def describe(self, ident: int) -> str:
        """What command number `ident` was, for a refusal's message."""
        command = self.history.command(ident)
        if command is None:
            return f"command #{ident}"
        return f"the {command.op} command for {command.actuator} at {command.at_ms / 1000:.3f} s"
