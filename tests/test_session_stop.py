"""A stop ends the session as soon as the device's ramp-down reaches zero, and no sooner;
the service hands a stop to the session's thread at once.

The session asks the driver when the ramp that `stop()` began will end
(`Driver.ramp_down_ms`) and looks again then, never later than a heartbeat (whose
polls feed the device's watchdog), within the ramp-down limit; a second interrupt
wakes that wait at once. All on virtual clocks: no test here times anything.
"""

from __future__ import annotations

import math
import threading

import pytest
from fake_driver import RIG, FakeDriver, stream
from hypothesis import given, settings
from hypothesis import strategies as st
from serial_support import driver_for, steps_stream

from firmware_bridge.virtual import VirtualDevice
from massager.clock import VirtualClock
from massager.errors import DeviceError, Interrupted
from massager.rig import Rig
from massager.runtime.events import EventBus, Finished, Progress
from massager.runtime.session import RAMP_DOWN_LIMIT_MS, Session
from massager.service import core as core_module
from massager.service.core import CoreOptions, ServiceCore
from massager.service.rpc import Client

FAST = Rig.model_validate(
    {
        **RIG.model_dump(exclude={"actuators"}),
        "actuators": [{**a.model_dump(exclude_none=True), "max_slew": 20.0} for a in RIG.actuators],
    }
)
"""The fake rig, ramping at 20/s: from 0.8 a stop takes 40 ms."""


class GateClock(VirtualClock):
    """Virtual time whose `wait_until`, once `gated`, waits for the session's wake event as a
    real clock would (5 s at most), and records whether the event ended the wait."""

    def __init__(self) -> None:
        super().__init__()
        self.gated = False
        self.waiting = threading.Event()
        self.woken: list[bool] = []

    def wait_until(self, t_ms: float, wake: threading.Event) -> None:
        if not self.gated:
            self.sleep_until(t_ms)
            return
        self.waiting.set()
        woken = wake.wait(5.0)
        self.woken.append(woken)
        if not woken:
            self.sleep_until(t_ms)


class RampingDriver(FakeDriver):
    """The fake device, ramping every output to zero at its rig's slew limit after `stop()`
    (or never, `stuck`), as the executor does."""

    def __init__(self, rig: Rig = FAST, *, stuck: bool = False, **kwargs: object) -> None:
        super().__init__(rig, **kwargs)  # type: ignore[arg-type]
        self.stuck = stuck
        self.slew = {a.id: a.max_slew for a in rig.actuators}
        self.at_stop: dict[str, float] = {}
        self.stopped_at = 0.0
        self.stop_polls: list[float] = []
        """Clock ms of every poll after `stop()`."""

    def stop(self) -> None:
        if not self.stopped:  # the session's close stops again: the ramp began at the first
            self.at_stop = super().levels()
            self.stopped_at = self.clock.now_ms()
        super().stop()
        if isinstance(self.clock, GateClock):
            self.clock.gated = True

    def levels(self) -> dict[str, float]:
        if not self.stopped or self.is_off:
            return super().levels()
        if self.stuck:
            return dict(self.at_stop)
        dt = (self.clock.now_ms() - self.stopped_at) / 1000.0
        return {
            a: math.copysign(max(0.0, abs(v) - self.slew[a] * dt), v)
            for a, v in self.at_stop.items()
        }

    def poll(self):  # type: ignore[no-untyped-def]
        status = super().poll()
        if self.stopped:
            self.stop_polls.append(self.clock.now_ms())
        return status


def stop_at(session: Session, driver: FakeDriver, at_ms: float) -> None:
    """Ask `session` to stop at its first poll at or after clock time `at_ms`."""
    original = driver.poll

    def poll():  # type: ignore[no-untyped-def]
        if not driver.stopped and driver.clock.now_ms() >= at_ms:
            session.stop()
        return original()

    driver.poll = poll  # type: ignore[method-assign]


