"""What a person sees while a profile plays: a live terminal view, or plain lines.

On a terminal, `LiveView` shows the profile and current step, technique and
zones, a bar per actuator, elapsed and remaining time with a progress bar,
and reads keys (space pause/resume, + and - intensity, q stop) in a thread
with the terminal in cbreak mode, restored on every way out. When stdout is
not a terminal, `PlainReporter` writes one line per step and per event.
Both only listen to the session's events.
"""

from __future__ import annotations

import atexit
import os
import select
import sys
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from types import TracebackType
from typing import Any, TextIO

from rich.bar import Bar
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from massager.runtime.events import (
    Event,
    EventBus,
    Fault,
    Finished,
    IntensityChanged,
    Paused,
    Progress,
    Resumed,
    SessionStarted,
    StepStarted,
)
from massager.runtime.session import INTENSITY_STEP, Session, SessionResult
from massager.stream import StepInfo

KEYS_HELP = "space pause/resume · + / - intensity · q stop · Ctrl-C interrupt"
BAR_WIDTH = 32
KIND_STYLES = {"roller": "blue", "vibration": "magenta", "air": "green", "heater": "red"}
"""Bar colours by actuator kind (as in the timeline plots); rollers are centred on zero."""
REFRESH_PER_S = 10
"""Redraws of the live view per second (in rich's refresh thread, not the session's)."""


