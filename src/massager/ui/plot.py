"""Timeline pictures: what each actuator is commanded to do over a profile, step by step.

One lane per actuator, level against time; a band on top names the steps
(one row per parallel track) and light shading marks them in every lane.
Waves faster than a pixel column are drawn as the band between their low and
high, so a 20-minute profile stays readable. `simulate --plot` draws a trace
(the level actually applied) over the commanded timeline.

matplotlib is imported inside the functions (Agg backend), so importing this
module costs nothing.
"""

from __future__ import annotations

import math
import textwrap
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from firmware_bridge import waveforms as wf
from massager.errors import UsageError
from massager.stream import Command, CommandStream, StepInfo, Timeline
from massager.trace import on_course
from massager.ui.lanes import ActuatorInfo, Lane, lanes
from massager.ui.thin import MAX_NOTED_STEPS, drawn_steps

PLOT_EXTRA = "pip install 'massager[plot]'"
"""What installs the pictures' dependencies (matplotlib, and numpy under it)."""


def require_matplotlib(what: str = "drawing a picture") -> None:
    """Raise UsageError (exit 2) saying what to install when matplotlib is missing."""
    import importlib.util

    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        found = False
    if not found:
        raise UsageError(
            f"{what} needs matplotlib, which is not installed; install it with: {PLOT_EXTRA}"
        )


KIND_COLORS = {
    "roller": "#1f77b4",
    "vibration": "#9467bd",
    "air": "#2ca02c",
    "heater": "#d62728",
}
TRACE_COLOR = "#222222"
SPEED_COLOR = "#ff7f0e"
TEMP_COLOR = "#b2182b"
HEAT_CMAP = "OrRd"
STALL_LEVEL = 0.2
"""A roller driven at least this hard whose simulated speed stays near zero is stalled."""
HEAT_CMAP_SAMPLE = "#fd8d3c"
STEP_SHADES = ("#f2f2f2", "#ffffff")
STEP_COLORS = ("#cfe2f3", "#fce5cd", "#d9ead3", "#ead1dc", "#fff2cc", "#d0e0e3")
COLUMNS = 1400
"""Time bins across the plot: about one per pixel column at the default size."""
NOTE_CHARS = 190

TracePoints = Mapping[str, Sequence[tuple[float, float]]]
"""Applied levels per actuator: (t_ms, level) at each change, in time order."""


def _command_value(command: Command, start: float, t_ms: float) -> float:
    op, a, b, c, d = command.args()
    return wf.op_value(op, a, b, c, d, start, int((t_ms - command.at_ms) * 1000))


def envelope(
    commands: Sequence[Command], edges: Sequence[float]
) -> tuple[list[float], list[float]]:
    """Lowest and highest commanded level of one actuator in each bin between `edges`.

    Exact for set, ramp, off and slow waves; a wave whose period is under three
    bins is drawn as its whole low..high band in every bin.
    """
    commands = list(commands)
    timeline = Timeline(commands)
    bins = len(edges) - 1
    lo = [0.0] * bins
    hi = [0.0] * bins
    seen = [False] * bins
    ends = [c.at_ms for c in commands[1:]] + [float("inf")]
    # a wave whose period spans less than a few bins is drawn as its low..high band
    fast = 3.0 * (edges[-1] - edges[0]) / max(bins, 1)

    def add(j: int, value: float) -> None:
        if not seen[j]:
            lo[j] = hi[j] = value
            seen[j] = True
        elif value < lo[j]:
            lo[j] = value
        elif value > hi[j]:
            hi[j] = value

    # before the first command the level is 0
    first = commands[0].at_ms if commands else float("inf")
    for j in range(bisect_left(edges, first)):
        if j < bins:
            add(j, 0.0)
    for i, command in enumerate(commands):
        a = command.at_ms
        b = ends[i]
        if b <= a:
            continue  # replaced at the same moment
        start_level = timeline.start_level(i)
        k = max(0, bisect_right(edges, a) - 1)
        while k < bins and edges[k] < b:
            x0 = max(a, edges[k])
            x1 = min(b, edges[k + 1])
            if command.op == "wave" and (x1 - x0 + fast) * command.hz >= 1000.0:
                add(k, command.low)
                add(k, command.high)
            elif command.op == "wave":
                # a wave rises from low (phase 0) to high (phase 0.5) and back, monotonic
                # in between: its extremes in [x0, x1] are the ends and those phases
                c0 = command.hz * (x0 - a) / 1000.0
                c1 = command.hz * (x1 - a) / 1000.0
                if math.floor(c1) > math.floor(c0) or c0 == math.floor(c0):
                    add(k, command.low)
                if math.floor(c1 - 0.5) > math.floor(c0 - 0.5) or c0 - 0.5 == math.floor(c0 - 0.5):
                    add(k, command.high)
                add(k, _command_value(command, start_level, x0))
                add(k, _command_value(command, start_level, x1))
            else:  # constant or linear: its ends bound it
                add(k, _command_value(command, start_level, x0))
                add(k, _command_value(command, start_level, x1))
            k += 1
    return lo, hi


