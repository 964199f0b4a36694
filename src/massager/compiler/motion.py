"""Motion building blocks: ramps, pulses and sustained waves inside an actuator's limits.

Every helper here shapes motion so it cannot break a limit: levels are
clamped and quantised, every change is a ramp no steeper than ``max_slew``,
waves are slowed until their steepest slope fits, a level held non-zero is
at least ``min_level``, and sustained motion is cut into bursts no longer than
``max_on`` separated by rests. The safety check (``compiler.safety``) verifies
the result independently. Whatever a helper changes of what it was asked
(a wave slowed, a peak lowered, motion left out) it records as a Note on the
actuator's Line; the compiler turns the notes into located warnings.
"""

from __future__ import annotations

import math

from firmware_bridge import waveforms as wf
from firmware_bridge.names import SHAPE_CODES
from massager.records import record
from massager.rig.model import Actuator
from massager.stream import Command, Shape

DIGITS = 4
"""Levels and frequencies are rounded to this many decimals (as the stream writes them)."""

BURST_REST_MS = 1000
"""Rest (level 0) between two bursts of one sustained motion, so on-time resets."""

ON_MARGIN_MS = 200
"""Bursts stay this much under max_on, so the device never cuts them."""

MIN_REST_MS = 50
"""Time at level 0 that ends a stretch of on-time (several device ticks at 100 Hz)."""

PULSE_REST_MS = 2 * MIN_REST_MS
"""Pulses closer together than this count as one stretch of on-time."""


def quantise(level: float) -> float:
    """Round a level toward zero to the stream's precision (never rounds up past a limit)."""
    scale = 10**DIGITS
    return float(math.trunc(level * scale + math.copysign(1e-6, level)) / scale)


def ramp_ms(act: Actuator, delta: float) -> int:
    """Shortest whole-millisecond ramp covering `delta` within max_slew (1 ms of margin)."""
    if delta == 0:
        return 0
    return math.ceil(abs(delta) * 1000.0 / act.max_slew) + 1


def fit_hz(act: Actuator, low: float, high: float, hz: float, shape: Shape) -> float:
    """The highest frequency <= `hz` whose steepest slope stays within max_slew (0 if none)."""
    steepest = wf.wave_max_slope(SHAPE_CODES[shape], low, high, 1.0)
    if steepest == 0:
        return quantise(hz)
    return quantise(min(hz, act.max_slew / steepest * 0.999))


def wave_slack(act: Actuator) -> float:
    """How far from its low a wave may be when it ends: whole cycles are rounded to the ms."""
    return 0.0005 * act.max_slew


@record(frozen=False)
class Note:
    """One change a motion helper made to what it was asked, for one actuator.

    `field` is the profile field the change is about (``intensity``, ``frequency``,
    ``presses``, ...); `text` says what happened, `why` names the limit. Repeated
    identical changes (every press of a step) are counted, not repeated.
    """

    kind: str
    field: str
    actuator: str | None
    asked: str
    applied: str
    text: str
    count: int

    def __init__(
        self,
        kind: str,
        field: str,
        actuator: str | None,
        asked: str,
        applied: str,
        text: str,
        count: int = 1,
    ) -> None:
        self.kind = kind
        self.field = field
        self.actuator = actuator
        self.asked = asked
        self.applied = applied
        self.text = text
        self.count = count


def add_note(notes: list[Note], note: Note) -> None:
    """Add `note` to `notes`, counting it when the same change is already there."""
    for known in notes:
        if (known.kind, known.field, known.actuator) == (note.kind, note.field, note.actuator):
            known.count += 1
            return
    notes.append(note)


def level_text(level: float) -> str:
    """A level as messages write it (4 decimals at most)."""
    return f"{level:.4g}"


