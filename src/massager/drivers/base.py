"""The interface every device driver implements, and the status it reports.

A driver is "something that runs a timed command queue": the session sends it
commands stamped in session milliseconds some time ahead, and the device
executes them on its own clock through the shared executor
(`firmware_bridge.executor`). Every driver must leave every output at zero on
every way out: `close()` is idempotent and always turns everything off.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from firmware_bridge import names
from firmware_bridge.codes import ERR_FAULT, ERR_LATE, ERR_LIMIT
from massager.clock import Clock
from massager.errors import (
    DeviceError,
    MassagerError,
    SafetyError,
    SafetyStop,
    TraceError,
    UsageError,
)
from massager.rig import Rig
from massager.stream import Command
from massager.trace import TraceWriter, trace_error


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """What a device reports when polled."""

    session_ms: float
    """Where the device is on the session clock (time spent paused excluded)."""
    levels: dict[str, float] = field(default_factory=dict)
    """The level each actuator's output has now, after every limit and the intensity."""
    faults: tuple[str, ...] = ()
    """Latched faults (e.g. 'watchdog', 'overtemp', 'estop'); empty when healthy."""
    temps: dict[str, float] = field(default_factory=dict)
    """Heater temperatures in degrees C, where the device measures them."""
    paused: bool = False


@dataclass(frozen=True, slots=True)
class DriverOptions:
    """Settings a driver is opened with; each driver uses those that apply to it."""

    target: str | None = None
    """Driver-specific target: a serial port or pyserial URL, for example."""
    speed: float = 1.0
    """Simulator only: how many times faster than real time to run on a real clock."""
    virtual: bool = False
    """Simulator only: run on a virtual clock, as fast as possible."""
    trace: Path | None = None
    """Where to write the CSV trace of applied levels, if the driver records one."""
    watchdog_ms: int | None = None
    """Override of the rig's device watchdog."""
    clock_start_us: int = 0
    """Simulated devices: the device clock's value at start (to test the wrap)."""


def refusal_error(code: int, what: str, faults: Sequence[str] = ()) -> MassagerError:
    """The error for `what` (a command, named) that a device refused with `code`.

    Every driver maps refusals the same way, so a stream fails alike on each:
    over a limit is a SafetyError (exit 1: the stream breaks the rig's limits,
    as `simulate` reports it); refused because a fault is latched is a SafetyStop
    (exit 4) naming `faults`, as when the session sees the fault; anything else
    (late, queue full, a malformed frame) is a DeviceError (exit 3).
    """
    text = f"the device refused {what}: {names.reason_name(code)}"
    if code == ERR_LIMIT:
        return SafetyError(text)
    if code == ERR_FAULT:
        return SafetyStop(
            text + (f" ({', '.join(faults)})" if faults else "") + fault_advice(faults)
        )
    if code == ERR_LATE:
        return DeviceError(text + BEHIND_ADVICE)
    return DeviceError(text)


BEHIND_ADVICE = (
    "; this computer was too busy (or the link stalled) to keep the device fed in time: "
    "close other work and run again"
)
"""What to do when a host fell behind its device (a late command, a watchdog stop)."""


def fault_advice(faults: Sequence[str]) -> str:
    """What to do about latched `faults`, when a host falling behind explains them ("" if not).

    The watchdog latches when the device hears nothing from the host for its
    watchdog period: the host was starved, or the link stalled.
    """
    if "watchdog" not in faults:
        return ""
    return (
        "; the device heard nothing from this computer for longer than its watchdog"
        + BEHIND_ADVICE
        + " (or give the rig a longer watchdog_ms)"
    )


def unknown_actuator_error(actuator: str, rig: Rig) -> UsageError:
    """The error for a stream that drives an actuator the rig lacks (the wrong --rig)."""
    return UsageError(
        f"the stream drives actuator {actuator!r}, which rig {rig.name!r} does not have; "
        "run it with the rig it was compiled for (--rig)"
    )


def trace_columns(rig: Rig) -> list[tuple[str, str]]:
    """The trace columns of a real device: each actuator's level, and a heater's temperature."""
    return [(a.id, "temp_c" if a.kind == "heater" else "") for a in rig.actuators]


