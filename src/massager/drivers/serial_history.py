"""The commands a session sent, kept for replay after a recovery and for naming refusals."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from massager.stream import Command


class CommandHistory:
    """Each actuator's commands back to the one in force a second ago; wire ids of those sent."""

    def __init__(self) -> None:
        self._by_actuator: dict[str, list[Command]] = {}
        self._by_id: dict[int, Command] = {}
        self.next_id = 0
        """The wire id the next command sent gets (16 bits, wrapping)."""

    def add(self, commands: Iterable[Command]) -> None:
        """Remember commands the session handed over (sent or waiting to be)."""
        for command in commands:
            self._by_actuator.setdefault(command.actuator, []).append(command)

    def number(self, command: Command) -> int:
        """Give `command` the next wire id, and remember it by that id."""
        ident = self.next_id
        self._by_id[ident] = command
        self.next_id = (ident + 1) & 0xFFFF
        return ident

    def command(self, ident: int) -> Command | None:
        """The command sent with wire id `ident`, if it is known."""
        return self._by_id.get(ident)

    def prune(self, keep_from_ms: float) -> None:
        """Forget what no replay from `keep_from_ms` on needs (keep the command then in force)."""
        for actuator, commands in self._by_actuator.items():
            i = 0
            while i + 1 < len(commands) and commands[i + 1].at_ms <= keep_from_ms:
                i += 1
            if i:
                self._by_actuator[actuator] = commands[i:]

    def replay_from(self, t_ms: float) -> list[Command]:
        """The program again from session time `t_ms`: each command in force then, resumed
        at `t_ms`, followed by every later one, in time order."""
        again: list[tuple[float, int, Command]] = []
        for commands in self._by_actuator.values():
            active = [c for c in commands if c.at_ms <= t_ms]
            if active:
                again.append((t_ms, -1, resumed(active[-1], t_ms)))
            again.extend((c.at_ms, i, c) for i, c in enumerate(commands) if c.at_ms > t_ms)
        again.sort(key=lambda x: (x[0], x[1]))
        return [c for _, _, c in again]


def resumed(command: Command, t_ms: float) -> Command:
    """`command`, which began before `t_ms`, as it would begin at `t_ms` with the same goal."""
    at = int(t_ms)
    if command.op == "ramp":
        end = command.at_ms + command.duration_ms
        if end > at:
            return replace(command, at_ms=at, duration_ms=end - at)
        return Command(at, command.actuator, "set", level=command.level, step=command.step)
    return replace(command, at_ms=at)
