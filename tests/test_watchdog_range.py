"""A rig's watchdog_ms anywhere in 20..5000 is one every driver honours (issue 8).

The session polls the simulator at least 2.5 times per watchdog period; the GPIO
device (like a Pico) is fed by the serial link's own heartbeat, a third of the
watchdog. At the bottom of the range (20 ms) a run ends done, not in a watchdog stop.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from massager import api, bundled
from massager.drivers.base import DeviceStatus, Driver, DriverOptions
from massager.drivers.gpio import GpioDriver
from massager.drivers.gpio_mock import mock_factory
from massager.drivers.sim import SimDriver
from massager.rig.model import Rig
from massager.runtime.events import Progress
from massager.runtime.session import HEARTBEAT_MS, Session
from massager.stream import CommandStream


def _rig(name: str, watchdog_ms: int) -> Rig:
    path = bundled.find("rigs", name)
    assert path is not None
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    return api.rig_from_data({**doc, "watchdog_ms": watchdog_ms})


def _record_polls(driver: Driver) -> list[DeviceStatus]:
    """Every status the session's polls of `driver` return, in order."""
    seen: list[DeviceStatus] = []
    real_poll = driver.poll

    def poll() -> DeviceStatus:
        status = real_poll()
        seen.append(status)
        return status

    driver.poll = poll  # type: ignore[method-assign]
    return seen


def _stream(rig: Rig) -> CommandStream:
    profile = api.profile_from_data(
        {"steps": [{"technique": "rub", "zones": ["sole"], "duration": "2s"}]}
    )
    return api.compile_stream(profile, rig)


@pytest.mark.parametrize("watchdog_ms", [20, 49, 99, 250, 5000])
def test_the_session_polls_the_simulator_within_its_watchdog(watchdog_ms: int) -> None:
    rig = _rig("reference", watchdog_ms)
    driver = SimDriver(rig, DriverOptions(virtual=True))
    session = Session(_stream(rig), driver)
    assert session.heartbeat_ms == min(HEARTBEAT_MS, watchdog_ms / 2.5)
    assert session.run().reason == "done"


@pytest.mark.parametrize("reported", [True, False])
def test_a_20_ms_watchdog_on_the_simulator_ends_done_with_every_output_off(reported: bool) -> None:
    rig = _rig("reference", 20)
    driver = SimDriver(rig, DriverOptions(virtual=True))
    seen = _record_polls(driver)
    session = Session(_stream(rig), driver)
    if reported:  # every poll is the session's own; else the quiet ones are the device's
        session.bus.subscribe(lambda _: None, Progress)
    result = session.run()
    assert result.reason == "done"
    if reported:
        assert len(seen) > 2000 / 8  # a poll every 8 ms of a 2 s profile
    assert all(status.faults == () for status in seen)  # (the watchdog never tripped)
    assert all(level == 0.0 for level in seen[-1].levels.values())


def test_a_20_ms_watchdog_on_gpio_mock_pins_ends_done_with_every_pin_low() -> None:
    rig = _rig("pi-gpio-minimal", 20)
    factory = mock_factory()
    driver = GpioDriver(rig, pin_factory=factory)
    beats: list[float] = []
    real_poll = driver.poll

    def poll() -> DeviceStatus:
        if driver.conn.heartbeat is not None:
            beats.append(driver.conn.heartbeat.period_s)
        return real_poll()

    driver.poll = poll  # type: ignore[method-assign]
    result = Session(_stream(rig), driver).run()
    assert result.reason == "done"
    assert beats and all(0 < beat * 1000 <= 20 / 2.5 for beat in beats)
    pins = [p for a in rig.actuators if a.bindings.gpio for p in a.bindings.gpio.pins()]
    assert all(float(factory.pin(p).state) == 0.0 for p in pins)
