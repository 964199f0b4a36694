"""GPIO timing on mock pins, real clock: the device process, the in-process thread, a hobby loop.

The hobby script is what most Pi projects do, made fair: a loop that sets a
gpiozero device and sleeps to each step's absolute deadline. `--device gpio`
is the GPIO device process (its own process, SCHED_FIFO where allowed),
logging every mock pin change with the system's monotonic clock
(``--pin-log``); the in-process baseline is the same device in a thread of the
host process (what the gpio driver was before: sharing the host's interpreter
lock). The measure for each: how late each output change lands after its
scheduled time (the host's clock estimate of the device's).

- lateness p50/p99/max: a compressed profile with as many changes as a
  20-minute one (the timed commands of `classic` compiled for
  `pi-gpio-minimal`, per minute, times 20), idle and with the host process
  saturated (a CPU-bound thread, the live view drawing, a status client
  encoding the device's status 50 times a second);
- emergency stop: from the button press to every output pin at zero, in the
  device process (a signal toggles its mock button; both ends are its pin log's
  stamps), through the edge callback and through the per-tick poll (the edge
  lost), against the hobby script's gpiozero `when_pressed` callback.
"""

from __future__ import annotations

import functools
import json
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gpiozero import Button, PWMOutputDevice
from run import Row

import massager  # noqa: F401  (first: massager.compiled decides which modules run compiled)
from firmware_bridge.ticks import TICKS_MAX, ticks_diff
from massager.drivers.gpio import GpioDriver
from massager.drivers.gpio_mock import PRESS_SIGNAL, SILENT_PRESS_SIGNAL, mock_factory
from massager.errors import MassagerError, SafetyStop
from massager.rig.model import Rig
from massager.runtime.session import Session
from massager.stream import Command, CommandStream
from massager.ui.live import LiveView

TAIL = 100  # the changes whose lateness measures the drift
PROFILE, PROFILE_RIG = "classic", "pi-gpio-minimal"


@functools.cache
def changes_20_min() -> int:
    """The timed commands of a 20-minute session: the bundled profile's, scaled to 20 min."""
    from massager import api

    compiled = api.compile_stream(api.load_profile(PROFILE), api.load_rig(PROFILE_RIG))
    return round(len(compiled.commands) * 20 * 60_000 / compiled.duration_ms)


PINS = (12, 13, 16, 19)
ESTOP = 26
HOBBY = "hobby loop: gpiozero call, sleep to each absolute deadline"
THREAD = "the same device in a thread of the host process"

RIG = Rig.model_validate(
    {
        "name": "bench",
        "estop_pin": ESTOP,
        "actuators": [
            {
                "id": f"vib{i}",
                "kind": "vibration",
                "foot": "left" if i % 2 else "right",
                "reaches": ["sole"],
                "max_slew": 100,
                "bindings": {"gpio": {"pin": pin}},
            }
            for i, pin in enumerate(PINS)
        ],
    }
)
IDS = tuple(a.id for a in RIG.actuators)


