"""The haptic formats we import, read into one shape: levels over time, and what was lost.

- **funscript**: `{"actions": [{"at": ms, "pos": 0..100}, ...]}` (one axis); `inverted`
  flips the positions. A position becomes the level `pos / 100`.
- **AHAP** (Apple's Core Haptics): `{"Pattern": [...]}` of `Event`s
  (`HapticContinuous` with `EventDuration`, `HapticTransient`), `Parameter`s and
  `ParameterCurve`s. A continuous event holds its `HapticIntensity`, a transient
  one is a `TRANSIENT_MS` tap; `HapticIntensityControl` (a parameter or a curve)
  scales the events it overlaps; overlapping events give the stronger level.
  Sharpness and audio events have no equivalent on a massager and are dropped,
  unknown keys are ignored, values out of range are clamped (as Core Haptics does).

Every loss is a `Loss` at its path in the file; a file that cannot be read as
its format is an InputError at the offending value.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

from massager.errors import InputError
from massager.haptic.jsonpos import Path, Positions, dotted

MAX_POINTS = 100_000
"""Most points (actions, events, control points) a file may hold: a curve step's limit."""

MAX_TIME_MS = 4 * 3_600_000
"""Latest time a file may use (4 hours; a session is capped far below that)."""

TRANSIENT_MS = 100
"""How long an AHAP transient event (a tap) lasts as a level."""


@dataclass(frozen=True, slots=True)
class Loss:
    """Something of the source the import changes or leaves out, at its path in the file."""

    kind: str  # clamped, slowed, thinned, dropped, sorted
    path: Path
    message: str


@dataclass(frozen=True, slots=True)
class Sample:
    """A level (0..1) at a time (ms), and the path of the value it comes from."""

    t_ms: float
    level: float
    path: Path


@dataclass
class Signal:
    """A source read into levels over time (joined by straight lines), with its losses."""

    samples: list[Sample] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)
    points: int = 0


