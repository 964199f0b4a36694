"""The GPIO device process (`massager mcu gpio`): the firmware on the Pi's pins, its own process.

Real processes, mock pins: the device process runs on gpiozero's mock pins
and appends every pin change to a log (``--pin-log``, stamped with the
system's monotonic clock), the host is a real `massager run` on
``--device serial:LINK``, and the test kills or freezes the host and reads
the log: every output pin must be at zero within the watchdog (250 ms) and one
tick (5 ms) of the host's last word.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from massager.drivers.gpio_mock import PRESS_SIGNAL, SILENT_PRESS_SIGNAL

OUTPUTS = ("GPIO17", "GPIO27", "GPIO22", "GPIO23", "GPIO12", "GPIO13")
"""The output pins of the bundled pi-gpio-minimal rig (rollers, vibration motors)."""
HEARTBEAT = "GPIO24"
ESTOP = "GPIO26"
WATCHDOG_S = 0.25
TICK_S = 0.005
SLACK_S = 0.005
"""Waking a SCHED_FIFO process on a busy machine (the device process asks for it; CI runs as
root, which gets it)."""


def massager(*args: str) -> list[str]:
    return [sys.executable, "-m", "massager", *args]


def read_log(path: Path) -> list[tuple[float, str, float]]:
    rows = []
    for line in path.read_text().split("\n")[:-1]:  # not a line the device is writing
        t, pin, state = line.split()
        rows.append((float(t), pin, float(state)))
    return rows


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def device(device_process: tuple[Path, Path, int]) -> tuple[Path, Path]:
    """A device process serving pi-gpio-minimal on a pty: (its link, its pin log)."""
    link, log, _ = device_process
    return link, log


@pytest.fixture
def device_process(tmp_path: Path) -> Iterator[tuple[Path, Path, int]]:
    """A device process serving pi-gpio-minimal on a pty: (its link, its pin log, its pid)."""
    link, log = tmp_path / "gpio", tmp_path / "pins.log"
    proc = subprocess.Popen(
        massager(
            "mcu", "gpio", "--rig", "pi-gpio-minimal", "--link", str(link), "--pin-log", str(log)
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == str(link)
        yield link, log, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert not link.exists()  # its symlink removed on the way out


def levels_at(rows: list[tuple[float, str, float]], t: float) -> dict[str, float]:
    state: dict[str, float] = {}
    for when, pin, value in rows:
        if when <= t:
            state[pin] = value
    return state


def running(log: Path) -> bool:
    """Whether some output pin is on now, by the log."""
    if not log.exists():
        return False
    now = levels_at(read_log(log), time.monotonic())
    return any(now.get(p, 0.0) > 0 for p in OUTPUTS)


def realtime(pid: int) -> bool:
    """Whether process `pid` runs under SCHED_FIFO (the device process asks for it)."""
    return os.sched_getscheduler(pid) == os.SCHED_FIFO


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_a_host_that_dies_or_hangs_leaves_every_output_at_zero_within_the_watchdog(
    device_process: tuple[Path, Path, int], how: signal.Signals
) -> None:
    link, log, pid = device_process
    host = subprocess.Popen(
        massager("run", "quick", "--device", f"serial:{link}", "--rig", "pi-gpio-minimal"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: running(log), 60.0), "the outputs never came on"
        host.send_signal(how)
        assert wait_for(lambda: not running(log), 10.0), "the outputs stayed on"
        time.sleep(3 * TICK_S)  # the zeroing tick's last lines
        rows = read_log(log)
    finally:
        if how == signal.SIGSTOP:
            host.send_signal(signal.SIGCONT)
        host.kill()
        host.wait(10)
    # the device's own record (its log, on the system's monotonic clock): it last heard the
    # host at `heard`, and every output went to zero at its first tick past the watchdog
    after = levels_at(rows, float("inf"))
    assert all(after.get(p, 0.0) == 0.0 for p in OUTPUTS), after
    zeroed = max(t for t, pin, v in rows if pin in OUTPUTS and v == 0.0)
    heard = max(t for t, pin, _ in rows if pin == "HOST" and t < zeroed)
    ticks = [t for t, pin, _ in rows if pin == HEARTBEAT and t < zeroed]  # one edge per tick
    assert zeroed - heard > WATCHDOG_S
    assert ticks[-1] - heard <= WATCHDOG_S + 0.001  # the tick before: not yet past it
    beats = [t for t, pin, _ in rows if pin == HEARTBEAT and t > zeroed]
    assert len(beats) <= 1  # the heartbeat stops (held low) with the watchdog fault
    print(f"every output at zero {(zeroed - heard) * 1000:.1f} ms after the host's last word")
    if realtime(pid):  # as the device process runs where the system allows it (CI: root)
        assert zeroed - heard <= WATCHDOG_S + TICK_S + SLACK_S


SHORT = """
name: short
steps:
  - technique: vibrate
    zones: [arch]
    duration: 3s
    intensity: 0.6
