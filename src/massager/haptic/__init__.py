"""`massager import`: haptic files (funscript, AHAP) made into profiles with a `curve` step.

`import_haptic` reads the file strictly (a clear, located error for anything it
cannot take), follows its levels the way the chosen rig's actuators can, thins
them to keyframes within the tolerance, and returns the profile's YAML text
with every loss, each at its position in the source file.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from massager import zones as zone_map
from massager.compiler import reach
from massager.errors import InputError, Problem, UsageError
from massager.haptic import jsonpos, sources, thin
from massager.haptic.sources import Loss
from massager.limits import HARD_CAP_MS
from massager.rig.model import Rig
from massager.units import format_duration

FORMATS = {".funscript": sources.read_funscript, ".ahap": sources.read_ahap}
"""File suffixes we import, and their readers."""

KINDS = ("vibration", "air", "roller")
DEFAULT_TOLERANCE = 0.02
MAX_BYTES = 32 * 1024 * 1024


@dataclass
class Imported:
    """An imported profile: its YAML text, what was lost, and a one-line summary."""

    text: str
    losses: list[Loss] = field(default_factory=list)
    summary: str = ""
    problems: list[Problem] = field(default_factory=list)


def import_haptic(
    path: Path,
    rig: Rig,
    *,
    kind: str = "vibration",
    zone_names: tuple[str, ...] = ("sole",),
    name: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    display: str | None = None,
) -> Imported:
    """Import the haptic file at `path` as a one-step curve profile for `rig`."""
    display = display or str(path)
    reader = FORMATS.get(path.suffix.lower())
    if reader is None:
        raise UsageError(f"cannot import {display!r}: give a .funscript or .ahap file")
    if kind not in KINDS:
        raise UsageError(f"--kind {kind!r}: choose one of {', '.join(KINDS)}")
    for zone in zone_names:
        if zone == zone_map.FORBIDDEN_ZONE or not zone_map.is_zone(zone):
            raise UsageError(f"--zones: {zone!r} is not a zone a step may work on")
    if not 0.001 <= tolerance <= 0.5:
        raise UsageError(f"--tolerance {tolerance:g}: give a level from 0.001 to 0.5")
    text = _read(path, display)
    data = jsonpos.read_json(text, display)
    positions = jsonpos.Positions(text, display)
    signal = reader(data, positions)
    end = signal.samples[-1].t_ms
    if end > HARD_CAP_MS:
        where = positions.problem(signal.samples[-1].path, "")
        raise InputError(
            Problem(
                display,
                where.line,
                where.col,
                f"the file runs {_past(end, HARD_CAP_MS)}, longer than the "
                f"longest session ({format_duration(HARD_CAP_MS)})",
            )
        )
    limits = _limits(rig, kind, zone_names)
    times, source, response = thin.follow(signal.samples, limits.slew)
    losses = list(signal.losses)
    losses += _losses(times, source, response, signal.samples, limits, tolerance, kind)
    keep = thin.thin(times, response, tolerance - 0.0005)
    keys = [(times[i], round(response[i], 3)) for i in keep]
    while len(keys) > 1 and keys[-1][1] == keys[-2][1]:
        keys.pop()  # the last level holds to the end anyway
    if len(keys) < signal.points:
        losses.append(
            Loss(
                "thinned",
                signal.samples[0].path[:1],
                f"{signal.points:,} points thinned to {len(keys):,} keyframes, within "
                f"{tolerance:g} of what the actuators can follow (max_slew "
                f"{limits.slew:.3g}/s in keyframe levels)",
            )
        )
    profile_name = _name(path.stem) if name is None else name
    if not re.match(r"^[a-z0-9][a-z0-9_-]{0,59}$", profile_name):
        raise UsageError(
            f"--name {name!r}: lower-case letters, digits, - and _ (60 at most), like my-song"
        )
    duration = (int(end) // 1000 + 2) * 1000
    text_out = _yaml(profile_name, display, kind, zone_names, duration, keys, rig, tolerance)
    summary = (
        f"{display}: {signal.points:,} points over {format_duration(int(end), exact=False)} "
        f"-> {len(keys):,} {kind} keyframes on {', '.join(zone_names)}"
    )
    problems = [positions.problem(loss.path, f"warning: {loss.message}") for loss in losses]
    return Imported(text_out, losses, summary, problems)


def _past(end: float, limit: int) -> str:
    """`end` (past `limit`) for a message: to the second, or as exact as it takes to differ
    from the limit (a file of 60m and 1 ms does not read "60m, longer than 60m")."""
    shown = format_duration(math.ceil(end), exact=False)
    return shown if shown != format_duration(limit) else format_duration(math.ceil(end))


def _read(path: Path, display: str) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(
                Problem(display, 1, 1, f"file is {size:,} bytes, more than an import reads")
            )
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(Problem(display, 1, 1, "not a text file (not UTF-8)")) from None
    except OSError as exc:
        raise UsageError(f"cannot read {display!r}: {exc.strerror}") from None


def _limits(rig: Rig, kind: str, zone_names: tuple[str, ...]) -> thin.Limits:
    """The slowest slew, highest stall level and lowest ceiling of the actuators, in keyframe
    levels (a keyframe level is scaled by each actuator's zone sensitivity)."""
    acts = [
        a
        for foot in ("left", "right")
        for a in reach.reaching(rig, "curve", zone_names, foot, (kind,))
    ]
    if not acts:
        raise UsageError(
            f"no {kind} of rig {rig.name!r} reaches {', '.join(zone_names)}: "
            "choose other --zones or --kind (or another --rig)"
        )
    scales = [(a, reach.zone_limit(rig, a)) for a in acts]
    return thin.Limits(
        slew=min(a.max_slew / s for a, s in scales),
        floor=max(a.min_level / s for a, s in scales),
        ceiling=min(1.0, *(a.max_level / s for a, s in scales)),
    )


def _losses(
    times: list[int],
    source: list[float],
    response: list[float],
    samples: list[sources.Sample],
    limits: thin.Limits,
    tolerance: float,
    kind: str,
) -> list[Loss]:
    clock = _clock

    def slowed(a: int, b: int, first: jsonpos.Path, last: jsonpos.Path) -> str:
        gap = max(abs(source[k] - response[k]) for k in range(a // 10, b // 10 + 1))
        return (
            f"{thin.span(first, last)} ({clock(a)}-{clock(b)}): slowed, changes faster than "
            f"the {kind} can follow ({limits.slew:.3g}/s): up to {gap:.2f} away"
        )

    def stalls(a: int, b: int, first: jsonpos.Path, last: jsonpos.Path) -> str:
        return (
            f"{thin.span(first, last)} ({clock(a)}-{clock(b)}): dropped, levels below "
            f"{limits.floor:.3g} run as 0 (the motor stalls there)"
        )

    def clamped(a: int, b: int, first: jsonpos.Path, last: jsonpos.Path) -> str:
        return (
            f"{thin.span(first, last)} ({clock(a)}-{clock(b)}): clamped, levels above "
            f"{limits.ceiling:.3g} are lowered to it (max_level)"
        )

    out = thin.stretches(
        times,
        [abs(s - r) > tolerance for s, r in zip(source, response, strict=True)],
        samples,
        "slowed",
        slowed,
    )
    out += thin.stretches(
        times, [0 < r < limits.floor for r in response], samples, "dropped", stalls
    )
    out += thin.stretches(
        times, [r > limits.ceiling + 1e-9 for r in response], samples, "clamped", clamped
    )
    return out


def _clock(ms: int) -> str:
    seconds = ms / 1000.0
    return f"{int(seconds // 60)}:{seconds % 60:05.2f}"


def _name(stem: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_")[:60]
    return cleaned or "imported"


def _yaml(
    name: str,
    source: str,
    kind: str,
    zone_names: tuple[str, ...],
    duration: int,
    keys: list[tuple[int, float]],
    rig: Rig,
    tolerance: float,
) -> str:
    lines = [
        f"# Imported from {Path(source).name} by `massager import`: keyframes follow the",
        f"# source as the {kind} actuators of rig {rig.name!r} can, within {tolerance:g}.",
        f"name: {name}",
        f"description: {json.dumps(f'Imported from {Path(source).name}.')}",
        "steps:",
        f"  - name: {name}",
        "    technique: curve",
        f"    zones: [{', '.join(zone_names)}]",
        f"    duration: {format_duration(duration)}",
        "    interpolation: linear",
        "    keyframes:",
        f"      {kind}:",
    ]
    lines += [
        f"        - {{at: {format_duration(t) if t else '0s'}, level: {v:g}}}" for t, v in keys
    ]
    return "\n".join(lines) + "\n"
