"""`curve` steps: keyframes per actuator kind turned into ramps inside every limit.

Each actuator the step drives gets a target course: its kind's keyframes (looped
when the step loops, delayed by its foot's offset), levels scaled by step
intensity x zone sensitivity x user intensity and clamped to ``max_level``,
joined as the step asks (``step`` holds each level and changes at ``max_slew``,
``linear`` joins keyframes by straight lines, ``smooth`` by a monotone cubic cut
into straight pieces within ``SMOOTH_TOLERANCE``). A follower then drives the
actuator along that course with the executor's own ramps: where the course is
steeper than ``max_slew`` it falls behind and catches up at ``max_slew``; it
rests for ``BURST_REST_MS`` before ``max_on`` runs out, and it is back at zero
when the step's motion ends. Every change this makes to what the keyframes
asked is recorded as a note on its Line, which the compiler turns into a located warning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import NamedTuple

from massager.compiler import reach
from massager.compiler.motion import (
    BURST_REST_MS,
    DIGITS,
    MIN_REST_MS,
    ON_MARGIN_MS,
    Line,
    quantise,
)
from massager.compiler.techniques import Job, Window
from massager.profile.model import Curve, Keyframe
from massager.rig.model import Actuator
from massager.stream import Command
from massager.units import format_duration

SMOOTH_TOLERANCE = 0.01
"""Largest level difference between a smooth curve and the straight ramps that draw it."""

MISS_TOLERANCE = 0.02
"""A keyframe the actuator reaches further than this from its level is reported as slowed."""

MAX_PIECES = 16
"""Most straight pieces one smooth segment between two keyframes is cut into."""

MIN_PIECE_MS = 20
"""Shortest straight piece of a smooth segment (two device ticks)."""

MIN_STEP_MS = 10
"""Corners of a course closer than this (a device tick) are merged into the later one."""

_EPS = 1e-4  # one step of the stream's level precision
_SCALE = float(10**DIGITS)


class Point(NamedTuple):
    """A corner of the target course: time (ms), level, and the keyframe it comes from."""

    t: int
    level: float
    key: int = -1


def follow_curve(job: Job, win: Window) -> None:
    """Drive every actuator of the window along its kind's keyframes."""
    step = job.step
    cycle = step.cycle_ms
    done: dict[tuple[object, ...], Line] = {}  # actuators alike move alike: follow once
    for act in win.acts:
        frames = step.keyframes.kinds().get(act.kind)
        if not frames:
            continue
        offset = getattr(step.offset, act.foot).ms(cycle)
        line = job.line(act)
        scale = step.intensity * reach.zone_limit(job.rig, act) * job.user_intensity
        alike = (act.kind, offset, scale, act.max_level, act.min_level, act.max_slew, act.max_on_ms)
        twin = done.get(alike)
        if twin is not None:
            _copy(twin, line)
            continue
        done[alike] = line
        keys = _keyframes(step, act, line, frames, win, offset, scale)
        if not keys:
            continue
        course, merged = _course(keys, step.interpolation, act, win.end)
        if merged:
            first = merged[0]
            more = f" (and {len(merged) - 1} more)" if len(merged) > 1 else ""
            line.note(
                "dropped",
                "keyframes",
                f"{len(merged)} keyframe(s)",
                "",
                f"{act.kind} keyframes: keyframe {first.key + 1} at {_clock(first.t)}{more} "
                f"left out: less than {MIN_STEP_MS} ms before the next corner of the curve, "
                "which the device reaches instead",
            )
        _Follower(line, win.start, win.end).follow(course)


def _copy(source: Line, line: Line) -> None:
    """Give `line` the commands and notes of `source`, an actuator with the same limits."""
    ident = line.act.id
    line.commands.extend(
        Command(c.at_ms, ident, c.op, level=c.level, duration_ms=c.duration_ms, step=c.step)
        for c in source.commands
    )
    line.level, line.free_at = source.level, source.free_at
    for note in source.notes:
        for _ in range(note.count):
            line.note(note.kind, note.field, note.asked, note.applied, note.text)