def trace_envelope(
    points: Sequence[tuple[float, float]], edges: Sequence[float]
) -> tuple[list[float], list[float]]:
    """Lowest and highest applied level in each bin of a trace.

    `points` are the corners of the applied course, (t_ms, level) in time order,
    joined by straight lines (0 before the first; the last holds), as
    `massager.trace` writes them: the extremes of a bin are at its edges or at
    the corners inside it.
    """
    bins = len(edges) - 1
    lo = [0.0] * bins
    hi = [0.0] * bins
    n = len(points)
    times = [t for t, _ in points]
    values = [v for _, v in points]
    i = 0  # the first point after the edge being evaluated

    def at(t: float) -> float:
        nonlocal i
        while i < n and times[i] <= t:
            i += 1
        value = on_course(times, values, i, t)
        return 0.0 if value is None else value

    for j in range(bins):
        low = high = at(edges[j])
        k = i
        while k < n and points[k][0] <= edges[j + 1]:  # a jump at the edge: both sides
            value = points[k][1]
            low, high = min(low, value), max(high, value)
            k += 1
        end = at(edges[j + 1])
        lo[j], hi[j] = min(low, end), max(high, end)
    return lo, hi


def _widen(lo: list[float], hi: list[float], reach: int = 1) -> tuple[list[float], list[float]]:
    """Each bin's range widened to its neighbours' (a trace's fast waves become a steady band,
    as `envelope` draws the commanded ones)."""
    n = len(lo)
    wide_lo = [min(lo[max(0, j - reach) : j + reach + 1]) for j in range(n)]
    wide_hi = [max(hi[max(0, j - reach) : j + reach + 1]) for j in range(n)]
    return wide_lo, wide_hi


