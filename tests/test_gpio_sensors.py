"""Heater temperature inputs of the GPIO driver: DS18B20 through sysfs, thermistor on an MCP3008."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from massager.clock import SteppedTime, VirtualClock
from massager.mcu.sensors import (
    Ds18b20,
    Mcp3008Thermistor,
    SensorError,
    SensorPoller,
    parse_w1_slave,
    thermistor_c,
)

GOOD = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
BAD_CRC = "72 01 4b 46 7f ff 0e 10 57 : crc=00 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
POWER_ON = "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n"
DEVICE = "28-00000abc1234"


def w1_tree(root: Path, text: str) -> Path:
    """A fake /sys/bus/w1/devices holding one DS18B20 that answers `text`."""
    folder = root / DEVICE
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "w1_slave").write_text(text)
    return root


def test_ds18b20_reads_millidegrees(tmp_path: Path) -> None:
    sensor = Ds18b20(DEVICE, root=w1_tree(tmp_path, GOOD))
    assert sensor.read_c() == pytest.approx(23.125)


def test_ds18b20_negative_temperature() -> None:
    assert parse_w1_slave("aa : crc=aa YES\naa t=-1250\n") == pytest.approx(-1.25)


@pytest.mark.parametrize(
    ("text", "words"),
    [(BAD_CRC, "CRC"), (POWER_ON, "power-on"), ("", "CRC"), ("x YES\nnothing here\n", "no temp")],
)
def test_ds18b20_bad_replies_are_errors(text: str, words: str) -> None:
    with pytest.raises(SensorError, match=words):
        parse_w1_slave(text)


def test_ds18b20_missing_device_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SensorError, match="w1_slave"):
        Ds18b20(DEVICE, root=tmp_path).read_c()


class FakeAdc:
    """An MCP3008 channel whose reading the test sets."""

    def __init__(self, value: float) -> None:
        self.value = value


def test_thermistor_at_25c_when_the_divider_is_balanced() -> None:
    sensor = Mcp3008Thermistor(0, 3950.0, 10_000.0, 10_000.0, adc=FakeAdc(0.5))
    assert sensor.read_c() == pytest.approx(25.0)


def test_thermistor_warmer_means_lower_voltage() -> None:
    # an NTC's resistance falls as it warms, so the channel voltage falls
    assert thermistor_c(0.4, 3950.0, 10_000.0, 10_000.0) > 25.0
    assert thermistor_c(0.6, 3950.0, 10_000.0, 10_000.0) < 25.0


@given(st.floats(min_value=-20.0, max_value=90.0))
def test_thermistor_inverts_the_beta_equation(celsius: float) -> None:
    kelvin = celsius + 273.15
    resistance = 10_000.0 * math.exp(3950.0 * (1 / kelvin - 1 / 298.15))
    ratio = resistance / (resistance + 4_700.0)
    assert thermistor_c(ratio, 3950.0, 10_000.0, 4_700.0) == pytest.approx(celsius, abs=1e-6)


@pytest.mark.parametrize(("ratio", "state"), [(0.0, "shorted"), (1.0, "open")])
def test_thermistor_open_or_shorted_is_an_error(ratio: float, state: str) -> None:
    with pytest.raises(SensorError, match=state):
        thermistor_c(ratio, 3950.0, 10_000.0, 10_000.0)


def test_poller_keeps_latest_and_reports_failure(tmp_path: Path) -> None:
    root = w1_tree(tmp_path, GOOD)
    poller = SensorPoller([Ds18b20(DEVICE, root=root)])
    assert math.isnan(poller.latest(0))  # nothing read yet
    poller.read_all()
    assert poller.latest(0) == pytest.approx(23.125)
    assert poller.errors[0] is None
    w1_tree(root, BAD_CRC)
    poller.read_all()
    assert math.isnan(poller.latest(0))
    assert poller.errors[0] is not None and "CRC" in poller.errors[0]


def test_poller_reading_goes_stale(tmp_path: Path) -> None:
    clock = SteppedTime(VirtualClock(1000.0))
    reader = Ds18b20(DEVICE, root=w1_tree(tmp_path, GOOD))
    poller = SensorPoller([reader], stale_s=0.05, time=clock)
    poller.read_all()
    clock.sleep(0.049)
    assert poller.latest(0) == pytest.approx(23.125)  # 49 ms old: still good
    clock.sleep(0.002)
    assert math.isnan(poller.latest(0))  # 51 ms: stale


def test_poller_on_a_stepped_clock_reads_every_interval(tmp_path: Path) -> None:
    clock = SteppedTime(VirtualClock(1000.0))
    root = w1_tree(tmp_path, GOOD)
    poller = SensorPoller([Ds18b20(DEVICE, root=root)], interval_s=0.5, time=clock)
    poller.read_all()
    poller.start()  # no thread: it reads at the clock's steps
    w1_tree(root, GOOD.replace("t=23125", "t=40500"))
    clock.sleep(0.499)
    assert poller.latest(0) == pytest.approx(23.125)
    clock.sleep(0.001)
    assert poller.latest(0) == pytest.approx(40.5)
    assert poller.read_s == [pytest.approx(1.5)] and poller.next_read_s == pytest.approx(2.0)
    poller.close()
    w1_tree(root, GOOD)
    clock.sleep(1.0)
    assert poller.latest(0) == pytest.approx(40.5)  # closed: read no more


def test_poller_thread_follows_the_sensor(tmp_path: Path) -> None:
    root = w1_tree(tmp_path, GOOD)
    poller = SensorPoller([Ds18b20(DEVICE, root=root)], interval_s=0.01)
    poller.read_all()
    poller.start()
    try:
        w1_tree(root, GOOD.replace("t=23125", "t=40500"))
        deadline = time.monotonic() + 2.0
        while poller.latest(0) != pytest.approx(40.5) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert poller.latest(0) == pytest.approx(40.5)
    finally:
        poller.close()
    poller.close()  # idempotent


def test_mcp3008_thermistor_through_gpiozero_spi(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpio_support import MockMcp3008
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory, MockPin

    factory = MockFactory(pin_class=MockPin)  # SPI lines are plain on/off pins
    # gpiozero 2.0's software SPI bus takes its pins from the default factory
    monkeypatch.setattr(Device, "pin_factory", factory)
    chip = MockMcp3008(factory)
    sensor = Mcp3008Thermistor(2, 3950.0, 10_000.0, 10_000.0, pin_factory=factory)
    try:
        chip.volts[2] = 1.65  # half of VREF: the divider is balanced, 25 C
        assert sensor.read_c() == pytest.approx(25.0, abs=0.1)
        chip.volts[2] = 1.2  # 372/1023 of VREF: 5.71 kOhm
        assert sensor.read_c() == pytest.approx(38.1, abs=0.1)
        chip.volts[2] = 0.0
        with pytest.raises(SensorError, match=r"channel 2.*shorted"):
            sensor.read_c()
    finally:
        sensor.close()
        chip.close()
    sensor.close()
