"""`massager off` reaches a device that a running `massager run` holds (issue 8, item 2).

A real `massager run` process holds the virtual Pico's pty (or the Pi's GPIO, on mock
pins); a second run is refused naming it, and `massager off` asks it to stop over its
control socket, then turns the device off itself: within a second every output is at zero
(the one real-time bound, with room for a loaded machine, is marked `realtime`).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_child import final_pins
from serial_support import wait_for

from firmware_bridge.device import MAX_WATCHDOG_MS
from firmware_bridge.virtual import VirtualDevice
from massager import api
from massager.cli import run as cli
from massager.runtime.owner import device_key, holder, request_stop
from massager.trace import read_trace

HERE = Path(__file__).parent
CHILD = str(HERE / "cli_child.py")


def child(args: list[str], **env: str) -> subprocess.Popen[str]:
    """`massager ARGS` in a child process, as its console script runs it."""
    return subprocess.Popen(
        [sys.executable, CHILD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_held(key: str, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while holder(key) is None:
        assert proc.poll() is None, finish(proc)
        assert time.monotonic() < deadline, "the run never claimed the device"
        time.sleep(0.02)


@pytest.fixture
def virtual() -> Iterator[VirtualDevice]:
    dev = VirtualDevice(channels=16, record=True).start()
    yield dev
    dev.close()


def long_watchdog_rig(folder: Path, rig: str = "pico-serial") -> str:
    """`rig` with the longest watchdog the device takes (5 s), as a file in `folder`: a test
    about who turned the outputs off must not see a starved host's watchdog do it."""
    from massager import bundled

    found = bundled.find("rigs", rig)
    assert found is not None
    text = found.read_text()
    assert "watchdog_ms: 250\n" in text
    path = folder / f"{rig}.yaml"
    path.write_text(text.replace("watchdog_ms: 250\n", f"watchdog_ms: {MAX_WATCHDOG_MS}\n"))
    return str(path)


