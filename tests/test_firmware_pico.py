"""The Pico-only firmware files on CPython, with fake `machine` and `micropython` modules.

hal_rp2.py: outputs off at power-up, roller direction, which channels take which
kinds, thermistor readings, the normally-closed emergency stop. main.py: the
serve loop answers a hello, switches Ctrl-C off and back, feeds the hardware
watchdog, leaves every output off however it ends, and does not start at all
in maintenance mode.
"""

from __future__ import annotations

import importlib
import math
import sys
import time
import types
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest

from firmware_bridge import codec, codes
from firmware_bridge.ticks import TICKS_MAX


class FakeBoard:
    """The state of the fake RP2040: pin levels, PWM duties, ADC readings, call order."""

    def __init__(self) -> None:
        self.pins: dict[int, int] = {}
        self.duty: dict[int, int] = {}
        self.adc: dict[int, int] = {}
        self.events: list[tuple[str, int, int]] = []
        self.kbd: list[int] = []
        self.wdt_feeds = 0
        self.wdt_started = False
        self.feeds_left = 10**9

    def module(self) -> types.ModuleType:
        board = self

        class Pin:
            OUT = 1
            IN = 0
            PULL_UP = 1

            def __init__(self, pin: int, mode: int = -1, pull: int = -1, *, value: Any = None):
                self.id = pin
                if value is not None:
                    board.pins[pin] = int(value)
                    board.events.append(("pin", pin, int(value)))
                elif pull == Pin.PULL_UP and pin not in board.pins:
                    board.pins[pin] = 1

            def value(self, x: Any = None) -> int | None:
                if x is None:
                    return board.pins.get(self.id, 0)
                board.pins[self.id] = int(x)
                board.events.append(("pin", self.id, int(x)))
                return None

        class PWM:
            def __init__(self, pin: Any, *, freq: int = 0, duty_u16: int = 0) -> None:
                self.id = pin.id
                assert freq == 20000
                self.duty_u16(duty_u16)

            def duty_u16(self, duty: int) -> None:
                assert 0 <= duty <= 65535
                board.duty[self.id] = duty
                board.events.append(("duty", self.id, duty))

        class ADC:
            def __init__(self, pin: Any) -> None:
                self.id = pin.id

            def read_u16(self) -> int:
                return board.adc.get(self.id, 32768)

        class WDT:
            def __init__(self, *, timeout: int = 5000) -> None:
                board.wdt_started = True

            def feed(self) -> None:
                board.wdt_feeds += 1
                board.feeds_left -= 1
                if board.feeds_left <= 0:
                    raise RuntimeError("the hardware watchdog fires (test stop)")

        module = types.ModuleType("machine")
        module.Pin = Pin  # type: ignore[attr-defined]
        module.PWM = PWM  # type: ignore[attr-defined]
        module.ADC = ADC  # type: ignore[attr-defined]
        module.WDT = WDT  # type: ignore[attr-defined]
        return module


