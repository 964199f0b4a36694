"""Each technique of a profile step, turned into actuator motion.

A technique gets a Job (the step, its levels, one Line of commands per
actuator) and a Window (a time span and the actuators it may use there) and
builds motion only through the helpers of ``compiler.motion``, which keep it
inside every limit. Every motion ends back at level 0 inside its window.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from massager import zones
from massager.compiler import reach
from massager.compiler.motion import Line, pulse, quantise, sustain
from massager.rig.model import Actuator, Rig


@dataclass
class Window:
    """A span of a step's time and the actuators working in it."""

    start: int
    end: int
    acts: list[Actuator]
    foot: str | None = None

    @property
    def length(self) -> int:
        """Length of the window in ms."""
        return self.end - self.start


@dataclass
class Job:
    """One step being compiled: its settings and the command line of each actuator."""

    step: Any
    index: int
    rig: Rig
    user_intensity: float
    lines: dict[str, Line] = field(default_factory=dict)

    def line(self, act: Actuator) -> Line:
        """The command line of `act` in this step."""
        if act.id not in self.lines:
            self.lines[act.id] = Line(act, self.index)
        return self.lines[act.id]

    def level(self, act: Actuator, fraction: float | None = None) -> float:
        """Level for `act`: step intensity x zone sensitivity x user intensity, within max_level."""
        share = self.step.intensity if fraction is None else fraction
        value = share * reach.zone_limit(self.rig, act) * self.user_intensity
        return quantise(min(value, act.max_level))


Technique = Callable[[Job, Window], None]


def _alternating_sustain(job: Job, win: Window, hz: float, neighbours_opposed: bool) -> None:
    """Rollers swing between -L and +L at `hz`; optionally neighbours swing opposite ways."""
    for k, act in enumerate(sorted(win.acts, key=reach.position)):
        level = job.level(act)
        sign = -1.0 if neighbours_opposed and k % 2 else 1.0
        sustain(job.line(act), win.start, win.end, sign * level, low=-sign * level, hz=hz)


def rub(job: Job, win: Window) -> None:
    """Warm-up rubbing: rollers alternate direction, ramped in."""
    _alternating_sustain(job, win, job.step.frequency, neighbours_opposed=False)


def knead(job: Job, win: Window) -> None:
    """Kneading: slow alternating direction, neighbouring rollers opposed."""
    _alternating_sustain(job, win, job.step.frequency, neighbours_opposed=True)


def _points(job: Job, win: Window) -> list[tuple[str, list[Actuator]]]:
    """Each leaf zone of the step, foot order, with the window's actuators reaching it."""
    leaves = sorted(zones.expand(job.step.zones), key=reach.FOOT_ORDER.index)
    out = []
    for leaf in leaves:
        acts = [a for a in win.acts if leaf in a.leaf_zones]
        if acts:
            out.append((leaf, acts))
    return out


def _per_point(job: Job, win: Window, count: int, rise: float) -> None:
    points = _points(job, win)
    if not points:
        return
    span = win.length // len(points)
    for p, (_leaf, acts) in enumerate(points):
        start = win.start + p * span
        beat = span // count
        for n in range(count):
            a, b = start + n * beat, start + (n + 1) * beat - beat // 5
            for act in acts:
                pulse(job.line(act), a, b, job.level(act), rise=rise)


def toe_work(job: Job, win: Window) -> None:
    """One toe at a time, nail to base: short forward strokes."""
    _per_point(job, win, job.step.strokes, rise=0.1)


def point_press(job: Job, win: Window) -> None:
    """Press, hold, release, then the next point (foot order)."""
    _per_point(job, win, job.step.presses, rise=0.2)


def heel_press(job: Job, win: Window) -> None:
    """Strong presses on the heel, all its actuators together."""
    count = job.step.presses
    beat = win.length // count
    for n in range(count):
        a, b = win.start + n * beat, win.start + (n + 1) * beat - beat // 5
        for act in win.acts:
            pulse(job.line(act), a, b, job.level(act), rise=0.25)


