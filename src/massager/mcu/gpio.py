"""The GPIO device process: the Pico's firmware (Device + Executor) on the Pi's own pins.

Like Klipper's Linux "MCU", the Raspberry Pi's GPIO gets a real-time process of
its own that speaks the documented wire protocol (docs/protocol.md), so the
host reaches it exactly as it reaches a Pico, and nothing the host does (its
interpreter lock, a web request, a garbage collection, being killed) delays or
strands a motor. It runs `firmware_bridge.device.Device` around the shared
executor, with `GpioHal` (gpiozero) as its hardware; the emergency stop, the
heater sensors and the heartbeat pin are handled here.

It serves one link: an inherited socket (``--fd N``, what the host's `gpio`
driver starts and supervises; the process ends, every output off, when the
host closes it or dies) or a pseudo-terminal (``--link PATH``, reached with
``--device serial:PATH``). The loop ticks on absolute deadlines (200 Hz by
default) and also wakes when the next queued command is due; under SCHED_FIFO
and with its memory locked where the system allows. A host that goes silent
trips the executor's watchdog (the rig's ``watchdog_ms``): every output off.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import pickle
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware_bridge.codes import CAP_TEMP
from firmware_bridge.device import Device
from firmware_bridge.ticks import ticks_diff
from firmware_bridge.virtual import FdLink, close_pty, open_pty
from massager.clock import REAL_TIME, HostTime
from massager.errors import MassagerError
from massager.mcu.hal import GpioHal, say
from massager.mcu.sensors import W1_DEVICES
from massager.rig.model import Rig

FIRMWARE = "massager-gpio 0.1"
"""Its identify reply's firmware name; the host maps a gpio-only rig by it."""
QUEUE_SIZE = 4096
"""Commands the executor holds: a Pi has room for far more than the Pico's 64."""
DEFAULT_TICK_HZ = 200.0
TICK_HZ_ENV = "MASSAGER_GPIO_TICK_HZ"
"""Environment variable overriding the tick rate (Hz, 10..2000)."""
RT_PRIORITY = 10
"""SCHED_FIFO priority of the device process (systemd: ``LimitRTPRIO=10`` allows it)."""
_MCL_CURRENT, _MCL_FUTURE = 1, 2


def tick_hz_from_env(value: float | None = None) -> float:
    """The tick rate: `value`, else ``MASSAGER_GPIO_TICK_HZ``, else 200; ValueError if unusable."""
    if value is None:
        try:
            value = float(os.environ.get(TICK_HZ_ENV, DEFAULT_TICK_HZ))
        except ValueError:
            raise ValueError(f"{TICK_HZ_ENV} must be a number of Hz") from None
    if not 10.0 <= value <= 2000.0:
        raise ValueError(f"the gpio tick rate must lie within 10..2000 Hz, got {value:g}")
    return value


