"""The GPIO driver on gpiozero's mock pins: pin timing, emergency stop, failures, cleanup.

Exact pin timings are checked on the device itself (`StepDevice`: the GPIO
device process's firmware on a stepped clock, fed the frames a host sends).
The driver (the serial path to the device on mock pins) runs with its device
in one thread on a virtual clock (`stepped_gpio`: the emergency stop, the
watchdog, pause, heater sensors, refusals, failures), exact to the step; only
what needs the device's own thread (closing it while it runs) is on the real
clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import gpiozero.pins.mock as gpiozero_mock
import pytest
from gpio_support import (
    OUTPUT_PINS,
    RIG,
    TICK_MS,
    StepDevice,
    assert_trace,
    expected_traces,
    pin_trace,
    pwm_factory,
    stepped_gpio,
    stepped_pins,
    tick_times,
    write_w1,
)
from gpiozero.pins.mock import MockFactory

from firmware_bridge.heater import TEMP_PERIOD_US
from firmware_bridge.ticks import TICKS_PERIOD
from massager.clock import SteppedTime
from massager.drivers.gpio import GpioDriver
from massager.drivers.gpio_mock import StampedPin
from massager.errors import DeviceError, SafetyError, SafetyStop, UsageError
from massager.rig.model import Rig
from massager.runtime.events import Progress
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
    step = StepDevice(RIG, factory, start_us, w1_root=w1)
    with stepped_pins(step):
        step.open()
        step.play(SHORT, SHORT.duration_ms, intensity)
    assert step.device.executor.faults == 0
    expected = expected_traces(SHORT, RIG, end_ms=SHORT.duration_ms, intensity=intensity)
    for pin in OUTPUT_PINS:
        assert expected[pin], f"GPIO{pin} should change in this stream"
        assert_trace(pin_trace(factory, pin), expected[pin])
    assert all_outputs_zero(factory)
    step.close()


def test_the_trace_reads_back_as_the_levels_the_device_reported(w1: Path, tmp_path: Path) -> None:
    from massager.trace import read_trace

    path = tmp_path / "gpio-trace.csv"
    driver, factory, time = stepped_gpio(w1, trace=path)
    with stepped_pins(time):
        assert Session(SHORT, driver).run().reason == "done"
    trace = read_trace(path)
    assert set(trace.actuators) == {"roller_l", "roller_r", "vib_l", "air_l", "heat_l"}
    vib = [r.level for r in trace.rows("vib_l")]
    assert len(vib) > 5 and 0.05 < max(vib) <= 0.7 + 1e-4  # the wave, within its range
    roller = [r.level for r in trace.rows("roller_l")]
    assert min(roller) < 0 < max(roller)  # the ramp through zero into reverse
    heater = [r for r in trace.rows("heat_l") if r.temp_c is not None]
    assert heater and all(r.temp_c == pytest.approx(30.0) for r in heater)
    assert all(level == 0.0 for level in trace.final_levels().values())
    assert all_outputs_zero(factory)


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
    step = StepDevice(rig, factory)
    with stepped_pins(step):
        step.open()
        step.play(stream, stream.duration_ms)
    expected = expected_traces(stream, rig, end_ms=stream.duration_ms)
    pins = [p for a in rig.actuators if a.bindings.gpio for p in a.bindings.gpio.pins()]
    assert sorted(pins) == [12, 13, 17, 22, 23, 27]
    for pin in pins:
        assert len(expected[pin]) > 20, f"GPIO{pin} should move in this profile"
        assert_trace(pin_trace(factory, pin), expected[pin])
        assert factory.pin(pin).state == 0.0
    step.close()


def test_expected_trace_is_not_trivial() -> None:
    expected = expected_traces(SHORT, RIG, end_ms=SHORT.duration_ms)
    # roller_r reverses: its phase pin goes high at 305 ms (one tick through zero)
    assert (305.0, 1.0) in expected[5]
    # the air valve closes with the pump and opens once the pump is off
    assert expected[21] == [(150.0, 1.0), (605.0, 0.0)]
    assert len(expected[16]) > 100  # the vibration wave moves every tick


def test_pwm_frequency_comes_from_the_binding(w1: Path) -> None:
    factory = pwm_factory()
    driver = GpioDriver(RIG, pin_factory=factory, w1_root=w1)
    driver.open()
    try:
        frequencies = {p: factory.pin(p).frequency for p in (12, 13, 6, 16, 20, 19)}
        assert frequencies == {12: 2000, 13: 2000, 6: 500, 16: 200, 20: 1000, 19: 100}
        assert factory.pin(21).frequency is None  # the valve is a plain on/off output
    finally:
        driver.close()


def test_gpiozero_pin_factory_variable_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    # no pin_factory: the device is its own process, on gpiozero's default factory
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setenv("GPIOZERO_MOCK_PIN_CLASS", "mockpwmpin")
    rig = Rig.model_validate({**_doc_without_heater(), "estop_pin": None})
    driver = GpioDriver(rig)
    driver.open()
    try:
        assert driver.process is not None and driver.process.poll() is None
        assert driver.conn.identity is not None
        assert driver.conn.identity.firmware == "massager-gpio 0.1"
        assert driver.conn.identity.channels == len(rig.actuators)
    finally:
        driver.close()
    assert driver.process is None


def _doc_without_heater() -> dict[str, object]:
    from gpio_support import RIG_DOC

    actuators = [a for a in RIG_DOC["actuators"] if a["kind"] != "heater"]
    return {**RIG_DOC, "actuators": actuators}


# -- emergency stop ---------------------------------------------------------------------------


def test_estop_mid_run_turns_every_pin_off_and_exits_4(w1: Path) -> None:
    driver, factory, time = stepped_gpio(w1)
    session = Session(steady(), driver)
    pressed: dict[str, object] = {}

    def press(event: Progress) -> None:
        if pressed or event.t_ms < 300:
            return
        pressed["before"] = not all_outputs_zero(factory)
        pressed["t"] = time.now()
        factory.pin(26).drive_low()
        pressed["after"] = all_outputs_zero(factory)  # the edge callback has run already

    session.bus.subscribe(press, Progress)
    with stepped_pins(time), pytest.raises(SafetyStop) as info:
        session.run()
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
        assert stamp == t_press, f"GPIO{p} fell {stamp - t_press:.4f} s late"  # at once


@pytest.mark.parametrize("edge", [True, False], ids=["edge-callback", "edge-lost"])
def test_estop_latches_within_one_tick(
    w1: Path, edge: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not edge:  # the tick's poll of the button must catch a press whose edge never came
        monkeypatch.setattr(gpiozero_mock.MockPin, "_call_when_changed", lambda self: None)
    factory = pwm_factory()
    step = StepDevice(RIG, factory, w1_root=w1)
    stream = steady()
    press_ms = 412.0
    with stepped_pins(step):
        step.open()
        step.schedule(list(stream.commands))
        for t in tick_times(stream.commands, 1000.0):
            if t > press_ms and factory.pin(26).state != 0:
                step.now_us = step.start_us + round(press_ms * 1000)
                factory.pin(26).drive_low()
            step.run_to(t)
    assert ex_faults(step) == ["estop"]
    for p in OUTPUT_PINS:
        trace = pin_trace(factory, p)
        if not trace:
            continue  # a pin the steady stream never raises (a roller's other direction)
        assert trace[-1][1] == 0.0
        late = trace[-1][0] - press_ms
        assert 0.0 <= late <= TICK_MS, f"GPIO{p} fell {late} ms after the press"
        if edge:
            assert late == 0.0
    step.close()


def test_one_press_is_one_stop_even_when_its_edge_callback_comes_after_the_poll(
    w1: Path,
) -> None:
    from massager.mcu.hal import GpioHal

    factory = pwm_factory()
    hal = GpioHal(RIG, factory, w1_root=w1)
    hal.open()
    try:
        button = factory.pin(26)
        assert not hal.estop()
        button._change_state(False)  # pressed; gpiozero has not called back yet
        assert hal.estop()  # the tick's poll sees it
        hal._on_press()  # the edge callback comes late
        button._change_state(True)  # released before the next tick
        assert not hal.estop()  # already counted: a new session started now plays
        button.drive_low()
        button.drive_high()  # pressed and released between two ticks
        assert hal.estop()  # the edge callback remembered it
        assert not hal.estop()
    finally:
        hal.close()


def test_no_write_rises_from_the_moment_the_button_goes_down(w1: Path) -> None:
    # a tick under way when the button goes down (another thread) still writes its levels:
    # each write after the press is zero, whether the pin or only the edge callback saw it
    from massager.mcu.hal import GpioHal

    factory = pwm_factory()
    hal = GpioHal(RIG, factory, w1_root=w1)
    hal.open()
    try:
        button, vib, fwd, back = (factory.pin(n) for n in (26, 16, 12, 13))
        hal.set_output(2, 0.5)
        hal.set_output(0, -0.6)
        assert vib.state == 0.5 and back.state == pytest.approx(0.6)
        button._change_state(False)  # down, no edge callback yet
        hal.set_output(2, 0.7)
        hal.set_output(0, -0.9)
        assert vib.state == 0.0 and fwd.state == 0.0 and back.state == 0.0
        assert hal.estop()  # the next tick's poll sees it (and the executor latches)
        button._change_state(True)  # released
        assert not hal.estop()
        hal.set_output(2, 0.4)
        assert vib.state == 0.4  # once latched and released, the next session plays
        hal._on_press()  # a press and release only the edge callback saw
        hal.set_output(2, 0.6)
        assert vib.state == 0.0
        assert hal.estop()
        hal.set_output(2, 0.3)
        assert vib.state == 0.3
        output = hal.outputs[2]
        plain_write = output.write

        def write_then_press(level: float) -> None:
            plain_write(level)
            if level:
                hal._on_press()  # the callback runs between the write's check and its write

        output.write = write_then_press  # type: ignore[method-assign]
        hal.set_output(2, 0.8)
        assert vib.state == 0.0
    finally:
        hal.close()


def ex_faults(step: StepDevice) -> list[str]:
    from firmware_bridge.names import fault_names

    return fault_names(step.device.executor.faults)


def test_heartbeat_toggles_while_healthy_and_stops_on_a_fault(w1: Path) -> None:
    factory = pwm_factory()
    step = StepDevice(RIG, factory, w1_root=w1)
    step.open()
    heartbeat = factory.pin(24)
    assert heartbeat.function == "output" and not heartbeat.state  # motors disabled until start
    step.schedule(steady().commands)
    for t in tick_times(steady().commands, 500.0):
        step.run_to(t)
    beats = len(heartbeat.states) - 1
    assert beats == step.mcu.ticks  # one edge per tick: 100 Hz square wave at 200 ticks/s
    assert step.mcu.ticks >= 500 / TICK_MS
    factory.pin(26).drive_low()
    assert not heartbeat.state
    step.run_to(700)
    assert not heartbeat.state
    assert len(heartbeat.states) - 1 == beats + (beats % 2)  # at most the one fall
    step.close()


def test_heartbeat_stops_after_off(w1: Path) -> None:
    from firmware_bridge import codes

    factory = pwm_factory()
    step = StepDevice(RIG, factory, w1_root=w1)
    step.open()
    for t in range(0, 105, 5):
        step.run_to(t)
    step.send(codes.MSG_OFF)  # what the driver's off() and close() send
    step.send(codes.MSG_BYE)
    assert not factory.pin(24).state  # held low at once
    step.run_to(105)
    changes = len(factory.pin(24).states)
    for t in range(110, 205, 5):
        step.run_to(t)
    assert len(factory.pin(24).states) == changes
    assert not factory.pin(24).state
    step.close()


def test_estop_held_refuses_to_start(w1: Path) -> None:
    driver, factory, _ = stepped_gpio(w1)
    driver.open()
    factory.pin(26).drive_low()
    with pytest.raises(SafetyStop, match="release it"):
        Session(steady(), driver).run()
    assert all_outputs_zero(factory)


def test_new_run_clears_the_latch(w1: Path) -> None:
    driver, factory, time = stepped_gpio(w1)
    driver.open()
    driver.start()
    driver.send(steady().commands[:5])
    time.sleep(0.1)
    factory.pin(26).drive_low()
    time.sleep(0.01)  # two ticks
    assert driver.poll().faults == ("estop",)
    factory.pin(26).drive_high()
    time.sleep(0.05)
    assert driver.poll().faults == ("estop",)  # released, still latched
    driver.close()
    again, _, _ = stepped_gpio(w1, factory)
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
    FlakyPin.armed = set()
    driver, factory, _ = stepped_gpio(w1, MockFactory(pin_class=FlakyPin))
    session = Session(steady(), driver)

    def arm(event: Progress) -> None:
        if event.t_ms >= 300:
            FlakyPin.armed = {"GPIO16"}  # the vibration wave writes every tick

    session.bus.subscribe(arm, Progress)
    try:
        with pytest.raises(DeviceError) as info:
            session.run()
    finally:
        FlakyPin.armed = set()
    assert info.value.exit_code == 3
    assert "simulated" in str(info.value)
    assert all_outputs_zero(factory)
    assert factory.pin(16).stamps, "the vibration never moved: the run did not get going"


def test_failure_while_zeroing_releases_the_pin(w1: Path) -> None:
    factory = MockFactory(pin_class=FlakyPin)
    driver = GpioDriver(RIG, pin_factory=factory, w1_root=w1)
    driver.open()
    driver.start()
    assert driver.mcu is not None
    broken = driver.mcu.hal.outputs[2]  # vib_l

    def refuse() -> None:
        raise OSError("stuck")

    broken.zero = refuse  # type: ignore[method-assign]
    driver.off()  # never raises
    driver.close()
    assert factory.pin(16).function == "input"  # released: the pull-down holds it low


def poll_until(driver: GpioDriver, time: SteppedTime, until_s: float) -> None:
    """Poll `driver` every 50 ms of its stepped clock, as a session does, up to `until_s`."""
    for _ in range(100_000):
        left = until_s - time.now()
        if left <= 0:
            return
        time.sleep(min(0.05, left))
        if time.now() < until_s:
            driver.poll()


def test_a_sensor_failure_mid_run_is_a_safety_stop_at_its_next_reading(w1: Path) -> None:
    driver, factory, time = stepped_gpio(w1)
    driver.open()
    driver.start()
    driver.send(steady().commands[:5])
    time.sleep(1.0)
    assert driver.poll().faults == ()
    assert driver.poll().temps == {"heat_l": pytest.approx(30.0)}
    assert driver.mcu is not None
    poller = driver.mcu.hal.poller
    (w1 / "28-0000000000aa" / "w1_slave").unlink()  # the sensor stops answering
    poll_until(driver, time, poller.next_read_s - 0.05)
    assert driver.poll().faults == () and not poller.errors[0]  # not read since
    poll_until(driver, time, poller.next_read_s)
    assert poller.errors[0]  # read, failed: the executor sees it at its next look
    time.sleep(TEMP_PERIOD_US / 1e6 + TICK_MS / 1000)
    assert driver.poll().faults == ("sensor",)
    assert all_outputs_zero(factory)
    driver.close()


def test_a_reading_that_goes_stale_is_a_safety_stop(w1: Path) -> None:
    driver, factory, time = stepped_gpio(w1)
    driver.open()
    driver.start()
    driver.send(steady().commands[:5])
    time.sleep(1.0)
    assert driver.mcu is not None
    poller = driver.mcu.hal.poller
    poller.interval_s = math.inf  # the reading now due is the last: the sensor hangs after it
    time.sleep(poller.next_read_s - time.now())
    last = poller.read_s[0]
    assert last == pytest.approx(time.now(), abs=0.0011)
    poll_until(driver, time, last + poller.stale_s - 0.05)
    assert driver.poll().faults == ()  # the last reading still holds
    poll_until(driver, time, last + poller.stale_s)
    assert math.isnan(poller.latest(0))  # stale: the executor sees it at its next look
    time.sleep(TEMP_PERIOD_US / 1e6 + TICK_MS / 1000)
    assert driver.poll().faults == ("sensor",)
    assert all_outputs_zero(factory)
    driver.close()


def test_overtemperature_latches_at_the_next_reading(tmp_path: Path) -> None:
    root = write_w1(tmp_path, 30.0)
    driver, factory, time = stepped_gpio(root)
    driver.open()
    driver.start()
    driver.send(steady().commands[:5])
    time.sleep(1.0)
    assert driver.poll().temps == {"heat_l": pytest.approx(30.0)}
    write_w1(root, 43.5)  # over the rig's 42 C
    assert driver.poll().faults == ()  # not read yet
    assert driver.mcu is not None
    time.sleep(driver.mcu.hal.poller.interval_s)
    assert driver.poll().faults == ("overtemp",)
    assert all_outputs_zero(factory)
    driver.close()


def test_unreadable_heater_sensor_refuses_to_start(tmp_path: Path) -> None:
    driver = GpioDriver(RIG, pin_factory=pwm_factory(), w1_root=tmp_path)
    with pytest.raises(DeviceError, match=r"heat_l.*no temperature reading"):
        Session(steady(), driver).run()


def test_heater_without_sensor_is_refused() -> None:
    from gpio_support import RIG_DOC

    doc = {**RIG_DOC, "actuators": [dict(a) for a in RIG_DOC["actuators"]]}
    heater = doc["actuators"][-1]
    heater["bindings"] = {"gpio": {"pin": 19}}
    factory = pwm_factory()
    driver = GpioDriver(Rig.model_validate(doc), pin_factory=factory)
    try:
        with pytest.raises(SafetyError, match="heater 'heat_l' has no temperature sensor") as info:
            driver.open()
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
    driver, _, time = stepped_gpio(w1)
    with driver:
        driver.start()
        with pytest.raises(UsageError, match="actuator 'ghost', which rig 'pins-test'"):
            driver.send([Command(100, "ghost", "set", level=0.5)])
        driver.send([Command(100, "vib_l", "set", level=1.5)])
        time.sleep(0.01)  # the device's answer
        with pytest.raises(SafetyError, match=r"set command for vib_l at 0\.100 s: it breaks"):
            driver.poll()


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
    """The driver and its device thread on the real clock, outputs on.

    Polled while it waits, as a session would (a driver nobody calls stops feeding the
    device's watchdog after 2 s), with the longest watchdog the device takes: a loaded
    machine only makes the wait longer, never trips the device.
    """
    from massager.drivers.base import DriverOptions

    factory = pwm_factory()
    driver = GpioDriver(RIG, DriverOptions(watchdog_ms=5000), pin_factory=factory, w1_root=w1)
    driver.open()
    driver.send(steady().commands[:5])
    driver.start()

    def playing() -> bool:
        driver.poll()
        return not all_outputs_zero(factory)

    wait_until(playing, timeout_s=60)  # a hang guard: session time 0 is 0.5 s after start
    assert not all_outputs_zero(factory)
    return driver, factory


def _stepped_running(w1: Path) -> tuple[GpioDriver, MockFactory, SteppedTime]:
    driver, factory, time = stepped_gpio(w1)
    driver.open()
    driver.send(steady().commands[:5])
    driver.start()
    time.sleep(0.6)  # session time 0 is half a second after start
    assert not all_outputs_zero(factory)
    return driver, factory, time


def test_off_and_close_from_a_running_state(w1: Path) -> None:
    driver, factory, time = _stepped_running(w1)
    driver.off()
    assert all_outputs_zero(factory)
    time.sleep(3 * TICK_MS / 1000)
    assert all_outputs_zero(factory)  # the device's ticks do not bring them back
    driver.close()
    driver.close()
    driver.off()
    assert all_outputs_zero(factory)
    with pytest.raises(DeviceError, match="not open"):
        driver.poll()


def test_close_while_running_stops_the_device(w1: Path) -> None:
    driver, factory = _running(w1)
    thread = driver.device_thread
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


def test_exit_safety_net_closes_open_drivers(w1: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import atexit

    at_exit: list[Callable[[], None]] = []
    monkeypatch.setattr(atexit, "register", at_exit.append)
    driver, factory, _ = _stepped_running(w1)
    assert at_exit == [driver.close]
    at_exit[0]()  # what the interpreter runs at exit
    assert all_outputs_zero(factory)
    assert driver.device_thread is None


def test_watchdog_trips_when_the_host_stops_polling(w1: Path) -> None:
    from massager.drivers.serial import STALL_S

    driver, factory, time = stepped_gpio(w1)
    driver.open()
    driver.send(steady().commands[:5])
    driver.start()
    last_call = time.now()
    try:
        # nobody calls the driver: after STALL_S its link stops feeding the device,
        # whose watchdog then turns every output off, at its first tick past 250 ms
        with stepped_pins(time):
            time.sleep(STALL_S + 0.5)
        assert all_outputs_zero(factory)
        assert driver.mcu is not None and ex_faults_of(driver) == ["watchdog"]
        zero = max(factory.pin(p).stamps[-1][0] for p in OUTPUT_PINS if factory.pin(p).stamps)
        assert STALL_S - 0.1 + 0.25 < zero - last_call <= STALL_S + 0.25 + TICK_MS / 1000
    finally:
        driver.close()


def ex_faults_of(driver: GpioDriver) -> list[str]:
    from firmware_bridge.names import fault_names

    assert driver.mcu is not None
    return fault_names(driver.mcu.device.executor.faults)


def test_pause_holds_session_time_and_ramps_down(w1: Path) -> None:
    driver, factory, time = stepped_gpio(w1)
    driver.open()
    driver.start()
    driver.send(steady().commands)
    poll_until(driver, time, time.now() + 0.5 + 0.2)  # session time 0 is 0.5 s after start
    driver.pause()
    held = driver.poll().session_ms
    assert held == pytest.approx(200, abs=60)
    poll_until(driver, time, time.now() + 1.0)  # the ramp down at max_slew 100/s: 10 ms
    status = driver.poll()
    assert status.session_ms == held
    assert status.paused
    assert all(v == 0.0 for v in status.levels.values())
    assert all(factory.pin(p).state == 0.0 for p in OUTPUT_PINS if p != 5)
    assert factory.pin(5).state == 1.0  # the phase pin keeps its direction; its enable is off
    driver.resume()
    resumed = driver.poll().session_ms
    poll_until(driver, time, time.now() + 0.3)
    status = driver.poll()
    assert status.faults == ()
    assert status.session_ms == pytest.approx(resumed + 300, abs=60)
    assert not all_outputs_zero(factory)
    assert not math.isnan(status.levels["vib_l"])
    driver.close()


def test_a_device_process_without_pins_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    # no pin factory that works on this PC: the device process ends, the driver says why
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    rig = Rig.model_validate({**_doc_without_heater(), "estop_pin": None})
    driver = GpioDriver(rig)
    with pytest.raises(DeviceError) as info:
        driver.open()
    assert str(info.value).startswith("gpio: cannot claim the pins of 'roller_l': ")
    assert info.value.exit_code == 3
    driver.close()
    assert driver.process is None