def _keyframes(
    step: Curve,
    act: Actuator,
    line: Line,
    frames: Sequence[Keyframe],
    win: Window,
    offset: int,
    scale: float,
) -> list[Point]:
    """The keyframes of one actuator on the session clock, scaled, clamped, looped, delayed."""
    cycle = step.cycle_ms
    looping = step.loop is not None
    begin = win.start + offset
    low = -act.max_level if act.kind == "roller" else 0.0
    lowered = dropped = 0
    late = 0
    base: list[tuple[int, float]] = []
    for frame in frames:
        at = frame.at.ms(cycle)
        asked = frame.level * scale
        level = quantise(min(max(asked, low), act.max_level))
        if abs(level) < abs(quantise(asked)) - _EPS:
            lowered += 1
        if level != 0 and abs(level) < act.min_level:
            level = 0.0
            dropped += 1
        base.append((at, level))
    out: list[Point] = []
    rounds = 1
    if looping:
        rounds = max(1, -(-(win.end - begin) // cycle))
    for r in range(rounds):
        for i, (at, level) in enumerate(base):
            t = begin + r * cycle + at
            if t >= win.end:
                if not looping:
                    late += 1
                continue
            out.append(Point(t, level, i))
    if lowered:
        line.note(
            "lowered",
            "keyframes",
            "",
            f"max_level {act.max_level:g}",
            f"{act.kind} keyframes: {lowered} level(s) lowered to max_level {act.max_level:g}",
        )
    if dropped:
        line.note(
            "dropped",
            "keyframes",
            "",
            "0",
            f"{act.kind} keyframes: {dropped} level(s) below min_level {act.min_level:g} "
            f"(where the motor stalls) run as 0",
        )
    if late:
        line.note(
            "dropped",
            "offset" if offset else "duration",
            "",
            "",
            f"{act.kind} keyframes: {late} fall after the step's motion ends "
            f"(at {format_duration(win.end - win.start)}) and are left out",
        )
    return out


def _course(
    keys: list[Point], interpolation: str, act: Actuator, end: int
) -> tuple[list[Point], list[Point]]:
    """The target course through `keys`: corners joined by straight lines, held to `end`;
    and the keyframes left out of it (see `_spaced`)."""
    first = keys[0]
    out: list[Point] = [Point(first.t, first.level, first.key)]
    if interpolation == "smooth":
        out.extend(_smooth(keys)[1:])
    else:
        for prev, key in pairwise(keys):
            if interpolation == "step" and key.level != prev.level:
                out.append(Point(key.t, prev.level))
            out.append(key)
    last = out[-1]
    if last.t < end:
        out.append(Point(end, last.level))
    return _spaced(out)


def _spaced(course: list[Point]) -> tuple[list[Point], list[Point]]:
    """The course with corners closer than MIN_STEP_MS merged into the later one, and the
    keyframes so left out that the later corner does not stand for (another level)."""
    out: list[Point] = []
    merged: list[Point] = []
    for point in course:
        if len(out) > 1 and 0 < point.t - out[-1].t < MIN_STEP_MS:
            if out[-1].key >= 0 and out[-1].level != point.level:
                merged.append(out[-1])
            out[-1] = point
        else:
            out.append(point)
    return out, merged


def _smooth(keys: list[Point]) -> list[Point]:
    """A monotone cubic (Fritsch-Carlson) through `keys`, cut into straight pieces.

    Between two keyframes the cubic is monotone, so it never passes either level;
    keyframes at the same moment break it into separate runs (a jump).
    """
    out: list[Point] = []
    start = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i].t == keys[i - 1].t:
            run = keys[start:i]
            out.extend(_smooth_run(run))
            start = i
    return out


def _smooth_run(keys: list[Point]) -> list[Point]:
    n = len(keys)
    if n < 3:
        return list(keys)
    h = [keys[k + 1].t - keys[k].t for k in range(n - 1)]
    d = [(keys[k + 1].level - keys[k].level) / h[k] for k in range(n - 1)]
    m = [0.0] * n
    m[0], m[-1] = d[0], d[-1]
    for k in range(1, n - 1):
        if d[k - 1] * d[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            m[k] = (w1 + w2) / (w1 / d[k - 1] + w2 / d[k])
    out = [keys[0]]
    for k in range(n - 1):
        a, b = keys[k], keys[k + 1]
        hk, dk = h[k], d[k]
        if dk == 0.0:
            out.append(b)
            continue
        bend = max(abs(6 * dk - 4 * m[k] - 2 * m[k + 1]), abs(-6 * dk + 2 * m[k] + 4 * m[k + 1]))
        bend /= hk  # the largest second derivative on the segment (it is linear in time)
        pieces = 1 if bend == 0 else math.ceil(hk / math.sqrt(8 * SMOOTH_TOLERANCE / bend))
        pieces = max(1, min(pieces, MAX_PIECES, hk // MIN_PIECE_MS))
        for j in range(1, pieces):
            s = j / pieces
            s2, s3 = s * s, s * s * s
            value = (
                (2 * s3 - 3 * s2 + 1) * a.level
                + (s3 - 2 * s2 + s) * hk * m[k]
                + (-2 * s3 + 3 * s2) * b.level
                + (s3 - s2) * hk * m[k + 1]
            )
            lo, hi = min(a.level, b.level), max(a.level, b.level)
            out.append(Point(a.t + round(s * hk), quantise(min(max(value, lo), hi))))
        out.append(b)
    return out


class _Follower:
    """Drives one Line along a course with ramps no steeper than max_slew, resting for max_on."""

    def __init__(self, line: Line, start: int, end: int) -> None:
        self.line = line
        self.act = line.act
        self.end = end
        self.t = start
        self.budget = self.act.max_on_ms - ON_MARGIN_MS
        self.on_since: int | None = None
        self.zero_since = start - MIN_REST_MS
        self.rests: list[int] = []
        self.done = False
        self.misses = 0
        self.worst: tuple[float, Point] | None = None
        self.per_ms = self.act.max_slew / 1000.0

    @property
    def level(self) -> float:
        return self.line.level

    def reach(self, ms: int) -> float:
        """How far the level may move in `ms` (the stream's ramps need a ms of margin)."""
        return (ms - 1) * self.per_ms if ms > 1 else 0.0

    def follow(self, course: list[Point]) -> None:
        """Follow `course` to its end, then come back to zero before the motion ends."""
        slew = self.act.max_slew * 0.999
        for a, b in pairwise(course):
            if b.t <= a.t:
                continue
            rate = (b.level - a.level) / (b.t - a.t)
            while not self.done and self.t < b.t:
                now = max(self.t, a.t)
                if now > self.t:  # before the course starts (a foot's offset): stay at zero
                    self.move(now, self.level)
                    continue
                target = a.level + rate * (now - a.t)
                if abs(self.level - target) <= _EPS:
                    if abs(rate) * 1000.0 <= slew:
                        self.move(b.t, b.level)
                    else:
                        self.move(b.t, self.toward(b.level, b.t - now))
                else:
                    meet = self.meeting(now, target, rate, b.t)
                    if meet is not None:
                        self.move(meet, a.level + rate * (meet - a.t))
                    else:
                        self.move(b.t, self.toward(b.level if rate else target, b.t - now))
            if self.done:
                break
            if b.key >= 0 and self.t == b.t:
                gap = abs(self.level - b.level)
                if gap > MISS_TOLERANCE:
                    self.misses += 1
                    if self.worst is None or gap > self.worst[0]:
                        self.worst = (gap, b)
        self.finish()
        self.report_misses()

    def report_misses(self) -> None:
        """Note keyframes reached further than MISS_TOLERANCE from their level."""
        if self.worst is None:
            return
        act = self.act
        gap, point = self.worst
        self.line.note(
            "slowed",
            "keyframes",
            "",
            f"max_slew {act.max_slew:g}/s",
            f"{act.kind} curve: {self.misses} keyframe(s) change faster than max_slew "
            f"{act.max_slew:g}/s and are reached late (worst: keyframe {point.key + 1} at "
            f"{_clock(point.t)}, {point.level:g} asked, {gap:.2f} away)",
        )

    def toward(self, goal: float, ms: int) -> float:
        """The level `ms` from now going toward `goal` as fast as max_slew allows."""
        step = self.reach(ms)
        delta = goal - self.level
        return self.level + math.copysign(min(abs(delta), step), delta)

    def meeting(self, now: int, target: float, rate: float, until: int) -> int | None:
        """When a max_slew ramp from the level meets the course (None: not before `until`)."""
        sign = 1.0 if target > self.level else -1.0
        closing = sign * self.act.max_slew / 1000.0 * 0.999 - rate
        if sign * closing <= 0:
            return None
        gap = (target - self.level) / closing
        meet = now + math.ceil(gap) + 1
        return meet if meet < until else None

    def move(self, t: int, level: float) -> None:
        """Ramp to `level` arriving at `t` (or hold), within the end and max_on."""
        start, was = self.t, self.level
        level = self.fit(level, t - start)
        if level == 0 and was == 0:  # resting: no limit to keep
            self.t = t
            return
        leaving = was == 0 and level != 0
        on_since = self.on_since
        if leaving and (on_since is None or start - self.zero_since >= MIN_REST_MS):
            on_since = start
        deadline = self.end if on_since is None else min(self.end, on_since + self.budget)
        if t + self.ramp_down(level) > deadline:
            self.cut(t, level, deadline)
            return
        self.on_since = on_since
        if level != was:
            line = self.line
            line.commands.append(
                Command(
                    start, self.act.id, "ramp", level=level, duration_ms=t - start, step=line.step
                )
            )
            line.level = level
            line.free_at = t
            if level == 0:
                self.zero_since = t
        elif self.stalls(was):  # never hold where the motor stalls: keep a command running
            self.line.ramp_over(start, was, t - start)
        self.t = t

    def stalls(self, level: float) -> bool:
        """Whether holding `level` would stall the motor (non-zero, under min_level)."""
        return level != 0 and abs(level) < self.act.min_level

    def fit(self, level: float, ms: int) -> float:
        """`level` quantised, or as far toward it from the current level as max_slew allows."""
        was = self.line.level
        level = quantise(level)
        delta = level - was
        reach = self.reach(ms)
        if abs(delta) <= reach + 1e-12:
            return level
        steps = math.floor(reach * _SCALE + 1e-9)  # whole steps of the stream's precision
        return round(was + math.copysign(steps, delta) / _SCALE, DIGITS)

    def ramp_down(self, level: float) -> int:
        return 0 if level == 0 else math.ceil(abs(level) * 1000.0 / self.act.max_slew) + 1

    def cut(self, t: int, level: float, deadline: int) -> None:
        """Stop in time for `deadline`: part of the way toward (t, level), then back to zero."""
        start, was = self.t, self.level
        stop = deadline - self.ramp_down(max(abs(was), abs(level)))
        if stop > start:
            part = was + (level - was) * (stop - start) / (t - start)
            part = self.fit(part, stop - start)
            if part != was or self.stalls(was):
                self.line.ramp_over(start, part, stop - start)
            self.t = stop
        self.to_zero()
        if deadline >= self.end:
            self.done = True
            return
        self.rests.append(self.t)
        self.t += BURST_REST_MS
        self.on_since = None
        if self.t >= self.end:
            self.done = True

    def to_zero(self) -> None:
        if self.level != 0:
            arrive = self.line.ramp(self.t, 0.0)
            self.t = arrive
        self.zero_since = self.t
        self.line.rest(self.t)

    def finish(self) -> None:
        if not self.done:
            self.to_zero()
            self.done = True
        if self.rests:
            act = self.act
            when = ", ".join(_clock(t) for t in self.rests[:3])
            more = f" and {len(self.rests) - 3} more" if len(self.rests) > 3 else ""
            self.line.note(
                "shortened",
                "keyframes",
                "",
                f"{len(self.rests)} rest(s)",
                f"{act.kind} curve rests {BURST_REST_MS / 1000:g} s at {when}{more} "
                f"so the output is never on longer than max_on "
                f"{format_duration(act.max_on_ms, exact=False)}",
            )


def _clock(ms: int) -> str:
    seconds = ms / 1000.0
    return f"{int(seconds // 60)}:{seconds % 60:06.3f}"