class GpioMcu:
    """The firmware serving one file descriptor (a socket or a pty master) with gpiozero pins."""

    def __init__(self, hal: GpioHal, fd: int, tick_hz: float = DEFAULT_TICK_HZ) -> None:
        self.hal = hal
        self.fd = fd
        self.period_us = round(1_000_000 / tick_hz)
        caps = CAP_TEMP if any(a.kind == "heater" for a in hal.rig.actuators) else 0
        self.link = FdLink(fd)
        self.device = Device(
            hal, len(hal.rig.actuators), self.link.write, FIRMWARE, caps, QUEUE_SIZE
        )
        self.ticks = 0
        self.overruns = 0
        """Grid ticks skipped because the loop came more than a period late."""
        self.on_heard: Callable[[float, int], object] | None = None
        """Called with (time.monotonic() before the bytes were handled, frames received so
        far) each time bytes from the host bring a whole frame (the pin log notes them)."""
        self._zeroed_for = 0
        self._next_tick: int | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the loop to end (from a signal handler or another thread)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        """Whether the loop was asked to end."""
        return self._stop.is_set()

    def serve(self, eof_ends: bool = True) -> None:
        """Serve until stop() (or the link's end, with `eof_ends`); every output off at the end."""
        try:
            while not self._stop.is_set() and self.poll(eof_ends, wait=True):
                pass
        finally:
            self.finish()

    def poll(self, eof_ends: bool = True, wait: bool = False) -> bool:
        """One pass of the loop: (with `wait`, wait for bytes until the next tick or command
        is due,) take what arrived, tick if due, send the replies. False once the host has
        gone (with `eof_ends`). On a stepped clock, each step is one pass without waiting."""
        hal = self.hal
        if self._next_tick is None:
            self._next_tick = hal.now_us()
        next_tick = self._next_tick
        timeout = 0.0
        if wait:
            timeout = max(0, ticks_diff(self._next_wake(next_tick), hal.now_us())) / 1e6
        try:
            readable, _, _ = select.select([self.fd], [], [], timeout)
        except InterruptedError:
            readable = []
        if readable and not self._read(eof_ends):
            return False
        now = hal.now_us()
        due = ticks_diff(now, next_tick)
        if due >= 0 or self._command_due(now):
            if due >= 0:
                behind = due // self.period_us
                self.overruns += behind
                self._next_tick = next_tick + (behind + 1) * self.period_us
            self.tick()
        self.link.flush()
        return True

    def finish(self) -> None:
        """Every output off (the loop's end)."""
        self.device.all_off()
        self.hal.all_off()

    def _next_wake(self, next_tick: int) -> int:
        due = self.device.executor.next_command_us()
        if due is not None and ticks_diff(due, next_tick) < 0:
            return due
        return next_tick

    def _command_due(self, now: int) -> bool:
        due = self.device.executor.next_command_us()
        return due is not None and ticks_diff(now, due) >= 0

    def _read(self, eof_ends: bool) -> bool:
        """Hand what arrived to the firmware; False once the host has gone (with `eof_ends`)."""
        data = self.link.read()
        if data is None:  # the host's end is closed (a pty nobody has open: wait for one)
            if eof_ends:
                return False
            time.sleep(self.period_us / 1e6)
        elif data:
            self.feed(data)
        return True

    def feed(self, data: bytes) -> None:
        """Bytes from the host; after an OFF (or BYE) every pin is driven low, phase pins too."""
        device = self.device
        armed = device.executor.armed()
        frames, arrived = device.decoder.frames, time.monotonic()
        device.feed(data)
        if armed and not device.executor.armed():
            self.hal.all_off()
        if self.on_heard is not None and device.decoder.frames != frames:
            self.on_heard(arrived, device.decoder.frames)

    def tick(self) -> None:
        """One tick: the firmware's, every pin low on a new fault, the heartbeat."""
        device, hal = self.device, self.hal
        device.tick()
        self.ticks += 1
        faults = device.executor.faults
        if faults & ~self._zeroed_for:
            # a fault the executor latched wrote level 0 to each output; drive every pin
            # low too (a phase pin, a vent valve)
            hal.all_off()
        self._zeroed_for = faults
        # beats while a session runs healthy: configured, watched, no fault
        hal.beat(device.configured and device.executor.armed() and not faults)


def make_realtime() -> bool:
    """SCHED_FIFO for this process and its memory locked; False where the system refuses either."""
    ok = True
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
    except (OSError, AttributeError):
        ok = False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.mlockall(_MCL_CURRENT | _MCL_FUTURE) != 0:
            ok = False
    except (OSError, AttributeError):
        ok = False
    return ok


