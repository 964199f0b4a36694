"""The serial driver against the virtual Pico over a real pseudo-terminal (and a TCP socket)."""

from __future__ import annotations

import math
import os
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from serial_support import (
    CH,
    RIG,
    STEP_US,
    driver_for,
    first_time,
    stepped_driver,
    steps_stream,
    unwrapped,
    wait_for,
)

from firmware_bridge.codes import FAULT_WATCHDOG
from firmware_bridge.device import MAX_WATCHDOG_MS, Device
from firmware_bridge.ticks import TICKS_PERIOD, ticks_diff
from firmware_bridge.virtual import VirtualDevice, VirtualHal
from massager import api
from massager.cli import run as cli
from massager.drivers.base import DriverOptions
from massager.drivers.serial import STALL_S, SerialDriver
from massager.errors import DeviceError, SafetyError, UsageError
from massager.rig import Rig
from massager.runtime.events import Progress
from massager.runtime.session import Session
from massager.stream import Command

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def virtual() -> Iterator[VirtualDevice]:
    dev = VirtualDevice(channels=16, record=True).start()
    yield dev
    dev.close()


def test_a_session_plays_on_the_virtual_pico_on_its_own_clock() -> None:
    # host and device on one virtual clock: every time below is exact to the clock's step
    driver, device = stepped_driver()
    bus_times: list[float] = []
    session = Session(steps_stream(2000, 1000), driver)
    session.bus.subscribe(lambda e: bus_times.append(e.t_ms), Progress)
    result = session.run()
    assert result.reason == "done"
    hist = unwrapped(device.hal.history or [])
    roller_on = first_time(hist, CH["roller"], lambda v: v < 0)
    vib_on = first_time(hist, CH["vib"], lambda v: v > 0)
    assert roller_on == vib_on  # both began at session time 0, at the same tick
    vib_up = first_time(hist, CH["vib"], lambda v: v > 0.3 + 1e-6, after=vib_on)
    roller_low = first_time(hist, CH["roller"], lambda v: v <= -0.6 + 1e-6)
    roller_fwd = first_time(hist, CH["roller"], lambda v: v > -0.6 + 1e-6, after=roller_low)
    # one second of session time is one second of device clock, to the step
    assert vib_up - vib_on == pytest.approx(1_000_000, abs=STEP_US)
    assert roller_fwd - roller_on == pytest.approx(1_000_000, abs=STEP_US)
    settled = [lv for _, t, ch, lv in hist if ch == CH["vib"] and t < vib_up]
    assert settled[-1] == pytest.approx(0.3)
    assert device.hal.all_zero()
    assert not device.device.configured  # the host said goodbye
    assert bus_times == sorted(bus_times)
    assert driver.recoveries == 0


def _poll_for(driver: SerialDriver, seconds: float) -> None:
    """Let `seconds` of the driver's stepped clock pass, polling every 10 ms as a session does."""
    for _ in range(round(seconds / 0.01)):
        driver.time.sleep(0.01)
        driver.poll()


def test_pause_freezes_session_time_and_the_device_shifts_the_program() -> None:
    # host and device on one virtual clock (1 ms steps): every time below is exact. The
    # driver's start, pause and resume each wait 30 ms of that clock for the device's answer.
    driver, device = stepped_driver()
    with driver:
        driver.send(steps_stream(4000, 1500).commands)
        driver.start()  # session time 0 is 0.5 s after start returns
        _poll_for(driver, 0.8)
        driver.pause()
        frozen = driver.poll().session_ms
        assert frozen == pytest.approx(300.0, abs=1e-6)
        _poll_for(driver, 0.6)
        assert device.hal.all_zero()
        assert driver.poll().session_ms == frozen
        driver.resume()  # the device stood from the pause's call to here: 30 ms + 0.6 s
        assert driver.poll().session_ms == pytest.approx(frozen + 30.0, abs=1e-6)
        _poll_for(driver, 0.2)
        assert driver.poll().session_ms == pytest.approx(frozen + 230.0, abs=1e-6)
        _poll_for(driver, 1.3)
    shift = device.device.executor.shift_us
    assert shift == 630_000
    hist = unwrapped(device.hal.history or [])
    vib_on = first_time(hist, CH["vib"], lambda v: v > 0)
    pause_zero = first_time(hist, CH["vib"], lambda v: v == 0.0, after=vib_on)
    vib_up = first_time(hist, CH["vib"], lambda v: v > 0.3 + 1e-6, after=pause_zero)
    # vib at 0.3 ramps to zero at its slew (20/s: 15 ms) from the pause at session 300 ms
    assert pause_zero - vib_on == 300_000 + 15_000 + STEP_US
    assert vib_up - vib_on == 1_500_000 + shift  # the change at 1.5 s, shifted by the pause
    assert device.hal.all_zero()


