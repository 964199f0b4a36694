"""The compile-time safety envelope: an independent check of a finished stream.

The techniques already shape their motion within limits; this check reads
the stream as a device would and refuses it if anything breaks a limit: a
level outside the actuator's range or its zones' sensitivity, a change
steeper than max_slew (a jump), a held level below min_level, an output on
longer than max_on without rest, a heat target above the heater's cap, more
heating than the rig's heat timer allows, times going backwards, or a stream
that does not end with every actuator off.
"""

from __future__ import annotations

from collections.abc import Callable

from firmware_bridge import waveforms as wf
from firmware_bridge.names import SHAPE_CODES
from massager.compiler.motion import MIN_REST_MS
from massager.compiler.reach import zone_limit
from massager.errors import SafetyError
from massager.rig.model import Actuator, Rig
from massager.stream import Command, CommandStream, Timeline
from massager.units import format_duration

LEVEL_EPS = 1e-3
"""Largest level difference read as "no change" (waves end a hair away from low)."""

SLEW_EPS = 1e-6


Describe = Callable[[int, "str | None"], str]
"""Names a step by its index, located at one of its fields (or at the step) when known:
`file:4:13: step 3 'rub' (rub)`; steps are numbered from 1 as users read them."""


def check(stream: CommandStream, rig: Rig, describe: Describe | None = None) -> None:
    """Raise SafetyError naming step, actuator and limit for the first violation found."""
    name = describe or _plain
    last = 0
    for command in stream.commands:
        if command.at_ms < last:
            raise SafetyError(
                f"{name(command.step, None)}: {command.actuator}: time goes back from {last} ms "
                f"to {command.at_ms} ms"
            )
        last = command.at_ms
    known = {a.id for a in rig.actuators}
    for command in stream.commands:
        if command.actuator not in known:
            raise SafetyError(
                f"{name(command.step, None)}: {command.actuator}: "
                f"no such actuator on rig {rig.name}"
            )
    grouped = stream.by_actuator()
    for act in rig.actuators:
        _Checker(act, rig, name, stream.duration_ms).run(grouped.get(act.id, []))