def test_a_stop_ends_when_the_ramp_down_reaches_zero_not_a_heartbeat_later() -> None:
    driver = RampingDriver()
    session = Session(stream(3000, level=0.8), driver)
    stop_at(session, driver, 1000)
    result = session.run()
    assert result.reason == "stopped"
    assert driver.at_stop["roller_l"] == pytest.approx(0.8)
    ramp = 0.8 / 20.0 * 1000.0 + driver.STOP_MARGIN_MS  # what the driver says: 41 ms
    assert driver.ramp_down_ms(driver.at_stop) == pytest.approx(ramp)
    start = driver.stopped_at
    # one look as the ramp begins, one when the driver says it ends: zero, done
    assert [t - start for t in driver.stop_polls] == pytest.approx([0.0, ramp])
    assert ramp < session.heartbeat_ms
    assert all(v == 0.0 for v in driver.samples[-1].levels.values())
    assert driver.calls[-3:] == ["stop", "off", "close"]


def test_a_ramp_longer_than_the_heartbeat_is_still_polled_every_heartbeat() -> None:
    # the fake rig's 2/s: 0.8 takes 400 ms; the polls keep feeding the watchdog meanwhile
    driver = RampingDriver(RIG)
    session = Session(stream(3000, level=0.8), driver)
    stop_at(session, driver, 1000)
    session.run()
    gaps = [b - a for a, b in zip(driver.stop_polls, driver.stop_polls[1:], strict=False)]
    assert gaps and max(gaps) <= session.heartbeat_ms + 1e-9
    assert driver.stop_polls[-1] - driver.stopped_at == pytest.approx(400.0)
    assert all(v == 0.0 for v in driver.samples[-1].levels.values())


def test_a_ramp_down_that_never_reaches_zero_is_still_forced_off_at_the_limit() -> None:
    driver = RampingDriver(stuck=True)
    session = Session(stream(3000, level=0.8), driver)
    stop_at(session, driver, 1000)
    result = session.run()
    assert result.reason == "stopped"
    assert driver.stop_polls[-1] - driver.stopped_at == pytest.approx(RAMP_DOWN_LIMIT_MS)
    gaps = [b - a for a, b in zip(driver.stop_polls, driver.stop_polls[1:], strict=False)]
    assert min(gaps) >= 1.0  # a report that does not move is not polled in a spin
    assert driver.calls[-3:] == ["stop", "off", "close"] and driver.is_off


def test_a_second_interrupt_wakes_the_ramp_down_wait_at_once() -> None:
    clock = GateClock()
    driver = RampingDriver(stuck=True, clock=clock)
    bus = EventBus()
    finished: list[Finished] = []
    bus.subscribe(finished.append, Finished)
    session = Session(stream(3000, level=0.8), driver, bus=bus)
    stop_at(session, driver, 1000)
    errors: list[BaseException] = []

    def play() -> None:
        try:
            session.run()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=play)
    thread.start()
    try:
        assert clock.waiting.wait(5.0), "the ramp-down never waited on the session's wake"
        session.interrupt("SIGTERM")
        session.interrupt("SIGTERM")
    finally:
        thread.join(10.0)
    assert not thread.is_alive()
    assert clock.woken and all(clock.woken)  # woken, never timed out
    assert clock.now_ms() == pytest.approx(driver.stopped_at)  # no clock time went by
    assert len(errors) == 1 and isinstance(errors[0], Interrupted)
    assert "turned off at once" in str(errors[0])
    assert driver.calls[-2:] == ["off", "close"] and driver.is_off
    assert finished and finished[0].exit_code == 130


def test_the_virtual_pico_reports_the_ramp_downs_end_to_the_next_poll() -> None:
    # the link's heartbeat report comes every ~170 ms; a poll while stopping asks for its own
    device = VirtualDevice(channels=16, record=True).start()
    driver = driver_for(device)
    try:
        driver.open()
        driver.send(steps_stream(60_000, 30_000).commands[:2])
        driver.start()
        for _ in range(400):  # both outputs at their levels (20/s: within 50 ms)
            status = driver.poll()
            if status.levels["vib"] > 0.29 and abs(status.levels["roller"]) > 0.59:
                break
            threading.Event().wait(0.005)
        else:
            pytest.fail(f"the outputs never settled: {driver.poll().levels}")
        driver.stop()
        for _ in range(400):  # bounded: the ramp takes 30 ms at 20/s
            if device.hal.all_zero():
                break
            threading.Event().wait(0.005)
        assert device.hal.all_zero()
        assert driver.poll().levels == {"roller": 0.0, "vib": 0.0}
    finally:
        driver.close()
        device.close()