@record(frozen=False)
class Line:
    """The commands of one actuator within one step, built in time order.

    `short_field` names the profile field that makes this step's pulses short
    (``presses``, ``strokes``, ...), for notes about presses too short to reach
    their level.
    """

    act: Actuator
    step: int
    commands: list[Command]
    level: float
    free_at: int
    rested_at: int
    on_since: int
    short_field: str
    notes: list[Note]

    def __init__(self, act: Actuator, step: int, short_field: str = "duration") -> None:
        self.act = act
        self.step = step
        self.commands = []
        self.level = 0.0
        self.free_at = 0
        self.rested_at = -(10**12)
        self.on_since = 0
        self.short_field = short_field
        self.notes = []

    def _add(self, command: Command) -> None:
        self.commands.append(command)

    def note(self, kind: str, field_name: str, asked: str, applied: str, text: str) -> None:
        """Record that this actuator's motion differs from what was asked."""
        add_note(self.notes, Note(kind, field_name, self.act.id, asked, applied, text))

    def ramp(self, at: int, target: float) -> int:
        """Ramp from the current level to `target`; returns when it arrives."""
        target = quantise(target)
        if target == self.level:
            return at
        duration = ramp_ms(self.act, target - self.level)
        self._add(
            Command(at, self.act.id, "ramp", level=target, duration_ms=duration, step=self.step)
        )
        self.level = target
        self.free_at = at + duration
        return self.free_at

    def ramp_over(self, at: int, target: float, duration: int) -> int:
        """Ramp to `target` over `duration` ms (at least as long as the slew needs)."""
        target = quantise(target)
        duration = max(duration, ramp_ms(self.act, target - self.level))
        self._add(
            Command(at, self.act.id, "ramp", level=target, duration_ms=duration, step=self.step)
        )
        self.level = target
        self.free_at = at + duration
        return self.free_at

    def wave(self, at: int, low: float, high: float, hz: float, shape: Shape, cycles: int) -> int:
        """A wave from `low` (the current level) to `high` and back, for whole `cycles`."""
        length = round(cycles * 1000.0 / hz)
        self._add(
            Command(at, self.act.id, "wave", shape=shape, hz=hz, low=low, high=high, step=self.step)
        )
        self.level = low
        self.free_at = at + length
        return self.free_at

    def end_wave(self, at: int) -> int:
        """Ramp to 0 from the end of a wave (back at its low, give or take half a ms)."""
        return self.ramp_over(at, 0.0, ramp_ms(self.act, abs(self.level) + wave_slack(self.act)))

    def heat(self, at: int, duty: float, target_c: float) -> None:
        """Closed-loop heating with a duty ceiling."""
        self._add(Command(at, self.act.id, "heat", level=duty, target_c=target_c, step=self.step))
        self.level = duty
        self.free_at = at

    def off(self, at: int) -> None:
        """Level 0, heater loop stopped, air vented."""
        self._add(Command(at, self.act.id, "off", step=self.step))
        self.level = 0.0
        self.free_at = at

    def rest(self, at: int) -> None:
        """Mark a return to rest: air is vented with `off`; others are already at 0."""
        if self.act.kind in ("air", "heater"):
            self.off(at)


def usable(act: Actuator, level: float) -> bool:
    """Whether a level held at `level` moves the actuator (not zero, not below min_level)."""
    return level != 0 and abs(level) >= act.min_level