def test_the_device_refuses_a_command_beyond_a_limit_and_the_host_names_it() -> None:
    driver, device = stepped_driver()
    with driver:
        driver.start()
        driver.send([Command(300, "vib", "set", level=1.5)])  # past the compiler's checks
        # the stream breaks the rig's limits: a SafetyError (exit 1) on every driver
        with pytest.raises(SafetyError, match=r"set command for vib at 0\.300 s: it breaks"):
            _poll_for(driver, 1.0)
    assert device.hal.all_zero()
    assert device.device.refused == 1


def test_a_command_for_an_actuator_the_rig_lacks_is_a_usage_error(
    virtual: VirtualDevice,
) -> None:
    with driver_for(virtual) as driver:
        driver.start()
        with pytest.raises(UsageError, match="actuator 'ghost', which rig 'serial-test'") as info:
            driver.send([Command(300, "ghost", "set", level=0.5)])
    assert info.value.exit_code == 2


def test_a_watchdog_the_device_refuses_is_named(virtual: VirtualDevice) -> None:
    with pytest.raises(DeviceError, match="refused a session with a 5 ms watchdog: an argument"):
        driver_for(virtual, watchdog_ms=5).open()


def test_the_device_refuses_a_command_whose_time_has_passed() -> None:
    driver, device = stepped_driver()
    with driver:
        driver.start()
        _poll_for(driver, 0.8)  # session time 0 is half a second after start
        driver.send([Command(50, "roller", "set", level=0.5)])
        with pytest.raises(DeviceError, match=r"at 0\.050 s: its time had already passed"):
            _poll_for(driver, 1.0)
    assert device.hal.levels[CH["roller"]] == 0.0


def test_a_session_across_the_device_clock_wrap() -> None:
    # session time 0 lies 1 s before the wrap (opening takes a few ms of the virtual clock,
    # plus the 0.5 s start lead), so the change at 1.5 s comes after it
    driver, device = stepped_driver(clock_start_us=TICKS_PERIOD - 1_500_000)
    times: list[float] = []
    session = Session(steps_stream(2500, 1500), driver)
    session.bus.subscribe(lambda e: times.append(e.t_ms), Progress)
    result = session.run()
    raw = [t for _, t, _, _ in device.hal.history or []]
    hist = unwrapped(device.hal.history or [])
    assert result.reason == "done"
    assert max(raw) > TICKS_PERIOD - 1_500_000 and min(raw) < 1_500_000  # it did wrap
    vib_on = first_time(hist, CH["vib"], lambda v: v > 0)
    vib_up = first_time(hist, CH["vib"], lambda v: v > 0.3 + 1e-6, after=vib_on)
    assert vib_on < TICKS_PERIOD < vib_up  # the change straddles the wrap
    assert vib_up - vib_on == pytest.approx(1_500_000, abs=STEP_US)
    assert times == sorted(times) and times[-1] >= 2500


