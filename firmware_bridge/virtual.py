"""A virtual Pico: the firmware's protocol code and executor under CPython, on a pseudo-terminal.

``python -m firmware_bridge.virtual`` prints the path of the pseudo-terminal
it serves (point the host at it: ``--device serial:PATH``) and runs until
interrupted. Outputs are simulated: each channel records the levels written
to it, heaters warm and cool through a first-order thermal model, motors draw
a current that grows with their level. Options: ``--trace FILE`` writes every
output change as CSV; ``--near-wrap`` starts the device clock two seconds
before it wraps at 2**30 us; ``--link PATH`` adds a stable symlink to the
terminal.

CPython only (it uses os, pty and threading): it is not deployed to the Pico.
"""

import argparse
import os
import select
import signal
import sys
import threading
import time
import tty
from collections import deque
from collections.abc import Callable

from firmware_bridge import codec
from firmware_bridge.channels import channel_takes
from firmware_bridge.codes import CAP_TEMP, CAP_VIRTUAL, KIND_HEATER
from firmware_bridge.device import Device
from firmware_bridge.executor import QUEUE_SIZE
from firmware_bridge.ticks import TICKS_MAX, TICKS_PERIOD

CHANNELS = 16  # as many as the Pico firmware (hal_rp2.CHANNELS)
NEAR_WRAP_US = TICKS_PERIOD - 2_000_000
AMBIENT_C = 25.0
HEATER_RISE_C = 30.0  # above ambient at full duty, once settled
HEATER_TAU_S = 30.0
MOTOR_AMPS = 0.8  # current at full level
OUT_LIMIT = 1 << 16  # bytes kept for a host that does not read; older ones are dropped
TICKS_KEPT = 20_000  # a recording device's latest tick times: 20 s at 1 kHz


class FdLink:
    """A device's end of its link on a non-blocking file descriptor (a pty master, a socket).

    What the firmware writes waits here, at most `OUT_LIMIT` bytes (a host that does
    not read loses the oldest, counted in `dropped`), until `flush()` sends it.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.dropped = 0
        self._out = bytearray()
        os.set_blocking(fd, False)

    def write(self, frame: bytes) -> None:
        """Queue a frame for the host."""
        self._out += frame
        if len(self._out) > OUT_LIMIT:
            self.dropped += len(self._out) - OUT_LIMIT
            del self._out[: len(self._out) - OUT_LIMIT]

    def read(self) -> "bytes | None":
        """What has arrived (b'' if nothing yet); None once nobody holds the other end."""
        try:
            data = os.read(self.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:  # EIO: a pty nobody has open
            return None
        return data or None

    def flush(self) -> None:
        """Send what the firmware wrote, as far as the link takes it now."""
        if not self._out:
            return
        try:
            sent = os.write(self.fd, self._out)
            del self._out[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.dropped += len(self._out)
            self._out = bytearray()


def open_pty(link: "str | None" = None) -> "tuple[int, int, str]":
    """A raw pseudo-terminal: (master, slave, its path); `link`, if given, becomes a symlink to it.

    Raw from the start, so nothing is echoed back before the host configures the port.
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    if link:
        symlink(name, link)
    return master, slave, name


def close_pty(fds: "tuple[int, ...]", link: "str | None" = None) -> None:
    """Remove `link` if it is a symlink (to the terminal), then close the terminal's `fds`."""
    if link and os.path.islink(link):
        try:
            os.remove(link)
        except OSError:
            pass
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def symlink(target: str, link: str) -> None:
    """Make `link` a symlink to `target`, replacing an older symlink there."""
    if os.path.islink(link):
        os.remove(link)
    os.symlink(target, link)


