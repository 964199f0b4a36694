"""Each technique of a profile step, turned into actuator motion.

A technique gets a Job (the step, its levels, one Line of commands per
actuator) and a Window (a time span and the actuators it may use there) and
builds motion only through the helpers of ``compiler.motion``, which keep it
inside every limit. Every motion ends back at level 0 inside its window.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from itertools import groupby
from typing import Any

from massager import zones
from massager.compiler import reach
from massager.compiler.motion import (
    Line,
    Note,
    add_note,
    fit_hz,
    level_text,
    pulse,
    quantise,
    ramp_ms,
    sustain,
)
from massager.compiler.rounding import period_note, target_c, wave_hz
from massager.records import record
from massager.rig.model import Actuator, Rig

SHORT_FIELD: dict[str, str] = {
    "toe_work": "strokes",
    "point_press": "presses",
    "heel_press": "presses",
    "roller_pass": "passes",
    "achilles": "frequency",
    "ankle_circles": "frequency",
    "pebble_walk": "pace",
}
"""The field that sets how short each press of a technique is (notes point at it)."""


@record(frozen=False)
class Window:
    """A span of a step's time and the actuators working in it."""

    start: int
    end: int
    acts: list[Actuator]
    foot: str | None

    def __init__(self, start: int, end: int, acts: list[Actuator], foot: str | None = None) -> None:
        self.start = start
        self.end = end
        self.acts = acts
        self.foot = foot

    @property
    def length(self) -> int:
        """Length of the window in ms."""
        return self.end - self.start


@record(frozen=False)
class Job:
    """One step being compiled: its settings and the command line of each actuator."""

    step: Any
    index: int
    rig: Rig
    user_intensity: float
    lines: dict[str, Line]
    notes: list[Note]

    def __init__(self, step: Any, index: int, rig: Rig, user_intensity: float) -> None:
        self.step = step
        self.index = index
        self.rig = rig
        self.user_intensity = user_intensity
        self.lines = {}
        self.notes = []

    def line(self, act: Actuator) -> Line:
        """The command line of `act` in this step."""
        if act.id not in self.lines:
            short = SHORT_FIELD.get(self.step.technique, "duration")
            self.lines[act.id] = Line(act, self.index, short_field=short)
        return self.lines[act.id]

    def note(
        self, kind: str, field_name: str, act: Actuator | None, asked: str, applied: str, text: str
    ) -> None:
        """Record a change made to the whole step (or to one actuator of it)."""
        add_note(self.notes, Note(kind, field_name, act.id if act else None, asked, applied, text))

    def all_notes(self) -> list[Note]:
        """Every change recorded for this step: the step's own, then each actuator's."""
        return [*self.notes, *(n for line in self.lines.values() for n in line.notes)]

    def level(self, act: Actuator, fraction: float | None = None) -> float:
        """Level for `act`: step intensity x zone sensitivity x user intensity, within max_level.

        A level the clamp to max_level lowers is noted (against `intensity`).
        """
        share = self.step.intensity if fraction is None else fraction
        value = quantise(share * reach.zone_limit(self.rig, act) * self.user_intensity)
        if value > act.max_level:
            self.note(
                "lowered",
                "intensity",
                act,
                level_text(value),
                level_text(act.max_level),
                f"level lowered from {level_text(value)} to {level_text(act.max_level)} "
                f"(limit: max_level {act.max_level:g})",
            )
            return quantise(act.max_level)
        return value

    def top_level(self, act: Actuator) -> float:
        """Level for `act` as a share of the highest it allows: intensity x its cap x user."""
        cap = min(reach.zone_limit(self.rig, act), act.max_level)
        return quantise(self.step.intensity * cap * self.user_intensity)


Technique = Callable[[Job, Window], None]


def common_hz(job: Job, waves: list[tuple[Actuator, float, float]], hz: float) -> float:
    """One wave frequency for every wave of a step: `hz`, or slower if some wave needs it.

    `waves` are (actuator, low, high). When some actuator's max_slew cannot follow
    `hz` at its levels, every wave of the step is slowed to the frequency that
    actuator can follow (so the rollers stay together), and the change is noted
    in the author's terms: direction changes per second, twice the wave's `hz`.
    """
    fits = [
        (fit_hz(a, lo, hi, hz, "sine"), a)
        for a, lo, hi in waves
        if hi != lo and max(abs(lo), abs(hi)) >= a.min_level
    ]
    if not fits:
        return hz
    slowest, act = min(fits, key=lambda pair: pair[0])
    played, rounded = wave_hz("frequency", hz, 2.0)
    if 0 < slowest < played:
        asked, applied = 2 * hz, 2 * slowest
        at = max(abs(lo) for a, lo, _ in waves if a is act)
        job.note(
            "slowed",
            "frequency",
            act,
            f"{asked:g}Hz",
            f"{applied:g}Hz",
            f"every roller of the step slowed from {asked:g} to {applied:g} direction "
            f"changes per second: at level {level_text(at)} "
            f"this one's max_slew {act.max_slew:g}/s cannot turn faster",
        )
        return slowest
    if rounded is not None:
        add_note(job.notes, rounded)
    return played


