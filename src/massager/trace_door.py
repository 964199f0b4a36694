"""Swinging-door compression of a trace's samples: which samples become rows.

`TraceWriter` (`massager.trace`) hands every sample of every actuator to a
`SwingingDoor`, which keeps each actuator's lane (its last row, its latest
sample, the slopes of the door from that row) and writes a row, formatted,
through the writer's `write` whenever a sample turns out to be a corner.
This is the trace's hot path (the simulated hardware calls `sample` at every
output write), compiled with the simulator's modules (`hatch_build.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Final

LEVEL_TOLERANCE: Final = 0.005
"""How far the straight line between two rows may pass from a level sampled in between."""
INF: Final = math.inf


class Lane:
    """One actuator's compression state: its anchor (the last row), its pending sample (the
    latest, not yet a row) and the door's slopes from the anchor, for the level and for the
    physical value."""

    def __init__(self, fmt: str, tol: float) -> None:
        self.fmt = fmt
        """The row's text, `%` the time, the level and (with a physical column) its value."""
        self.tol = tol
        """The physical value's tolerance; 0.0 for an actuator without one."""
        self.anchored = False
        self.a_t = 0.0
        self.a_level = 0.0
        self.a_phys: float | None = None
        self.pending = False
        self.p_t = 0.0
        self.p_level = 0.0
        self.p_phys: float | None = None
        self.lo = -INF
        self.hi = INF
        self.plo = -INF
        self.phi = INF

    def anchor(self, t: float, level: float, phys: float | None) -> None:
        """Make (`t`, `level`, `phys`) the last row and drop the pending sample."""
        self.anchored = True
        self.a_t = t
        self.a_level = level
        self.a_phys = phys
        self.pending = False

    def hold(self, t: float, level: float, phys: float | None) -> None:
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

    `lanes` gives each actuator's row format and physical tolerance, by index;
    `hold_ms` is the device's tick: a device writes an output only when it
    changes, so a sample arriving longer than 1.5 ticks after the previous one
    means the level held still until the tick before it.
    """

    def __init__(
        self, lanes: Sequence[tuple[str, float]], hold_ms: float, write: Callable[[str], None]
    ) -> None:
        self.lanes = [Lane(fmt, tol) for fmt, tol in lanes]
        self.hold_ms = hold_ms
        self.gap = 1.5 * hold_ms if hold_ms else INF
        """A sample further than this after the latest one had the level held in between."""
        self._write = write

    def sample(self, index: int, t_ms: float, level: float, phys: float | None = None) -> None:
        """Record actuator `index` at `t_ms` (samples of one actuator come in time order)."""
        lane = self.lanes[index]
        if lane.pending and (t_ms - lane.p_t <= self.gap or level == lane.p_level):
            # the common case (every write of a device comes here): if the sample fits the
            # door from the anchor, the door narrows around it
            a1 = lane.a_level
            dt = t_ms - lane.a_t
            if dt > 0.0 and lane.lo <= (level - a1) / dt <= lane.hi:
                a2 = lane.a_phys
                if phys is not None and a2 is not None:
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
            if phys is not None and last_phys is not None:
                hp = last_phys + (phys - last_phys) * (h - last_t) / (t_ms - last_t)
            self.sample(index, h, last_level, hp)
            self.sample(index, t_ms, level, phys)
            return
        self._close(lane, t_ms, level, phys)  # no pending sample: a door opens from the anchor

    def _close(self, lane: Lane, t: float, level: float, phys: float | None) -> None:
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
        if phys is not None and a2 is not None:
            lane.plo = (phys - lane.tol - a2) / dt
            lane.phi = (phys + lane.tol - a2) / dt
        lane.hold(t, level, phys)

    def _emit(self, lane: Lane, t_ms: float, level: float, phys: float | None) -> None:
        lv = _three_places(level)
        if lane.tol:
            ph = "" if phys is None else _three_places(phys)
            self._write(lane.fmt % (t_ms, lv, ph))
        else:
            self._write(lane.fmt % (t_ms, lv))

    def flush_pending(self) -> None:
        """Write each lane's pending sample as a row (its course so far is then complete)."""
        for lane in self.lanes:
            if lane.pending:
                self._emit(lane, lane.p_t, lane.p_level, lane.p_phys)
                lane.anchor(lane.p_t, lane.p_level, lane.p_phys)
                lane.open_door()


def _three_places(x: float) -> str:
    """`x` with three decimals, a tiny negative value as 0.000 (never -0.000): the same text
    as `f"{round(x, 3) + 0.0:.3f}"` (both round the exact value correctly), without the
    round trip through a decimal string that `round` makes."""
    text = f"{x:.3f}"
    return "0.000" if text == "-0.000" else text
