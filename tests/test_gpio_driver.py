"""The GPIO driver on gpiozero's mock pins: pin timing, emergency stop, failures, cleanup."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import gpiozero.pins.mock as gpiozero_mock
import pytest
from gpio_support import (
    OUTPUT_PINS,
    RIG,
    TICK_MS,
    assert_trace,
    device_time_pins,
    expected_traces,
    pin_trace,
    pwm_factory,
    tick_times,
    write_w1,
)
from gpiozero.pins.mock import MockFactory

from firmware_bridge.ticks import TICKS_PERIOD
from massager.clock import VirtualClock
from massager.drivers import gpio as gpio_module
from massager.drivers.base import DriverOptions
from massager.drivers.gpio import GpioDriver
from massager.drivers.gpio_mock import StampedPin
from massager.errors import DeviceError, SafetyError, SafetyStop, UsageError
from massager.rig.model import Rig
from massager.runtime.session import Session
from massager.stream import Command, CommandStream

ACTUATORS = tuple(a.id for a in RIG.actuators)

SHORT = CommandStream(
    profile="pins",
    rig=RIG.name,
    duration_ms=1000,
    actuators=ACTUATORS,
    commands=sorted(
        [
            Command(0, "roller_l", "set", level=0.4),
            Command(200, "roller_l", "ramp", level=-0.3, duration_ms=300),
            Command(700, "roller_l", "set", level=0.2),
            Command(900, "roller_l", "off"),
            Command(50, "roller_r", "set", level=0.5),
            Command(300, "roller_r", "set", level=-0.5),
            Command(500, "roller_r", "wave", low=0.2, high=0.6, hz=2.0, shape="triangle"),
            Command(900, "roller_r", "off"),
            Command(100, "vib_l", "wave", low=0.1, high=0.7, hz=3.0),
            Command(800, "vib_l", "off"),
            Command(150, "air_l", "set", level=0.6),
            Command(600, "air_l", "off"),
            Command(200, "heat_l", "set", level=0.3),
            Command(700, "heat_l", "off"),
        ],
        key=lambda c: c.at_ms,
    ),
)


def steady(duration_ms: int = 5000) -> CommandStream:
    """Every output on from the start, held for `duration_ms`."""
    commands = [
        Command(0, "roller_l", "set", level=0.5),
        Command(0, "roller_r", "set", level=-0.5),
        Command(0, "vib_l", "wave", low=0.2, high=0.8, hz=5.0),
        Command(0, "air_l", "set", level=0.5),
        Command(0, "heat_l", "set", level=0.4),
    ]
    commands += [Command(duration_ms, a, "off") for a in ACTUATORS]
    return CommandStream("steady", RIG.name, duration_ms, ACTUATORS, commands=commands)


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll `condition` until it holds (a run on the real clock may start late on a busy CI)."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def all_outputs_zero(factory: MockFactory) -> bool:
    """Whether every output pin of the test rig reads zero."""
    return all(float(factory.pin(p).state) == 0.0 for p in OUTPUT_PINS)


@pytest.fixture
def w1(tmp_path: Path) -> Path:
    """A 1-wire tree whose heater sensor reads 30 C."""
    return write_w1(tmp_path / "w1", 30.0)


@pytest.mark.parametrize("intensity", [1.0, 0.6])
@pytest.mark.parametrize("start_us", [0, TICKS_PERIOD - 400_000], ids=["start", "wrap"])
def test_pins_follow_the_stream(w1: Path, intensity: float, start_us: int) -> None:
    factory = pwm_factory()
    driver_ref: list[GpioDriver] = []
    with device_time_pins(driver_ref):
        driver = GpioDriver(
            RIG,
            DriverOptions(clock_start_us=start_us),
            pin_factory=factory,
            clock=VirtualClock(),
            w1_root=w1,
        )
        driver_ref.append(driver)
        result = Session(SHORT, driver, intensity=intensity).run()
    assert result.reason == "done"
    expected = expected_traces(SHORT, RIG, end_ms=SHORT.duration_ms, intensity=intensity)
    for pin in OUTPUT_PINS:
        assert expected[pin], f"GPIO{pin} should change in this stream"
        assert_trace(pin_trace(factory, pin), expected[pin])
    assert all_outputs_zero(factory)


def test_the_trace_reads_back_as_the_levels_the_pins_had(w1: Path, tmp_path: Path) -> None:
    from massager.trace import read_trace

    factory = pwm_factory()
    driver_ref: list[GpioDriver] = []
    path = tmp_path / "gpio-trace.csv"
    with device_time_pins(driver_ref):
        driver = GpioDriver(
            RIG, DriverOptions(trace=path), pin_factory=factory, clock=VirtualClock(), w1_root=w1
        )
        driver_ref.append(driver)
        assert Session(SHORT, driver).run().reason == "done"
    trace = read_trace(path)
    assert set(trace.actuators) == {"roller_l", "roller_r", "vib_l", "air_l", "heat_l"}

    def pin_at(pin: int, t: float) -> float:
        changes = [v for at, v in pin_trace(factory, pin) if at <= t + 1e-6]
        return changes[-1] if changes else 0.0

    checked = 0
    for t in tick_times(SHORT.commands, SHORT.duration_ms):
        assert trace.level_at("vib_l", t) == pytest.approx(pin_at(16, t), abs=0.0051)
        roller = pin_at(12, t) - pin_at(13, t)
        assert trace.level_at("roller_l", t) == pytest.approx(roller, abs=0.0051)
        checked += 1
    assert checked > 100
    heater = trace.rows("heat_l")
    assert heater and all(r.temp_c == pytest.approx(30.0) for r in heater)
    assert all(level == 0.0 for level in trace.final_levels().values())


def test_short_profile_on_pi_gpio_minimal() -> None:
    from massager import api

    rig = api.load_rig("pi-gpio-minimal")
    profile = api.profile_from_data(
        {
            "name": "short",
            "steps": [
                {"technique": "rub", "zones": ["sole"], "duration": "2s", "intensity": 0.5},
                {"technique": "vibrate", "zones": ["arch"], "duration": "1s", "intensity": 0.6},
                {"technique": "rest", "duration": "1s"},
            ],
        }
    )
    stream = api.compile_stream(profile, rig)
    factory = pwm_factory()
    driver_ref: list[GpioDriver] = []
    with device_time_pins(driver_ref):
        driver = GpioDriver(rig, pin_factory=factory, clock=VirtualClock())
        driver_ref.append(driver)
        assert Session(stream, driver).run().reason == "done"
    expected = expected_traces(stream, rig, end_ms=stream.duration_ms)
    pins = [p for a in rig.actuators if a.bindings.gpio for p in a.bindings.gpio.pins()]
    assert sorted(pins) == [12, 13, 17, 22, 23, 27]
    for pin in pins:
        assert len(expected[pin]) > 20, f"GPIO{pin} should move in this profile"
        assert_trace(pin_trace(factory, pin), expected[pin])
        assert factory.pin(pin).state == 0.0


def test_expected_trace_is_not_trivial() -> None:
    expected = expected_traces(SHORT, RIG, end_ms=SHORT.duration_ms)
    # roller_r reverses: its phase pin goes high at 305 ms (one tick through zero)
    assert (305.0, 1.0) in expected[5]
    # the air valve closes with the pump and opens once the pump is off
    assert expected[21] == [(150.0, 1.0), (605.0, 0.0)]
    assert len(expected[16]) > 100  # the vibration wave moves every tick


def test_pwm_frequency_comes_from_the_binding() -> None:
    factory = pwm_factory()
    driver = GpioDriver(RIG, pin_factory=factory, clock=VirtualClock())
    driver.open()
    try:
        frequencies = {p: factory.pin(p).frequency for p in (12, 13, 6, 16, 20, 19)}
        assert frequencies == {12: 2000, 13: 2000, 6: 500, 16: 200, 20: 1000, 19: 100}
        assert factory.pin(21).frequency is None  # the valve is a plain on/off output
    finally:
        driver.close()


def test_gpiozero_pin_factory_variable_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpiozero import Device

    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setenv("GPIOZERO_MOCK_PIN_CLASS", "mockpwmpin")
    monkeypatch.setattr(Device, "pin_factory", None)
    rig = Rig.model_validate({**_doc_without_heater(), "estop_pin": None})
    driver = GpioDriver(rig, clock=VirtualClock())
    driver.open()
    try:
        assert isinstance(Device.pin_factory, MockFactory)
        assert Device.pin_factory.pin(16).frequency == 200
    finally:
        driver.close()
        Device.pin_factory.close()


def _doc_without_heater() -> dict[str, object]:
    from gpio_support import RIG_DOC

    actuators = [a for a in RIG_DOC["actuators"] if a["kind"] != "heater"]
    return {**RIG_DOC, "actuators": actuators}


# -- emergency stop ---------------------------------------------------------------------------


def test_estop_mid_run_turns_every_pin_off_and_exits_4(w1: Path) -> None:
    factory = pwm_factory()
    driver = GpioDriver(RIG, pin_factory=factory, w1_root=w1)
    pressed: dict[str, object] = {}

    def press() -> None:
        wait_until(lambda: not all_outputs_zero(factory))
        pressed["before"] = not all_outputs_zero(factory)
        pressed["t"] = time.monotonic()
        factory.pin(26).drive_low()
        pressed["after"] = all_outputs_zero(factory)  # the edge callback has run already

    timer = threading.Timer(0.3, press)
    timer.start()
    try:
        with pytest.raises(SafetyStop) as info:
            Session(steady(), driver).run()
    finally:
        timer.cancel()
    assert info.value.exit_code == 4
    assert "estop" in str(info.value)
    assert pressed["before"] is True
    assert pressed["after"] is True
    t_press = float(pressed["t"])  # type: ignore[arg-type]
    moved = [p for p in OUTPUT_PINS if factory.pin(p).stamps]
    assert len(moved) >= 6  # every actuator was on when the button went down
    for p in moved:
        stamp, state = factory.pin(p).stamps[-1]
        assert state == 0.0
        assert stamp - t_press < TICK_MS / 1000, f"GPIO{p} fell {stamp - t_press:.4f} s late"


class PressAt(VirtualClock):
    """A virtual clock that presses the emergency stop when it passes `at_ms`."""

    def __init__(self, at_ms: float, factory: MockFactory, driver_ref: list[GpioDriver]) -> None:
        super().__init__()
        self.at_ms = at_ms
        self.factory = factory
        self.driver_ref = driver_ref
        self.pressed_us: int | None = None

    def sleep_until(self, t_ms: float) -> None:
        if self.pressed_us is None and t_ms >= self.at_ms:
            super().sleep_until(self.at_ms)
            driver = self.driver_ref[0]
            driver.poll()  # the device reaches the moment of the press
            self.pressed_us = driver.device_us
            self.factory.pin(26).drive_low()
        super().sleep_until(t_ms)


@pytest.mark.parametrize("edge", [True, False], ids=["edge-callback", "edge-lost"])
def test_estop_latches_within_one_tick(
    w1: Path, edge: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not edge:  # the tick's poll of the button must catch a press whose edge never came
        monkeypatch.setattr(gpiozero_mock.MockPin, "_call_when_changed", lambda self: None)
    factory = pwm_factory()
    driver_ref: list[GpioDriver] = []
    clock = PressAt(412.0, factory, driver_ref)
    with device_time_pins(driver_ref):
        driver = GpioDriver(RIG, pin_factory=factory, clock=clock, w1_root=w1)
        driver_ref.append(driver)
        with pytest.raises(SafetyStop) as info:
            Session(steady(), driver).run()
    assert info.value.exit_code == 4
    assert clock.pressed_us is not None
    press_ms = clock.pressed_us / 1000
    for p in OUTPUT_PINS:
        trace = pin_trace(factory, p)
        if not trace:
            continue  # a pin the steady stream never raises (a roller's other direction)
        assert trace[-1][1] == 0.0
        late = trace[-1][0] - press_ms
        assert 0.0 <= late <= TICK_MS, f"GPIO{p} fell {late} ms after the press"
        if edge:
            assert late == 0.0


def test_heartbeat_toggles_while_healthy_and_stops_on_a_fault(w1: Path) -> None:
    factory = pwm_factory()
    clock = VirtualClock()
    driver = GpioDriver(RIG, pin_factory=factory, clock=clock, w1_root=w1)
    driver.open()
    heartbeat = factory.pin(24)
    assert heartbeat.function == "output" and not heartbeat.state  # motors disabled until start
    driver.start()
    driver.send(steady().commands)
    for t in range(100, 600, 100):
        clock.sleep_until(t)
        driver.poll()
    beats = len(heartbeat.states) - 1
    assert beats == driver.ticks  # one edge per tick: 100 Hz square wave at 200 ticks/s
    assert driver.ticks >= 500 / TICK_MS
    factory.pin(26).drive_low()
    assert not heartbeat.state
    clock.sleep_until(700)
    driver.poll()
    assert not heartbeat.state
    assert len(heartbeat.states) - 1 == beats + (beats % 2)  # at most the one fall
    driver.close()


def test_heartbeat_stops_after_off(w1: Path) -> None:
    factory = pwm_factory()
    clock = VirtualClock()
    driver = GpioDriver(RIG, pin_factory=factory, clock=clock, w1_root=w1)
    driver.open()
    driver.start()
    clock.sleep_until(100)
    driver.poll()
    driver.off()
    changes = len(factory.pin(24).states)
    clock.sleep_until(200)
    driver.poll()
    assert len(factory.pin(24).states) == changes
    assert not factory.pin(24).state
    driver.close()


def test_estop_held_refuses_to_start(w1: Path) -> None:
    factory = pwm_factory()
    driver = GpioDriver(RIG, pin_factory=factory, clock=VirtualClock(), w1_root=w1)
    driver.open()
    factory.pin(26).drive_low()
    with pytest.raises(SafetyStop, match="release it"):
        Session(steady(), driver).run()
    assert all_outputs_zero(factory)


def test_new_run_clears_the_latch(w1: Path) -> None:
    factory = pwm_factory()
    driver = GpioDriver(RIG, pin_factory=factory, clock=VirtualClock(), w1_root=w1)
    driver.open()
    driver.start()
    driver.send(steady().commands[:5])
    factory.pin(26).drive_low()
    assert driver.poll().faults == ("estop",)
    factory.pin(26).drive_high()
    assert driver.poll().faults == ("estop",)  # released, still latched
    driver.close()
    again = GpioDriver(RIG, pin_factory=factory, clock=VirtualClock(), w1_root=w1)
    result = Session(steady(200), again).run()
    assert result.reason == "done"


# -- failures ---------------------------------------------------------------------------------


class FlakyPin(StampedPin):
    """A mock pin whose non-zero writes fail once `armed` names it."""

    armed: set[str] = set()  # noqa: RUF012

    def _set_state(self, value: float) -> None:
        if value and self.info.name in FlakyPin.armed:
            raise OSError("GPIO write failed (simulated)")
        super()._set_state(value)


def test_output_write_failure_turns_every_pin_off_and_exits_3(w1: Path) -> None:
    factory = MockFactory(pin_class=FlakyPin)
    FlakyPin.armed = set()
    driver = GpioDriver(RIG, pin_factory=factory, w1_root=w1)

    def arm() -> None:
        wait_until(lambda: bool(factory.pin(16).stamps))
        FlakyPin.armed = {"GPIO16"}  # the vibration wave writes every tick

    timer = threading.Timer(0.3, arm)
    timer.start()
    try:
        with pytest.raises(DeviceError) as info:
            Session(steady(), driver).run()
    finally:
        timer.cancel()
        FlakyPin.armed = set()
    assert info.value.exit_code == 3
    assert "simulated" in str(info.value)
    assert all_outputs_zero(factory)
    assert factory.pin(16).stamps, "the vibration never moved: the run did not get going"


def test_failure_while_zeroing_releases_the_pin(w1: Path) -> None:
    factory = MockFactory(pin_class=FlakyPin)
    driver = GpioDriver(RIG, pin_factory=factory, clock=VirtualClock(), w1_root=w1)
    driver.open()
    driver.start()
    broken = driver._outputs[2]  # vib_l

    def refuse() -> None:
        raise OSError("stuck")

    broken.zero = refuse  # type: ignore[method-assign]
    driver.off()  # never raises
    assert factory.pin(16).function == "input"  # released: the pull-down holds it low
    driver.close()


def test_sensor_failure_mid_run_is_a_safety_stop(w1: Path) -> None:
    factory = pwm_factory()
    clock = VirtualClock()
    driver = GpioDriver(RIG, pin_factory=factory, clock=clock, w1_root=w1)
    driver.open()
    driver.start()
    driver.send(steady().commands[:5])
    clock.sleep_until(150)
    assert driver.poll().faults == ()
    assert driver.poll().temps == {"heat_l": pytest.approx(30.0)}
    driver._poller.stale_s = 0.0  # the sensor stops answering
    clock.sleep_until(300)
    status = driver.poll()
    assert status.faults == ("sensor",)
    assert all_outputs_zero(factory)
    driver.close()


def test_overtemperature_latches(tmp_path: Path) -> None:
    factory = pwm_factory()
    clock = VirtualClock()
    root = write_w1(tmp_path, 30.0)
    driver = GpioDriver(RIG, pin_factory=factory, clock=clock, w1_root=root)
    driver.open()
    driver.start()
    driver.send(steady().commands[:5])
    clock.sleep_until(100)
    driver.poll()
    write_w1(root, 43.5)
    driver._poller.read_all()
    clock.sleep_until(300)
    assert driver.poll().faults == ("overtemp",)
    assert all_outputs_zero(factory)
    driver.close()


def test_unreadable_heater_sensor_refuses_to_start(tmp_path: Path) -> None:
    driver = GpioDriver(RIG, pin_factory=pwm_factory(), clock=VirtualClock(), w1_root=tmp_path)
    with pytest.raises(DeviceError, match=r"heat_l.*no temperature reading"):
        Session(steady(), driver).run()


def test_heater_without_sensor_is_refused() -> None:
    from gpio_support import RIG_DOC

    doc = {**RIG_DOC, "actuators": [dict(a) for a in RIG_DOC["actuators"]]}
    heater = doc["actuators"][-1]
    heater["bindings"] = {"gpio": {"pin": 19}}
    factory = pwm_factory()
    driver = GpioDriver(Rig.model_validate(doc), pin_factory=factory, clock=VirtualClock())
    try:
        driver.open()
        with pytest.raises(SafetyError, match="heater 'heat_l' has no temperature sensor") as info:
            driver.start()
        assert info.value.exit_code == 1
        assert all_outputs_zero(factory)
    finally:
        driver.close()


def test_massager_off_turns_a_rig_with_an_unmeasured_heater_off() -> None:
    """`massager off` drives every pin low even where a run would be refused."""
    from gpio_support import RIG_DOC

    doc = {**RIG_DOC, "actuators": [dict(a) for a in RIG_DOC["actuators"]]}
    doc["actuators"][-1]["bindings"] = {"gpio": {"pin": 19}}
    factory = pwm_factory()
    for pin in OUTPUT_PINS:
        factory.pin(pin).output_with_state(True)  # left on by a process killed earlier
    GpioDriver(Rig.model_validate(doc), pin_factory=factory).turn_off()
    assert all_outputs_zero(factory)


def test_refused_commands_raise_the_same_errors_as_on_every_driver(w1: Path) -> None:
    driver = GpioDriver(RIG, pin_factory=pwm_factory(), clock=VirtualClock(), w1_root=w1)
    with driver:
        driver.start()
        with pytest.raises(SafetyError, match="set command for vib_l at 100 ms: it breaks"):
            driver.send([Command(100, "vib_l", "set", level=1.5)])
        with pytest.raises(UsageError, match="actuator 'ghost', which rig 'pins-test'"):
            driver.send([Command(100, "ghost", "set", level=0.5)])


def test_rig_without_gpio_bindings_is_refused() -> None:
    rig = Rig.model_validate(
        {
            "name": "serial-only",
            "actuators": [
                {
                    "id": "vib_l",
                    "kind": "vibration",
                    "foot": "left",
                    "reaches": ["heel"],
                    "bindings": {"serial": {"channel": 0}},
                }
            ],
        }
    )
    with pytest.raises(UsageError, match="no gpio binding for vib_l"):
        GpioDriver(rig)


def test_busy_pin_is_a_device_error() -> None:
    from gpiozero import PWMOutputDevice

    factory = pwm_factory()
    squatter = PWMOutputDevice(16, pin_factory=factory)
    driver = GpioDriver(RIG, pin_factory=factory)
    with pytest.raises(DeviceError, match="vib_l"):
        driver.open()
    squatter.close()
    assert all_outputs_zero(factory)


# -- cleanup ----------------------------------------------------------------------------------


def _running(w1: Path) -> tuple[GpioDriver, MockFactory]:
    factory = pwm_factory()
    driver = GpioDriver(RIG, pin_factory=factory, w1_root=w1)
    driver.open()
    driver.send(steady().commands[:5])
    driver.start()
    wait_until(lambda: not all_outputs_zero(factory))
    assert not all_outputs_zero(factory)
    return driver, factory


def test_off_and_close_from_a_running_state(w1: Path) -> None:
    driver, factory = _running(w1)
    driver.off()
    assert all_outputs_zero(factory)
    time.sleep(3 * TICK_MS / 1000)
    assert all_outputs_zero(factory)  # the tick thread does not bring them back
    driver.close()
    driver.close()
    driver.off()
    assert all_outputs_zero(factory)
    with pytest.raises(DeviceError, match="not open"):
        driver.poll()


def test_close_while_running_stops_the_thread(w1: Path) -> None:
    driver, factory = _running(w1)
    thread = driver._thread
    assert thread is not None and thread.is_alive()
    driver.close()
    assert not thread.is_alive()
    assert all_outputs_zero(factory)
    assert all(factory.pin(p).function == "input" for p in OUTPUT_PINS)  # pins released


def test_off_and_close_before_open_do_nothing() -> None:
    driver = GpioDriver(RIG, pin_factory=pwm_factory())
    driver.off()
    driver.close()
    driver.close()


def test_massager_off_drives_every_pin_low(w1: Path) -> None:
    """What `massager off --device gpio` does: claim the rig's pins, all to zero, release."""
    factory = pwm_factory()
    with GpioDriver(RIG, pin_factory=factory, w1_root=w1) as driver:
        driver.off()
        assert all_outputs_zero(factory)
        assert all(factory.pin(p).function == "output" for p in OUTPUT_PINS)