def test_the_trace_reads_back_as_the_levels_the_device_reported(tmp_path: Path) -> None:
    from massager.trace import read_trace

    path = tmp_path / "serial-trace.csv"
    driver, device = stepped_driver(trace=path)
    assert Session(steps_stream(2000, 1000), driver).run().reason == "done"
    trace = read_trace(path)
    assert trace.actuators == ("roller", "vib")
    for t, roller, vib in [(400, -0.6, 0.3), (900, -0.6, 0.3), (1400, 0.6, 0.8), (1900, 0.6, 0.8)]:
        assert trace.level_at("roller", t) == pytest.approx(roller, abs=0.006)
        assert trace.level_at("vib", t) == pytest.approx(vib, abs=0.006)
    # the change at 1 s lies between two reports, where the device made it, and the level
    # the later one carried is the device's then: on its slew (20/s) from 0.3, ms by ms
    rise = next(r for r in trace.rows("vib") if r.level > 0.3 + 0.01)
    assert max(r.t_ms for r in trace.rows("vib") if r.t_ms < rise.t_ms) < 1000 <= rise.t_ms
    assert rise.level == pytest.approx(0.3 + 0.02 * math.ceil(rise.t_ms - 1000), abs=0.006)
    assert trace.final_levels() == {"roller": 0.0, "vib": 0.0}
    assert device.hal.all_zero()


def test_an_actuator_without_a_serial_binding_is_a_clear_error() -> None:
    data = RIG.model_dump()
    data["actuators"][1]["bindings"] = {"gpio": {"pin": 18}}
    rig = Rig.model_validate(data)
    with pytest.raises(UsageError, match="no serial binding for vib"):
        SerialDriver(rig, DriverOptions(target="/dev/null")).open()


def test_a_channel_the_device_lacks_is_a_clear_error() -> None:
    with VirtualDevice(channels=2) as dev, pytest.raises(UsageError, match=r"vib \(channel 3\)"):
        driver_for(dev).open()


def test_a_port_where_nothing_answers(tmp_path: Path) -> None:
    master, slave = os.openpty()
    try:
        with pytest.raises(DeviceError, match="no answer from the massager firmware"):
            driver_for(os.ttyname(slave)).open()
    finally:
        os.close(master)
        os.close(slave)


def test_the_port_is_opened_exclusively(virtual: VirtualDevice) -> None:
    with driver_for(virtual), pytest.raises(DeviceError, match="cannot open serial port"):
        driver_for(virtual).open()


def test_a_pyserial_url_reaches_the_firmware_over_tcp() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    hal = VirtualHal(4)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        device = Device(hal, 4, conn.sendall)
        while not stop.is_set():
            readable, _, _ = select.select([conn], [], [], 0.001)
            if readable:
                data = conn.recv(4096)
                if not data:
                    break
                device.feed(data)
            device.tick()
        device.all_off()
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = Session(steps_stream(600, 300), driver_for(f"socket://127.0.0.1:{port}")).run()
    finally:
        stop.set()
        thread.join(2)
        server.close()
    assert result.reason == "done"
    assert hal.all_zero()


class _ListedPort:
    def __init__(self, device: str, vid: int | None, pid: int | None = 5) -> None:
        self.device = device
        self.description = "Board in FS mode" if vid else "ttyS0"
        self.vid = vid
        self.pid = pid if vid else None
        self.serial_number = "e66" if vid else None