def stream(changes: int, spacing_ms: float) -> CommandStream:
    """`changes` set commands round-robin over the outputs, one every `spacing_ms`."""
    commands = []
    for k in range(changes):
        level = 0.3 if (k // len(IDS)) % 2 else 0.35
        commands.append(Command(round(k * spacing_ms), IDS[k % len(IDS)], "set", level=level))
    end = commands[-1].at_ms + 50
    commands += [Command(end, a, "off") for a in IDS]
    return CommandStream("bench", RIG.name, end, IDS, commands=commands)


def lateness_ms(
    commands: list[Command],
    stamps: dict[str, list[tuple[float, float]]],
    due_s: Callable[[float], float],
) -> list[float]:
    """For each set command, in time order: ms from its due time to its pin's first move.

    Each pin's changes are walked in order: a command's move starts at the
    first change at or after its due time and ends when the pin reaches the
    command's level (or the next command is due), so a late change is never
    credited to the next command.
    """
    out: list[tuple[int, float]] = []
    for actuator, changes in stamps.items():
        sets = [c for c in commands if c.actuator == actuator and c.op == "set"]
        i = 0
        for k, command in enumerate(sets):
            due = due_s(command.at_ms)
            following = due_s(sets[k + 1].at_ms) if k + 1 < len(sets) else None
            while i < len(changes) and changes[i][0] < due - 1e-6:
                i += 1
            if i >= len(changes):
                break
            out.append((command.at_ms, (changes[i][0] - due) * 1000.0))
            while i < len(changes) and changes[i][1] != command.level:
                if following is not None and changes[i][0] >= following - 1e-6:
                    break
                i += 1
            else:
                i += 1
    return [late for _, late in sorted(out)]


def pin_stamps(factory: Any) -> dict[str, list[tuple[float, float]]]:
    """(clock reading, state) of each actuator's pin changes."""
    return {a: list(factory.pin(p).stamps) for a, p in zip(IDS, PINS, strict=True)}


def logged_stamps(path: Path) -> dict[str, list[tuple[float, float]]]:
    """(monotonic time, state) of each actuator's pin changes, from a device's pin log."""
    names = {f"GPIO{p}": a for a, p in zip(IDS, PINS, strict=True)}
    out: dict[str, list[tuple[float, float]]] = {a: [] for a in IDS}
    for line in path.read_text().splitlines():
        t, pin, state = line.split()
        if pin in names:
            out[names[pin]].append((float(t), float(state)))
    return out


def run_device(s: CommandStream, in_process: bool, load: bool) -> list[float]:
    """Play `s` on `--device gpio` (the device process, or in a thread): each change lateness."""
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "pins.log"
        factory = mock_factory() if in_process else None
        driver = GpioDriver(RIG, pin_factory=factory, pin_log=None if in_process else log)
        session = Session(s, driver)
        with saturated(session) if load else _nothing():
            session.run()
        stamps = pin_stamps(factory) if factory is not None else logged_stamps(log)
    return lateness_ms(s.commands, stamps, functools.partial(device_due_s, driver))


def device_due_s(driver: GpioDriver, at_ms: float) -> float:
    """When session time `at_ms` falls on the device's clock (system monotonic us, wrapped)."""
    ticks = driver.device_time(at_ms)
    near = driver.host_time(at_ms) * 1e6
    return (near + ticks_diff(ticks, int(near) & TICKS_MAX)) / 1e6


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _burn(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(2000))


def _status_client(session: Session, stop: threading.Event) -> None:
    """What a service's status push does: the device's levels as JSON, 50 times a second."""
    while not stop.wait(0.02):
        status = {"t": time.monotonic(), "levels": {a: 0.5 for a in IDS}, "profile": "bench"}
        json.loads(json.dumps({"jsonrpc": "2.0", "method": "status", "params": status}))


@contextmanager
def saturated(session: Session) -> Iterator[None]:
    """Load the host process: a CPU-bound thread, the live view, a status client."""
    from rich.console import Console

    stop = threading.Event()
    threads = [
        threading.Thread(target=_burn, args=(stop,), daemon=True),
        threading.Thread(target=_status_client, args=(session, stop), daemon=True),
    ]
    for t in threads:
        t.start()
    with open(os.devnull, "w") as null:
        console = Console(file=null, force_terminal=True, width=120)
        try:
            with LiveView(session, console):
                yield
        finally:
            stop.set()
            for t in threads:
                t.join()


def run_hobby(s: CommandStream, load: bool = False) -> list[float]:
    """Play `s` the hobby way: set the device, sleep to the next step's absolute deadline."""
    factory = mock_factory()
    devices = {a: PWMOutputDevice(p, pin_factory=factory) for a, p in zip(IDS, PINS, strict=True)}
    stop = threading.Event()
    burner = threading.Thread(target=_burn, args=(stop,), daemon=True)
    if load:
        burner.start()
    start = time.monotonic()
    for command in s.commands:
        delay = start + command.at_ms / 1000.0 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        devices[command.actuator].value = command.level
    stop.set()
    if load:
        burner.join()
    for device in devices.values():
        device.close()
    return lateness_ms(s.commands, pin_stamps(factory), lambda at: start + at / 1000.0)


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def estop_device(samples: int, lose_edge: bool) -> tuple[list[float], int]:
    """Press the button mid-run in the device process, `samples` times: ms to every pin at zero.

    One `--device gpio` on logged mock pins; the press is the device process's own (a
    signal toggles its mock button, see `gpio_mock.press_on_signals`), with its edge
    seen or lost, and both ends are read from its pin log: the press's stamp to the
    last output pin's fall. Between samples the button is released and a new session
    started (which clears the latched stop). A sample the host spoiled (starved so long
    that the device's watchdog turned the outputs off before the press) is left out:
    returns the latencies and how many were left out.
    """
    how = SILENT_PRESS_SIGNAL if lose_edge else PRESS_SIGNAL
    out: list[float] = []
    spoiled = 0
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "pins.log"
        driver = GpioDriver(RIG, pin_log=log)
        driver.open()
        try:
            assert driver.process is not None
            pid = driver.process.pid
            while len(out) < samples:
                try:
                    out.append(_press_once(driver, pid, log, how))
                except (RuntimeError, MassagerError):
                    spoiled += 1
                    if spoiled > samples:
                        raise
                if _states(_rows_of(log)).get(ESTOP) == 0.0:
                    os.kill(pid, how)  # released: the next start clears the latch
                    _wait_for(log, 0, lambda rows: _states(rows).get(ESTOP) == 1.0, driver)
        finally:
            driver.close()
    return out, spoiled


def _press_once(driver: GpioDriver, pid: int, log: Path, how: int) -> float:
    """One sample: a session with every output on, the press; ms from it to every pin low."""
    _start(driver)
    driver.send([Command(0, a, "set", level=0.6) for a in IDS])
    _wait_for(log, 0, lambda rows: all(_states(rows).get(p) for p in PINS), driver)
    time.sleep(random.uniform(0.03, 0.08))
    before = _rows_of(log)
    seen = len(before)
    if not all(_states(before).get(p) for p in PINS):
        raise RuntimeError("the outputs went off before the press")
    os.kill(pid, how)
    rows = _wait_for(log, seen, lambda rows: _fell(rows) is not None, driver)
    fell = _fell(rows[seen:])
    assert fell is not None
    _until(lambda: "estop" in _faults(driver))  # the press is latched
    return fell * 1000.0


def _faults(driver: GpioDriver) -> tuple[str, ...]:
    try:
        return driver.poll().faults
    except SafetyStop:  # a command replayed after a recovery, refused by the latch
        return ("estop",)


Rows = list[tuple[float, int, float]]


def _start(driver: GpioDriver) -> None:
    """Start a session, again if the device had not yet seen the button's release (a press
    its edge callback reported after the tick that latched it re-latches at the next tick)."""
    for _ in range(20):
        try:
            driver.start()
            return
        except SafetyStop:
            time.sleep(0.05)
    driver.start()


def _until(done: Callable[[], bool]) -> None:
    """Wait (10 s at most) until `done()`."""
    deadline = time.monotonic() + 10.0
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError("the device process did not get there in 10 s")
        time.sleep(0.005)


def _wait_for(
    log: Path, after: int, done: Callable[[Rows], bool], driver: GpioDriver | None = None
) -> Rows:
    """Wait (10 s at most) until the pin log's rows from row `after` on satisfy `done`.

    Meanwhile `driver` is polled, as a session polls it: a host that stops calling its
    driver stops feeding the device's watchdog, and a starved one is recovered from.
    Returns every row the log then has.
    """
    deadline = time.monotonic() + 10.0
    while True:
        if driver is not None:
            _faults(driver)  # polled, as a session polls it
        rows = _rows_of(log)
        if done(rows[after:]):
            return rows
        if time.monotonic() > deadline:
            raise RuntimeError("the device process did not get there in 10 s")
        time.sleep(0.001)


def _rows_of(log: Path) -> Rows:
    """(time, pin number, state) of every change in a device's pin log."""
    lines = log.read_text().split("\n")[:-1] if log.exists() else []  # a line being written
    rows = [line.split() for line in lines]
    return [(float(t), int(p[4:]), float(v)) for t, p, v in rows if p.startswith("GPIO")]


def _states(rows: Rows) -> dict[int, float]:
    """Each pin's latest state in rows of a device's pin log."""
    return {pin: state for _, pin, state in rows}


def _fell(rows: Rows) -> float | None:
    """Seconds from the button's press to the last output pin at zero, once all are; else None."""
    pressed: float | None = None
    zero_at: dict[int, float] = {}
    for t, pin, state in rows:
        if pin == ESTOP and state == 0.0:
            pressed = t
        elif pressed is not None and pin in PINS and state == 0.0:
            zero_at[pin] = t
    if pressed is None or len(zero_at) < len(PINS):
        return None
    return max(zero_at.values()) - pressed


def estop_hobby(samples: int) -> list[float]:
    """The hobby script's stop: gpiozero's own `when_pressed` turns every device off."""
    out = []
    for _ in range(samples):
        factory = mock_factory()
        devices = [PWMOutputDevice(p, pin_factory=factory, initial_value=0.6) for p in PINS]
        button = Button(ESTOP, pin_factory=factory)

        def stop_all(devices: list[Any] = devices) -> None:
            for device in devices:
                device.off()

        button.when_pressed = stop_all
        time.sleep(random.uniform(0.01, 0.03))
        pressed = time.monotonic()
        factory.pin(ESTOP).drive_low()
        while any(factory.pin(p).state for p in PINS):
            time.sleep(0.0001)
        done = max(factory.pin(p).stamps[-1][0] for p in PINS)
        out.append((done - pressed) * 1000.0)
        button.close()
        for device in devices:
            device.close()
    return out


def _rows(
    label: str, ours: list[float], base: list[float], base_label: str = HOBBY, target: str = ""
) -> list[Row]:
    quantiles = (("p50", 0.5), ("p99", 0.99), ("max", 1.0))
    return [
        Row(f"{label} {name}", percentile(ours, q), "ms", base_label, percentile(base, q), target)
        for name, q in quantiles
    ]


def run(quick: bool) -> list[Row]:
    """Measure the device process, the in-process thread and the hobby loop in the same run."""
    random.seed(1)
    spacing = 2.0 if quick else 5.0
    changes = changes_20_min() // (4 if quick else 1)
    full = stream(changes, spacing)
    compressed_s = full.duration_ms / 1000.0
    idle = run_device(full, in_process=False, load=False)
    idle_hobby = run_hobby(full)
    loaded = run_device(full, in_process=False, load=True)
    loaded_thread = run_device(full, in_process=True, load=True)
    loaded_hobby = run_hobby(full, load=True)
    rows = _rows("output lateness, device process, idle", idle, idle_hobby)
    rows += _rows(
        "output lateness, device process, host saturated", loaded, loaded_thread, THREAD,
        "p99 < 1 ms, max < 5 ms",
    )  # fmt: skip
    rows += _rows("output lateness, in-process thread, host saturated", loaded_thread, loaded_hobby)
    rows.append(
        Row(
            f"drift: median lateness of the last {TAIL} of {len(idle):,} changes "
            f"(a 20-min {PROFILE} on {PROFILE_RIG} compressed to {compressed_s:.1f} s)",
            statistics.median(idle[-TAIL:]),
            "ms",
            HOBBY,
            statistics.median(idle_hobby[-TAIL:]),
            "no growth",
        )
    )
    samples = 30 if quick else 200
    callback, spoiled = estop_device(samples, lose_edge=False)
    polled, spoiled_too = estop_device(samples, lose_edge=True)
    hobby_stop = estop_hobby(samples)
    hobby_label = "hobby script: gpiozero when_pressed turns every device off"
    for label, values in (("edge callback", callback), ("edge lost: per-tick poll", polled)):
        label = f"e-stop to all pins zero in the device process, {label}"
        if spoiled + spoiled_too:
            label += f" ({spoiled + spoiled_too} samples spoiled by a starved host, left out)"
        rows += _rows(label, values, hobby_stop, hobby_label, "max < 10 ms")
    return rows