class _Checker:
    """Walks one actuator's commands the way the device will run them."""

    def __init__(self, act: Actuator, rig: Rig, name: Describe, end_ms: int) -> None:
        self.act = act
        self.rig = rig
        self.name = name
        self.end_ms = end_ms
        self.cap = min(act.max_level, zone_limit(rig, act))
        self.low = -self.cap if act.kind == "roller" else 0.0

    def fail(
        self, command: Command, what: str, limit: str, field: str | None = None
    ) -> SafetyError:
        where = self.name(command.step, field)
        return SafetyError(f"{where}: {self.act.id}: {what} (limit: {limit})")

    def in_range(self, command: Command, level: float, what: str = "level") -> None:
        if not self.low - 1e-9 <= level <= self.cap + 1e-9:
            kind = "max_level and zone sensitivity" if level > 0 else "range"
            raise self.fail(
                command,
                f"{what} {level:g} is outside {self.low:g}..{self.cap:g}",
                f"{kind} {self.cap:g}",
                "intensity",
            )

    def slope(self, command: Command, rate: float) -> None:
        if rate > self.act.max_slew * (1 + SLEW_EPS):
            raise self.fail(
                command, f"changes at {rate:.3g} per second", f"max_slew {self.act.max_slew:g}/s"
            )

    def run(self, commands: list[Command]) -> None:
        act = self.act
        if not commands or commands[-1].op != "off" or commands[-1].at_ms != self.end_ms:
            where = commands[-1] if commands else Command(self.end_ms, act.id, "off")
            raise self.fail(
                where, "stream does not end with it off", "every actuator off at the end"
            )
        timeline = Timeline(commands)
        on_since: int | None = None
        heat_ms = 0
        over: Command | None = None  # the heat command that takes the heat time past heat_max
        for i, command in enumerate(commands):
            start = timeline.start_level(i)
            nxt = commands[i + 1].at_ms if i + 1 < len(commands) else None
            rest_from = self.step_command(command, start, nxt)
            if command.op == "heat":
                heat_ms += (nxt if nxt is not None else command.at_ms) - command.at_ms
                if over is None and heat_ms > self.rig.heat_max_ms:
                    over = command
            resting = rest_from is not None and (nxt is None or nxt - rest_from >= MIN_REST_MS)
            if on_since is None and (rest_from is None or rest_from > command.at_ms):
                on_since = command.at_ms
            if resting and on_since is not None:
                assert rest_from is not None
                if rest_from - on_since > act.max_on_ms:
                    # the step running when the on-time passed max_on pushed it over
                    cut = on_since + act.max_on_ms
                    culprit = max((c for c in commands if c.at_ms <= cut), key=_at_ms)
                    raise self.fail(
                        culprit,
                        f"on for {format_duration(rest_from - on_since, exact=False)} without rest",
                        f"max_on {format_duration(act.max_on_ms, exact=False)}",
                        "duration",
                    )
                on_since = None
        if act.kind == "heater" and over is not None:
            raise self.fail(
                over,
                f"heats for {format_duration(heat_ms, exact=False)} in the session; "
                "this step takes it past the limit",
                f"heat_max {format_duration(self.rig.heat_max_ms, exact=False)}",
                "duration",
            )

    def step_command(self, command: Command, start: float, nxt: int | None) -> int | None:
        """Check one command; return when the actuator comes to rest at 0 (None: it does not)."""
        act = self.act
        op = command.op
        if op == "heat":
            if act.kind != "heater":
                raise self.fail(command, "heat sent to a non-heater", "heat is for heaters")
            self.in_range(command, command.level, "duty")
            cap = act.max_temp_c if act.max_temp_c is not None else 0.0
            if command.target_c > cap:
                raise self.fail(
                    command,
                    f"target {command.target_c:g}C is above the cap",
                    f"max_temp_c {cap:g}C",
                    "target",
                )
            return None if command.level > 0 else command.at_ms
        if op == "off":
            if abs(start) > LEVEL_EPS and act.kind != "heater":
                raise self.fail(
                    command, f"jumps from {start:g} to off", "ramp to 0 first (max_slew)"
                )
            return command.at_ms
        if op == "set":
            self.in_range(command, command.level)
            if abs(command.level - start) > LEVEL_EPS and act.kind != "heater":
                raise self.fail(
                    command,
                    f"jumps from {start:g} to {command.level:g}",
                    f"max_slew {act.max_slew:g}/s",
                )
            self.held(command, command.level)
            return command.at_ms if command.level == 0 else None
        if op == "ramp":
            self.in_range(command, command.level)
            delta = abs(command.level - start)
            if delta > LEVEL_EPS:
                if command.duration_ms <= 0:
                    raise self.fail(
                        command,
                        f"jumps from {start:g} to {command.level:g}",
                        f"max_slew {act.max_slew:g}/s",
                    )
                self.slope(command, delta * 1000.0 / command.duration_ms)
            arrive = command.at_ms + command.duration_ms
            if nxt is None or nxt > arrive:
                self.held(command, command.level)
            if command.level == 0 and (nxt is None or nxt >= arrive):
                return arrive
            return None
        # wave
        self.in_range(command, command.low, "wave low")
        self.in_range(command, command.high, "wave high")
        if abs(start - command.low) > LEVEL_EPS:
            raise self.fail(
                command,
                f"wave starts at {command.low:g} but the level is {start:g}",
                f"max_slew {act.max_slew:g}/s (ramp to the wave's low first)",
            )
        rate = wf.wave_max_slope(SHAPE_CODES[command.shape], command.low, command.high, command.hz)
        self.slope(command, rate)
        return None

    def held(self, command: Command, level: float) -> None:
        if level != 0 and abs(level) < self.act.min_level - 1e-9:
            raise self.fail(
                command,
                f"holds {level:g}, where the motor stalls",
                f"min_level {self.act.min_level:g}",
            )


def _at_ms(command: Command) -> int:
    return command.at_ms


def _plain(index: int, field: str | None = None) -> str:
    return f"step {index + 1}"