def test_no_port_given_finds_the_pico_by_its_usb_vendor_id(
    virtual: VirtualDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serial.tools import list_ports

    listed = [_ListedPort("/dev/ttyS0", None), _ListedPort(virtual.port, 0x2E8A)]
    monkeypatch.setattr(list_ports, "comports", lambda: listed)
    with SerialDriver(RIG, DriverOptions()) as driver:
        assert driver.conn.target == virtual.port
    monkeypatch.setattr(list_ports, "comports", lambda: listed[:1])
    with pytest.raises(DeviceError, match="no Pico found"):
        SerialDriver(RIG, DriverOptions()).open()
    monkeypatch.setattr(list_ports, "comports", lambda: listed[1:] * 2)
    with pytest.raises(UsageError, match="several Picos"):
        SerialDriver(RIG, DriverOptions()).open()


def test_massager_ports_says_whether_the_firmware_answers(
    virtual: VirtualDevice, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["ports", virtual.port]) == 0
    out = capsys.readouterr().out
    assert f"{virtual.port}" in out and "massager-virtual 0.1, protocol 1, 16 channels" in out
    master, slave = os.openpty()
    silent = os.ttyname(slave)
    try:
        assert cli(["ports", silent]) == 3  # docs/running.md: a port given did not answer
    finally:
        os.close(master)
        os.close(slave)
    told = capsys.readouterr()
    rows = {line.split()[0]: line for line in told.out.splitlines()[1:]}
    assert rows[silent].split(None, 3)[1:] == [
        "-",
        "given",
        "no answer (not the massager firmware)",
    ]
    assert told.err == "the massager firmware did not answer on every port given\n"


def test_massager_off_turns_a_running_device_off(
    virtual: VirtualDevice, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = api.load_rig("pico-serial")
    # the longest watchdog the device takes: on a starved machine its 250 ms one could turn
    # the outputs off before `off` does, and this test is about `off`
    driver = SerialDriver(rig, DriverOptions(target=virtual.port, watchdog_ms=MAX_WATCHDOG_MS))
    driver.open()
    driver.start()
    driver.send([Command(0, rig.actuators[6].id, "set", level=0.9)])
    assert wait_for(lambda: virtual.hal.levels[6] > 0.5)
    link = driver.last_link
    assert link is not None
    link.close()  # the host goes away without a word; the outputs stay on for now
    assert cli(["off", "--device", f"serial:{virtual.port}", "--rig", "pico-serial"]) == 0
    assert virtual.hal.all_zero()
    assert virtual.device.executor.faults == 0  # off, not the watchdog
    assert "every output is off" in capsys.readouterr().out


def test_massager_off_ignores_a_rig_that_does_not_fit_the_device(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with VirtualDevice(channels=4) as dev:
        driver = driver_for(dev, watchdog_ms=MAX_WATCHDOG_MS)  # `off` turns it off, as above
        driver.open()
        driver.start()
        driver.send([Command(0, "vib", "set", level=0.9)])
        assert wait_for(lambda: dev.hal.levels[CH["vib"]] > 0.5)
        link = driver.last_link
        assert link is not None
        link.close()  # the host goes away; the outputs stay on for now
        # pico-serial uses channels up to 15: a run would be refused, off must not be
        assert cli(["off", "--device", f"serial:{dev.port}", "--rig", "pico-serial"]) == 0
        assert dev.hal.all_zero()
        assert dev.device.executor.faults == 0  # off, not the watchdog
    assert "every output is off" in capsys.readouterr().out


def test_massager_off_where_no_firmware_answers_is_a_device_error() -> None:
    master, slave = os.openpty()
    try:
        driver = SerialDriver(RIG, DriverOptions(target=os.ttyname(slave)))
        with pytest.raises(DeviceError, match="no answer from the massager firmware"):
            driver.turn_off()
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.slow
def test_a_host_killed_mid_session_leaves_every_output_at_zero_within_the_watchdog(
    virtual: VirtualDevice,
) -> None:
    script = (
        "import sys, time\n"
        "from serial_support import driver_for, steps_stream\n"
        "from massager.runtime.session import Session\n"
        f"Session(steps_stream(60000, 30000), driver_for({virtual.port!r})).run()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    host = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        assert wait_for(lambda: abs(virtual.hal.levels[CH["roller"]]) > 0.55, 30.0)
        host.kill()
        assert wait_for(virtual.hal.all_zero, 10.0)
    finally:
        host.kill()
        host.wait(5)
    assert virtual.device.executor.faults == FAULT_WATCHDOG  # the watchdog did it
    # the device's own record: it last heard the (dead) host at `heard`, and every output
    # went to zero at its first tick more than the watchdog's 250 ms after that
    heard = virtual.device.heard_us
    assert heard is not None and virtual.ticks is not None
    zero = next(dev for _, dev, _, lv in reversed(virtual.hal.history or []) if lv != 0.0)
    zero = next(dev for _, dev, _, lv in virtual.hal.history or [] if lv == 0.0 and dev > zero)
    ticks = [t for t in virtual.ticks if ticks_diff(t, heard) >= 0 and ticks_diff(t, zero) <= 0]
    assert ticks[-1] == zero and len(ticks) >= 2
    assert ticks_diff(ticks[-2], heard) <= 250_000 < ticks_diff(zero, heard)
    assert all(lv == 0.0 for _, dev, _, lv in virtual.hal.history or [] if dev == zero)
    print(f"SIGKILL: every output at zero {ticks_diff(zero, heard) / 1000:.1f} ms after the "
          f"device last heard the host (watchdog 250 ms)")  # fmt: skip


def test_a_host_program_that_stops_calling_the_driver_stops_feeding_the_watchdog() -> None:
    driver, device = stepped_driver()
    with driver:
        driver.send([Command(0, "vib", "set", level=0.7)])
        driver.start()
        last_call = driver.time.now()  # the session hangs here: no more calls to the driver
        driver.time.sleep(STALL_S + 0.5)  # the link's reader and the device go on meanwhile
        assert device.hal.all_zero()
        assert device.device.executor.faults == FAULT_WATCHDOG
        heard = device.device.heard_us
        assert heard is not None
        hist = device.hal.history or []
        assert max(lv for _, _, ch, lv in hist if ch == CH["vib"]) == pytest.approx(0.7)
        wall, zero = next((w, dev) for w, dev, _, lv in reversed(hist) if lv != 0.0)[0], None
        wall, zero = next((w, dev) for w, dev, _, lv in hist if lv == 0.0 and w > wall)
        # the link fed the device until STALL_S after the last call (a heartbeat's spacing
        # at most before it), then went quiet: the watchdog tripped 250 ms and a step later
        assert zero - heard == 250_000 + STEP_US
        heard_s = wall - 0.25 - STEP_US / 1e6
        assert STALL_S - 0.1 < heard_s - last_call <= STALL_S


def test_a_session_that_wakes_after_a_watchdog_trip_recovers_despite_refusals_meanwhile() -> None:
    # while the watchdog fault is latched the device refuses SCHEDULEs (code 5); those
    # commands are replayed by the recovery, so their refusals must not end the session
    driver, device = stepped_driver()
    with driver:
        driver.send([Command(0, "vib", "set", level=0.5)])
        driver.start()
        _poll_for(driver, 1.0)
        assert device.hal.levels[CH["vib"]] == pytest.approx(0.5)
        driver.time.sleep(STALL_S + 0.8)  # the host program hangs: the watchdog trips
        assert device.device.executor.faults == FAULT_WATCHDOG
        t = driver.clock.now_ms()
        driver.send([Command(int(t) + 900, "vib", "set", level=0.3)])  # refused: fault latched
        driver.time.sleep(0.1)
        assert device.device.refused == 1
        _poll_for(driver, 3.0)  # raised DeviceError about the stale refusal before
        status = driver.poll()
        assert status.faults == ()
        assert device.hal.levels[CH["vib"]] == pytest.approx(0.3)
        assert driver.recoveries == 1


def test_a_failure_inside_the_link_thread_is_reported_and_the_device_goes_off(
    virtual: VirtualDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    from massager.drivers.serial_link import SerialLink

    with driver_for(virtual) as driver:
        driver.send([Command(0, "vib", "set", level=0.7)])
        driver.start()
        assert wait_for(lambda: virtual.hal.levels[CH["vib"]] > 0.6)

        def broken(self: SerialLink, now: float) -> None:
            raise KeyError("bug")

        monkeypatch.setattr(SerialLink, "_timers", broken)
        link = driver.last_link
        assert link is not None and wait_for(lambda: bool(link.failure))
        with pytest.raises(DeviceError, match=r"serial link to .* failed: KeyError"):
            driver.poll()
        assert wait_for(virtual.hal.all_zero, 1.0)  # the watchdog
