"""The CSV trace of what a device's outputs actually did: writer and reader.

One header line, then rows ``t_ms,actuator,level,speed,pressure,temp_c``.
``t_ms`` is milliseconds since the session started on the device's clock
(pauses included); ``level`` is the level applied to the output after every
limit and the user's intensity; ``speed`` (rollers), ``pressure`` (air
bladders) and ``temp_c`` (heaters) are the simulated physical quantities,
empty where they do not apply.

Rows are the corners of each actuator's course: between two rows of an
actuator its values move in a straight line, within a tolerance (0.005 of
level, 0.01 of speed or pressure, 0.05 C) of every value the device produced
in between. This is swinging-door compression, as process historians store
sensor data: a ramp is two rows, a wave a handful per period, a steady output
none, and the trace is exact at every row (each row is a real sample, so an
output at rest reads exactly 0). See docs/stream-format.md, "Trace format".
The compression itself is `massager.trace_door.SwingingDoor` (compiled with
the simulator, which feeds it directly); `TraceWriter` owns the file.

A writer never raises from `sample()` (a device's tick must not fail because a
disk did): the first write failure is kept as `failure` (a `TraceError`) and
every later write is dropped; the session asks the driver for it and ends the
run with it. Rows reach the file at least every `FLUSH_S` (`flush_due()`, which
drivers call on every poll, or, like the simulator, whenever the door's `flush_at`
has passed) and on `close()`.
"""

from __future__ import annotations

import csv
import math
import time
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from massager.errors import TraceError
from massager.trace_door import LEVEL_TOLERANCE as LEVEL_TOLERANCE
from massager.trace_door import NO_VALUE, SwingingDoor

COLUMNS = ("t_ms", "actuator", "level", "speed", "pressure", "temp_c")
PHYSICAL = ("speed", "pressure", "temp_c")
PHYSICAL_TOLERANCE = {"speed": 0.01, "pressure": 0.01, "temp_c": 0.05}
FLUSH_S = 1.0
"""Longest a written row waits in memory before it is flushed to the file."""


