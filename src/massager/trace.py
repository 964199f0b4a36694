"""The CSV trace of what a device's outputs actually did: writer and reader.

One header line, then one row per change: ``t_ms,actuator,level,speed,pressure,temp_c``.
``t_ms`` is milliseconds since the session started on the device's clock
(pauses included); ``level`` is the level applied to the output after every
limit and the user's intensity; ``speed`` (rollers), ``pressure`` (air
bladders) and ``temp_c`` (heaters) are the simulated physical quantities,
empty where they do not apply. Each row holds until the actuator's next row.
A row is written when a value changes by a quantum (0.01 of level, speed or
pressure, 0.1 C), and whenever a level becomes or stops being exactly zero,
so waves do not flood the file and a trace always shows an output at rest.
See docs/stream-format.md, "Trace format".
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

COLUMNS = ("t_ms", "actuator", "level", "speed", "pressure", "temp_c")
PHYSICAL = ("speed", "pressure", "temp_c")
LEVEL_QUANTUM = 0.01
PHYSICAL_QUANTUM = {"speed": 0.01, "pressure": 0.01, "temp_c": 0.1}


class TraceWriter:
    """Writes trace rows for a fixed list of actuators, each with at most one physical column.

    `actuators` pairs each actuator id with its physical column ('speed',
    'pressure', 'temp_c' or '' for none); actuators are then named by index.
    """

    def __init__(self, out: TextIO | Path | str, actuators: Sequence[tuple[str, str]]) -> None:
        if isinstance(out, (str, Path)):
            self._file: TextIO = open(out, "w", newline="", encoding="utf-8")  # noqa: SIM115
            self._owned = True
        else:
            self._file = out
            self._owned = False
        self.ids = [a for a, _ in actuators]
        self._formats: list[str] = []
        self._inv_q: list[float] = []
        for actuator, column in actuators:
            if column and column not in PHYSICAL:
                raise ValueError(f"unknown trace column {column!r}")
            # "%" is safe in the template: actuator ids are [a-z0-9_]
            cells = ["%s" if c == column else "" for c in PHYSICAL]
            self._formats.append("%.1f," + actuator + ",%s," + ",".join(cells) + "\n")
            self._inv_q.append(1.0 / PHYSICAL_QUANTUM[column] if column else 0.0)
        n = len(actuators)
        self._q_level = [0] * n
        self._q_phys = [0] * n
        self._zero = [True] * n
        self._written = [False] * n
        self._pending: list[tuple[float, float, float | None] | None] = [None] * n
        self._file.write(",".join(COLUMNS) + "\n")
        self.closed = False

    def sample(self, index: int, t_ms: float, level: float, phys: float | None = None) -> None:
        """Record actuator `index` at `t_ms`; a row is written if a value moved by a quantum."""
        q_level = round(level * 100.0)  # 1 / LEVEL_QUANTUM
        q_phys = round(phys * self._inv_q[index]) if phys is not None else 0
        zero = level == 0.0
        if (
            q_level != self._q_level[index]
            or q_phys != self._q_phys[index]
            or zero != self._zero[index]
            or not self._written[index]
        ):
            self._row(index, t_ms, level, phys)
            self._q_level[index] = q_level
            self._q_phys[index] = q_phys
            self._zero[index] = zero
            self._written[index] = True
            self._pending[index] = None
        else:
            self._pending[index] = (t_ms, level, phys)

    def _row(self, index: int, t_ms: float, level: float, phys: float | None) -> None:
        # round then add 0.0 so a tiny negative value never prints as -0.000
        lv = f"{round(level, 3) + 0.0:.3f}"
        if self._inv_q[index]:
            ph = "" if phys is None else f"{round(phys, 3) + 0.0:.3f}"
            self._file.write(self._formats[index] % (t_ms, lv, ph))
        else:
            self._file.write(self._formats[index] % (t_ms, lv))

    def flush_pending(self) -> None:
        """Write each actuator's latest sample if it differs from its last row (before closing)."""
        for index, pending in enumerate(self._pending):
            if pending is not None:
                self._row(index, *pending)
                self._pending[index] = None

    def close(self) -> None:
        """Write what is pending and close the file (if this writer opened it). Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.flush_pending()
        if self._owned:
            self._file.close()
        else:
            self._file.flush()


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

    def _row_at(self, actuator: str, t_ms: float) -> TraceRow | None:
        from bisect import bisect_right

        times = self._times.get(actuator)
        if not times:
            return None
        i = bisect_right(times, t_ms) - 1
        return self._by[actuator][i] if i >= 0 else None

    def level_at(self, actuator: str, t_ms: float) -> float:
        """The applied level of `actuator` at `t_ms` (0 before its first row)."""
        row = self._row_at(actuator, t_ms)
        return 0.0 if row is None else row.level

    def value_at(self, actuator: str, column: str, t_ms: float) -> float | None:
        """A physical column ('speed', 'pressure', 'temp_c') of `actuator` at `t_ms`."""
        if column not in PHYSICAL:
            raise ValueError(f"unknown trace column {column!r}")
        row = self._row_at(actuator, t_ms)
        return None if row is None else getattr(row, column)

    def final_levels(self) -> dict[str, float]:
        """Each actuator's level in its last row."""
        return {a: rs[-1].level for a, rs in self._by.items() if rs}

    def points(self) -> dict[str, list[tuple[float, float]]]:
        """(t_ms, level) of every row, by actuator (what the timeline plot draws)."""
        return {a: [(r.t_ms, r.level) for r in rs] for a, rs in self._by.items()}


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