"""


def test_a_run_plays_on_the_device_process_and_ends_with_every_output_off(
    device: tuple[Path, Path], tmp_path: Path
) -> None:
    link, log = device
    profile = tmp_path / "short.yaml"
    profile.write_text(SHORT)
    proc = subprocess.run(
        massager("run", str(profile), "--device", f"serial:{link}", "--rig", "pi-gpio-minimal"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = read_log(log)
    on = [t for t, pin, v in rows if pin in ("GPIO12", "GPIO13") and v > 0]
    assert on and max(on) - min(on) > 2.0  # the vibration motors ran for most of the 3 s
    assert all(v == 0.0 for p, v in levels_at(rows, time.monotonic()).items() if p in OUTPUTS)
    beats = [t for t, pin, _ in rows if pin == HEARTBEAT]
    assert len(beats) > 300  # a 100 Hz square wave while the session ran


@pytest.mark.parametrize("how", [PRESS_SIGNAL, SILENT_PRESS_SIGNAL], ids=["edge", "edge-lost"])
def test_the_estop_in_the_device_process_stops_the_run_even_with_its_edge_lost(
    device_process: tuple[Path, Path, int], how: signal.Signals
) -> None:
    # SILENT_PRESS_SIGNAL moves the mock button with no edge callback: only the device's
    # per-tick poll of the button can see it
    link, log, pid = device_process
    host = subprocess.Popen(
        massager("run", "quick", "--device", f"serial:{link}", "--rig", "pi-gpio-minimal"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: running(log), 60.0), "the outputs never came on"
        os.kill(pid, how)
        out, err = host.communicate(timeout=30)
    finally:
        host.kill()
        host.wait(10)
    assert host.returncode == 4, out + err
    assert "emergency stop" in err or "estop" in err, err
    rows = read_log(log)
    pressed = [i for i, (_, pin, v) in enumerate(rows) if pin == ESTOP and v == 0.0]
    assert len(pressed) == 1
    before = levels_at(rows[: pressed[0]], float("inf"))
    assert any(before.get(p, 0.0) > 0 for p in OUTPUTS)  # running when the button went down
    after = rows[pressed[0] + 1 :]
    # a tick under way when the button went down (in another thread) may finish its writes:
    # its end is its heartbeat edge (the edge callback may add one first, holding it low);
    # from the next tick on, which sees the press, none rises
    ends = [i for i, (_, pin, _) in enumerate(after) if pin == HEARTBEAT]
    under_way = 2 if how == PRESS_SIGNAL else 1
    later = after[ends[under_way - 1] + 1 :] if len(ends) >= under_way else after
    assert not [r for r in later if r[1] in OUTPUTS and r[2] > 0], "an output rose again"
    assert all(levels_at(rows, float("inf")).get(p, 0.0) == 0.0 for p in OUTPUTS)


HOST = """
import sys
from pathlib import Path

from massager import api
from massager.drivers.gpio import GpioDriver
from massager.runtime.session import Session

# the longest watchdog: what turns the outputs off here must be the socket's end
rig = api.load_rig("pi-gpio-minimal").model_copy(update={"watchdog_ms": 5000})
driver = GpioDriver(rig, pin_log=Path(sys.argv[1]))
Session(api.compile_stream(api.load_profile("quick"), rig), driver).run()
"""
"""A host on `--device gpio` whose device process logs its mock pins (GpioDriver's pin_log)."""


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, parent, ...), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(entry.name)
            if stat is not None and stat[1] == str(pid):
                found.append(int(entry.name))
    return found


def ended(pid: int) -> bool:
    """Whether process `pid` has ended (gone, or a zombie nobody has reaped yet)."""
    stat = _stat(pid)
    return stat is None or stat[0] == "Z"


def test_a_killed_host_on_device_gpio_closes_the_socket_and_every_output_is_off_at_once(
    tmp_path: Path,
) -> None:
    log = tmp_path / "pins.log"
    host = subprocess.Popen(
        [sys.executable, "-c", HOST, str(log)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        assert wait_for(lambda: running(log), 60.0), "the outputs never came on"
        (device_pid,) = children(host.pid)  # the device process the host started
        host.kill()  # SIGKILL: no cleanup in the host, its end of the socket closes
        killed = time.monotonic()
        host.wait(10)
        assert wait_for(lambda: not running(log), 10.0)
        assert wait_for(lambda: ended(device_pid), 10.0), "the device process lives on"
    finally:
        host.kill()
        host.wait(10)
    rows = read_log(log)
    zeroed = max(t for t, pin, v in rows if pin in OUTPUTS and v == 0.0)
    # at once, not by the (5 s) watchdog: the device process read the socket's end
    assert zeroed - killed < WATCHDOG_S / 2, f"{(zeroed - killed) * 1000:.0f} ms"
    assert all(levels_at(rows, float("inf")).get(p, 0.0) == 0.0 for p in OUTPUTS)