class TraceWriter:
    """Writes the trace of a fixed list of actuators, each with at most one physical column.

    `actuators` pairs each actuator id with its physical column ('speed',
    'pressure', 'temp_c' or '' for none); samples then name actuators by
    index. `hold_ms` is the device's tick: a device writes an output only when
    it changes, so a sample arriving longer than a tick after the previous one
    means the level held still until the tick before it.
    """

    def __init__(
        self,
        out: TextIO | Path | str,
        actuators: Sequence[tuple[str, str]],
        hold_ms: float = 0.0,
    ) -> None:
        lanes: list[tuple[str, int, float]] = []
        for actuator, column in actuators:
            if column and column not in PHYSICAL:
                raise ValueError(f"unknown trace column {column!r}")
            # the door writes the actuator's id into its rows as it is: ids are [a-z0-9_]
            if column:
                lanes.append((actuator, PHYSICAL.index(column), PHYSICAL_TOLERANCE[column]))
            else:
                lanes.append((actuator, -1, 0.0))
        if isinstance(out, (str, Path)):
            self._file: TextIO = open(out, "w", newline="", encoding="utf-8")  # noqa: SIM115
            self._owned = True
            self.name = str(out)
        else:
            self._file = out
            self._owned = False
            self.name = str(getattr(out, "name", "<stream>"))
        self.ids = [a for a, _ in actuators]
        self.hold_ms = hold_ms
        self.door = SwingingDoor(lanes, hold_ms, self._write)
        """The compression that turns samples into rows (what a hot caller feeds directly;
        its rows reach the file through `flush_due` or `close`)."""
        self.door.flush_at = time.monotonic() + FLUSH_S
        self.failure: TraceError | None = None
        """Why the trace could not be written (the first failure), or None."""
        self.closed = False
        self._dirty = False
        self._write(",".join(COLUMNS) + "\n")

    def sample(self, index: int, t_ms: float, level: float, phys: float | None = None) -> None:
        """Record actuator `index` at `t_ms` (samples of one actuator come in time order)."""
        door = self.door
        door.sample(index, t_ms, level, NO_VALUE if phys is None else phys)
        door.drain()

    def _write(self, text: str) -> None:
        if self.failure is not None:
            return
        try:
            self._file.write(text)
        except (OSError, ValueError) as exc:
            self._failed(exc)
            return
        self._dirty = True

    def _failed(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = trace_error(self.name, exc)

    def flush_due(self) -> None:
        """Write the rows the door has made, and flush the file if it has not been flushed
        (or found with nothing to flush) for `FLUSH_S` (never raises). The door's
        `flush_at` says when this has something to judge, for a hot caller to ask."""
        door = self.door
        door.drain()
        if self.failure is None:
            now = time.monotonic()
            if now >= door.flush_at:
                if self._dirty:
                    self._flush(now)
                door.flush_at = now + FLUSH_S

    def _flush(self, now: float) -> None:
        self.door.flush_at = now + FLUSH_S
        self._dirty = False
        try:
            self._file.flush()
        except (OSError, ValueError) as exc:
            self._failed(exc)

    def flush_pending(self) -> None:
        """Write each actuator's latest sample as a row (its course so far is then complete)."""
        self.door.flush_pending()

    def close(self) -> None:
        """Write what is pending and close the file (if this writer opened it). Idempotent.

        Never raises: a failure to write the last rows is kept in `failure`.
        """
        if self.closed:
            return
        self.closed = True
        self.flush_pending()
        if self.failure is None:
            self._flush(time.monotonic())
        if self._owned:
            try:
                self._file.close()
            except (OSError, ValueError) as exc:
                self._failed(exc)


def trace_error(name: str, exc: BaseException) -> TraceError:
    """The error for trace file `name` that could not be written because of `exc`."""
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return TraceError(f"trace {name} could not be written: {why}")


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One row of a trace."""

    t_ms: float
    actuator: str
    level: float
    speed: float | None = None
    pressure: float | None = None
    temp_c: float | None = None


class Trace:
    """A trace read back: rows by actuator, in time order, and the applied level at any time."""

    def __init__(self, rows: Sequence[TraceRow]) -> None:
        self._by: dict[str, list[TraceRow]] = {}
        for row in rows:
            self._by.setdefault(row.actuator, []).append(row)
        for actuator_rows in self._by.values():
            actuator_rows.sort(key=lambda r: r.t_ms)
        self._times = {a: [r.t_ms for r in rs] for a, rs in self._by.items()}
        self._values: dict[tuple[str, str], list[float | None]] = {}

    @property
    def actuators(self) -> tuple[str, ...]:
        """The actuators in the trace, in order of first appearance."""
        return tuple(self._by)

    def rows(self, actuator: str) -> list[TraceRow]:
        """The rows of `actuator` in time order (empty if it has none)."""
        return list(self._by.get(actuator, []))

    def __iter__(self) -> Iterator[TraceRow]:
        for rows in self._by.values():
            yield from rows

    @property
    def end_ms(self) -> float:
        """The time of the last row."""
        return max((rs[-1].t_ms for rs in self._by.values() if rs), default=0.0)

    def _interpolate(self, actuator: str, column: str, t_ms: float) -> float | None:
        times = self._times.get(actuator)
        if not times:
            return None
        values = self._values.get((actuator, column))
        if values is None:
            values = self._values[actuator, column] = [
                getattr(r, column) for r in self._by[actuator]
            ]
        return on_course(times, values, bisect_right(times, t_ms), t_ms)

    def level_at(self, actuator: str, t_ms: float) -> float:
        """The applied level of `actuator` at `t_ms`, on the straight line between its rows.

        0 before its first row; after its last row, the last row's level.
        """
        value = self._interpolate(actuator, "level", t_ms)
        return 0.0 if value is None else value

    def value_at(self, actuator: str, column: str, t_ms: float) -> float | None:
        """A physical column ('speed', 'pressure', 'temp_c') of `actuator` at `t_ms`."""
        if column not in PHYSICAL:
            raise ValueError(f"unknown trace column {column!r}")
        return self._interpolate(actuator, column, t_ms)

    def final_levels(self) -> dict[str, float]:
        """Each actuator's level in its last row."""
        return {a: rs[-1].level for a, rs in self._by.items() if rs}

    def points(self) -> dict[str, list[tuple[float, float]]]:
        """(t_ms, level) of every row, by actuator (what the timeline plot draws)."""
        return {a: [(r.t_ms, r.level) for r in rs] for a, rs in self._by.items()}


def on_course(
    times: Sequence[float], values: Sequence[float | None], i: int, t_ms: float
) -> float | None:
    """A traced value at `t_ms`, from the corners (`times`, `values`) of its course.

    `i` is the number of corners at or before `t_ms` (``bisect_right(times, t_ms)``).
    None before the first corner; the last corner's value after the last; in
    between, on the straight line from the last corner at or before `t_ms` to the
    next (so of two corners at one time, the later one holds from that time on). A
    corner without the value (None) holds its neighbour's course: None stays None,
    and a line to a None holds the value. `Trace` and the plot's trace envelope both
    read a trace through this.
    """
    if i <= 0:
        return None
    v0 = values[i - 1]
    if i >= len(times) or v0 is None:
        return v0
    v1 = values[i]
    t0, t1 = times[i - 1], times[i]
    if v1 is None or t1 <= t0:
        return v0
    return v0 + (v1 - v0) * (t_ms - t0) / (t1 - t0)


def _cell(text: str, column: str, line: int) -> float | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"line {line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"line {line}: {column} {text!r} is not a finite number")
    return value


def read_trace(path: Path | str) -> Trace:
    """Read a trace CSV; ValueError (naming the line) if it is not one."""
    rows: list[TraceRow] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(header[:3]) != COLUMNS[:3]:
            raise ValueError(
                f"{path}: not a massager trace (expected a header {','.join(COLUMNS)})"
            )
        index = {name: i for i, name in enumerate(header)}
        for line, cells in enumerate(reader, start=2):
            if not cells:
                continue
            if len(cells) != len(header):
                raise ValueError(f"{path}: line {line}: {len(cells)} cells, expected {len(header)}")
            values: dict[str, float | None] = {}
            for column in ("t_ms", "level", *PHYSICAL):
                if column in index:
                    values[column] = _cell(cells[index[column]], column, line)
            t_ms, level = values.get("t_ms"), values.get("level")
            if t_ms is None or level is None:
                raise ValueError(f"{path}: line {line}: t_ms and level are required")
            rows.append(
                TraceRow(
                    t_ms=t_ms,
                    actuator=cells[index["actuator"]],
                    level=level,
                    speed=values.get("speed"),
                    pressure=values.get("pressure"),
                    temp_c=values.get("temp_c"),
                )
            )
    return Trace(rows)
