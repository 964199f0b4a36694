"""A small in-memory Driver for session tests: a virtual clock, levels = stream level x intensity.

It checks what a real device would refuse (commands sent late), records every
call and every poll, and can be told to latch a fault or fail at a given time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from massager.clock import Clock, VirtualClock
from massager.drivers.base import DeviceStatus, Driver, DriverOptions
from massager.errors import DeviceError
from massager.rig import Rig
from massager.stream import Command, CommandStream, StepInfo, Timeline

RIG = Rig.model_validate(
    {
        "name": "fake",
        "actuators": [
            {
                "id": "roller_l",
                "kind": "roller",
                "foot": "left",
                "reaches": ["sole"],
                "bindings": {"serial": {"channel": 0}},
            },
            {
                "id": "vib_l",
                "kind": "vibration",
                "foot": "left",
                "reaches": ["heel"],
                "bindings": {"serial": {"channel": 1}},
            },
        ],
    }
)


@dataclass
class Sample:
    """What the fake device looked like at one poll."""

    wall_ms: float
    session_ms: float
    levels: dict[str, float]
    paused: bool


class FakeDriver(Driver):
    """Plays commands instantly (no slew): level = commanded level x intensity, 0 when paused."""

    name = "fake"
    lookahead_ms = 500

    def __init__(
        self,
        rig: Rig = RIG,
        options: DriverOptions | None = None,
        *,
        clock: Clock | None = None,
        fault_at_ms: float | None = None,
        fail_at_ms: float | None = None,
        fail_on: str = "poll",
        frozen: bool = False,
    ) -> None:
        super().__init__(rig, options)
        self._clock = clock or VirtualClock()
        self.fault_at_ms = fault_at_ms
        self.fail_at_ms = fail_at_ms
        self.fail_on = fail_on
        self.frozen = frozen
        self.calls: list[str] = []
        self.sent: list[tuple[float, Command]] = []  # (session time when sent, command)
        self.samples: list[Sample] = []
        self.intensity = 1.0
        self.started = False
        self.paused = False
        self.stopped = False
        self.is_off = False
        self.closed = False
        self.faults: tuple[str, ...] = ()
        self._origin = 0.0
        self._paused_total = 0.0
        self._paused_since = 0.0
        self._by_actuator: dict[str, list[Command]] = {a.id: [] for a in rig.actuators}
        self._timelines: dict[str, Timeline] = {}

    @property
    def clock(self) -> Clock:
        return self._clock

    def session_ms(self) -> float:
        if self.frozen or not self.started:
            return 0.0
        now = self._clock.now_ms()
        paused = self._paused_total + (now - self._paused_since if self.paused else 0.0)
        return now - self._origin - paused

    def _maybe_fail(self, call: str) -> None:
        if (
            self.fail_on == call
            and self.fail_at_ms is not None
            and self.session_ms() >= self.fail_at_ms
        ):
            raise OSError(5, "Input/output error")

    def open(self) -> None:
        self.calls.append("open")
        self._maybe_fail("open")

    def start(self) -> None:
        self.calls.append("start")
        self._origin = self._clock.now_ms()
        self.started = True

    def send(self, commands: Sequence[Command]) -> None:
        self.calls.append("send")
        self._maybe_fail("send")
        t = self.session_ms()
        for command in commands:
            if command.at_ms < t - 1e-9:
                raise DeviceError(f"late command at {command.at_ms} ms (device at {t} ms)")
            self.sent.append((t, command))
            self._by_actuator[command.actuator].append(command)
            self._timelines.pop(command.actuator, None)

    def levels(self) -> dict[str, float]:
        if self.paused or self.stopped or self.is_off or self.faults:
            return {a: 0.0 for a in self._by_actuator}
        t = self.session_ms()
        out = {}
        for actuator, commands in self._by_actuator.items():
            timeline = self._timelines.get(actuator)
            if timeline is None:
                timeline = self._timelines[actuator] = Timeline(commands)
            out[actuator] = timeline.level_at(t) * self.intensity
        return out

    def poll(self) -> DeviceStatus:
        self.calls.append("poll")
        self._maybe_fail("poll")
        t = self.session_ms()
        if self.fault_at_ms is not None and t >= self.fault_at_ms and not self.faults:
            self.faults = ("overtemp",)
        levels = self.levels()
        self.samples.append(Sample(self._clock.now_ms(), t, levels, self.paused))
        return DeviceStatus(session_ms=t, levels=levels, faults=self.faults, paused=self.paused)

    def pause(self) -> None:
        self.calls.append("pause")
        self.paused = True
        self._paused_since = self._clock.now_ms()

    def resume(self) -> None:
        self.calls.append("resume")
        self._paused_total += self._clock.now_ms() - self._paused_since
        self.paused = False

    def set_intensity(self, intensity: float) -> None:
        self.calls.append(f"intensity {intensity:g}")
        assert 0.0 <= intensity <= 1.0
        self.intensity = intensity

    def stop(self) -> None:
        self.calls.append("stop")
        self.stopped = True

    def off(self) -> None:
        self.calls.append("off")
        self.is_off = True

    def close(self) -> None:
        self.calls.append("close")
        self.is_off = True
        self.closed = True


def stream(duration_ms: int = 3000, level: float = 0.8) -> CommandStream:
    """Two steps on two actuators: a set then a wave, ending with every actuator off."""
    half = duration_ms // 2
    commands = [
        Command(0, "roller_l", "set", level=level, step=0),
        Command(0, "vib_l", "set", level=level / 2, step=0),
        Command(half, "roller_l", "wave", low=0.2, high=level, hz=1.0, step=1),
        Command(half, "vib_l", "set", level=level, step=1),
        Command(duration_ms, "roller_l", "off"),
        Command(duration_ms, "vib_l", "off"),
    ]
    steps = [
        StepInfo(0, "warm", "rub", ("sole",), 0, half),
        StepInfo(1, "press", "heel_press", ("heel",), half, duration_ms),
    ]
    return CommandStream(
        profile="fake",
        rig="fake",
        duration_ms=duration_ms,
        actuators=("roller_l", "vib_l"),
        steps=steps,
        commands=commands,
    )
