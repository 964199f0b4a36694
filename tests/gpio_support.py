"""Helpers for the GPIO driver tests: mock pins on the device's clock, and the expected pin trace.

The expected trace is worked out from the stream alone: at every tick (the
200 Hz grid plus the moment each command is due) an actuator's level moves
toward the stream's level (`Timeline`), clamped to its range, by at most
`max_slew` per second; then each binding maps that level onto its pins.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import gpiozero.pins.mock as gpiozero_mock
from gpiozero.pins.mock import MockFactory, MockSPIDevice

from firmware_bridge import codec, codes
from massager.clock import SteppedTime, VirtualClock
from massager.drivers.base import DriverOptions
from massager.drivers.gpio import GpioDriver
from massager.drivers.gpio_mock import mock_factory
from massager.mcu.gpio import GpioMcu
from massager.mcu.hal import GpioHal
from massager.rig.model import Actuator, Rig
from massager.stream import Command, CommandStream, Timeline

TICK_MS = 5.0
W1_REPLY = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t={milli}\n"

RIG_DOC: dict[str, Any] = {
    "name": "pins-test",
    "estop_pin": 26,
    "heartbeat_pin": 24,
    "actuators": [
        {
            "id": "roller_l",
            "kind": "roller",
            "foot": "left",
            "reaches": ["sole"],
            "max_slew": 100,
            "bindings": {"gpio": {"forward": 12, "backward": 13, "pwm_hz": 2000}},
        },
        {
            "id": "roller_r",
            "kind": "roller",
            "foot": "right",
            "reaches": ["sole"],
            "max_slew": 100,
            "max_level": 0.8,
            "bindings": {"gpio": {"phase": 5, "enable": 6, "pwm_hz": 500}},
        },
        {
            "id": "vib_l",
            "kind": "vibration",
            "foot": "left",
            "reaches": ["heel"],
            "max_slew": 100,
            "bindings": {"gpio": {"pin": 16, "pwm_hz": 200}},
        },
        {
            "id": "air_l",
            "kind": "air",
            "foot": "left",
            "reaches": ["calf"],
            "max_slew": 100,
            "bindings": {"gpio": {"pin": 20, "valve": 21}},
        },
        {
            "id": "heat_l",
            "kind": "heater",
            "foot": "left",
            "reaches": ["sole"],
            "max_temp_c": "42C",
            "max_slew": 100,
            "bindings": {
                "gpio": {
                    "pin": 19,
                    "pwm_hz": 100,
                    "sensor": {"type": "ds18b20", "id": "28-0000000000aa"},
                }
            },
        },
    ],
}
RIG = Rig.model_validate(RIG_DOC)
OUTPUT_PINS = (12, 13, 5, 6, 16, 20, 21, 19)


def write_w1(root: Path, celsius: float, device: str = "28-0000000000aa") -> Path:
    """A fake 1-wire sysfs tree whose DS18B20 reads `celsius`."""
    (root / device).mkdir(parents=True, exist_ok=True)
    (root / device / "w1_slave").write_text(W1_REPLY.format(milli=round(celsius * 1000)))
    return root


class StepDevice:
    """The GPIO device (GpioMcu on mock pins) on a stepped clock, fed frames as its host would.

    `open()` claims the pins at `start_us` (session time 0) and configures the
    channels; `play` schedules a stream and ticks at every moment the device
    would (the 200 Hz grid and each command's due time), feeding the watchdog
    with a status request every 50 ms. Mock pins stamp their changes with this
    clock inside `stepped_pins(step)`.

    This is the device alone, with no host driver: a test chooses each tick's
    moment (the tick counter's wrap, a button pressed between two ticks) and the
    frames sent, and compares the pins with the stream exactly. `stepped_gpio`
    is the other harness: the real host driver and its device on one 1 ms-step
    virtual clock, for what the driver does (its link, watchdog feeding, stops).
    """

    def __init__(self, rig: Rig, factory: MockFactory, start_us: int = 0, **hal: Any) -> None:
        self.rig = rig
        self.start_us = start_us
        self.now_us = start_us
        self.hal = GpioHal(rig, factory, clock_us=lambda: self.now_us, **hal)
        self._host, self._dev = socket.socketpair()
        self.mcu = GpioMcu(self.hal, self._dev.fileno())
        self.device = self.mcu.device
        self._seq = 0x10
        self._fed_ms = 0.0

    def now(self) -> float:
        """The device's clock in seconds (what its mock pins stamp changes with)."""
        return self.now_us / 1e6

    def open(self) -> StepDevice:
        """Claim the pins (at `start_us`) and configure every channel as the host does."""
        self.hal.open()
        rig = self.rig
        self.send(codes.MSG_IDENTIFY, codec.encode_identify(1))
        self.send(codes.MSG_CONFIG_BEGIN, codec.encode_config_begin(7, rig.watchdog_ms))
        for ch, act in enumerate(rig.actuators):
            limits = act.device_limits()
            self.send(codes.MSG_CONFIG_CHANNEL, codec.encode_config_channel(ch, *limits))
        self.send(codes.MSG_CONFIG_END, codec.encode_config_end(len(rig.actuators)))
        return self

    def send(self, mtype: int, payload: bytes = b"") -> None:
        """One host frame, handled at once."""
        self.mcu.feed(codec.encode_frame(self._seq, mtype, payload))
        self._seq = (self._seq + 1) & 0xFF

    def schedule(self, commands: list[Command]) -> None:
        """Queue stream commands at their session times (time 0 is `start_us`)."""
        channel = {a.id: ch for ch, a in enumerate(self.rig.actuators)}
        wire = [((self.start_us + c.at_ms * 1000) & 0x3FFFFFFF, channel[c.actuator], *c.args())
                for c in commands]  # fmt: skip
        for i in range(0, len(wire), 8):
            self.send(codes.MSG_SCHEDULE, codec.encode_schedule(i, wire[i : i + 8]))

    def run_to(self, t_ms: float) -> None:
        """Tick at session time `t_ms` (feeding the watchdog every 50 ms)."""
        self.now_us = self.start_us + round(t_ms * 1000)
        if t_ms - self._fed_ms >= 50.0:
            self._fed_ms = t_ms
            self.send(codes.MSG_STATUS, codec.encode_token(1))
        self.mcu.tick()

    def play(self, stream: CommandStream, end_ms: float, intensity: float = 1.0) -> None:
        """Schedule `stream` and tick through it to `end_ms`."""
        if intensity != 1.0:
            self.send(codes.MSG_INTENSITY, codec.encode_intensity(intensity))
        self.schedule(list(stream.commands))
        for t in tick_times(stream.commands, end_ms):
            self.run_to(t)

    def close(self) -> None:
        """Every pin low and released."""
        self.device.all_off()
        self.hal.close()
        self._host.close()
        self._dev.close()


def stepped_gpio(
    w1_root: Path, factory: MockFactory | None = None, rig: Rig | None = None, **options: Any
) -> tuple[GpioDriver, MockFactory, SteppedTime]:
    """A GPIO driver and its device (GpioMcu on mock pins) in this thread, on one virtual clock.

    Time moves only while the host waits, a millisecond step at a time: the device
    makes a pass of its loop (ticking on its 5 ms grid), its sensors read when due,
    then the host's link reads. Use inside `stepped_pins(time)` so the mock pins
    stamp their changes with that clock.
    """
    time = SteppedTime(VirtualClock(1_000_000.0), step_s=0.001)
    factory = factory if factory is not None else pwm_factory()
    driver = GpioDriver(
        rig or RIG, DriverOptions(**options), pin_factory=factory, w1_root=w1_root, time=time
    )
    return driver, factory, time


class Clocked(Protocol):
    """A virtual clock read in seconds: a `SteppedTime`, or a `StepDevice`'s own."""

    def now(self) -> float:
        """The clock, in seconds."""
        ...


@contextmanager
def stepped_pins(clock: Clocked) -> Iterator[None]:
    """Make mock pins stamp their changes with `clock`'s virtual time (seconds): the
    `SteppedTime` of `stepped_gpio`, or a `StepDevice`."""
    real = gpiozero_mock.monotonic
    gpiozero_mock.monotonic = clock.now
    try:
        yield
    finally:
        gpiozero_mock.monotonic = real


def pwm_factory() -> MockFactory:
    """A fresh gpiozero mock factory whose pins do PWM and keep absolute change times."""
    return mock_factory()


def pin_trace(factory: MockFactory, pin: int) -> list[tuple[float, float]]:
    """The (ms since the pin was claimed, state) changes a mock pin recorded.

    Mock pins stamp each change with the time since the previous one; the
    first entry is the state the pin had when it was claimed.
    """
    out: list[tuple[float, float]] = []
    elapsed = 0.0
    for state in factory.pin(pin).states[1:]:
        elapsed += state.timestamp
        out.append((round(elapsed * 1000.0, 6), float(state.state)))
    return out


def tick_times(commands: list[Command], end_ms: float) -> list[float]:
    """Every moment the stepped driver ticks: the grid, and each command's due time."""
    times = {round(k * TICK_MS, 6) for k in range(int(end_ms / TICK_MS) + 1)}
    times |= {float(c.at_ms) for c in commands if c.at_ms <= end_ms}
    return sorted(times)


def pins_for(act: Actuator, level: float, phase: float) -> dict[int, float]:
    """The state of each pin of `act` at `level` (`phase`: a phase pin's previous state)."""
    gpio = act.bindings.gpio
    assert gpio is not None
    if gpio.forward is not None and gpio.backward is not None:
        return {gpio.forward: max(level, 0.0), gpio.backward: max(-level, 0.0)}
    if gpio.phase is not None and gpio.enable is not None:
        if level > 0:
            phase = 0.0
        elif level < 0:
            phase = 1.0
        return {gpio.phase: phase, gpio.enable: abs(level)}
    assert gpio.pin is not None
    out = {gpio.pin: level}
    if gpio.valve is not None:
        out[gpio.valve] = 1.0 if level > 0 else 0.0
    return out


def expected_traces(
    stream: CommandStream, rig: Rig, end_ms: float, intensity: float = 1.0
) -> dict[int, list[tuple[float, float]]]:
    """Each output pin's expected (ms, state) changes, from the stream and the rig's limits.

    Levels, limits and the intensity are rounded to float32, as the wire carries them.
    """
    traces: dict[int, list[tuple[float, float]]] = {}
    by_actuator = stream.by_actuator()
    intensity = f32(intensity)
    for act in rig.actuators:
        commands = [on_the_wire(c) for c in by_actuator.get(act.id, [])]
        timeline = Timeline(commands)
        high, slew = f32(act.max_level), f32(act.max_slew)
        low = -high if act.kind == "roller" else 0.0
        level = 0.0
        state: dict[int, float] = dict.fromkeys(pins_for(act, 0.0, 0.0), 0.0)
        for p in state:
            traces[p] = []
        previous_t: float | None = None
        for t in tick_times(stream.commands, end_ms):
            dt = 0.0 if previous_t is None else t - previous_t
            previous_t = t
            target = min(max(timeline.level_at(t) * intensity, low), high)
            step = slew / 1e6 * round(dt * 1000)
            before = level
            level = min(target, level + step) if target > level else max(target, level - step)
            gpio = act.bindings.gpio
            assert gpio is not None
            phase = state.get(gpio.phase, 0.0) if gpio.phase is not None else 0.0
            if gpio.enable is not None and level * before < 0:
                # a reversal turns the enable off before the phase pin flips
                traces[gpio.enable].append((t, 0.0))
                state[gpio.enable] = 0.0
            for p, value in pins_for(act, level, phase).items():
                if abs(value - state[p]) > 1e-12:
                    traces[p].append((t, value))
                    state[p] = value
    return traces


def f32(x: float) -> float:
    """`x` rounded to float32, as a level travels in a SCHEDULE frame."""
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def on_the_wire(c: Command) -> Command:
    """`c` with its levels and frequency as the device receives them (float32)."""
    return replace(c, level=f32(c.level), low=f32(c.low), high=f32(c.high), hz=f32(c.hz))


def assert_trace(actual: list[tuple[float, float]], expected: list[tuple[float, float]]) -> None:
    """Same number of changes, each at the same time with the same state.

    gpiozero's own `assert_states_and_times` zips the two lists, so a short
    expectation passes it; this checks the length first.
    """
    assert len(actual) == len(expected), f"{len(actual)} changes, expected {len(expected)}"
    for (t, v), (et, ev) in zip(actual, expected, strict=True):
        assert abs(t - et) < 1e-3, f"change to {v} at {t} ms, expected {ev} at {et} ms"
        assert abs(v - ev) < 1e-9, f"state {v} at {t} ms, expected {ev}"


class MockMcp3008(MockSPIDevice):  # type: ignore[misc]
    """The chip side of an MCP3008 on SPI0 of a mock factory: single-ended reads of `volts`.

    The host clocks in a start bit, the single/differential bit and three
    channel bits; the chip answers with a null bit and ten result bits.
    """

    VREF = 3.3

    def __init__(self, factory: MockFactory) -> None:
        super().__init__(11, 10, 9, 8, pin_factory=factory)
        self.volts = [0.0] * 8
        self.phase = "idle"

    def on_start(self) -> None:
        super().on_start()
        self.phase = "idle"

    def on_bit(self) -> None:
        if self.phase == "idle" and self.rx_buf[-1]:
            self.phase, self.rx_buf = "mode", []
        elif self.phase == "mode":
            self.phase, self.rx_buf = "channel", []
        elif self.phase == "channel" and len(self.rx_buf) == 3:
            volts = min(max(self.volts[self.rx_word()], 0.0), self.VREF)
            self.tx_word(round(volts / self.VREF * 1023), 12)
            self.phase = "result"
