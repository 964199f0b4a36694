"""What a profile asks for at a finer precision than the device plays: `rounded` notes.

The rule (docs/profiles.md, "Rounding"): times are played in whole
milliseconds, and a wave's ``hz`` to DIGITS decimals. Whenever the value played
is not exactly the one written, the compiler plays the nearest one it can and
records a note naming both:

- a time (a step's ``duration``, a curve's ``loop``, a keyframe's ``at``, an
  ``offset``; written as a duration or as a percent) that is not a whole
  number of milliseconds;
- a frequency played as a whole number of milliseconds per period (the
  squeezes of ``achilles``, the circles of ``ankle_circles``, the footsteps of
  ``pebble_walk``) whose period ``1000 / frequency`` is not a whole number;
- a wave frequency (``rub`` and ``knead``: half the ``frequency``; ``vibrate``:
  the ``frequency``) whose ``hz`` has more decimals than the stream holds;
- a heat ``target`` with more than 2 decimals (the stream's precision).

Levels are not covered: they are computed (intensity x sensitivity x the user's
intensity) to DIGITS decimals, never rounded up, and a written level is a share.
"""

from __future__ import annotations

import math
from typing import Any

from massager.compiler.motion import DIGITS, Note, quantise
from massager.profile.model import Curve, KeyTime
from massager.units import exact_ms_text, format_duration, whole_ms

WHY_MS = "times are whole milliseconds"


def time_notes(step: Any) -> list[Note]:
    """A `rounded` note for each time of `step` that is not a whole millisecond."""
    out = [
        _note(
            key,
            text,
            round(exact),
            f"{key} {text} ({_ms(exact)} ms) is played as {format_duration(round(exact))}",
        )
        for key, (text, exact) in step.rounded_durations.items()
    ]
    if isinstance(step, Curve):
        cycle = step.cycle_ms
        for kind, frames in step.keyframes.kinds().items():
            off = _off_ms([f.at for f in frames], cycle)
            if off:
                i, at = off[0]
                more = f" (and {len(off) - 1} more {kind} keyframe(s))" if len(off) > 1 else ""
                out.append(
                    _note(
                        f"keyframes.{kind}.{i}.at",
                        _written(at, cycle),
                        at.ms(cycle),
                        f"{kind} keyframe {i + 1} at {_written(at, cycle)} is played at "
                        f"{format_duration(at.ms(cycle))}{more}",
                    )
                )
        for foot in ("left", "right"):
            at = getattr(step.offset, foot)
            if not whole_ms(at.exact(cycle)):
                out.append(
                    _note(
                        f"offset.{foot}",
                        _written(at, cycle),
                        at.ms(cycle),
                        f"the {foot} offset {_written(at, cycle)} is played as "
                        f"{format_duration(at.ms(cycle))}",
                    )
                )
    return out


def period_note(field: str, hz: float, period_ms: int, what: str) -> Note | None:
    """A `rounded` note when `hz` played as `period_ms` per `what` is not exactly `hz`."""
    played = 1000.0 / period_ms
    if math.isclose(played, hz, rel_tol=1e-9):
        return None
    asked, applied = _hz_pair(hz, played)
    return Note(
        "rounded",
        field,
        None,
        asked,
        applied,
        f"{field} {asked} is played as {applied}: each {what} lasts a whole number of "
        f"milliseconds ({period_ms} ms, where {asked} asks for {_ms(1000.0 / hz)} ms)",
    )


def wave_hz(field: str, hz: float, per_cycle: float) -> tuple[float, Note | None]:
    """The wave `hz` the stream can hold (DIGITS decimals, rounded down), and a note if
    that changes the step's `field`, which counts `per_cycle` times the wave's hz."""
    played = quantise(hz)
    if math.isclose(played, hz, rel_tol=1e-9):
        return hz, None
    asked, applied = _hz_pair(per_cycle * hz, per_cycle * played)
    half = "" if per_cycle == 1 else f" (a wave of {played:g}Hz: half the {field})"
    return played, Note(
        "rounded",
        field,
        None,
        asked,
        applied,
        f"{field} {asked} is played as {applied}{half}: a wave's hz has {DIGITS} decimals",
    )


def target_c(asked: float) -> tuple[float, Note | None]:
    """A heat target as the stream holds it (2 decimals), and a note if that changes it."""
    played = round(asked, 2)
    if played == asked:
        return asked, None
    text = f"target {asked:.12g}C is played as {played:g}C: temperatures have 2 decimals"
    return played, Note("rounded", "target", None, f"{asked:.12g}C", f"{played:g}C", text)


def _off_ms(times: list[KeyTime], cycle: int) -> list[tuple[int, KeyTime]]:
    """The (index, time) of each of `times` that is not a whole millisecond in `cycle`."""
    out = []
    for i, (value, percent) in enumerate(times):  # a hot loop: a curve has up to 100,000
        exact = value * cycle if percent else value
        if not exact.is_integer() and not whole_ms(exact):
            out.append((i, times[i]))
    return out


def _note(field: str, asked: str, applied_ms: int, text: str) -> Note:
    return Note("rounded", field, None, asked, format_duration(applied_ms), f"{text}: {WHY_MS}")


def _written(at: KeyTime, cycle: int) -> str:
    """A keyframe time as the profile gives it: a percent of the cycle, or milliseconds."""
    exact = at.exact(cycle)
    if at.percent:
        return f"{at.value * 100:g}% of {format_duration(cycle)} ({_ms(exact)} ms)"
    return f"{_ms(exact)} ms"


_ms = exact_ms_text


def _hz_pair(asked: float, played: float) -> tuple[str, str]:
    """Two frequencies as text: the asked one as written (`0.3Hz`), the played one to 6
    significant digits, or more until the two differ (`0.30003Hz`)."""
    for digits in range(6, 17):
        text = f"{played:.{digits}g}"
        if text != f"{asked:.{digits}g}":
            return f"{asked:.12g}Hz", f"{text}Hz"
    return f"{asked!r}Hz", f"{played!r}Hz"  # pragma: no cover - isclose tells them apart
