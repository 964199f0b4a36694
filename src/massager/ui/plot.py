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

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from firmware_bridge import waveforms as wf
from massager.stream import Command, CommandStream, StepInfo, Timeline

KIND_COLORS = {
    "roller": "#1f77b4",
    "vibration": "#9467bd",
    "air": "#2ca02c",
    "heater": "#d62728",
}
TRACE_COLOR = "#222222"
STEP_SHADES = ("#f2f2f2", "#ffffff")
STEP_COLORS = ("#cfe2f3", "#fce5cd", "#d9ead3", "#ead1dc", "#fff2cc", "#d0e0e3")
COLUMNS = 1400
"""Time bins across the plot: about one per pixel column at the default size."""
_WAVE_SAMPLES = 24

TracePoints = Mapping[str, Sequence[tuple[float, float]]]
"""Applied levels per actuator: (t_ms, level) at each change, in time order."""


def _command_value(command: Command, start: float, t_ms: float) -> float:
    op, a, b, c, d = command.args()
    return wf.op_value(op, a, b, c, d, start, int((t_ms - command.at_ms) * 1000))


def envelope(
    commands: Sequence[Command], edges: Sequence[float]
) -> tuple[list[float], list[float]]:
    """Lowest and highest commanded level of one actuator in each bin between `edges`.

    Exact for set, ramp and off; a wave spans its low..high in a bin that holds a
    full period (or nearly: periods under three bins are drawn as a band), a
    shorter stretch of a slow wave is sampled.
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
                for n in range(_WAVE_SAMPLES + 1):
                    add(k, _command_value(command, start_level, x0 + (x1 - x0) * n / _WAVE_SAMPLES))
            else:  # constant or linear: its ends bound it
                add(k, _command_value(command, start_level, x0))
                add(k, _command_value(command, start_level, x1))
            k += 1
    return lo, hi


def trace_envelope(
    points: Sequence[tuple[float, float]], edges: Sequence[float]
) -> tuple[list[float], list[float]]:
    """Lowest and highest applied level in each bin, each level holding until the next point."""
    bins = len(edges) - 1
    lo = [0.0] * bins
    hi = [0.0] * bins
    level = 0.0
    i = 0
    for j in range(bins):
        while i < len(points) and points[i][0] <= edges[j]:
            level = points[i][1]
            i += 1
        lo[j] = hi[j] = level
        while i < len(points) and points[i][0] < edges[j + 1]:
            level = points[i][1]
            lo[j] = min(lo[j], level)
            hi[j] = max(hi[j], level)
            i += 1
    return lo, hi


def _format_time(ms: float, _pos: object = None) -> str:
    seconds = round(ms / 1000.0)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _tick_step_ms(duration_ms: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if duration_ms / (step * 1000.0) <= 14:
            return step * 1000.0
    return 1_200_000.0


def _step_label(step: StepInfo, width_pt: float, fontsize: float) -> str:
    """The longest label for `step` that fits `width_pt` points, or "" if none does."""
    char = fontsize * 0.6
    zones = ",".join(step.zones)
    for text in (
        f"{step.index + 1}. {step.name} · {step.technique} · {zones}",
        f"{step.index + 1}. {step.name} · {step.technique}",
        f"{step.index + 1}. {step.name}",
        f"{step.index + 1}",
    ):
        if len(text) * char <= width_pt - 4:
            return text
    return ""


def plot_timeline(
    stream: CommandStream,
    path: Path | str,
    *,
    kinds: Mapping[str, str] | None = None,
    trace: TracePoints | None = None,
    title: str | None = None,
) -> Path:
    """Draw `stream` as one lane per actuator with its steps, into the PNG `path`.

    `kinds` maps actuator ids to their kind (colours and level ranges); with
    `trace`, the applied levels are drawn over the commanded ones.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    kinds = dict(kinds or {})
    by_actuator = stream.by_actuator()
    actuators = list(stream.actuators)
    duration = max(float(stream.duration_ms), 1.0)
    edges = [duration * j / COLUMNS for j in range(COLUMNS + 1)]
    mids = [(edges[j] + edges[j + 1]) / 2 for j in range(COLUMNS)]
    tracks = sorted({s.track for s in stream.steps}) or [0]

    lane_h = 0.85
    band_h = 0.32 * len(tracks) + 0.15
    fig_w = 13.0
    fig_h = 1.2 + band_h + lane_h * len(actuators)
    fig, axes = plt.subplots(
        len(actuators) + 1,
        1,
        sharex=True,
        figsize=(fig_w, fig_h),
        gridspec_kw={"height_ratios": [band_h] + [lane_h] * len(actuators), "hspace": 0.12},
        squeeze=False,
    )
    axes_list: list[Any] = [row[0] for row in axes]
    fig.subplots_adjust(left=0.12, right=0.985, top=1 - 0.55 / fig_h, bottom=0.45 / fig_h)
    total_min = stream.duration_ms / 60000.0
    heading = title or (
        f"{stream.profile} on {stream.rig}: {_format_time(stream.duration_ms)} "
        f"({total_min:.1f} min), {len(stream.steps)} steps"
    )
    fig.suptitle(heading, x=0.12, ha="left", fontsize=11, fontweight="bold")

    # the step band: one row per track, each step a labelled box
    band = axes_list[0]
    band.set_ylim(len(tracks), 0)
    band.set_yticks([])
    for side in ("top", "right", "left", "bottom"):
        band.spines[side].set_visible(False)
    band.set_ylabel("steps", rotation=0, ha="right", va="center", fontsize=9)
    axes_w_pt = fig_w * (0.985 - 0.12) * 72.0
    fontsize = 7.5
    for step in stream.steps:
        row = tracks.index(step.track)
        width = step.end_ms - step.start_ms
        color = STEP_COLORS[step.index % len(STEP_COLORS)]
        band.add_patch(
            Rectangle(
                (step.start_ms, row + 0.06),
                width,
                0.88,
                facecolor=color,
                edgecolor="#777777",
                linewidth=0.5,
            )
        )
        label = _step_label(step, width / duration * axes_w_pt, fontsize)
        if label:
            band.text(
                step.start_ms + width / 2,
                row + 0.5,
                label,
                ha="center",
                va="center",
                fontsize=fontsize,
                clip_on=True,
            )

    main = [s for s in stream.steps if s.track == tracks[0]]
    for lane, actuator in zip(axes_list[1:], actuators, strict=True):
        kind = kinds.get(actuator, "")
        commands = by_actuator.get(actuator, [])
        lo, hi = envelope(commands, edges)
        signed = kind == "roller" or min(lo, default=0.0) < 0.0
        for n, step in enumerate(main):
            lane.axvspan(
                step.start_ms, step.end_ms, color=STEP_SHADES[n % 2], zorder=0, linewidth=0
            )
        for step in stream.steps:
            lane.axvline(step.start_ms, color="#bbbbbb", linewidth=0.5, zorder=1)
        color = KIND_COLORS.get(kind, "#1f77b4")
        lane.fill_between(mids, lo, hi, color=color, alpha=0.35, linewidth=0, zorder=2)
        lane.plot(mids, hi, color=color, linewidth=0.9, zorder=3)
        lane.plot(mids, lo, color=color, linewidth=0.9, zorder=3)
        if trace is not None and actuator in trace:
            tlo, thi = trace_envelope(trace[actuator], edges)
            lane.fill_between(mids, tlo, thi, color=TRACE_COLOR, alpha=0.5, linewidth=0, zorder=4)
            lane.plot(mids, thi, color=TRACE_COLOR, linewidth=0.6, zorder=5)
            lane.plot(mids, tlo, color=TRACE_COLOR, linewidth=0.6, zorder=5)
        for command in commands:
            if command.op == "heat":
                lane.annotate(
                    f"to {command.target_c:g} °C",
                    (command.at_ms, command.level),
                    xytext=(3, 3),
                    textcoords="offset points",
                    fontsize=7,
                    color=color,
                )
        if lane is not axes_list[-1]:
            lane.tick_params(axis="x", bottom=False)
        if signed:
            lane.set_ylim(-1.08, 1.08)
            lane.set_yticks([-1, 0, 1])
            lane.axhline(0, color="#888888", linewidth=0.5, zorder=1)
        else:
            lane.set_ylim(-0.04, 1.08)
            lane.set_yticks([0, 1])
        lane.tick_params(axis="y", labelsize=7)
        lane.grid(axis="y", color="#dddddd", linewidth=0.5)
        name = f"{actuator}\n({kind})" if kind else actuator
        lane.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8.5)
        for side in ("top", "right"):
            lane.spines[side].set_visible(False)

    last = axes_list[-1]
    last.set_xlim(0, duration)
    last.xaxis.set_major_locator(MultipleLocator(_tick_step_ms(duration)))
    last.xaxis.set_major_formatter(FuncFormatter(_format_time))
    last.set_xlabel("time (min:s)", fontsize=9)
    last.tick_params(axis="x", labelsize=8)
    band.tick_params(axis="x", bottom=False)
    if trace is not None:
        handles = [
            Patch(color="#1f77b4", alpha=0.5, label="commanded level"),
            Patch(color=TRACE_COLOR, alpha=0.6, label="applied level (trace)"),
        ]
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
    return out