@pytest.fixture
def board(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBoard]:
    fake = FakeBoard()
    monkeypatch.setitem(sys.modules, "machine", fake.module())
    micro = types.ModuleType("micropython")
    micro.kbd_intr = fake.kbd.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "micropython", micro)
    monkeypatch.setattr(  # MicroPython's clock: microseconds, wrapping every 2**30
        time, "ticks_us", lambda: (time.monotonic_ns() // 1000) & TICKS_MAX, raising=False
    )
    for name in ("firmware_bridge.hal_rp2", "firmware_bridge.main"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield fake


def hal_module() -> Any:
    return importlib.import_module("firmware_bridge.hal_rp2")


def test_every_output_is_low_before_anything_else(board: FakeBoard) -> None:
    hal_module().Rp2Hal()
    first = board.events[: 16 + 6]
    assert all(kind == "pin" and level == 0 for kind, _, level in first)
    assert {pin for _, pin, _ in first} == set(range(16)) | {16, 17, 18, 19, 20, 21}
    assert all(d == 0 for d in board.duty.values()) and len(board.duty) == 16


def test_a_roller_sets_its_direction_pin_with_the_duty_at_zero(board: FakeBoard) -> None:
    hal = hal_module().Rp2Hal()
    hal.set_output(1, 0.5)
    assert board.pins[17] == 1 and board.duty[1] == 32768
    board.events.clear()
    hal.set_output(1, -0.25)
    assert board.events == [("duty", 1, 0), ("pin", 17, 0), ("duty", 1, 16384)]
    hal.set_output(6, 1.5)
    assert board.duty[6] == 65535  # clamped
    hal.all_off()
    assert all(d == 0 for d in board.duty.values())
    assert all(board.pins[p] == 0 for p in (16, 17, 18, 19, 20, 21))


def test_rollers_need_a_direction_pin_and_heaters_a_sensor(board: FakeBoard) -> None:
    hal = hal_module().Rp2Hal()
    roller, heater, air = 0, 3, 2
    assert hal.configure(0, roller) and hal.configure(10, roller)
    assert not hal.configure(3, roller)
    assert hal.configure(7, heater) and hal.configure(15, heater)
    assert not hal.configure(6, heater)
    assert hal.configure(3, air)


def test_the_virtual_pico_refuses_exactly_what_the_board_refuses(board: FakeBoard) -> None:
    from firmware_bridge.virtual import VirtualHal

    real = hal_module().Rp2Hal()
    virtual = VirtualHal(16)
    for ch in range(16):
        for kind in range(4):
            assert virtual.configure(ch, kind) == real.configure(ch, kind), (ch, kind)
    assert not virtual.configure(3, 0)  # a roller without a direction pin
    assert not virtual.configure(6, 3)  # a heater without a thermistor


def test_the_virtual_device_refuses_a_heater_on_a_channel_without_a_sensor() -> None:
    from firmware_bridge.virtual import VirtualDevice
    from massager.drivers.base import DriverOptions
    from massager.drivers.serial import SerialDriver
    from massager.rig import Rig

    rig = Rig.model_validate(
        {
            "name": "misfit",
            "actuators": [
                {
                    "id": "heat",
                    "kind": "heater",
                    "foot": "left",
                    "reaches": ["sole"],
                    "max_temp_c": "40C",
                    "bindings": {"serial": {"channel": 6}},
                }
            ],
        }
    )
    from massager.errors import DeviceError

    with VirtualDevice(channels=16) as dev:
        driver = SerialDriver(rig, DriverOptions(target=dev.port))
        with pytest.raises(DeviceError, match=r"configure channel 6 \(heat\): the device has no"):
            driver.open()


def test_the_thermistor_reads_degrees_and_a_broken_one_reads_nan(board: FakeBoard) -> None:
    hal = hal_module().Rp2Hal()
    board.adc[26] = 32768  # NTC equal to the series resistor: 25 C
    assert hal.read_temp(7) == pytest.approx(25.0, abs=0.05)
    board.adc[26] = 20000  # lower resistance: warmer
    assert 35.0 < hal.read_temp(7) < 45.0
    board.adc[27] = 65535  # open circuit
    assert math.isnan(hal.read_temp(15))
    board.adc[27] = 0  # short
    assert math.isnan(hal.read_temp(15))
    assert math.isnan(hal.read_temp(3))  # no sensor on that channel


def test_the_emergency_stop_is_normally_closed(board: FakeBoard) -> None:
    hal = hal_module().Rp2Hal()
    assert hal.estop()  # nothing wired: the pull-up reads as pressed
    board.pins[22] = 0  # the closed button pulls it to ground
    assert not hal.estop()


class FakeStdin:
    """sys.stdin with a `buffer` that yields queued bytes one read at a time."""

    def __init__(self, data: bytes) -> None:
        self.queue = deque(data)
        self.buffer = self

    def read(self, n: int) -> bytes:
        out = bytes(self.queue.popleft() for _ in range(min(n, len(self.queue))))
        return out


class FakeStdout:
    def __init__(self) -> None:
        self.data = bytearray()
        self.buffer = self

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)


def serve(
    board: FakeBoard, monkeypatch: pytest.MonkeyPatch, incoming: bytes, passes: int
) -> FakeStdout:
    """Import main.py (it runs at import) with `incoming` on stdin, for `passes` loop passes."""
    import select

    stdin = FakeStdin(incoming)
    stdout = FakeStdout()

    class Poll:
        def register(self, obj: object, mask: int) -> None:
            assert obj is stdin

        def poll(self, timeout: int) -> list[tuple[object, int]]:
            return [(stdin, 1)] if stdin.queue else []

    monkeypatch.setattr(select, "poll", Poll)
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(sys, "stdout", stdout)
    board.feeds_left = passes
    try:
        importlib.import_module("firmware_bridge.main")
    except RuntimeError as exc:
        assert "watchdog" in str(exc)
    return stdout


def test_the_serve_loop_answers_a_hello_with_ctrl_c_off(
    board: FakeBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    board.pins[22] = 0  # the emergency stop is wired and released
    hello = codec.encode_frame(3, codes.MSG_IDENTIFY, codec.encode_identify(99))
    out = serve(board, monkeypatch, b"\x03garbage" + hello, passes=50)
    frames: list[tuple[int, int, bytes]] = []
    codec.Decoder(lambda s, t, p: frames.append((s, t, p))).feed(bytes(out.data))
    assert [t for _, t, _ in frames] == [codes.MSG_IDENTIFY_REPLY]
    reply = codec.decode_identify_reply(frames[0][2])
    assert reply[1] == 99 and reply[3] == 16 and reply[4] & codes.CAP_TEMP
    assert reply[4] & codes.CAP_ESTOP
    assert board.kbd == [-1, 3]  # off while serving, back on the way out
    assert board.wdt_started and board.wdt_feeds == 50
    assert all(d == 0 for d in board.duty.values())


def test_maintenance_mode_leaves_the_repl_free(
    board: FakeBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = serve(board, monkeypatch, b"", passes=5)  # GP22 open: reads as pressed
    assert out.data == b""
    assert board.kbd == [] and not board.wdt_started
    assert all(d == 0 for d in board.duty.values())
