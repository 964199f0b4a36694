"""What the stop benchmarks share: a rig that ramps fast, and the devices' own output records.

A stop is timed to the moment the device's outputs really are zero, as the
device itself records it, never to the moment a poll of it notices:

- `PicoProcess`: the virtual Pico (`python -m firmware_bridge.virtual --trace`)
  in a process of its own, as a Pico is a chip of its own; its trace stamps
  every output write with `time.monotonic()`, the system-wide clock the
  benchmark reads too.
- `SimOutputs`: the simulator's own output writes (its HAL), stamped in device
  time, which is the simulator's clock; converted to `time.monotonic()` through
  that clock's origin and the time it dropped while paced (taken after the
  stop, so a slowed clock can only make the figure later, never earlier).

The rig ramps at 100/s, so from the profile's 0.6 the soft stop itself takes
6 ms (on the simulator, up to its next 10 ms tick); the rest of each figure is
the path from the request to the device.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

FAST_RIG = """\
name: bench-fast
watchdog_ms: 250
actuators:
  - id: vib
    kind: vibration
    foot: left
    reaches: [heel]
    max_slew: 100.0
    bindings: {serial: {channel: 3}}
"""
"""One vibration motor on the Pico's channel 3, ramping at 100/s."""
PROFILE = """\
name: hum
steps:
  - technique: vibrate
    zones: [heel]
    feet: left
    duration: 60s
    intensity: 0.6
"""
"""A minute at 0.6 on `FAST_RIG`."""
CHANNEL = 3


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class PicoProcess:
    """The virtual Pico in a process of its own, tracing every output write."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="massager-bench-pico-")
        self.trace = Path(self._tmp.name) / "outputs.csv"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "firmware_bridge.virtual", "--trace", str(self.trace)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = self.proc.stdout.readline().strip()
        assert self.port, "the virtual Pico did not start"

    def writes(self) -> list[tuple[float, float]]:
        """(time.monotonic(), level) of every write to `CHANNEL` flushed so far.

        The device flushes its trace at every write of zero, so once the output is
        at zero every write before it is in the file.
        """
        out = []
        for line in self.trace.read_text().splitlines()[1:]:
            mono, _dev, ch, level = line.split(",")
            if int(ch) == CHANNEL:
                out.append((float(mono), float(level)))
        return out

    def stop_times(self, sent: float) -> tuple[float, float]:
        """For a stop sent at `sent`: (ms to the first write of the ramp-down, ms to zero).

        RuntimeError if the output was not playing when the stop was sent, or never
        reached zero after it.
        """
        writes = self.writes()
        before = [level for t, level in writes if t < sent]
        playing = before[-1] if before else 0.0
        if playing < 0.5:
            raise RuntimeError(f"the output was at {playing} when the stop was sent")
        after = [(t, level) for t, level in writes if t >= sent]
        zero = next((t for t, level in after if level == 0.0), None)
        if zero is None:
            raise RuntimeError("the output never reached zero after the stop")
        first = next(t for t, level in after if level < playing)
        return (first - sent) * 1000.0, (zero - sent) * 1000.0

    def close(self) -> None:
        """Stop the device process (its outputs go to zero) and remove its trace."""
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._tmp.cleanup()


class SimOutputs:
    """The simulator's own output writes: when, in its device time, every output was zero."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        hal = driver.hal
        self._write = hal.set_output
        self.levels = list(driver.executor.levels)
        self.zero_el: int | None = None
        self._armed = False
        hal.set_output = self._set_output  # the executor looks it up at every tick

    def _set_output(self, ch: int, level: float) -> None:
        self._write(ch, level)
        self.levels[ch] = level
        if self._armed and self.zero_el is None and all(abs(v) <= 1e-9 for v in self.levels):
            self.zero_el = self.driver.hal.el_us

    def arm(self) -> None:
        """From now on, note the first device time at which every output is zero."""
        if all(abs(v) <= 1e-9 for v in self.levels):
            raise RuntimeError("every output is already at zero")
        self.zero_el = None
        self._armed = True

    def zero_at(self) -> float:
        """time.monotonic() at which every output reached zero (after `arm`)."""
        if self.zero_el is None:
            raise RuntimeError("the simulator's outputs never all reached zero")
        clock = self.driver.clock
        clock_ms = self.driver._t0_ms + self.zero_el / 1000.0
        lost = clock.lost_ms  # read after the stop: an upper bound of what was lost before it
        return clock._origin + (clock_ms / clock.speed + lost) / 1000.0


@contextlib.contextmanager
def rig_file() -> Any:
    """`FAST_RIG` written to a temporary file; yields its path."""
    with tempfile.TemporaryDirectory(prefix="massager-bench-rig-") as tmp:
        path = Path(tmp) / "rig.yaml"
        path.write_text(FAST_RIG)
        yield path