def test_exit_safety_net_closes_open_drivers(w1: Path) -> None:
    driver, factory = _running(w1)
    gpio_module._close_all()
    assert all_outputs_zero(factory)
    assert driver._thread is None


def test_watchdog_trips_when_the_host_stops_polling(w1: Path) -> None:
    driver, factory = _running(w1)
    try:
        time.sleep((RIG.watchdog_ms + 100) / 1000)  # nobody polls: the host looks dead
        assert all_outputs_zero(factory)
        assert driver.poll().faults == ("watchdog",)
    finally:
        driver.close()


def test_pause_holds_session_time_and_ramps_down(w1: Path) -> None:
    factory = pwm_factory()
    clock = VirtualClock()
    driver = GpioDriver(RIG, pin_factory=factory, clock=clock, w1_root=w1)
    driver.open()
    driver.start()
    driver.send(steady().commands)
    clock.sleep_until(200)
    assert driver.poll().session_ms == pytest.approx(200)
    driver.pause()
    for t in range(300, 1300, 100):
        clock.sleep_until(t)
        status = driver.poll()
    assert status.session_ms == pytest.approx(200)
    assert status.paused
    assert all(v == 0.0 for v in status.levels.values())
    assert all(factory.pin(p).state == 0.0 for p in OUTPUT_PINS if p != 5)
    assert factory.pin(5).state == 1.0  # the phase pin keeps its direction; its enable is off
    driver.resume()
    for t in range(1300, 1600, 100):
        clock.sleep_until(t)
        status = driver.poll()
    assert status.faults == ()
    assert status.session_ms == pytest.approx(500)  # 200 before, 300 after the pause
    assert not all_outputs_zero(factory)
    assert not math.isnan(status.levels["vib_l"])
    driver.close()
