"""GPIO driver timing on mock pins and the real clock, against the usual hobby script.

The hobby script is what most Pi projects do: a loop that sets a gpiozero
device and then `time.sleep()`s for the step, so every step's overhead adds
to the next. The driver runs the shared executor in a thread on absolute
deadlines and wakes at each command's due time. Both drive gpiozero mock PWM
pins that remember the clock reading of every change (`StampedPin`), and the
same measure is taken of both: how late each output change lands after its
scheduled time.

- lateness p50/p99/max: a compressed profile with as many changes as a
  20-minute one (the timed commands of `classic` compiled for
  `pi-gpio-minimal`, per minute, times 20: each starts an output moving),
  idle and with both cores busy (one spinning process per core);
- drift: how late the last of those changes lands;
- emergency stop: from the button press to every output pin at zero, through
  the edge callback and through the per-tick poll (an edge that never came),
  against the hobby script checking the button once per half-second step.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import random
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gpiozero.pins.mock as gpiozero_mock
from gpiozero import Button, PWMOutputDevice
from run import Row

from massager.drivers.gpio import GpioDriver
from massager.drivers.gpio_mock import mock_factory
from massager.rig.model import Rig
from massager.runtime.session import Session
from massager.stream import Command, CommandStream

TAIL = 100  # the changes whose lateness measures the drift
PROFILE, PROFILE_RIG = "classic", "pi-gpio-minimal"


@functools.cache
def changes_20_min() -> int:
    """The timed commands of a 20-minute session: the bundled profile's, scaled to 20 min."""
    from massager import api

    compiled = api.compile_stream(api.load_profile(PROFILE), api.load_rig(PROFILE_RIG))
    return round(len(compiled.commands) * 20 * 60_000 / compiled.duration_ms)


HOBBY_STEP_S = 0.5
PINS = (12, 13, 16, 19)
ESTOP = 26
HOBBY = "hobby loop: gpiozero call + time.sleep per step"

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
    commands: list[Command], stamps: dict[str, list[tuple[float, float]]], origin_s: float
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
            due = origin_s + command.at_ms / 1000.0
            following = origin_s + sets[k + 1].at_ms / 1000.0 if k + 1 < len(sets) else None
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


def run_driver(s: CommandStream, realtime: bool = True) -> list[float]:
    """Play `s` through a Session on the threaded GPIO driver; lateness of each change."""
    factory = mock_factory()
    driver = GpioDriver(RIG, pin_factory=factory, realtime=realtime)
    Session(s, driver).run()
    if realtime and not driver.realtime:
        print("   (SCHED_FIFO refused: the tick thread ran at normal priority)")
    return lateness_ms(s.commands, pin_stamps(factory), driver.session_origin_ns / 1e9)


def run_hobby(s: CommandStream) -> list[float]:
    """Play `s` the hobby way: set the device, sleep until the next step."""
    factory = mock_factory()
    devices = {a: PWMOutputDevice(p, pin_factory=factory) for a, p in zip(IDS, PINS, strict=True)}
    start = time.monotonic()
    previous = 0
    for command in s.commands:
        time.sleep((command.at_ms - previous) / 1000.0)
        previous = command.at_ms
        devices[command.actuator].value = command.level
    for device in devices.values():
        device.close()
    return lateness_ms(s.commands, pin_stamps(factory), start)


def _spin() -> None:
    while True:
        pass


@contextmanager
def busy_cores() -> Iterator[None]:
    """One process spinning on each core while the block runs."""
    context = multiprocessing.get_context("fork")
    spinners = [context.Process(target=_spin, daemon=True) for _ in range(os.cpu_count() or 2)]
    for p in spinners:
        p.start()
    time.sleep(0.2)
    try:
        yield
    finally:
        for p in spinners:
            p.terminate()
        for p in spinners:
            p.join()


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def estop_driver(samples: int, lose_edge: bool) -> list[float]:
    """Press the button mid-run, `samples` times: ms until every output pin reads zero."""
    out = []
    real_call = gpiozero_mock.MockPin._call_when_changed
    if lose_edge:
        gpiozero_mock.MockPin._call_when_changed = lambda self: None
    try:
        for _ in range(samples):
            factory = mock_factory()
            driver = GpioDriver(RIG, pin_factory=factory)
            driver.open()
            driver.send([Command(0, a, "set", level=0.6) for a in IDS])
            driver.start()
            time.sleep(random.uniform(0.03, 0.08))
            pressed = time.monotonic()
            factory.pin(ESTOP).drive_low()
            while any(factory.pin(p).state for p in PINS):
                time.sleep(0.0001)
            done = max(factory.pin(p).stamps[-1][0] for p in PINS)
            out.append((done - pressed) * 1000.0)
            driver.close()
    finally:
        gpiozero_mock.MockPin._call_when_changed = real_call
    return out