def serve_in_thread(
    rig: Rig,
    pin_factory: Any,
    tick_hz: float,
    w1_root: Path = W1_DEVICES,
    time: HostTime = REAL_TIME,
) -> tuple[socket.socket, GpioMcu, threading.Thread | None]:
    """The device on `pin_factory` in this process, and the host's end of its socket.

    On real time the device serves in a thread of its own (returned); on a stepped
    `time` it makes one pass of its loop at each step, on that virtual clock, in the
    thread that moves the time (no thread returned). For tests and benchmarks that
    look at mock pins directly; a session uses the process (`--fd`). The pins are
    claimed before this returns (DeviceError if not).
    """
    host, dev = socket.socketpair()
    hal = GpioHal(rig, pin_factory, w1_root=w1_root, time=time)
    try:
        hal.open()
    except BaseException:
        host.close()
        dev.close()
        raise
    mcu = GpioMcu(hal, dev.fileno(), tick_hz)

    def close() -> None:
        hal.close()
        dev.close()

    if not time.threaded:
        served = [True]

        def step() -> None:
            if served[0] and (mcu.stopped or not mcu.poll()):
                served[0] = False
                mcu.finish()
                close()

        time.attach(step)
        return host, mcu, None

    def run() -> None:
        try:
            mcu.serve()
        finally:
            close()

    thread = threading.Thread(target=run, name="massager-gpio-device", daemon=True)
    thread.start()
    return host, mcu, thread


def _open_link(link: str) -> tuple[int, Callable[[], None]]:
    """A raw pseudo-terminal with `link` as a symlink to it: (master fd, clean-up)."""
    master, slave, _ = open_pty(link)
    return master, lambda: close_pty((master, slave), link)


def run(
    rig: Rig,
    *,
    fd: int | None = None,
    link: str | None = None,
    tick_hz: float | None = None,
    realtime: bool = True,
    w1_root: Path = W1_DEVICES,
    pin_factory: Any = None,
) -> int:
    """Serve `rig`'s pins on `fd` (exit when the host closes it) or a pty at `link`, until a signal.

    Prints the link's path (or ``ready``) once the pins are claimed. Returns the exit
    code: 0 after SIGTERM/SIGINT or the host's end, 3 if the pins cannot be claimed
    (the reason on stderr).
    """
    hz = tick_hz_from_env(tick_hz)
    if realtime and not make_realtime():
        say("gpio device: running without real-time priority (SCHED_FIFO or mlockall refused)")
    hal = GpioHal(rig, pin_factory, w1_root=w1_root)
    try:
        hal.open()
    except MassagerError as exc:
        say(str(exc))
        return 3
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    try:
        if link is not None:
            fd, cleanup = _open_link(link)
        print(link or "ready", flush=True)  # the pins are claimed
        assert fd is not None
        mcu = GpioMcu(hal, fd, hz)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: mcu.stop())
        if pin_factory is not None:
            from massager.drivers.gpio_mock import log_host_frames, press_on_signals

            mcu.on_heard = log_host_frames()  # a pin log notes what the host sent, and when
            if rig.estop_pin is not None:
                press_on_signals(pin_factory, rig.estop_pin)  # mock pins: a button to press
        mcu.serve(eof_ends=link is None)
    finally:
        hal.close()
        cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m massager.mcu.gpio --fd N``: the process the host's gpio driver starts.

    The rig comes pickled on stdin from the host that loaded it; people start the
    device process with ``massager mcu gpio`` instead.
    """
    parser = argparse.ArgumentParser(prog="python -m massager.mcu.gpio")
    parser.add_argument("--fd", type=int, required=True, help="serve this inherited socket")
    parser.add_argument("--tick-hz", type=float, help="ticks per second (10..2000, default 200)")
    parser.add_argument("--no-realtime", action="store_true", help="stay at normal priority")
    parser.add_argument("--pin-log", help="mock pins: append every pin change to this file")
    args = parser.parse_args(argv)
    rig = pickle.loads(sys.stdin.buffer.read())
    if not isinstance(rig, Rig):
        parser.error("stdin holds no rig")
    return run(
        rig,
        fd=args.fd,
        tick_hz=args.tick_hz,
        realtime=not args.no_realtime,
        pin_factory=pin_log_factory(args.pin_log),
    )


def pin_log_factory(path: str | None) -> Any:
    """Mock pins that append every change to `path` (None: gpiozero's default factory)."""
    if path is None:
        return None
    from massager.drivers.gpio_mock import logged_factory

    return logged_factory(Path(path))


if __name__ == "__main__":
    sys.exit(main())