class VirtualHal:
    """Simulated outputs on the host's monotonic clock (or `now_s`, seconds), shifted to start
    at `clock_start_us`."""

    def __init__(
        self,
        channels: int,
        clock_start_us: int = 0,
        trace: "str | None" = None,
        record: bool = False,
        now_s: "Callable[[], float]" = time.monotonic,
    ) -> None:
        self.channels = channels
        self._now = now_s
        self._t0 = round(now_s() * 1e6)
        self._start = clock_start_us
        self.pinned_us = None  # type: int | None
        self.levels = [0.0] * channels
        self.kinds = [-1] * channels
        self.writes = 0
        self.last_change = [0.0] * channels  # time.monotonic() of each channel's last change
        self.estop_pressed = False
        self.history = [] if record else None  # type: list[tuple[float, int, int, float]] | None
        """With `record`: (time.monotonic(), device us, channel, level) of every write."""
        self._temps = [AMBIENT_C] * channels
        self._temp_at = now_s()
        self._lock = threading.Lock()
        self._trace = None
        self._flushed = now_s()
        if trace:
            self._trace = open(trace, "w")
            self._trace.write("monotonic_s,device_us,channel,level\n")

    def now_us(self) -> int:
        """The device clock: microseconds since start plus the start value, modulo 2**30
        (while `pinned_us` is set, that reading: one step of the device's loop, one time)."""
        if self.pinned_us is not None:
            return self.pinned_us
        return (round(self._now() * 1e6) - self._t0 + self._start) & TICKS_MAX

    def configure(self, ch: int, kind: int) -> bool:
        """Whether channel `ch` can drive `kind`: the same channel map as the real board."""
        if not channel_takes(ch, kind):
            return False
        self.kinds[ch] = kind
        return True

    def set_output(self, ch: int, level: float) -> None:
        """Record the level of channel `ch` (and trace it)."""
        self._settle()
        now = self._now()
        with self._lock:
            self.levels[ch] = level
            self.last_change[ch] = now
            self.writes += 1
            if self.history is not None:
                self.history.append((now, self.now_us(), ch, level))
        if self._trace is not None:
            self._trace.write("%.6f,%d,%d,%.5f\n" % (now, self.now_us(), ch, level))
            if now - self._flushed > 0.1 or level == 0.0:
                self._trace.flush()
                self._flushed = now

    def read_temp(self, ch: int) -> float:
        """The simulated temperature of heater channel `ch` in degrees C."""
        self._settle()
        return self._temps[ch]

    def read_current(self, ch: int) -> float:
        """The simulated current of channel `ch` in amperes."""
        return abs(self.levels[ch]) * MOTOR_AMPS

    def estop(self) -> bool:
        """True while the simulated emergency stop is pressed."""
        return self.estop_pressed

    def all_zero(self) -> bool:
        """Whether every output is at zero."""
        return all(v == 0.0 for v in self.levels)

    def _settle(self) -> None:
        now = self._now()
        dt = now - self._temp_at
        if dt <= 0.0:
            return
        self._temp_at = now
        k = min(1.0, dt / HEATER_TAU_S)
        for ch in range(self.channels):
            duty = self.levels[ch] if self.kinds[ch] == KIND_HEATER else 0.0
            goal = AMBIENT_C + HEATER_RISE_C * duty
            self._temps[ch] += (goal - self._temps[ch]) * k

    def close(self) -> None:
        """Close the trace file."""
        if self._trace is not None:
            self._trace.close()
            self._trace = None


class VirtualFirmware(Device):
    """The firmware's Device, noting when its host last fed the watchdog (`heard_us`).

    A test reads the device's own record (its clock, not the host's) of when it
    last heard the host and when its watchdog turned the outputs off.
    """

    heard_us = None  # type: int | None
    """The device clock (us) read just before the host's latest frame fed the watchdog."""
    scheduled = None  # type: list[tuple[int, int, int, float, float, float, float]] | None
    """Set to a list: every command a SCHEDULE frame brought, as the device decoded it
    (due time in device us, channel, op, arguments)."""

    def _alive(self) -> None:
        if self.configured:
            self.heard_us = self.hal.now_us()
        super()._alive()

    def _schedule(self, p: bytes) -> bool:
        replied = super()._schedule(p)
        if self.scheduled is not None:
            try:
                self.scheduled.extend(codec.decode_schedule(p)[1])
            except Exception:
                pass  # refused as malformed: nothing was scheduled
        return replied


def virtual_firmware(
    hal: VirtualHal, write: "Callable[[bytes], object]", queue_size: int = QUEUE_SIZE
) -> VirtualFirmware:
    """The firmware (Device and Executor) on simulated outputs, writing its frames to `write`."""
    return VirtualFirmware(
        hal,
        hal.channels,
        write,
        firmware="massager-virtual 0.1",
        caps=CAP_TEMP | CAP_VIRTUAL,
        queue_size=queue_size,
    )


class LoopDevice:
    """A virtual Pico in the host's own thread, on the host's clock `now_s`: no terminal.

    It is its own port (what the host's serial link reads and writes): bytes
    written go straight to the firmware, what it answers waits to be read.
    `step()` ticks it; attached to a `massager.clock.SteppedTime` beside the
    host's link, host and device run together on a virtual clock.
    """

    def __init__(
        self,
        now_s: "Callable[[], float]",
        channels: int = CHANNELS,
        clock_start_us: int = 0,
        record: bool = True,
    ) -> None:
        self.hal = VirtualHal(channels, clock_start_us, record=record, now_s=now_s)
        self._out = bytearray()
        self.device = virtual_firmware(self.hal, self._out.extend)
        if record:
            self.device.scheduled = []

    def step(self) -> None:
        """One tick of the firmware."""
        self.device.tick()

    @property
    def in_waiting(self) -> int:
        """Bytes the firmware has written and the host not yet read."""
        return len(self._out)

    def read(self, size: int = 1) -> bytes:
        """Up to `size` bytes of what the firmware wrote."""
        data = bytes(self._out[:size])
        del self._out[:size]
        return data

    def write(self, data: bytes) -> int:
        """Hand bytes from the host to the firmware."""
        self.device.feed(data)
        return len(data)

    def reset_input_buffer(self) -> None:
        """Drop what the firmware wrote and nobody read."""
        self._out.clear()

    def close(self) -> None:
        """Nothing to close: the device stays, as a Pico does when its port is closed."""