def _alternating_sustain(job: Job, win: Window, neighbours_opposed: bool) -> None:
    """Rollers swing between -L and +L, all at one frequency, changing direction
    `frequency` times a second (a wave of `frequency / 2` Hz: each cycle turns twice).

    With `neighbours_opposed`, the rollers of each foot, in order from the toes to
    the heel, take turns: the first swings forward first, the next backward first,
    and so on, so neighbours always turn against each other (on either foot).
    """
    signs: dict[str, float] = {}
    for foot in ("left", "right"):
        own = sorted((a for a in win.acts if a.foot == foot), key=reach.position)
        for k, act in enumerate(own):
            signs[act.id] = -1.0 if neighbours_opposed and k % 2 else 1.0
    waves = [(a, -job.level(a), job.level(a)) for a in win.acts]
    hz = common_hz(job, waves, job.step.frequency / 2)
    lead = max((ramp_ms(a, high) for a, _, high in waves), default=0)  # start together
    for act, low, high in waves:
        sign = signs[act.id]
        line = job.line(act)
        sustain(line, win.start, win.end, sign * high, low=sign * low, hz=hz, lead_ms=lead)


def rub(job: Job, win: Window) -> None:
    """Warm-up rubbing: every roller swings back and forth at `frequency`, in step."""
    _alternating_sustain(job, win, neighbours_opposed=False)


def knead(job: Job, win: Window) -> None:
    """Kneading: slow swings, neighbouring rollers of each foot in antiphase."""
    _alternating_sustain(job, win, neighbours_opposed=True)


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
            pulse(job.line(act), a, b, job.top_level(act), rise=0.25)


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


def slow_period(
    job: Job, acts: list[Actuator], hz: float, floor_ms: int, share: float, what: str
) -> int:
    """The period (ms) of a repeated squeeze: 1/`hz`, lengthened so every squeeze reaches its level.

    Each squeeze gets `share` of the period to rise and fall at its actuator's
    max_slew. A lengthened period (or one at the technique's `floor_ms`) is noted:
    the motion slows down rather than getting weaker. A period that is not exactly
    1/`hz` (whole milliseconds: 0.3Hz is 3333 ms) is noted as rounded; `what` names
    one period in the author's words (a squeeze, a circle, a footstep).
    """
    field_name = "pace" if job.step.technique == "pebble_walk" else "frequency"
    asked = round(1000 / hz)
    period = max(asked, floor_ms)
    limiting: Actuator | None = None
    for act in acts:
        needed = math.ceil((2 * (ramp_ms(act, job.level(act)) + 2) + 2) / share) + 1
        if needed > period:
            period, limiting = needed, act
    if period > asked:
        applied = 1000 / period
        if limiting is None:
            why = f"{job.step.technique} goes at most {1000 / floor_ms:g}Hz"
        else:
            why = (
                f"at max_slew {limiting.max_slew:g}/s a faster {what} could not reach "
                f"level {level_text(job.level(limiting))}"
            )
        job.note(
            "slowed",
            field_name,
            limiting,
            f"{hz:g}Hz",
            f"{applied:.4g}Hz",
            f"slowed from {hz:g}Hz to {applied:.4g}Hz: {why}",
        )
    elif (rounded := period_note(field_name, hz, period, what)) is not None:
        add_note(job.notes, rounded)
    return period


def achilles(job: Job, win: Window) -> None:
    """Slow squeezes up and down the tendon; slower, never weaker, when the slew needs it."""
    period = slow_period(job, win.acts, job.step.frequency, 200, 0.9, "squeeze")
    t = win.start
    while t + period <= win.end:
        for act in win.acts:
            pulse(job.line(act), t, t + period - period // 10, job.level(act), rise=0.4)
        t += period


def ankle_circles(job: Job, win: Window) -> None:
    """Inner and outer ankle bladders a quarter turn apart; the second half turns back."""
    inner = [a for a in win.acts if "ankle_inner" in a.leaf_zones]
    outer = [a for a in win.acts if "ankle_outer" in a.leaf_zones and a not in inner]
    period = slow_period(job, win.acts, job.step.frequency, 400, 0.5, "circle")
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
    # each pulse is lengthened to reach its level instead (below): no actuator slows the pace
    period = slow_period(job, [], job.step.pace, 100, 1.0, "footstep")
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
                # long enough to reach the peak at max_slew, inside the footstep
                b = min(max(b, a + 2 * (ramp_ms(act, peak) + 2) + 2), t + period)
                pulse(job.line(act), a, b, sign * peak, rise=0.2)
        t += period
        n += 1


def vibrate(job: Job, win: Window) -> None:
    """A steady vibration, or a wave from `low` up to the intensity."""
    hz = job.step.frequency
    if hz is not None:
        hz, rounded = wave_hz("frequency", hz, 1.0)
        if rounded is not None:
            add_note(job.notes, rounded)
    for act in win.acts:
        high = job.level(act)
        if hz is None:
            sustain(job.line(act), win.start, win.end, high)
        else:
            low = job.level(act, job.step.low)
            sustain(job.line(act), win.start, win.end, high, low=low, hz=hz, shape=job.step.shape)


def heat(job: Job, win: Window) -> None:
    """Closed-loop heating toward the target under a duty ceiling, in bursts of max_on."""
    target, rounded = target_c(job.step.target_c)
    if rounded is not None:
        add_note(job.notes, rounded)
    for act in win.acts:
        duty = job.level(act)
        if duty <= 0:
            continue
        line = job.line(act)
        t = win.start
        while win.end - t > 0:
            stop = min(win.end, t + act.max_on_ms - 200)
            line.heat(t, duty, target)
            line.off(stop)
            t = stop + 1000


def curve(job: Job, win: Window) -> None:
    """Keyframes per actuator kind, followed within every limit (see compiler.curve)."""
    from massager.compiler.curve import follow_curve

    follow_curve(job, win)


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
    "curve": curve,
    "rest": rest,
}
"""The compile function of every technique."""