def test_wait_stopping_holds_until_the_device_is_told_to_stop() -> None:
    driver = RampingDriver()
    session = Session(stream(3000, level=0.8), driver)
    seen: list[tuple[str, bool]] = []
    real_stop = driver.stop

    def stop() -> None:
        seen.append(("stop", session.wait_stopping(0.0)))
        real_stop()

    driver.stop = stop  # type: ignore[method-assign]
    real_poll = driver.poll

    def poll():  # type: ignore[no-untyped-def]
        if driver.stopped:
            seen.append(("ramping", session.wait_stopping(0.0)))
        return real_poll()

    driver.poll = poll  # type: ignore[method-assign]
    stop_at(session, driver, 1000)
    assert not session.wait_stopping(0.0)
    session.run()
    # not before the device is told; from then on (the ramp-down's polls), and after the end
    assert seen[0] == ("stop", False)
    assert ("ramping", True) in seen and ("ramping", False) not in seen
    assert session.wait_stopping(0.0)


def test_wait_stopping_returns_once_a_session_ends_without_a_stop() -> None:
    driver = FakeDriver(fail_at_ms=500)  # the device fails: no ramp-down, off at once
    session = Session(stream(3000), driver)
    with pytest.raises(DeviceError):
        session.run()
    assert session.wait_stopping(0.0)


def test_the_service_returns_from_a_stop_once_the_device_is_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the handoff: the event loop waits for the session's thread to run the stop (bounded by
    # STOP_HANDOFF_S; made long here, so this holds however slow the machine is)
    monkeypatch.setattr(core_module, "STOP_HANDOFF_S", 30.0)
    core = ServiceCore(CoreOptions(speed=1.0, deadman_s=None))
    phone = Client("ws-1", "phone")
    core.connect(phone)
    core.start(phone, core.compile(profile="quick"))
    run = core.run
    assert run is not None
    told = threading.Event()
    playing = threading.Event()
    run.session.bus.subscribe(lambda e: playing.set(), Progress)
    assert playing.wait(30.0)
    real_stop = run.session.driver.stop

    def stop() -> None:
        told.set()
        real_stop()

    run.session.driver.stop = stop  # type: ignore[method-assign]
    try:
        core.stop()
        assert told.is_set()
        assert run.session.wait_stopping(0.0)
    finally:
        core.shutdown(30.0)
    assert core.state == "idle"


@settings(max_examples=40, deadline=None)
@given(
    slew=st.floats(0.5, 100.0),
    stop_ms=st.integers(50, 2900),
    level=st.floats(0.1, 1.0),
)
def test_any_ramp_down_ends_at_zero_within_a_margin_of_its_end_polling_every_heartbeat(
    slew: float, stop_ms: int, level: float
) -> None:
    rig = Rig.model_validate(
        {
            **RIG.model_dump(exclude={"actuators"}),
            "actuators": [
                {**a.model_dump(exclude_none=True), "max_slew": slew} for a in RIG.actuators
            ],
        }
    )
    driver = RampingDriver(rig)
    session = Session(stream(3000, level=level), driver)
    stop_at(session, driver, stop_ms)
    result = session.run()
    assert result.reason == "stopped"
    assert all(v == 0.0 for v in driver.samples[-1].levels.values())
    longest = max(abs(v) for v in driver.at_stop.values()) / slew * 1000.0
    took = driver.stop_polls[-1] - driver.stopped_at
    # never before the device is at zero, never more than the driver's margin after it
    assert longest - 1e-6 <= took <= longest + driver.STOP_MARGIN_MS + 1e-6
    gaps = [b - a for a, b in zip(driver.stop_polls, driver.stop_polls[1:], strict=False)]
    assert all(1.0 - 1e-9 <= g <= session.heartbeat_ms + 1e-9 for g in gaps)
