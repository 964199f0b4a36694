"""Swinging-door compression of a trace's samples: which samples become rows.

`TraceWriter` (`massager.trace`) hands every sample of every actuator to a
`SwingingDoor`, which keeps each actuator's lane (its last row, its latest
sample, the slopes of the door from that row) and writes a row, formatted,
through the writer's `write` whenever a sample turns out to be a corner.
This is the trace's hot path (the simulated hardware calls `sample` at every
output write), compiled with the simulator's modules (`hatch_build.py`): a
missing physical value is NaN (`NO_VALUE`), not None, so no sample allocates,
rows are formatted from integers (`_one_place`, `_three_places`: the same
text as Python's float formatting) and gathered into chunks (`drain`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Final

LEVEL_TOLERANCE: Final = 0.005
"""How far the straight line between two rows may pass from a level sampled in between."""
INF: Final = math.inf
NO_VALUE: Final = math.nan
"""A sample's physical value where it has none."""
CHUNK_PIECES: Final = 1536
"""Pieces of rows (4 to 6 a row) gathered before they go to the writer in one piece (`drain`
sends them sooner)."""
EXACT_BELOW: Final = 4294967296.0
"""Below 2**32 a scaled value is within 2**-21 of exact, so outside a margin of 1e-6 around a
half its rounding is the exact value's, and the fast formatting is exact."""
TIE_MARGIN: Final = 1e-6
PADDED: Final = [f"{i:03d}" for i in range(1000)]
"""`PADDED[i]` is `i` in three digits."""
DIGITS: Final = [str(i) for i in range(10)]
SMALL_MAX: Final = 2000
SMALL: Final[list[str]] = []
"""`SMALL[n + SMALL_MAX]` is n/1000 in three decimals, for |n| <= SMALL_MAX (every level,
speed and pressure; made with the first door)."""


class Lane:
    """One actuator's compression state: its anchor (the last row), its pending sample (the
    latest, not yet a row) and the door's slopes from the anchor, for the level and for the
    physical value."""

    def __init__(self, head: str, mid: str, tail: str, tol: float) -> None:
        self.head = head
        """The row's text between the time and the level (the actuator, in commas)."""
        self.mid = mid
        """The row's text between the level and the physical value."""
        self.tail = tail
        """The row's text after the physical value, to the line's end."""
        self.bare = mid + tail
        """The row's text after the level in a row without a physical value."""
        self.tol = tol
        """The physical value's tolerance; 0.0 for an actuator without one."""
        self.anchored = False
        self.a_t = 0.0
        self.a_level = 0.0
        self.a_phys = NO_VALUE
        self.pending = False
        self.p_t = 0.0
        self.p_level = 0.0
        self.p_phys = NO_VALUE
        self.lo = -INF
        self.hi = INF
        self.plo = -INF
        self.phi = INF

    def anchor(self, t: float, level: float, phys: float) -> None:
        """Make (`t`, `level`, `phys`) the last row and drop the pending sample."""
        self.anchored = True
        self.a_t = t
        self.a_level = level
        self.a_phys = phys
        self.pending = False

    def hold(self, t: float, level: float, phys: float) -> None:
        """Make (`t`, `level`, `phys`) the pending sample."""
        self.pending = True
        self.p_t = t
        self.p_level = level
        self.p_phys = phys

    def open_door(self) -> None:
        """Every slope fits again (the door is wide open from the anchor)."""
        self.lo = self.plo = -INF
        self.hi = self.phi = INF