class VirtualDevice:
    """The firmware (Device and Executor) serving a pseudo-terminal, in a thread or not."""

    def __init__(
        self,
        channels: int = CHANNELS,
        clock_start_us: int = 0,
        trace: "str | None" = None,
        queue_size: int = QUEUE_SIZE,
        tick_s: float = 0.001,
        record: bool = False,
    ) -> None:
        self.hal = VirtualHal(channels, clock_start_us, trace, record)
        self.device = virtual_firmware(self.hal, self._write, queue_size)
        if record:
            self.device.scheduled = []
        self.tick_s = tick_s
        self.ticks = deque(maxlen=TICKS_KEPT) if record else None  # type: deque[int] | None
        """With `record`: the device time of each of its latest ticks."""
        # the slave stays open here so the terminal survives the host closing it
        self._master, self._slave, self.port = open_pty()
        self.link = FdLink(self._master)
        self._stop = threading.Event()
        self._thread = None  # type: threading.Thread | None
        self._closed = False

    def _write(self, frame: bytes) -> None:
        self.link.write(frame)

    @property
    def dropped(self) -> int:
        """Bytes dropped because the host did not read them."""
        return self.link.dropped

    def step(self, timeout: float = 0.0) -> None:
        """Wait up to `timeout` s for bytes, hand them to the firmware, tick, send replies.

        The device clock reads one time for the whole step (what arrived, the tick,
        the writes), so the device's record says exactly which tick did what.
        """
        try:
            readable, _, _ = select.select([self._master], [], [], timeout)
        except (OSError, ValueError):
            readable = []
        data = self.link.read() if readable else b""
        if data is None:  # nobody has the terminal open
            time.sleep(timeout)
        hal = self.hal
        hal.pinned_us = now = hal.now_us()
        try:
            if data:
                self.device.feed(data)
            self.device.tick()
            if self.ticks is not None:
                self.ticks.append(now)
        finally:
            hal.pinned_us = None
        self.link.flush()

    def run(self) -> None:
        """Serve until `close()` (or `stop()`); every output is zero when this returns."""
        try:
            while not self._stop.is_set():
                self.step(self.tick_s)
        finally:
            self.device.all_off()

    def start(self) -> "VirtualDevice":
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self.run, name="virtual-pico", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (outputs off); the terminal stays open."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        self._thread = None

    def close(self) -> None:
        """Stop serving, turn every output off and close the terminal. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        self.device.all_off()
        self.hal.close()
        close_pty((self._master, self._slave))

    def __enter__(self) -> "VirtualDevice":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: "list[str] | None" = None) -> int:
    """Command-line entry: serve a virtual device until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m firmware_bridge.virtual",
        description="Run the massager firmware on a pseudo-terminal with simulated outputs.",
    )
    parser.add_argument("--channels", type=int, default=CHANNELS, help="output channels (16)")
    parser.add_argument("--trace", help="write every output change to this CSV file")
    parser.add_argument("--clock-start-us", type=int, default=0, help="device clock at start")
    parser.add_argument(
        "--near-wrap",
        action="store_true",
        help="start the device clock 2 s before it wraps at 2**30 us",
    )
    parser.add_argument("--link", help="also make this path a symlink to the terminal")
    args = parser.parse_args(argv)
    if not 1 <= args.channels <= 16:
        parser.error("--channels must be within 1..16")
    start = NEAR_WRAP_US if args.near_wrap else args.clock_start_us
    if not 0 <= start <= TICKS_MAX:
        parser.error("--clock-start-us must be within 0..2**30-1")
    for option, path in (("--trace", args.trace), ("--link", args.link)):
        if path is None:
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            parser.error("%s %s: the folder %s does not exist" % (option, path, folder))
        if not os.access(folder, os.W_OK):
            parser.error("%s %s: cannot write in %s" % (option, path, folder))
    if args.trace is not None and os.path.isdir(args.trace):
        parser.error("--trace %s is a folder; give a file name" % args.trace)
    if args.link is not None and os.path.lexists(args.link) and not os.path.islink(args.link):
        parser.error("--link %s exists and is not a symbolic link; choose another path" % args.link)
    dev = VirtualDevice(args.channels, start, args.trace)
    if args.link:
        symlink(dev.port, args.link)

    def finish(signum: int, frame: object) -> None:
        dev.stop()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    print(args.link or dev.port, flush=True)
    try:
        dev.run()
    finally:
        dev.close()
        close_pty((), args.link)
    return 0


if __name__ == "__main__":
    sys.exit(main())