def _format_time(ms: float, _pos: object = None) -> str:
    seconds = round(ms / 1000.0)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _tick_step_ms(duration_ms: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if duration_ms / (step * 1000.0) <= 14:
            return step * 1000.0
    return 1_200_000.0


def _step_label(step: StepInfo, width_pt: float, fontsize: float) -> str:
    """The longest label for `step` that fits `width_pt` points (two lines at most), or ""."""
    fits = int((width_pt - 4) / (fontsize * 0.6))
    number = f"{step.index + 1}."
    zones = f" · {','.join(step.zones)}" if step.zones else ""
    for text in (
        f"{number} {step.name} · {step.technique}{zones}",
        f"{number} {step.name} · {step.technique}",
        f"{number} {step.name}",
    ):
        if len(text) <= fits:
            return text
    lines = textwrap.wrap(f"{number} {step.name}", fits, break_long_words=False) if fits > 0 else []
    if len(lines) <= 2 and lines and all(len(line) <= fits for line in lines):
        return "\n".join(lines)
    return f"{step.index + 1}" if len(f"{step.index + 1}") <= fits else ""


Physical = Mapping[str, Sequence[tuple[float, float]]]
"""A simulated quantity per actuator from a trace: (t_ms, value) rows (speed, or temp_c)."""


def _marks(stream: CommandStream) -> dict[int, str]:
    """Steps to mark: `skipped` (the rig skips them) or `no motion` (they move nothing)."""
    moving = {c.step for c in stream.commands if c.op != "off" and (c.level or c.high or c.low)}
    out: dict[int, str] = {}
    for step in stream.steps:
        if getattr(step, "skipped", False):
            out[step.index] = "skipped"
        elif step.technique != "rest" and step.index not in moving:
            out[step.index] = "no motion"
    return out


def _fast_waves(
    commands: Sequence[Command], duration: float, bins: int
) -> list[tuple[float, float, Command]]:
    """Waves `envelope` draws as a band (a period within a bin and 3 more) that are long
    enough to label: (from, to, wave)."""
    out: list[tuple[float, float, Command]] = []
    bin_ms = duration / bins
    for i, command in enumerate(commands):
        if command.op != "wave" or command.hz * 4 * bin_ms < 1000.0:  # as `envelope` bands it
            continue
        end = commands[i + 1].at_ms if i + 1 < len(commands) else duration
        if end - command.at_ms < 0.04 * duration:
            continue
        last = out[-1] if out else None
        if (
            last is not None
            and _same_wave(last[2], command)
            and command.at_ms - last[1] < 0.05 * duration
        ):
            out[-1] = (last[0], end, last[2])  # bursts of one wave: one label
        else:
            out.append((float(command.at_ms), float(end), command))
    return out


def _same_wave(a: Command, b: Command) -> bool:
    return (a.hz, a.low, a.high, a.shape) == (b.hz, b.low, b.high, b.shape)


def plot_timeline(
    stream: CommandStream,
    path: Path | str,
    *,
    kinds: Mapping[str, str] | None = None,
    actuators: Mapping[str, ActuatorInfo] | None = None,
    trace: TracePoints | None = None,
    physical: Physical | None = None,
    title: str | None = None,
    by: str = "zone",
) -> Path:
    """Draw what the foot feels: a lane per foot zone and kind (or, `by="actuator"`, per
    actuator), each with its level over time and a heat strip of it, into `path`.

    `actuators` says each actuator's kind, foot and zones (`kinds` alone: kinds only);
    with `trace`, the applied levels are drawn over the commanded ones, and `physical`
    adds the simulated roller speed (stalls marked) and heater temperature.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    info = dict(actuators or {})
    for actuator, kind in (kinds or {}).items():
        info.setdefault(actuator, ActuatorInfo(kind))
    by_actuator = stream.by_actuator()
    used = {a for a, pts in (trace or {}).items() if any(level for _, level in pts)}
    rows = lanes(stream.actuators, by_actuator, info, by=by, used=used)
    shown = {a for lane in rows for a in lane.actuators}
    idle_ids = [a for a in stream.actuators if a not in shown]
    if not rows:
        rows = (
            [
                Lane(
                    stream.actuators[0],
                    info.get(stream.actuators[0], ActuatorInfo("")).kind,
                    [stream.actuators[0]],
                )
            ]
            if stream.actuators
            else []
        )
    duration = max(float(stream.duration_ms), 1.0)
    edges = [duration * j / COLUMNS for j in range(COLUMNS + 1)]
    mids = [(edges[j] + edges[j + 1]) / 2 for j in range(COLUMNS)]
    tracks = sorted({s.track for s in stream.steps}) or [0]
    marks = _marks(stream)
    steps, thinned = drawn_steps(stream.steps, duration)

    lane_h = 0.95
    band_h = 0.42 * len(tracks) + 0.15
    fig_w = 13.0
    axes_w_pt = fig_w * (0.985 - 0.12) * 72.0
    fontsize = 7.5
    labels = {
        s.index: _step_label(s, (s.end_ms - s.start_ms) / duration * axes_w_pt, fontsize)
        for s in steps
    }
    unlabelled = [
        f"{s.index + 1}. {s.name} ({s.technique}"
        + (f", {marks[s.index]})" if s.index in marks else ")")
        for s in steps
        if s.technique and s.name not in labels[s.index].replace("\n", " ")
    ]
    if len(unlabelled) > MAX_NOTED_STEPS:
        unlabelled[MAX_NOTED_STEPS:] = [f"and {len(unlabelled) - MAX_NOTED_STEPS:,} more"]
    notes: list[str] = textwrap.wrap(thinned, NOTE_CHARS) if thinned else []
    if unlabelled:
        notes += textwrap.wrap("steps: " + "; ".join(unlabelled), NOTE_CHARS)
    if idle_ids:
        notes += textwrap.wrap(
            f"not used by this profile (always off): {', '.join(idle_ids)}", NOTE_CHARS
        )
    notes_h = 0.18 * len(notes)
    fig_h = 1.35 + band_h + lane_h * len(rows) + notes_h
    fig, axes = plt.subplots(
        len(rows) + 1,
        1,
        sharex=True,
        figsize=(fig_w, fig_h),
        gridspec_kw={"height_ratios": [band_h] + [lane_h] * len(rows), "hspace": 0.14},
        squeeze=False,
    )
    axes_list: list[Any] = [row[0] for row in axes]
    bottom_in = 0.45 + notes_h
    fig.subplots_adjust(left=0.12, right=0.93, top=1 - 0.55 / fig_h, bottom=bottom_in / fig_h)
    total_min = stream.duration_ms / 60000.0
    heading = title or (
        f"{stream.profile} on {stream.rig}: {_format_time(stream.duration_ms)} "
        f"({total_min:.1f} min), {len(stream.steps)} steps"
    )
    fig.suptitle(heading, x=0.12, ha="left", fontsize=11, fontweight="bold")

    band = axes_list[0]
    band.set_ylim(len(tracks), 0)
    band.set_yticks([])
    for side in ("top", "right", "left", "bottom"):
        band.spines[side].set_visible(False)
    band.set_ylabel("steps", rotation=0, ha="right", va="center", fontsize=9)
    for step in steps:
        row = tracks.index(step.track)
        width = step.end_ms - step.start_ms
        mark = marks.get(step.index) if step.technique else None
        box = band.add_patch(
            Rectangle(
                (step.start_ms, row + 0.06),
                width,
                0.88,
                facecolor="#eeeeee" if mark else STEP_COLORS[step.index % len(STEP_COLORS)],
                edgecolor="#777777",
                linewidth=0.5,
                hatch="////" if mark else None,
            )
        )
        box.set_gid(f"step-{step.index + 1}")
        label = labels[step.index]
        if label:
            if mark and width / duration * axes_w_pt > len(label) * fontsize * 0.6 + 40:
                label += f" ({mark})"
            band.text(
                step.start_ms + width / 2,
                row + 0.5,
                label,
                ha="center",
                va="center",
                fontsize=fontsize,
                clip_on=True,
                color="#555555" if mark else "black",
            )

    main = [s for s in steps if s.track == tracks[0]]
    for lane_ax, lane in zip(axes_list[1:], rows, strict=True):
        commands = by_actuator.get(lane.shown, [])
        _draw_lane(lane_ax, lane, commands, edges, mids, duration, main, steps, marks)
        if trace is not None and lane.shown in trace:
            tlo, thi = _widen(*trace_envelope(trace[lane.shown], edges))
            lane_ax.plot(mids, thi, color=TRACE_COLOR, linewidth=0.7, zorder=5)
            lane_ax.plot(mids, tlo, color=TRACE_COLOR, linewidth=0.7, zorder=5)
        if physical is not None and lane.shown in physical:
            _draw_physical(lane_ax, lane, physical[lane.shown], trace, edges, mids)
        if lane_ax is not axes_list[-1]:
            lane_ax.tick_params(axis="x", bottom=False)

    last = axes_list[-1]
    last.set_xlim(0, duration)
    last.xaxis.set_major_locator(MultipleLocator(_tick_step_ms(duration)))
    last.xaxis.set_major_formatter(FuncFormatter(_format_time))
    last.set_xlabel("time (min:s)", fontsize=9)
    for n, note in enumerate(notes):
        y = (0.06 + 0.18 * (len(notes) - 1 - n)) / fig_h
        fig.text(0.12, y, note, fontsize=8, color="#444444")
    band.tick_params(axis="x", bottom=False)
    handles: list[Any] = [
        Patch(color="#1f77b4", alpha=0.5, label="commanded"),
        Patch(color=HEAT_CMAP_SAMPLE, label="strip: how strong"),
    ]
    if trace is not None:
        handles.append(Line2D([], [], color=TRACE_COLOR, linewidth=1.0, label="applied"))
    drawn = {lane.kind for lane in rows if physical is not None and lane.shown in physical}
    if "roller" in drawn:
        handles.append(
            Line2D([], [], color=SPEED_COLOR, linestyle="--", linewidth=1.0, label="speed")
        )
        handles.append(
            Line2D([], [], color="#d62728", marker="|", linestyle="none", label="stalled")
        )
    if "heater" in drawn:
        handles.append(Line2D([], [], color=TEMP_COLOR, linewidth=1.0, label="°C"))
    band.legend(
        handles=handles,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=len(handles),
        fontsize=7.5,
        frameon=False,
    )
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    if out.suffix.lower() == ".svg":
        _svg_titles(out, steps, marks)
    return out


def _svg_titles(path: Path, steps: Sequence[StepInfo], marks: Mapping[int, str]) -> None:
    """Give each step's box in an SVG a <title>: its name shows when the pointer is on it."""
    from html import escape

    text = path.read_text(encoding="utf-8")
    for step in steps:
        zones = f", {', '.join(step.zones)}" if step.zones else ""
        mark = f" ({marks[step.index]})" if step.index in marks and step.technique else ""
        what = f"{step.index + 1}. {step.name}: {step.technique}" if step.technique else step.name
        title = f"{what}{zones}, {_format_time(step.start_ms)}-{_format_time(step.end_ms)}{mark}"
        anchor = f'<g id="step-{step.index + 1}">'
        text = text.replace(anchor, f"{anchor}<title>{escape(title)}</title>", 1)
    path.write_text(text, encoding="utf-8")


def _draw_lane(
    ax: Any,
    lane: Lane,
    commands: Sequence[Command],
    edges: Sequence[float],
    mids: Sequence[float],
    duration: float,
    main: Sequence[StepInfo],
    steps: Sequence[StepInfo],
    marks: Mapping[int, str],
) -> None:
    """One lane: step shading, the level (fast waves as a light band, labelled), a heat strip."""
    lo, hi = envelope(commands, edges)
    signed = lane.kind == "roller" or min(lo, default=0.0) < 0.0
    for n, step in enumerate(main):
        ax.axvspan(step.start_ms, step.end_ms, color=STEP_SHADES[n % 2], zorder=0, linewidth=0)
    ax.vlines(  # one collection, not an artist per step
        [step.start_ms for step in steps],
        0.0,
        1.0,
        transform=ax.get_xaxis_transform(),
        colors="#bbbbbb",
        linewidth=0.5,
        zorder=1,
    )
    for step in steps:
        if step.index in marks and step.technique:
            ax.axvspan(
                step.start_ms,
                step.end_ms,
                facecolor="none",
                edgecolor="#cccccc",
                hatch="////",
                linewidth=0,
                zorder=1,
            )
    color = KIND_COLORS.get(lane.kind, "#1f77b4")
    waves = _fast_waves(commands, duration, len(mids))
    ax.fill_between(mids, lo, hi, color=color, alpha=0.18 if waves else 0.35, linewidth=0, zorder=2)
    ax.plot(mids, hi, color=color, linewidth=0.9, zorder=3)
    ax.plot(mids, lo, color=color, linewidth=0.9, zorder=3)
    for start, end, wave in waves:
        ax.annotate(
            f"{wave.hz:.3g} Hz, {wave.low:.2g}..{wave.high:.2g}",
            ((start + end) / 2, wave.high),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=6.5,
            color=color,
            zorder=6,
        )
    for command in commands:
        if command.op == "heat":
            ax.annotate(
                f"to {command.target_c:g} °C",
                (command.at_ms, command.level),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=7,
                color=color,
            )
    top = 1.08
    bottom = -1.08 if signed else -0.04
    strip = (bottom - 0.32, bottom - 0.06)
    heat = [[max(abs(a), abs(b)) for a, b in zip(lo, hi, strict=True)]]
    ax.imshow(
        heat,
        aspect="auto",
        extent=(0.0, duration, strip[0], strip[1]),
        cmap=HEAT_CMAP,
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
        zorder=2,
    )
    ax.set_ylim(strip[0] - 0.02, top)
    ax.set_yticks([-1, 0, 1] if signed else [0, 1])
    if signed:
        ax.axhline(0, color="#888888", linewidth=0.5, zorder=1)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    ax.set_ylabel(lane.label, rotation=0, ha="right", va="center", fontsize=8.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _draw_physical(
    ax: Any,
    lane: Lane,
    values: Sequence[tuple[float, float]],
    trace: TracePoints | None,
    edges: Sequence[float],
    mids: Sequence[float],
) -> None:
    """Roller speed (dashed, stalls marked) or heater temperature (own axis, °C)."""
    if not values:
        return
    lo, hi = _widen(*trace_envelope(values, edges))
    if lane.kind == "heater":
        twin = ax.twinx()
        twin.plot(mids, hi, color=TEMP_COLOR, linewidth=1.1, zorder=6)
        low = min(lo)
        twin.set_ylim(min(low, 20.0) - 1, max(max(hi), 45.0) + 1)
        twin.set_ylabel("°C", rotation=0, fontsize=7.5, color=TEMP_COLOR, labelpad=8)
        twin.tick_params(axis="y", labelsize=7, colors=TEMP_COLOR)
        for side in ("top",):
            twin.spines[side].set_visible(False)
        return
    if lane.kind != "roller":
        return
    ax.plot(mids, hi, color=SPEED_COLOR, linewidth=0.8, linestyle="--", zorder=6)
    ax.plot(mids, lo, color=SPEED_COLOR, linewidth=0.8, linestyle="--", zorder=6)
    if trace is None or lane.shown not in trace:
        return
    tlo, thi = trace_envelope(trace[lane.shown], edges)
    stalled = [
        mids[j]
        for j in range(len(mids))
        if max(abs(tlo[j]), abs(thi[j])) > STALL_LEVEL and max(abs(lo[j]), abs(hi[j])) < 0.02
    ]
    if stalled:
        ax.plot(
            stalled,
            [1.0] * len(stalled),
            linestyle="none",
            marker="|",
            color="#d62728",
            markersize=5,
            zorder=7,
            label="stalled",
        )
