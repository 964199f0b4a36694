"""Motion building blocks: ramps, pulses and sustained waves inside an actuator's limits.

Every helper here shapes motion so it cannot break a limit: levels are
clamped and quantised, every change is a ramp no steeper than ``max_slew``,
waves are slowed until their steepest slope fits, a level held non-zero is
at least ``min_level``, and sustained motion is cut into bursts no longer than
``max_on`` separated by rests. The safety check (``compiler.safety``) verifies
the result independently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from firmware_bridge import waveforms as wf
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

_SHAPES: dict[str, int] = {"sine": wf.SHAPE_SINE, "triangle": wf.SHAPE_TRIANGLE}


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
    steepest = wf.wave_max_slope(_SHAPES[shape], low, high, 1.0)
    if steepest == 0:
        return quantise(hz)
    return quantise(min(hz, act.max_slew / steepest * 0.999))


def wave_slack(act: Actuator) -> float:
    """How far from its low a wave may be when it ends: whole cycles are rounded to the ms."""
    return 0.0005 * act.max_slew


@dataclass
class Line:
    """The commands of one actuator within one step, built in time order."""

    act: Actuator
    step: int
    commands: list[Command] = field(default_factory=list)
    level: float = 0.0
    free_at: int = 0
    rested_at: int = -(10**12)
    on_since: int = 0

    def _add(self, command: Command) -> None:
        self.commands.append(command)

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
    end = min(end, line.on_since + act.max_on_ms - ON_MARGIN_MS)
    window = end - start
    if window <= 2:
        return
    peak = quantise(peak)
    if 2 * ramp_ms(act, peak) > window:
        reachable = (window // 2 - 2) * act.max_slew / 1000.0
        peak = math.copysign(quantise(min(abs(peak), max(reachable, 0.0))), peak)
    if not usable(act, peak):
        return
    ramp_len = min(max(ramp_ms(act, peak), int(rise * window)), window // 2)
    line.ramp_over(start, peak, ramp_len)
    line.ramp_over(end - ramp_len, 0.0, ramp_len)
    line.rest(end)
    line.rested_at = end


def sustain(
    line: Line,
    start: int,
    end: int,
    high: float,
    *,
    low: float | None = None,
    hz: float | None = None,
    shape: Shape = "sine",
) -> None:
    """Hold `high` (or a wave between `low` and `high` at `hz`) over [start, end).

    The motion ramps in and out, and is cut into bursts of at most max_on
    separated by BURST_REST_MS of rest.
    """
    act = line.act
    high = quantise(high)
    wave_low = quantise(low) if low is not None and hz else None
    if wave_low is not None and hz:
        hz = fit_hz(act, wave_low, high, hz, shape)
        if hz <= 0 or max(abs(wave_low), abs(high)) < act.min_level:
            wave_low = None
    if wave_low is None and not usable(act, high):
        return
    budget = act.max_on_ms - ON_MARGIN_MS
    t = start
    while t < end:
        stop = min(end, t + budget)
        entry = wave_low if wave_low is not None else high
        r_in = ramp_ms(act, entry)
        r_out = ramp_ms(act, abs(entry) + wave_slack(act)) if wave_low is not None else r_in
        body = stop - t - r_in - r_out
        if body <= 0:
            pulse(line, t, stop, high)
            break
        if wave_low is not None and hz:
            cycles = math.floor(body * hz / 1000.0)
            if cycles == 0:
                pulse(line, t, stop, high)
            else:
                line.ramp(t, wave_low)
                after = line.wave(t + r_in, wave_low, high, hz, shape, cycles)
                line.end_wave(after)
                line.rest(line.free_at)
        else:
            line.ramp(t, high)
            line.ramp(stop - r_out, 0.0)
            line.rest(stop)
        t = stop + BURST_REST_MS
        if end - t < 2 * BURST_REST_MS:
            break