class SwingingDoor:
    """The compression of every lane: samples in, rows (text) out through `write`.

    `lanes` gives each actuator's id, the index of its physical column among the three
    (-1 for none) and that column's tolerance, by index;
    `hold_ms` is the device's tick: a device writes an output only when it
    changes, so a sample arriving longer than 1.5 ticks after the previous one
    means the level held still until the tick before it.
    """

    def __init__(
        self,
        lanes: Sequence[tuple[str, int, float]],
        hold_ms: float,
        write: Callable[[str], None],
    ) -> None:
        self.lanes = [
            Lane(
                "," + actuator + ",",
                "," * (column + 1 if column >= 0 else 3),
                "," * (2 - column if column >= 0 else 0) + "\n",
                tol,
            )
            for actuator, column, tol in lanes
        ]
        self.rows: list[str] = []
        """The pieces of the rows formatted and not yet sent to `write`."""
        self.flush_at = INF
        """When (`time.monotonic()`) the writer next wants to judge a flush (its business)."""
        self._t_ms = -INF
        self._t_text = ""
        """The text of the latest row's time `_t_ms`."""
        if not SMALL:
            SMALL.extend(_small_texts())
        self.hold_ms = hold_ms
        self.gap = 1.5 * hold_ms if hold_ms else INF
        """A sample further than this after the latest one had the level held in between."""
        self._write = write

    def sample(self, index: int, t_ms: float, level: float, phys: float = NO_VALUE) -> None:
        """Record actuator `index` at `t_ms` (samples of one actuator come in time order);
        `phys` is NaN where the sample has no physical value."""
        lane = self.lanes[index]
        if lane.pending and (t_ms - lane.p_t <= self.gap or level == lane.p_level):
            # the common case (every write of a device comes here): if the sample fits the
            # door from the anchor, the door narrows around it
            a1 = lane.a_level
            dt = t_ms - lane.a_t
            if dt > 0.0 and lane.lo <= (level - a1) / dt <= lane.hi:
                a2 = lane.a_phys
                if phys == phys and a2 == a2:  # (NaN is no value)
                    if not lane.plo <= (phys - a2) / dt <= lane.phi:
                        self._close(lane, t_ms, level, phys)
                        return
                    tol = lane.tol
                    plo = (phys - tol - a2) / dt
                    phi = (phys + tol - a2) / dt
                    if plo > lane.plo:
                        lane.plo = plo
                    if phi < lane.phi:
                        lane.phi = phi
                lo = (level - LEVEL_TOLERANCE - a1) / dt
                hi = (level + LEVEL_TOLERANCE - a1) / dt
                if lo > lane.lo:
                    lane.lo = lo
                if hi < lane.hi:
                    lane.hi = hi
                lane.hold(t_ms, level, phys)
                return
            self._close(lane, t_ms, level, phys)
            return
        if not lane.anchored:
            self._emit(lane, t_ms, level, phys)
            lane.anchor(t_ms, level, phys)
            return
        if lane.pending:
            last_t, last_level, last_phys = lane.p_t, lane.p_level, lane.p_phys
        else:
            last_t, last_level, last_phys = lane.a_t, lane.a_level, lane.a_phys
        if level != last_level and t_ms - last_t > self.gap:
            # no sample since the last one: the level stood still until the tick before this
            h = t_ms - self.hold_ms
            hp = phys
            if phys == phys and last_phys == last_phys:
                hp = last_phys + (phys - last_phys) * (h - last_t) / (t_ms - last_t)
            self.sample(index, h, last_level, hp)
            self.sample(index, t_ms, level, phys)
            return
        self._close(lane, t_ms, level, phys)  # no pending sample: a door opens from the anchor

    def _close(self, lane: Lane, t: float, level: float, phys: float) -> None:
        """The sample does not fit the door: the pending sample (if any) is a corner, and a
        new door opens from it through this sample."""
        if lane.pending:
            self._emit(lane, lane.p_t, lane.p_level, lane.p_phys)
            lane.anchor(lane.p_t, lane.p_level, lane.p_phys)
        dt = t - lane.a_t
        lane.open_door()
        if dt <= 0.0:  # a jump at the corner's instant: both values are rows
            self._emit(lane, t, level, phys)
            lane.anchor(t, level, phys)
            return
        lane.lo = (level - LEVEL_TOLERANCE - lane.a_level) / dt
        lane.hi = (level + LEVEL_TOLERANCE - lane.a_level) / dt
        a2 = lane.a_phys
        if phys == phys and a2 == a2:
            lane.plo = (phys - lane.tol - a2) / dt
            lane.phi = (phys + lane.tol - a2) / dt
        lane.hold(t, level, phys)

    def _emit(self, lane: Lane, t_ms: float, level: float, phys: float) -> None:
        # a row goes out in pieces (joined once per chunk): the time (the same text for the
        # rows of one instant), the actuator, the level and the physical value
        if t_ms != self._t_ms:
            self._t_ms = t_ms
            self._t_text = _one_place(t_ms)
        rows = self.rows
        rows.append(self._t_text)
        rows.append(lane.head)
        rows.append(_three_places(level))
        if lane.tol and phys == phys:
            rows.append(lane.mid)
            rows.append(_three_places(phys))
            rows.append(lane.tail)
        else:
            rows.append(lane.bare)
        if len(rows) >= CHUNK_PIECES:
            self.drain()

    def drain(self) -> None:
        """Send the rows formatted so far to `write`, in one piece."""
        rows = self.rows
        if rows:
            text = "".join(rows)
            rows.clear()
            self._write(text)

    def flush_pending(self) -> None:
        """Write each lane's pending sample as a row (its course so far is then complete)."""
        for lane in self.lanes:
            if lane.pending:
                self._emit(lane, lane.p_t, lane.p_level, lane.p_phys)
                lane.anchor(lane.p_t, lane.p_level, lane.p_phys)
                lane.open_door()
        self.drain()


def _nearest(a: float) -> int:
    """`a` (not negative) rounded to the nearest integer as its exact value rounds, or -1
    where that is not sure from `a` alone (within `TIE_MARGIN` of a half, too large, NaN)."""
    if a < EXACT_BELOW:  # (false for NaN)
        whole = int(a)
        if abs(a - whole - 0.5) >= TIE_MARGIN:
            return int(a + 0.5)
    return -1


def _one_place(x: float) -> str:
    """`x` with one decimal: the same text as `"%.1f" % x`."""
    n = _nearest(x * 10.0) if x > 0.0 else -1
    if n >= 0:
        q = n // 10
        return f"{q}.{DIGITS[n - q * 10]}"
    return f"{x:.1f}"


def _three_places(x: float) -> str:
    """`x` with three decimals, a tiny negative value as 0.000 (never -0.000): the same text
    as `f"{round(x, 3) + 0.0:.3f}"` (both round the exact value correctly), without the
    round trip through a decimal string that `round` makes."""
    y = x * 1000.0
    n = _nearest(-y if y < 0.0 else y)
    if n >= 0:
        if n <= SMALL_MAX and SMALL:
            return SMALL[SMALL_MAX - n if y < 0.0 else SMALL_MAX + n]
        q = n // 1000
        text = f"{q}.{PADDED[n - q * 1000]}"
        return "-" + text if y < 0.0 else text
    text = f"{x:.3f}"
    return "0.000" if text == "-0.000" else text


def _small_texts() -> list[str]:
    """The texts of `SMALL`, from -SMALL_MAX/1000 to SMALL_MAX/1000 (0 as 0.000)."""
    positive = [f"{n // 1000}.{PADDED[n % 1000]}" for n in range(1, SMALL_MAX + 1)]
    return ["-" + text for text in reversed(positive)] + ["0.000"] + positive