class Driver(ABC):
    """A device that executes a command stream on its own clock."""

    name: ClassVar[str]
    lookahead_ms: ClassVar[int] = 500
    """How far ahead of the session clock the session sends commands."""

    def __init__(self, rig: Rig, options: DriverOptions | None = None) -> None:
        self.rig = rig
        self.options = options or DriverOptions()
        self._trace_writer: TraceWriter | None = None
        self._slew = {a.id: a.max_slew for a in rig.actuators}
        """Each actuator's slew limit (level per second), as the device enforces it."""

    def open_trace(
        self, columns: Sequence[tuple[str, str]], hold_ms: float = 0.0
    ) -> TraceWriter | None:
        """The writer of `options.trace` (None without one); TraceError if it cannot be made.

        `trace_failure()` then reports any later write failure of it, even after close().
        """
        path = self.options.trace
        if path is None:
            return None
        try:
            writer = TraceWriter(path, columns, hold_ms=hold_ms)
        except OSError as exc:
            raise trace_error(str(path), exc) from exc
        self._trace_writer = writer
        return writer

    def trace_failure(self) -> TraceError | None:
        """Why the trace could not be written (opened by `open_trace`), or None."""
        writer = getattr(self, "_trace_writer", None)
        return None if writer is None else writer.failure

    @property
    def poll_gap_ms(self) -> float | None:
        """Longest the session may leave between two polls (clock ms), when polls feed the
        device's watchdog; None when something else feeds it (the serial link's thread
        beats at a third of the watchdog). The session polls at least this often.
        """
        return None

    def ramp_down_ms(self, levels: Mapping[str, float]) -> float:
        """Clock ms until outputs now at `levels` read zero, ramping down after `stop()`.

        Each output ramps to zero at its actuator's `max_slew`, so the longest
        `|level| / max_slew` (plus `STOP_MARGIN_MS` for the device to write and
        report it) is when the ramp ends. The session sleeps that long, never longer
        than its heartbeat, before it looks again, instead of polling blindly.
        """
        slew = self._slew
        longest = 0.0
        for actuator, level in levels.items():
            rate = slew.get(actuator)
            if rate and abs(level) > 0.0:
                longest = max(longest, abs(level) / rate * 1000.0)
        return longest + self.STOP_MARGIN_MS if longest > 0.0 else 0.0

    STOP_MARGIN_MS: ClassVar[float] = 1.0
    """What `ramp_down_ms` adds to the slew's ramp: the device's tick and report."""

    def lag_note(self) -> str:
        """What the user should know about a device that could not keep up ("" if it did)."""
        return ""

    @property
    @abstractmethod
    def clock(self) -> Clock:
        """The clock the session waits on while this device plays."""

    @abstractmethod
    def open(self) -> None:
        """Connect, configure every channel from the rig (kinds, limits, watchdog)."""

    @abstractmethod
    def start(self) -> None:
        """Begin the session: session time 0 is now."""

    @abstractmethod
    def send(self, commands: Sequence[Command]) -> None:
        """Queue commands stamped in session ms; they must lie ahead of the device's time."""

    @abstractmethod
    def poll(self) -> DeviceStatus:
        """Let the device run up to the clock's current time and report its status.

        Raises DeviceError if the device or its link failed.
        """

    def poll_quiet(
        self, until_ms: float, gap_ms: float, woken: Callable[[], object]
    ) -> DeviceStatus:
        """Poll (see `poll`), and maybe poll on: the polls of a stretch with nothing to do.

        A session calls this when it has nothing to act on but the device (no command
        to send, no step to announce, the end further than a heartbeat) while the
        device's session time stays below `until_ms`. A device that can make those
        polls itself, as the session would, polls again every `gap_ms` of clock time
        while its session time moves and stays below `until_ms`, nothing is latched,
        the trace is fine and `woken()` (a control, an interrupt, an abort) is false;
        it reports the last poll. The default is one poll.
        """
        return self.poll()

    @abstractmethod
    def pause(self) -> None:
        """Ramp every output down (within 1 s) and hold the session clock."""

    @abstractmethod
    def resume(self) -> None:
        """Continue the session clock and ramp the outputs back up."""

    @abstractmethod
    def set_intensity(self, intensity: float) -> None:
        """Scale every output by `intensity` (0..1) from the next tick, through the slew limits."""

    @abstractmethod
    def stop(self) -> None:
        """Ramp every output down to zero at its slew limit and drop queued commands."""

    @abstractmethod
    def off(self) -> None:
        """Every output to zero now, whatever the device state. Never raises."""

    @abstractmethod
    def close(self) -> None:
        """Turn everything off and release the device. Idempotent; never raises."""

    def turn_off(self) -> None:
        """`massager off`: every output to zero now, then release the device.

        Needs as little of the rig as the device allows, and refuses nothing a
        session would refuse at start (a missing sensor, a faulty configuration)
        before the outputs are off. The default opens the device, turns it off
        and closes it; DeviceError if the device cannot be reached.
        """
        try:
            self.open()
            self.off()
        finally:
            self.close()

    def __enter__(self) -> Driver:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