@pytest.mark.slow
def test_off_stops_a_run_that_holds_the_serial_port(
    virtual: VirtualDevice,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from massager.runtime import owner

    # `off` waits up to 1 s for the run to let go, then turns the device off beside it; on a
    # starved machine the run may take longer, and this test is about the run letting go
    monkeypatch.setattr(owner, "request_stop", functools.partial(owner.request_stop, timeout_s=30))
    trace = tmp_path / "t.csv"
    device = f"serial:{virtual.port}"
    rig = long_watchdog_rig(tmp_path)
    args = ["run", "quick", "--device", device, "--rig", rig, "--trace", str(trace)]
    proc = child(args)
    try:
        key = device_key("serial", virtual.port)
        assert key is not None
        wait_held(key, proc)
        assert wait_for(lambda: not virtual.hal.all_zero(), timeout=30), "it never played"
        # a second run is refused, naming the first, and opens nothing
        assert cli(["run", "quick", "--device", device, "--rig", rig]) == 3
        err = capsys.readouterr().err
        assert f"the device {key} is held by `massager run` (pid {proc.pid})" in err
        assert "stop it with `massager off`" in err
        assert proc.poll() is None and not virtual.hal.all_zero()  # still playing

        assert cli(["off", "--device", device, "--rig", rig]) == 0
        assert virtual.hal.all_zero()
        out = capsys.readouterr().out
        assert f"{device}: stopped `massager run` (pid {proc.pid})" in out
        assert f"{device}: every output is off" in out
        assert virtual.device.executor.faults == 0  # off, not the watchdog
        _, err = finish(proc)
    finally:
        finish(proc)
    assert proc.returncode == 130, err
    assert "stopped by `massager off`; every output was turned off" in err
    assert "Traceback" not in err
    levels = read_trace(trace)
    assert any(abs(r.level) > 0.05 for r in levels)
    assert set(levels.final_levels().values()) == {0.0}
    assert holder(key) is None


LET_GO_S = 5.0
"""How long a run holding the GPIO may take, in real time, to let go once asked. docs/running.md
promises every output at zero within a second of `massager off` starting; the rest is room
for a loaded 2-core machine (the figure itself belongs in a benchmark)."""


@pytest.mark.slow
@pytest.mark.realtime
def test_off_stops_a_run_that_holds_the_gpio(tmp_path: Path) -> None:
    """`massager off`'s request makes a run holding the GPIO close its pins and let go: the
    docs promise within a second (checked here within `LET_GO_S`, 5x that); the release
    itself is waited for (up to 30 s), not assumed from a fast enough machine."""
    trace, pins = tmp_path / "t.csv", tmp_path / "pins.log"
    proc = child(
        ["run", "quick", "--device", "gpio", "--rig", "pi-gpio-minimal", "--trace", str(trace)],
        PIN_LOG=str(pins),
    )
    try:
        wait_held("gpio", proc)
        assert wait_for(lambda: _playing(trace), timeout=30), "it never played"
        started = time.monotonic()
        asked = request_stop("gpio", timeout_s=30)  # what `massager off` does first
        took = time.monotonic() - started
        assert asked is not None and asked.pid == proc.pid and asked.command == "run"
        assert holder("gpio") is None  # released: the run closed its pins
        assert took < LET_GO_S, f"the run took {took:.2f} s to let go"
        off = child(["off", "--device", "gpio", "--rig", "pi-gpio-minimal"], PIN_LOG=str(pins))
        off_out, off_err = finish(off)
        assert off.returncode == 0, off_err
        assert off_out.strip() == "gpio: every output is off"  # nobody held it by then
        _, err = finish(proc)
    finally:
        finish(proc)
    assert proc.returncode == 130, err
    assert "stopped by `massager off`" in err
    assert_pins_low(pins)
    assert set(read_trace(trace).final_levels().values()) == {0.0}


def output_pins(rig: str = "pi-gpio-minimal") -> set[str]:
    """The GPIO names of every output of `rig` (its actuators' pins and the heartbeat)."""
    r = api.load_rig(rig)
    names = {f"GPIO{r.heartbeat_pin}"} if r.heartbeat_pin is not None else set()
    for act in r.actuators:
        gpio = act.bindings.gpio
        assert gpio is not None
        for pin in (gpio.forward, gpio.backward, gpio.phase, gpio.enable, gpio.pin, gpio.valve):
            if pin is not None:
                names.add(f"GPIO{pin}")
    return names


def assert_pins_low(log: Path, rig: str = "pi-gpio-minimal", *, driven: bool = True) -> None:
    """Every output pin of `rig` ends at 0 in a device process's pin log (the button, an
    input, aside); with `driven`, some of them were driven on first."""
    states = final_pins(log)
    outputs = output_pins(rig)
    if driven:
        assert outputs & set(states), states
    # a pin missing from the log never changed from the 0 it was claimed at
    assert {p: states.get(p, 0.0) for p in outputs} == dict.fromkeys(outputs, 0.0), states


def _playing(trace: Path) -> bool:
    if not trace.exists():
        return False
    lines = trace.read_text().splitlines()[1:-1]
    return any(abs(float(line.split(",")[2])) > 0.05 for line in lines)


def test_off_on_a_free_device_just_turns_it_off(
    virtual: VirtualDevice, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["off", "--device", f"serial:{virtual.port}", "--rig", "pico-serial"]) == 0
    assert capsys.readouterr().out == f"serial:{virtual.port}: every output is off\n"


STUBBORN = """
import fcntl, json, os, signal, sys, time
import serial
from massager.runtime.owner import _ensure_runtime_dir, _paths
port = serial.Serial(sys.argv[2], exclusive=True)  # holds the port, never reads it
lock, sock = _paths(sys.argv[1], _ensure_runtime_dir())
fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
info = dict(pid=os.getpid(), command="run", key=sys.argv[1], socket=str(sock), since="now")
os.write(fd, json.dumps(info).encode())
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # hung: deaf to its socket and to SIGTERM
print("held", flush=True)
time.sleep(60)
"""


@pytest.mark.slow
def test_off_reaches_a_port_whose_holder_ignores_every_request(
    virtual: VirtualDevice, capsys: pytest.CaptureFixture[str]
) -> None:
    from massager.drivers.base import DriverOptions
    from massager.drivers.serial import SerialDriver
    from massager.stream import Command

    rig = api.load_rig("pico-serial")
    driver = SerialDriver(rig, DriverOptions(target=virtual.port))
    driver.open()
    driver.start()
    driver.send([Command(0, rig.actuators[6].id, "set", level=0.9)])
    assert wait_for(lambda: virtual.hal.levels[6] > 0.5)
    assert driver.last_link is not None
    driver.last_link.close()  # that host is gone; a hung process now holds the port
    key = device_key("serial", virtual.port)
    assert key is not None
    proc = subprocess.Popen(
        [sys.executable, "-c", STUBBORN, key, virtual.port], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        assert cli(["off", "--device", f"serial:{virtual.port}", "--rig", "pico-serial"]) == 0
        assert virtual.hal.all_zero()
        assert proc.poll() is None  # still there, still holding: the port was shared
    finally:
        proc.kill()
        proc.wait()
    assert "every output is off" in capsys.readouterr().out
