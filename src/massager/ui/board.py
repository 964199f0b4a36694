"""The live view's screen, laid out to fit the terminal: what is drawn, not when.

`draw(frame, width, height)` turns what the session last reported (a `Frame`)
into lines of text no wider than `width` and, where it can, no more than
`height`: the head (profile, rig, device, speed and state), the step now
playing with its time left and the next step, the levels (a row per foot zone
and kind with a column per foot, or a row per actuator), the elapsed and
remaining time, the intensity and, when keys are read, their help. On a small
terminal it drops columns and spare lines (bars, then the kind column, blank
lines, the key help, the column heads), never a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rich.text import Text

from massager.stream import StepInfo
from massager.ui.lanes import FEET, ActuatorInfo
from massager.units import clock_text

KIND_STYLES = {"roller": "blue", "vibration": "magenta", "air": "green", "heater": "red"}
"""Bar colours by actuator kind (as in the timeline plots); rollers are centred on zero."""
KEYS_HELP = (
    "space pause/resume · + / - intensity · q stop · Ctrl-C interrupt",
    "space pause · +/- intensity · q stop",
)
"""The key help, long and short: the first that fits is shown."""
BAR_MAX = 25
BAR_MIN = 7
PROGRESS_MAX = 40
PROGRESS_MIN = 8
VALUE_WIDTH = 5
TEMP_WIDTH = 7


@dataclass(frozen=True)
class LevelRow:
    """One row of levels: a label (zones or an actuator), a kind, an actuator per column."""

    label: str
    kind: str
    cells: tuple[str | None, ...]


@dataclass(frozen=True)
class Levels:
    """How the levels are laid out: column heads (the feet) and rows."""

    columns: tuple[str, ...]
    rows: tuple[LevelRow, ...]


def group_levels(
    actuators: Sequence[str], info: Mapping[str, ActuatorInfo], *, by: str = "zone"
) -> Levels:
    """Rows by foot zone and kind with a column per foot (`by="zone"`), or one per actuator.

    Actuators of one kind reaching the same zones share a row, each foot in its
    column; two of them on one foot get a row each, so no level is hidden.
    """
    if by == "actuator":
        rows = tuple(LevelRow(a, info[a].kind if a in info else "", (a,)) for a in actuators)
        return Levels(("",), rows)
    feet = {info[a].foot if a in info else "" for a in actuators}
    columns = tuple(sorted(feet, key=lambda f: (FEET.index(f) if f in FEET else 2, f)))
    groups: dict[tuple[str, tuple[str, ...]], dict[str, list[str]]] = {}
    for actuator in actuators:
        meta = info.get(actuator, ActuatorInfo(""))
        key = (meta.kind, meta.zones or (actuator,))
        groups.setdefault(key, {}).setdefault(meta.foot, []).append(actuator)
    out: list[LevelRow] = []
    for (kind, zones), by_foot in groups.items():
        for i in range(max(len(acts) for acts in by_foot.values())):
            cells = tuple(
                acts[i] if i < len(acts := by_foot.get(foot, [])) else None for foot in columns
            )
            out.append(LevelRow(", ".join(zones), kind, cells))
    return Levels(columns, tuple(out))


@dataclass(frozen=True)
class Frame:
    """What the live view shows at one moment (built from the session's events)."""

    profile: str
    rig: str
    state: str
    """"starting", "playing", "PAUSED", or how it ended ("stopped", "done", ...)."""
    t_ms: float
    duration_ms: int
    step_count: int
    device: str = ""
    speed: float = 1.0
    playing: tuple[StepInfo, ...] = ()
    next_step: StepInfo | None = None
    ended: bool = False
    levels: Mapping[str, float] = field(default_factory=dict)
    temps: Mapping[str, float] = field(default_factory=dict)
    intensity: float = 1.0
    notice: str = ""
    keys: bool = False


def value_text(level: float, signed: bool) -> str:
    """A level in 5 characters: `+0.42`, `-0.42`, ` 0.00` (never `-0.00`), ` 0.42`."""
    if round(level, 2) == 0:
        return " 0.00"
    return f"{level:+.2f}" if signed else f"{level:5.2f}"


def bar_text(level: float, width: int, signed: bool) -> str:
    """A bar of `width` cells; a signed one is centred on `│` (left backward, right forward)."""
    if not signed:
        filled = round(min(max(level, 0.0), 1.0) * width)
        return "█" * filled + "·" * (width - filled)
    half = (width - 1) // 2
    filled = round(min(abs(level), 1.0) * half)
    empty = "·" * half
    bar = "·" * (half - filled) + "█" * filled
    if level < 0:
        return bar + "│" + empty + "·" * (width - 1 - 2 * half)
    return empty + "│" + bar[::-1] + "·" * (width - 1 - 2 * half)


@dataclass(frozen=True)
class _Layout:
    bar: int  # 0: no bars
    kind: bool
    temps: bool
    label_w: int
    kind_w: int

    def cell_width(self) -> int:
        width = VALUE_WIDTH + (self.bar + 1 if self.bar else 0)
        return width + (TEMP_WIDTH + 1 if self.temps else 0)

    def row_width(self, columns: int) -> int:
        head = self.label_w + (self.kind_w + 1 if self.kind else 0)
        return head + columns * (2 + self.cell_width())


def _layout(levels: Levels, width: int) -> _Layout:
    rows = levels.rows
    label_w = max((len(r.label) for r in rows), default=0)
    kind_w = max((len(r.kind) for r in rows), default=0)
    temps = any(r.kind == "heater" for r in rows)
    columns = len(levels.columns)
    bare = _Layout(0, True, temps, label_w, kind_w)
    spare = width - bare.row_width(columns)
    bar = min(BAR_MAX, spare // columns - 1) if columns else 0
    if bar >= BAR_MIN:
        return _Layout(bar - (1 - bar % 2), True, temps, label_w, kind_w)  # odd: a centre
    if spare >= 0 or not kind_w:
        return bare
    return _Layout(0, False, temps, label_w, kind_w)


def _level_lines(frame: Frame, levels: Levels, layout: _Layout) -> tuple[Text | None, list[Text]]:
    head: Text | None = None
    if any(levels.columns):
        head = Text(" " * (layout.label_w + (layout.kind_w + 1 if layout.kind else 0)))
        for column in levels.columns:
            head.append("  " + column.ljust(layout.cell_width()), style="bold")
        head.rstrip()
    lines = []
    for row in levels.rows:
        line = Text(row.label.ljust(layout.label_w))
        if layout.kind:
            line.append(" " + row.kind.ljust(layout.kind_w), style="dim")
        for actuator in row.cells:
            line.append("  ")
            line.append_text(_cell(frame, row.kind, actuator, layout))
        line.rstrip()
        lines.append(line)
    return head, lines


def _cell(frame: Frame, kind: str, actuator: str | None, layout: _Layout) -> Text:
    cell = Text()
    if actuator is None:
        cell.append(" " * layout.cell_width())
        return cell
    level = frame.levels.get(actuator, 0.0)
    signed = kind == "roller" or level < 0
    if layout.bar:
        style = KIND_STYLES.get(kind, "cyan")
        cell.append(bar_text(level, layout.bar, signed), style=style)
        cell.append(" ")
    cell.append(value_text(level, signed), style="bold")
    if layout.temps:
        temp = frame.temps.get(actuator)
        cell.append(" " + (f"{temp:.1f}°C" if temp is not None else "").rjust(TEMP_WIDTH))
    return cell


def _first_fitting(variants: Sequence[str], width: int) -> str:
    """The first of `variants` no wider than `width`, else the last (the terminal wraps it)."""
    for variant in variants:
        if len(variant) <= width:
            return variant
    return variants[-1]


def _head(frame: Frame, width: int) -> Text:
    state = f"   [{frame.state}]"
    parts = [frame.profile, f" on {frame.rig}"]
    if frame.device:
        parts.append(f" · device {frame.device}")
    if frame.speed != 1.0:
        parts.append(f" · ×{frame.speed:g}")
    while len(parts) > 1 and len("".join(parts)) + len(state) > width:
        parts.pop()  # the speed, the device, then the rig: never the state
    head = Text(parts[0], style="bold")
    head.append("".join(parts[1:]))
    paused = frame.state == "PAUSED"
    head.append(state, style="bold yellow" if paused else "bold green")
    return head


def _step_text(word: str, step: StepInfo, count: int, tail: str, width: int) -> str:
    """`step 3/9 knead (knead) on sole · 0:42 left`, shortened to fit: technique, zones."""
    which = f"{word} {step.number}/{count} {step.name}"
    zones = f" on {', '.join(step.zones)}" if step.zones else ""
    variants = [f"{which} ({step.technique}){zones}{tail}", f"{which}{zones}{tail}"]
    return _first_fitting([*variants, f"{which}{tail}"], width)


def _step_lines(frame: Frame, width: int) -> list[Text]:
    lines = []
    for step in frame.playing:
        left = f" · {clock_text(step.end_ms - frame.t_ms)} left"
        lines.append(Text(_step_text("step", step, frame.step_count, left, width), style="cyan"))
    if not lines:
        lines.append(Text("step -", style="dim"))
    return lines


def _next_line(frame: Frame, width: int) -> Text:
    step = frame.next_step
    if step is None:
        return Text("next -" if frame.ended else "next: the end", style="dim")
    when = f" in {clock_text(step.start_ms - frame.t_ms)}"
    return Text(_step_text("next", step, frame.step_count, when, width), style="dim")


def _timing(frame: Frame, width: int) -> Text:
    duration = max(frame.duration_ms, 1)
    done = min(max(frame.t_ms, 0.0), float(duration))
    start = f"elapsed {clock_text(done)}"
    end = f"{100 * done / duration:3.0f}%  remaining {clock_text(duration - done)}"
    bar = min(PROGRESS_MAX, width - len(start) - len(end) - 2)
    line = Text(start)
    if bar >= PROGRESS_MIN:
        filled = round(bar * done / duration)
        line.append(" ")
        line.append("━" * filled, style="magenta")
        line.append("─" * (bar - filled), style="grey37")
    line.append(" " + end)
    return line


def _intensity(frame: Frame) -> Text:
    line = Text(f"intensity {frame.intensity:.1f}")
    if frame.notice:
        line.append("  " + frame.notice, style="yellow")
    return line


def draw(frame: Frame, levels: Levels, width: int, height: int) -> list[Text]:
    """The lines of the view for a `width` x `height` terminal (see the module's doc)."""
    layout = _layout(levels, width)
    column_head, rows = _level_lines(frame, levels, layout)
    top = [_head(frame, width), *_step_lines(frame, width)]
    next_line: Text | None = _next_line(frame, width)
    keys = Text(_first_fitting(KEYS_HELP, width), style="dim") if frame.keys else None
    blanks = 2

    def count() -> int:
        extra = (next_line is not None) + (keys is not None) + (column_head is not None)
        return len(top) + len(rows) + blanks + extra + 2

    # too tall: drop the blank lines, then the key help, the column heads, the next step
    while count() > height and blanks:
        blanks -= 1
    if count() > height:
        keys = None
    if count() > height:
        column_head = None
    if count() > height:
        next_line = None
    out = list(top)
    if next_line is not None:
        out.append(next_line)
    if blanks == 2:
        out.append(Text(""))
    if column_head is not None:
        out.append(column_head)
    out.extend(rows)
    if blanks:
        out.append(Text(""))
    out += [_timing(frame, width), _intensity(frame)]
    if keys is not None:
        out.append(keys)
    return out