def pulse(line: Line, start: int, end: int, peak: float, rise: float = 0.0) -> None:
    """Ramp up to `peak`, hold, ramp down to 0, all inside [start, end).

    `rise` is the share of the window each ramp should at least take (0 = as
    fast as the slew allows). The peak is lowered when the window is too short
    to reach it and back; a peak below min_level is left out. Pulses less than
    PULSE_REST_MS apart share one stretch of on-time, cut short at max_on.
    """
    act = line.act
    if start - line.rested_at >= PULSE_REST_MS:
        line.on_since = start
    cut = line.on_since + act.max_on_ms - ON_MARGIN_MS
    if cut < end:
        line.note(
            "shortened",
            "duration",
            f"{end - start}ms",
            f"{max(cut - start, 0)}ms",
            f"press shortened from {end - start} ms to {max(cut - start, 0)} ms so the "
            f"output rests within max_on {act.max_on_ms / 1000:g}s",
        )
        end = cut
    window = end - start
    asked = peak = quantise(peak)
    if window <= 2 or 2 * ramp_ms(act, peak) > window:
        reachable = max((window // 2 - 2) * act.max_slew / 1000.0, 0.0)
        peak = math.copysign(quantise(min(abs(peak), reachable)), peak)
    if not usable(act, peak):
        if usable(act, asked):
            line.note(
                "dropped",
                line.short_field,
                level_text(asked),
                "0",
                f"press of {level_text(asked)} left out: in {window} ms at max_slew "
                f"{act.max_slew:g}/s it could reach only {level_text(abs(peak))}, below "
                f"min_level {act.min_level:g}",
            )
        elif asked != 0:
            _below_min(line, asked)
        return
    if peak != asked:
        line.note(
            "lowered",
            line.short_field,
            level_text(asked),
            level_text(peak),
            f"level lowered from {level_text(asked)} to {level_text(peak)}: a {window} ms "
            f"press cannot reach it at max_slew {act.max_slew:g}/s "
            f"({_hint(line.short_field)})",
        )
    ramp_len = min(max(ramp_ms(act, peak), int(rise * window)), window // 2)
    line.ramp_over(start, peak, ramp_len)
    line.ramp_over(end - ramp_len, 0.0, ramp_len)
    line.rest(end)
    line.rested_at = end


def _hint(short_field: str) -> str:
    if short_field in ("frequency", "pace"):
        return f"give a lower {short_field} or a longer duration"
    return f"give fewer {short_field} or a longer duration"


def _below_min(line: Line, level: float) -> None:
    act = line.act
    line.note(
        "dropped",
        "intensity",
        level_text(level),
        "0",
        f"left out: level {level_text(level)} is below min_level {act.min_level:g}, "
        "where the motor stalls",
    )


def sustain(
    line: Line,
    start: int,
    end: int,
    high: float,
    *,
    low: float | None = None,
    hz: float | None = None,
    shape: Shape = "sine",
    lead_ms: int = 0,
) -> None:
    """Hold `high` (or a wave between `low` and `high` at `hz`) over [start, end).

    The motion ramps in and out, and is cut into bursts of at most max_on
    separated by BURST_REST_MS of rest. A wave starts `lead_ms` into its burst
    (or as soon as its ramp-in allows), so waves of several actuators given the
    same lead start together, in a known phase to each other.
    """
    act = line.act
    high = quantise(high)
    wave_low = quantise(low) if low is not None and hz else None
    if wave_low is not None and hz:
        asked_hz = hz
        hz = fit_hz(act, wave_low, high, hz, shape)
        if hz <= 0 or max(abs(wave_low), abs(high)) < act.min_level:
            wave_low = None
        elif hz < quantise(asked_hz):
            line.note(
                "slowed",
                "frequency",
                f"{asked_hz:g}Hz",
                f"{hz:g}Hz",
                f"wave slowed from {asked_hz:g}Hz to {hz:g}Hz so its steepest slope "
                f"fits max_slew {act.max_slew:g}/s",
            )
    if wave_low is None and not usable(act, high):
        if high != 0:
            _below_min(line, high)
        return
    budget = act.max_on_ms - ON_MARGIN_MS
    t = start
    while t < end:
        stop = min(end, t + budget)
        entry = wave_low if wave_low is not None else high
        r_in = ramp_ms(act, entry)
        lead = max(r_in, lead_ms) if wave_low is not None else r_in
        r_out = ramp_ms(act, abs(entry) + wave_slack(act)) if wave_low is not None else r_in
        body = stop - t - lead - r_out
        if body <= 0:
            if wave_low is not None:
                line.note(
                    "shortened",
                    "duration",
                    f"{stop - t}ms",
                    "one press",
                    f"no room for a wave in {stop - t} ms: one press instead",
                )
            pulse(line, t, stop, high)
            break
        if wave_low is not None and hz:
            cycles = math.floor(body * hz / 1000.0)
            if cycles == 0:
                line.note(
                    "shortened",
                    "frequency",
                    f"{hz:g}Hz",
                    "one press",
                    f"a {hz:g}Hz wave has no whole cycle in {body} ms: one press instead",
                )
                pulse(line, t, stop, high)
            else:
                unused = body - round(cycles * 1000.0 / hz)
                if unused > body // 10:
                    line.note(
                        "rounded",
                        "duration",
                        f"{body}ms",
                        f"{body - unused}ms",
                        f"wave rounded down to {cycles} whole cycle(s): {body - unused} ms "
                        f"of its {body} ms, then rest",
                    )
                line.ramp(t + lead - r_in, wave_low)
                after = line.wave(t + lead, wave_low, high, hz, shape, cycles)
                line.end_wave(after)
                line.rest(line.free_at)
        else:
            line.ramp(t, high)
            line.ramp(stop - r_out, 0.0)
            line.rest(stop)
        t = stop + BURST_REST_MS
        if end - t < 2 * BURST_REST_MS:
            break