def _press(pin: Any, log: list[float]) -> None:
    log.append(time.monotonic())
    pin.drive_low()


def estop_hobby(samples: int) -> list[float]:
    """The hobby loop checks the button once per step: ms from press to every pin at zero."""
    out = []
    for _ in range(samples):
        factory = mock_factory()
        devices = [PWMOutputDevice(p, pin_factory=factory) for p in PINS]
        button = Button(ESTOP, pin_factory=factory)
        pressed: list[float] = []
        press = functools.partial(_press, factory.pin(ESTOP), pressed)
        timer_delay = random.uniform(0.0, HOBBY_STEP_S)
        level = 0.6
        for device in devices:
            device.value = level
        timer = threading.Timer(timer_delay, press)
        timer.start()
        while not button.is_pressed:
            time.sleep(HOBBY_STEP_S)
            level = 0.5 if level == 0.6 else 0.6
            for device in devices:
                device.value = level
        for device in devices:
            device.off()
        done = max(factory.pin(p).stamps[-1][0] for p in PINS)
        out.append((done - pressed[0]) * 1000.0)
        timer.join()
        button.close()
        for device in devices:
            device.close()
    return out


def _rows(label: str, ours: list[float], hobby: list[float], target: str = "") -> list[Row]:
    return [
        Row(f"{label} p50", percentile(ours, 0.5), "ms", HOBBY, percentile(hobby, 0.5), target),
        Row(f"{label} p99", percentile(ours, 0.99), "ms", HOBBY, percentile(hobby, 0.99), target),
        Row(f"{label} max", max(ours), "ms", HOBBY, max(hobby), target),
    ]


def run(quick: bool) -> list[Row]:
    """Measure the driver and the hobby loop in the same run."""
    random.seed(1)
    spacing = 2.0 if quick else 5.0
    changes = changes_20_min()
    full = stream(changes, spacing)
    compressed_s = full.duration_ms / 1000.0
    idle_ours = run_driver(full)
    idle_hobby = run_hobby(full)
    busy_stream = full
    with busy_cores():
        busy_ours = run_driver(busy_stream)
        busy_normal = run_driver(busy_stream, realtime=False)
        busy_hobby = run_hobby(busy_stream)
    rows = _rows("output change lateness, idle", idle_ours, idle_hobby, "< 1 tick (5 ms)")
    rows += _rows("output change lateness, both cores busy", busy_ours, busy_hobby)
    rows += _rows(
        "output change lateness, both cores busy, tick thread at normal priority",
        busy_normal,
        busy_hobby,
    )
    rows.append(
        Row(
            f"drift: median lateness of the last {TAIL} of {changes:,} changes "
            f"(a 20-min {PROFILE} on {PROFILE_RIG} compressed to {compressed_s:.1f} s)",
            statistics.median(idle_ours[-TAIL:]),
            "ms",
            HOBBY,
            statistics.median(idle_hobby[-TAIL:]),
            "no growth",
        )
    )
    samples = 30 if quick else 200
    hobby_samples = 8 if quick else 40
    callback = estop_driver(samples, lose_edge=False)
    polled = estop_driver(samples, lose_edge=True)
    hobby_stop = estop_hobby(hobby_samples)
    hobby_label = f"hobby loop polling the button each {HOBBY_STEP_S:g} s step"
    for label, values in (("edge callback", callback), ("edge lost: per-tick poll", polled)):
        rows.append(
            Row(
                f"e-stop to all pins zero p99, {label}",
                percentile(values, 0.99),
                "ms",
                hobby_label,
                percentile(hobby_stop, 0.99),
                "< 10 ms",
            )
        )
    rows.append(
        Row(
            "e-stop to all pins zero max, edge lost: per-tick poll",
            max(polled),
            "ms",
            hobby_label,
            max(hobby_stop),
            "< 10 ms",
        )
    )
    return rows
