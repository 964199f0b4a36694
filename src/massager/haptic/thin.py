"""Make a source's levels into keyframes the actuators can follow, within a tolerance.

The source course is followed the way the actuators will follow it (at most
`slew` per second, on a `GRID_MS` grid, from rest), and that response is then
thinned to the fewest straight pieces that stay within `tolerance` of it at
every grid point (a feasible-slope sweep, linear in the number of points).
Stretches where the response is further than the tolerance from the source
are reported as slowed, each with the position of the source point it starts at.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from massager.haptic.jsonpos import Path, dotted
from massager.haptic.sources import Loss, Sample

GRID_MS = 10
"""Time step of the followed course (a device tick)."""

SETTLE_MS = 1000
"""How long the followed course runs on after the source's last point."""

MARGIN = 0.97
"""The course is followed a little under max_slew, so the compiler's ramps (whole ms, a ms
of margin) keep up with the keyframes written."""

JOIN_MS = 500
"""Flagged stretches less than this apart are reported as one."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What the actuators can do, in keyframe levels (before zone and user scaling)."""

    slew: float  # level per second
    floor: float = 0.0  # a level below this (and above 0) stalls the motor: runs as 0
    ceiling: float = 1.0  # a level above this is lowered to it


def follow(samples: Sequence[Sample], slew: float) -> tuple[list[int], list[float], list[float]]:
    """Grid times, the source there, and the response from rest, under MARGIN x `slew`."""
    end = int(samples[-1].t_ms) + SETTLE_MS
    times = list(range(0, end + 1, GRID_MS))
    starts = [s.t_ms for s in samples]
    source: list[float] = []
    for t in times:
        i = bisect_right(starts, t) - 1
        if i < 0:
            source.append(0.0)
        elif i + 1 >= len(samples) or samples[i + 1].t_ms == samples[i].t_ms:
            source.append(samples[i].level)
        else:
            a, b = samples[i], samples[i + 1]
            source.append(a.level + (b.level - a.level) * (t - a.t_ms) / (b.t_ms - a.t_ms))
    step = slew * MARGIN * GRID_MS / 1000.0
    response: list[float] = [0.0]  # at rest when the step starts
    level = 0.0
    for target in source[1:]:
        level = min(target, level + step) if target > level else max(target, level - step)
        response.append(level)
    return times, source, response


def thin(times: Sequence[int], levels: Sequence[float], tolerance: float) -> list[int]:
    """Indices of the corners of the fewest straight pieces within `tolerance` of `levels`."""
    keep = [0]
    anchor = 0
    lo, hi = float("-inf"), float("inf")
    last_ok = 0
    i = 1
    while i < len(times):
        dt = times[i] - times[anchor]
        slope = (levels[i] - levels[anchor]) / dt
        new_lo = max(lo, (levels[i] - tolerance - levels[anchor]) / dt)
        new_hi = min(hi, (levels[i] + tolerance - levels[anchor]) / dt)
        if lo <= slope <= hi and new_lo <= new_hi:
            lo, hi, last_ok = new_lo, new_hi, i
            i += 1
            continue
        keep.append(last_ok)
        anchor = last_ok
        lo, hi = float("-inf"), float("inf")
        i = anchor + 1
    if keep[-1] != len(times) - 1:
        keep.append(len(times) - 1)
    return keep


def stretches(
    times: Sequence[int],
    flags: Sequence[bool],
    samples: Sequence[Sample],
    kind: str,
    describe: Callable[[int, int, Path, Path], str],
) -> list[Loss]:
    """One Loss per run of flagged grid points, at the source point the run starts in."""
    out: list[Loss] = []
    starts = [s.t_ms for s in samples]
    i = 0
    while i < len(flags):
        if not flags[i]:
            i += 1
            continue
        j = i
        k = i + 1
        while k < len(flags) and times[k] - times[j] < JOIN_MS:
            if flags[k]:
                j = k
            k += 1
        first = samples[max(0, bisect_right(starts, times[i]) - 1)].path
        last = samples[max(0, bisect_right(starts, times[j]) - 1)].path
        out.append(Loss(kind, first, describe(times[i], times[j], first, last)))
        i = j + 1
    return out


def span(first: Path, last: Path) -> str:
    """`actions[3]` or `actions[3]..actions[9]`."""
    return dotted(first) if first == last else f"{dotted(first)}..{dotted(last)}"