def roller_pass(job: Job, win: Window) -> None:
    """A travelling wave along the rollers, toe to heel or back, N passes."""
    ordered = [list(g) for _, g in groupby(sorted(win.acts, key=reach.position), reach.position)]
    if not ordered:
        return
    passes = job.step.passes
    span = win.length // passes
    slots = len(ordered) + 1
    for p in range(passes):
        direction = job.step.direction
        backward = direction == "heel_to_toe" or (direction == "both" and p % 2 == 1)
        sequence = list(reversed(ordered)) if backward else ordered
        sign = -1.0 if backward else 1.0
        start = win.start + p * span
        for k, group in enumerate(sequence):
            a = start + k * span // slots
            b = start + (k + 2) * span // slots
            for act in group:
                pulse(job.line(act), a, b, sign * job.level(act), rise=0.3)


def achilles(job: Job, win: Window) -> None:
    """Slow squeezes up and down the tendon."""
    period = max(int(1000 / job.step.frequency), 200)
    t = win.start
    while t + period <= win.end:
        for act in win.acts:
            pulse(job.line(act), t, t + period - period // 10, job.level(act), rise=0.4)
        t += period


def ankle_circles(job: Job, win: Window) -> None:
    """Inner and outer ankle bladders a quarter turn apart; the second half turns back."""
    inner = [a for a in win.acts if "ankle_inner" in a.leaf_zones]
    outer = [a for a in win.acts if "ankle_outer" in a.leaf_zones and a not in inner]
    period = max(int(1000 / job.step.frequency), 400)
    half = win.start + win.length // 2
    t = win.start
    while t + period <= win.end:
        lead, follow = (inner, outer) if t < half else (outer, inner)
        for group, offset in ((lead, 0), (follow, period // 4)):
            for act in group:
                a = t + offset
                pulse(job.line(act), a, a + period // 2, job.level(act), rise=0.45)
        t += period


def pebble_walk(job: Job, win: Window) -> None:
    """Irregular pulses, foot to foot, from a seeded generator (same seed, same walk)."""
    rng = random.Random(job.step.seed)
    period = max(int(1000 / job.step.pace), 100)
    feet = reach.feet_of(job.step.feet) if win.foot is None else (win.foot,)
    by_foot = {foot: [a for a in win.acts if a.foot == foot] for foot in feet}
    t, n = win.start, 0
    while t + period <= win.end:
        if job.step.feet == "alternate":
            stepping: tuple[str, ...] = (feet[n % len(feet)],)
        else:
            stepping = feet
        for foot in stepping:
            for act in by_foot[foot]:
                if rng.random() < 0.3:
                    continue
                a = t + int(rng.uniform(0.0, 0.3) * period)
                b = a + int(rng.uniform(0.4, 0.7) * period)
                sign = rng.choice((-1.0, 1.0)) if act.kind == "roller" else 1.0
                peak = job.level(act, job.step.intensity * rng.uniform(0.6, 1.0))
                pulse(job.line(act), a, b, sign * peak, rise=0.2)
        t += period
        n += 1


def vibrate(job: Job, win: Window) -> None:
    """A steady vibration, or a wave from `low` up to the intensity."""
    for act in win.acts:
        high = job.level(act)
        if job.step.frequency is None:
            sustain(job.line(act), win.start, win.end, high)
        else:
            low = job.level(act, job.step.low)
            sustain(
                job.line(act),
                win.start,
                win.end,
                high,
                low=low,
                hz=job.step.frequency,
                shape=job.step.shape,
            )


def heat(job: Job, win: Window) -> None:
    """Closed-loop heating toward the target under a duty ceiling, in bursts of max_on."""
    for act in win.acts:
        duty = job.level(act)
        if duty <= 0:
            continue
        line = job.line(act)
        t = win.start
        while win.end - t > 0:
            stop = min(win.end, t + act.max_on_ms - 200)
            line.heat(t, duty, job.step.target_c)
            line.off(stop)
            t = stop + 1000


def rest(job: Job, win: Window) -> None:
    """Everything off: nothing to do."""


TECHNIQUES: dict[str, Technique] = {
    "rub": rub,
    "toe_work": toe_work,
    "point_press": point_press,
    "heel_press": heel_press,
    "roller_pass": roller_pass,
    "knead": knead,
    "achilles": achilles,
    "ankle_circles": ankle_circles,
    "pebble_walk": pebble_walk,
    "vibrate": vibrate,
    "heat": heat,
    "rest": rest,
}
"""The compile function of every technique."""
