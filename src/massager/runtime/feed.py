"""What of a stream has gone to the device, and which of its steps have been announced."""

from __future__ import annotations

import math

from massager.runtime.events import EventBus, StepStarted
from massager.runtime.guarded import GuardedDriver
from massager.stream import CommandStream


class StreamFeed:
    """Sends `stream`'s commands `lookahead_ms` ahead of the device and announces each
    step (`StepStarted`) once the device's session time reaches it."""

    def __init__(
        self, stream: CommandStream, device: GuardedDriver, bus: EventBus, lookahead_ms: float
    ) -> None:
        self.stream = stream
        self.device = device
        self.bus = bus
        self.lookahead_ms = lookahead_ms
        self._sent = 0
        self._next_step = 0
        # a step the rig skips takes no time and is not announced as if it ran
        played = [s for s in stream.steps if not s.skipped]
        self._steps = sorted(played, key=lambda s: (s.start_ms, s.track, s.index))

    def send_ahead(self, t: float) -> None:
        """Send every command not sent yet that is due before session time `t` plus the
        lookahead."""
        commands = self.stream.commands
        horizon = t + self.lookahead_ms
        end = self._sent
        while end < len(commands) and commands[end].at_ms < horizon:
            end += 1
        if end > self._sent:
            self.device.call(self.device.driver.send, commands[self._sent : end])
            self._sent = end

    def quiet_until(self) -> float:
        """The session time before which `send_ahead` has nothing to send and
        `announce_steps` nothing to announce (inf once everything is out)."""
        until = math.inf
        commands = self.stream.commands
        if self._sent < len(commands):
            until = commands[self._sent].at_ms - self.lookahead_ms
        if self._next_step < len(self._steps):
            until = min(until, self._steps[self._next_step].start_ms)
        return until

    def announce_steps(self, t: float) -> None:
        """Publish `StepStarted` for every played step that has begun by session time `t`."""
        steps = self._steps
        while self._next_step < len(steps) and steps[self._next_step].start_ms <= t:
            step = steps[self._next_step]
            self._next_step += 1
            # the step's own start: a poll can come late (a busy host, a sped-up simulator)
            # numbered N of every step in the table (skipped ones keep their numbers)
            count = len(self.stream.steps)
            self.bus.publish(StepStarted(t_ms=step.start_ms, step=step, count=count))