class _Reader:
    """Shared checks: numbers, times, ranges, each refusal located."""

    def __init__(self, positions: Positions) -> None:
        self.pos = positions
        self.signal = Signal()

    def fail(self, path: Path, message: str) -> InputError:
        return InputError(self.pos.problem(path, message))

    def number(self, value: Any, path: Path, what: str) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(path, f"{dotted(path)}: {what} must be a number, not {value!r}")
        return float(value)

    def time(self, value: Any, path: Path, scale: float) -> float:
        t = self.number(value, path, "a time") * scale
        if t < 0:
            raise self.fail(path, f"{dotted(path)}: negative time {value!r}")
        if t > MAX_TIME_MS:
            raise self.fail(path, f"{dotted(path)}: time {value!r} is past 4 hours")
        return t

    def clamp(self, value: float, low: float, high: float, path: Path, what: str) -> float:
        if low <= value <= high:
            return value
        clamped = min(max(value, low), high)
        self.signal.losses.append(
            Loss("clamped", path, f"{dotted(path)}: {what} {value:g} clamped to {clamped:g}")
        )
        return clamped

    def items(self, value: Any, path: Path, what: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(path, f"{dotted(path) or 'the file'}: {what} must be a list")
        if len(value) > MAX_POINTS:
            raise self.fail(
                path,
                f"{dotted(path)}: {len(value):,} {what}, more than the {MAX_POINTS:,} "
                "an import takes (split the file)",
            )
        return value


def read_funscript(data: Any, positions: Positions) -> Signal:
    """Levels of a funscript's actions."""
    reader = _Reader(positions)
    if not isinstance(data, dict) or "actions" not in data:
        raise reader.fail((), 'not a funscript: expected an object with "actions": [{at, pos}]')
    inverted = data.get("inverted", False)
    if not isinstance(inverted, bool):
        raise reader.fail(("inverted",), f"inverted must be true or false, not {inverted!r}")
    actions = reader.items(data["actions"], ("actions",), "actions")
    if not actions:
        raise reader.fail(("actions",), "actions is empty: nothing to import")
    samples: list[Sample] = []
    for i, action in enumerate(actions):
        path: Path = ("actions", i)
        if not isinstance(action, dict) or "at" not in action or "pos" not in action:
            raise reader.fail(path, f'{dotted(path)}: an action is {{"at": ms, "pos": 0..100}}')
        t = reader.time(action["at"], (*path, "at"), 1.0)
        pos = reader.number(action["pos"], (*path, "pos"), "pos")
        pos = reader.clamp(pos, 0.0, 100.0, (*path, "pos"), "pos")
        level = (100.0 - pos if inverted else pos) / 100.0
        samples.append(Sample(t, level, path))
    reader.signal.points = len(samples)
    reader.signal.samples = _in_order(samples, reader.signal.losses, "actions")
    return reader.signal


def _in_order(samples: list[Sample], losses: list[Loss], what: str) -> list[Sample]:
    """Samples sorted by time (a loss for each out of order); of equal times the last is kept."""
    ordered = sorted(samples, key=lambda s: s.t_ms)
    if ordered != samples:
        first = next(s for a, s in zip(ordered, samples, strict=True) if a is not s)
        losses.append(
            Loss("sorted", first.path, f"{dotted(first.path)}: {what} out of time order, sorted")
        )
    out: list[Sample] = []
    for sample in ordered:
        if out and out[-1].t_ms == sample.t_ms and len(out) > 1 and out[-2].t_ms == sample.t_ms:
            dropped = out.pop()
            losses.append(
                Loss(
                    "dropped",
                    dropped.path,
                    f"{dotted(dropped.path)}: a third point at {sample.t_ms:g} ms, left out",
                )
            )
        out.append(sample)
    return out


def read_ahap(data: Any, positions: Positions) -> Signal:
    """Levels of an AHAP pattern: its haptic events, scaled by intensity control."""
    reader = _Reader(positions)
    if not isinstance(data, dict) or "Pattern" not in data:
        raise reader.fail((), 'not an AHAP file: expected an object with "Pattern": [...]')
    pattern = reader.items(data["Pattern"], ("Pattern",), "pattern entries")
    events: list[tuple[float, float, float, Path]] = []  # start, end, intensity, path
    control: list[tuple[float, float, Path]] = []  # time, factor, path
    sharp = 0
    for i, entry in enumerate(pattern):
        path: Path = ("Pattern", i)
        if not isinstance(entry, dict):
            raise reader.fail(path, f"{dotted(path)}: a pattern entry must be an object")
        if "Event" in entry:
            sharp += _event(reader, entry["Event"], (*path, "Event"), events)
        elif "Parameter" in entry:
            _control(reader, entry["Parameter"], (*path, "Parameter"), control, curve=False)
        elif "ParameterCurve" in entry:
            _control(
                reader, entry["ParameterCurve"], (*path, "ParameterCurve"), control, curve=True
            )
    if sharp:
        reader.signal.losses.append(
            Loss(
                "dropped",
                ("Pattern",),
                f"HapticSharpness of {sharp} event(s) left out: a massager has no sharpness",
            )
        )
    if not events:
        raise reader.fail(("Pattern",), "no haptic events (HapticContinuous, HapticTransient)")
    reader.signal.points = len(events) + len(control)
    if reader.signal.points > MAX_POINTS:
        raise reader.fail(
            ("Pattern",),
            f"{reader.signal.points:,} events and control points, more than the "
            f"{MAX_POINTS:,} an import takes (split the file)",
        )
    reader.signal.samples = _levels(events, sorted(control, key=lambda c: c[0]))
    return reader.signal


def _params(reader: _Reader, raw: Any, path: Path) -> dict[str, tuple[float, Path]]:
    out: dict[str, tuple[float, Path]] = {}
    if raw is None:
        return out
    for j, param in enumerate(reader.items(raw, path, "parameters")):
        where = (*path, j)
        if not isinstance(param, dict):
            raise reader.fail(where, f"{dotted(where)}: a parameter must be an object")
        ident = param.get("ParameterID")
        value = reader.number(param.get("ParameterValue"), (*where, "ParameterValue"), "a value")
        out[str(ident)] = (value, (*where, "ParameterValue"))
    return out


def _event(
    reader: _Reader, raw: Any, path: Path, events: list[tuple[float, float, float, Path]]
) -> int:
    if not isinstance(raw, dict):
        raise reader.fail(path, f"{dotted(path)}: an event must be an object")
    kind = raw.get("EventType")
    start = reader.time(raw.get("Time"), (*path, "Time"), 1000.0)
    if kind not in ("HapticContinuous", "HapticTransient"):
        reader.signal.losses.append(
            Loss("dropped", path, f"{dotted(path)}: {kind} event left out (not haptic)")
        )
        return 0
    params = _params(reader, raw.get("EventParameters"), (*path, "EventParameters"))
    intensity, where = params.get("HapticIntensity", (1.0, path))
    intensity = reader.clamp(intensity, 0.0, 1.0, where, "HapticIntensity")
    if kind == "HapticContinuous":
        duration = reader.time(raw.get("EventDuration"), (*path, "EventDuration"), 1000.0)
    else:
        duration = TRANSIENT_MS
    events.append((start, start + duration, intensity, path))
    return 1 if "HapticSharpness" in params else 0


def _control(
    reader: _Reader, raw: Any, path: Path, control: list[tuple[float, float, Path]], curve: bool
) -> None:
    """Intensity control: a `Parameter` (one value at its `Time`) or a `ParameterCurve`
    (control points, their times from the curve's `Time`); other parameters are dropped."""
    what = "a parameter curve" if curve else "a parameter"
    if not isinstance(raw, dict):
        raise reader.fail(path, f"{dotted(path)}: {what} must be an object")
    if raw.get("ParameterID") != "HapticIntensityControl":
        left = f"{raw.get('ParameterID')}{' curve' if curve else ''} left out"
        reader.signal.losses.append(Loss("dropped", path, f"{dotted(path)}: {left}"))
        return
    base = 0.0
    points: list[tuple[Path, Any]] = [(path, raw)]
    if curve:
        base = reader.time(raw.get("Time", 0), (*path, "Time"), 1000.0)
        where = (*path, "ParameterCurveControlPoints")
        items = reader.items(raw.get("ParameterCurveControlPoints"), where, "control points")
        points = [((*where, j), point) for j, point in enumerate(items)]
    for at, point in points:
        if not isinstance(point, dict):
            raise reader.fail(at, f"{dotted(at)}: a control point must be an object")
        t = base + reader.time(point.get("Time"), (*at, "Time"), 1000.0)
        value = reader.number(point.get("ParameterValue"), (*at, "ParameterValue"), "a value")
        control.append((t, reader.clamp(value, 0.0, 1.0, (*at, "ParameterValue"), "control"), at))


def _scale(control: list[tuple[float, float, Path]], k: int, t: float) -> float:
    """Intensity control at `t`, from the `k` control points counted as reached: 1 before
    the first, linear between points, the last one held."""
    if k == 0:
        return 1.0
    if k == len(control):
        return control[-1][1]
    (t0, v0, _), (t1, v1, _) = control[k - 1], control[k]
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1


def _levels(
    events: list[tuple[float, float, float, Path]], control: list[tuple[float, float, Path]]
) -> list[Sample]:
    """The strongest active event x intensity control, as corners of a course (one sweep).

    Intensity control is linear between its points, 1 before the first and held after
    the last.
    """
    times = sorted({t for e in events for t in (e[0], e[1])} | {c[0] for c in control})
    starts = sorted(events, key=lambda e: e[0])
    active: list[tuple[float, float, int]] = []  # (-intensity, end, index) max-heap
    next_start = 0
    k = j = 0  # control points at or before t: control[:k]; before t: control[:j]
    previous: tuple[float, Path] = (0.0, ("Pattern",))
    last_path: Path = ("Pattern",)
    out: list[Sample] = []
    for t in times:
        while j < len(control) and control[j][0] < t:
            j += 1
        while k < len(control) and control[k][0] <= t:
            k += 1
        # the control just before t and from t on: they differ where it jumps (at its
        # first point, from 1, and where two points share a time)
        before = (previous[0] * _scale(control, j, t), previous[1])
        scale = _scale(control, k, t)
        while next_start < len(starts) and starts[next_start][0] <= t:
            _start, end, intensity, _path = starts[next_start]
            heapq.heappush(active, (-intensity, end, next_start))
            next_start += 1
        while active and active[0][1] <= t:
            ended = starts[heapq.heappop(active)[2]]
            last_path = ended[3]
        if active:
            top = starts[active[0][2]]
            previous = (top[2], top[3])
            last_path = top[3]
        else:
            previous = (0.0, last_path)
        after = (previous[0] * scale, previous[1])
        out.append(Sample(t, before[0], before[1]))
        if after[0] != before[0]:
            out.append(Sample(t, after[0], after[1]))
    return out
