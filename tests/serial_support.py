"""Helpers for serial tests: a rig for the virtual Pico, output histories, a short stream."""

from __future__ import annotations

import time

from fault_proxy import SteppedProxy

from firmware_bridge.ticks import ticks_diff
from firmware_bridge.virtual import LoopDevice, VirtualDevice
from massager.clock import SteppedTime, VirtualClock
from massager.drivers.base import DriverOptions
from massager.drivers.serial import SerialDriver
from massager.rig import Rig
from massager.stream import Command, CommandStream, StepInfo

RIG = Rig.model_validate(
    {
        "name": "serial-test",
        "watchdog_ms": 250,
        "actuators": [
            {
                "id": "roller",
                "kind": "roller",
                "foot": "left",
                "reaches": ["sole"],
                "max_level": 0.9,
                "max_slew": 20.0,
                "bindings": {"serial": {"channel": 0}},
            },
            {
                "id": "vib",
                "kind": "vibration",
                "foot": "left",
                "reaches": ["heel"],
                "max_slew": 20.0,
                "bindings": {"serial": {"channel": 3}},
            },
        ],
    }
)
"""Two actuators on channels 0 and 3, slewing fast (20/s) so levels settle within 50 ms."""
CH = {"roller": 0, "vib": 3}


def steps_stream(duration_ms: int = 2000, change_ms: int = 1000) -> CommandStream:
    """roller -0.6 and vib 0.3 from 0; at `change_ms` roller +0.6 and vib 0.8; off at the end."""
    commands = [
        Command(0, "roller", "set", level=-0.6, step=0),
        Command(0, "vib", "set", level=0.3, step=0),
        Command(change_ms, "roller", "set", level=0.6, step=1),
        Command(change_ms, "vib", "set", level=0.8, step=1),
        Command(duration_ms, "roller", "off", step=1),
        Command(duration_ms, "vib", "off", step=1),
    ]
    steps = [
        StepInfo(0, "first", "rub", ("sole",), 0, change_ms),
        StepInfo(1, "second", "vibrate", ("heel",), change_ms, duration_ms),
    ]
    return CommandStream("steps", "serial-test", duration_ms, ("roller", "vib"), steps, commands)


def driver_for(device: VirtualDevice | str, **options: object) -> SerialDriver:
    """A serial driver for the test rig on a virtual device (or a port path)."""
    port = device if isinstance(device, str) else device.port
    return SerialDriver(RIG, DriverOptions(target=port, **options))  # type: ignore[arg-type]


STEP_US = 1000
"""The step of `stepped_driver`'s virtual clock: a device acts on the first step at or after a
command's due time, so no later than this."""


def stepped_link(
    clock_start_us: int = 0, seed: int = 1, **options: object
) -> tuple[SerialDriver, LoopDevice, SteppedProxy]:
    """A serial driver and a virtual Pico in this thread, both on one virtual clock, through a
    fault proxy (its faults off until a test turns them on; `seed` draws them).

    Time moves only while the host waits (the session's sleeps, the link's waits),
    a millisecond step at a time: the device ticks, the proxy passes on what is due,
    then the link reads its answers. `options` are the driver's (`watchdog_ms`, ...).
    """
    time = SteppedTime(VirtualClock(1_000_000.0), step_s=STEP_US / 1e6)
    device = LoopDevice(time.now, channels=16, clock_start_us=clock_start_us)
    proxy = SteppedProxy(device, time.now, seed=seed)
    time.attach(device.step)
    time.attach(proxy.pump)
    driver = SerialDriver(RIG, DriverOptions(**options), time=time, opener=lambda: proxy)  # type: ignore[arg-type]
    return driver, device, proxy


def stepped_driver(clock_start_us: int = 0, **options: object) -> tuple[SerialDriver, LoopDevice]:
    """`stepped_link` without the cut: a driver and a virtual Pico on one virtual clock."""
    driver, device, _ = stepped_link(clock_start_us, **options)
    return driver, device


def unwrapped(history: list[tuple[float, int, int, float]]) -> list[tuple[float, int, int, float]]:
    """The history with device times unwrapped into one growing count (across 2**30)."""
    out = []
    base = None
    last = 0
    value = 0
    for wall, dev, ch, level in history:
        if base is None:
            base = value = dev
        else:
            value += ticks_diff(dev, last)
        last = dev
        out.append((wall, value, ch, level))
    return out


def first_time(
    history: list[tuple[float, int, int, float]], ch: int, pred: object, after: float = -1e18
) -> int:
    """Device time (unwrapped history) of the first write on `ch` whose level satisfies `pred`."""
    for _, dev, c, level in history:
        if c == ch and dev > after and pred(level):  # type: ignore[operator]
            return dev
    raise AssertionError(f"no write on channel {ch} matched")


def wait_for(pred: object, timeout: float = 2.0) -> bool:
    """Poll `pred()` until it is true or `timeout` s pass; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.002)
    return bool(pred())  # type: ignore[operator]