def clock_text(ms: float) -> str:
    """`ms` as m:ss (h:mm:ss from an hour)."""
    seconds = max(0, int(ms // 1000))
    minutes, secs = divmod(seconds, 60)
    if minutes >= 60:
        return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def step_text(step: StepInfo, count: int) -> str:
    """A step as "3/9 knead (knead) on sole, heel"."""
    zones = ", ".join(step.zones) or "-"
    return f"{step.index + 1}/{count} {step.name} ({step.technique}) on {zones}"


class PlainReporter:
    """Writes one line per step and per session event to `out` (for pipes and logs)."""

    def __init__(self, bus: EventBus, out: TextIO) -> None:
        self.out = out
        self._unsubscribe = bus.subscribe(
            self._on_event,
            SessionStarted,
            StepStarted,
            Paused,
            Resumed,
            IntensityChanged,
            Fault,
            Finished,
        )

    def close(self) -> None:
        """Stop listening."""
        self._unsubscribe()

    def _line(self, t_ms: float, text: str) -> None:
        self.out.write(f"[{clock_text(t_ms)}] {text}\n")
        self.out.flush()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self._line(
                0,
                f"{event.profile} on {event.rig} (device {event.device}): "
                f"{clock_text(event.duration_ms)}, {len(event.steps)} steps, "
                f"intensity {event.intensity:.1f}",
            )
        elif isinstance(event, StepStarted):
            self._line(event.t_ms, "step " + step_text(event.step, event.count))
        elif isinstance(event, Paused):
            self._line(event.t_ms, "paused")
        elif isinstance(event, Resumed):
            self._line(event.t_ms, "resumed")
        elif isinstance(event, IntensityChanged):
            self._line(event.t_ms, f"intensity {event.previous:.1f} -> {event.intensity:.1f}")
        elif isinstance(event, Fault):
            self._line(event.t_ms, f"fault ({event.kind}): {event.message}")
        elif isinstance(event, Finished):
            self._line(event.t_ms, f"finished, {event.outcome}")


class KeyReader:
    """Reads single keys from a terminal in a thread and turns them into session controls.

    The terminal is put in cbreak mode (keys arrive at once, Ctrl-C still
    signals) and restored on exit, also at interpreter exit.
    """

    def __init__(self, session: Session, stdin: TextIO | None = None) -> None:
        self.session = session
        self.stdin = stdin if stdin is not None else sys.stdin
        self._fd = -1
        self._saved: list[Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def handle(self, key: str) -> None:
        """Apply one key: space, +/=, -/_, q."""
        if key == " ":
            self.session.toggle_pause()
        elif key in "+=":
            self.session.change_intensity(+INTENSITY_STEP)
        elif key in "-_":
            self.session.change_intensity(-INTENSITY_STEP)
        elif key in "qQ":
            self.session.stop()

    def __enter__(self) -> KeyReader:
        import termios
        import tty

        self._fd = self.stdin.fileno()
        self._saved = termios.tcgetattr(self._fd)
        atexit.register(self._restore)
        tty.setcbreak(self._fd)
        self._thread = threading.Thread(target=self._read, name="massager-keys", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self._restore()
        atexit.unregister(self._restore)

    def _restore(self) -> None:
        if self._saved is None:
            return
        import termios

        with suppress(termios.error, OSError):
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        self._saved = None

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._fd], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(self._fd, 32)
            except (OSError, ValueError):  # EIO: the terminal hung up
                if not self._stop.is_set():
                    self.session.interrupt("stdin closed")
                return
            if not data:  # the terminal is gone: nobody can press q or Ctrl-C any more
                self.session.interrupt("stdin closed")
                return
            for key in data.decode("utf-8", "replace"):
                self.handle(key)


class LiveView:
    """The rich live view of a session, redrawn from its events."""

    def __init__(
        self,
        session: Session,
        console: Console,
        *,
        kinds: Mapping[str, str] | None = None,
        speed: float = 1.0,
    ) -> None:
        self.session = session
        self.console = console
        self.kinds = dict(kinds or {})
        self.speed = speed
        stream = session.stream
        self.started: SessionStarted | None = None
        self.progress = Progress(0.0, duration_ms=stream.duration_ms, intensity=session.intensity)
        self.steps: dict[int, StepInfo] = {}
        self.step_count = len(stream.steps)
        self.notice = ""
        self.finished: Finished | None = None
        self._live: Live | None = None
        self._unsubscribe: Callable[[], None] = session.bus.subscribe(self._on_event)

    def close(self) -> None:
        """Stop listening."""
        self._unsubscribe()

    def _on_event(self, event: Event) -> None:
        # Only record state here: this runs in the session's thread, which must stay
        # quick; the Live refresh thread draws.
        if isinstance(event, SessionStarted):
            self.started = event
        elif isinstance(event, StepStarted):
            ends = {i: s for i, s in self.steps.items() if s.end_ms > event.t_ms}
            ends[event.step.index] = event.step
            self.steps = ends
        elif isinstance(event, Progress):
            self.progress = event
            if any(s.end_ms <= event.t_ms for s in self.steps.values()):
                self.steps = {i: s for i, s in self.steps.items() if s.end_ms > event.t_ms}
        elif isinstance(event, Paused):
            self.notice = "paused: space resumes"
        elif isinstance(event, Resumed):
            self.notice = ""
        elif isinstance(event, IntensityChanged):
            self.notice = f"intensity {event.intensity:.1f}"
        elif isinstance(event, Fault):
            self.notice = f"fault: {event.message}"
        elif isinstance(event, Finished):
            self.finished = event

    def render(self) -> RenderableType:
        """The view as a rich renderable."""
        stream = self.session.stream
        p = self.progress
        head = Text()
        head.append(f"{stream.profile}", style="bold")
        head.append(f" on {stream.rig}")
        if self.started is not None:
            head.append(f" · device {self.started.device}")
        if self.speed != 1.0:
            head.append(f" · ×{self.speed:g}")
        state = "PAUSED" if p.paused else ("ended" if self.finished else "playing")
        head.append(f"   [{state}]", style="bold yellow" if p.paused else "bold green")

        steps = Text()
        if self.steps:
            for step in sorted(self.steps.values(), key=lambda s: (s.track, s.start_ms)):
                steps.append("step ", style="dim")
                steps.append(step_text(step, self.step_count), style="cyan")
                steps.append("\n")
            steps.rstrip()
        else:
            steps.append("step -", style="dim")

        bars = Table.grid(padding=(0, 1))
        bars.add_column(no_wrap=True)
        bars.add_column(no_wrap=True, style="dim")
        bars.add_column(no_wrap=True)
        bars.add_column(justify="right", no_wrap=True)
        bars.add_column(no_wrap=True)
        for actuator in stream.actuators:
            level = p.levels.get(actuator, 0.0)
            kind = self.kinds.get(actuator, "")
            color = KIND_STYLES.get(kind, "cyan")
            if kind == "roller" or level < 0:
                begin, end = 1.0 + min(0.0, level), 1.0 + max(0.0, level)
                bar = Bar(2.0, begin, end, width=BAR_WIDTH, color=color, bgcolor="grey23")
                value = f"{level:+.2f}"
            else:
                bar = Bar(1.0, 0.0, max(0.0, level), width=BAR_WIDTH, color=color, bgcolor="grey23")
                value = f"{level:.2f}"
            temp = p.temps.get(actuator)
            bars.add_row(actuator, kind, bar, value, f"{temp:.1f} °C" if temp is not None else "")

        duration = max(stream.duration_ms, 1)
        done = min(max(p.t_ms, 0.0), float(duration))
        timing = Table.grid(padding=(0, 1))
        timing.add_column(no_wrap=True)
        timing.add_column(no_wrap=True)
        timing.add_column(no_wrap=True)
        timing.add_row(
            f"elapsed {clock_text(done)}",
            ProgressBar(total=float(duration), completed=done, width=40),
            f"{100 * done / duration:3.0f}%  remaining {clock_text(duration - done)}",
        )
        intensity = Text(f"intensity {self.session.intensity:.1f}  ")
        intensity.append(self.notice, style="yellow")
        return Group(
            head, steps, Text(""), bars, Text(""), timing, intensity, Text(KEYS_HELP, style="dim")
        )

    def __enter__(self) -> LiveView:
        self._live = Live(
            console=self.console,
            get_renderable=self.render,
            refresh_per_second=REFRESH_PER_S,
            transient=False,
        )
        self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.refresh()
            live.__exit__(exc_type, exc, tb)
        self.close()


def play(
    session: Session,
    *,
    out: TextIO | None = None,
    kinds: Mapping[str, str] | None = None,
    speed: float = 1.0,
    live: bool | None = None,
    keys: bool | None = None,
) -> SessionResult:
    """Run `session` with the live view on a terminal, or plain lines otherwise.

    `live` and `keys` default to whether stdout and stdin are terminals.
    """
    out = out if out is not None else sys.stdout
    if live is None:
        live = out.isatty()
    if keys is None:
        keys = live and sys.stdin.isatty()
    if not live:
        reporter = PlainReporter(session.bus, out)
        try:
            if keys:
                with KeyReader(session):
                    return session.run()
            return session.run()
        finally:
            reporter.close()
    console = Console(file=out)
    with LiveView(session, console, kinds=kinds, speed=speed):
        if keys:
            with KeyReader(session):
                return session.run()
        return session.run()
