"""What a person sees while a profile plays: a live terminal view, or plain lines.

On a terminal, `LiveView` draws the profile, the step now playing with its time
left and the next step, the levels by foot zone (or by actuator), the elapsed and
remaining time and the intensity, laid out for the terminal's size
(`massager.ui.board`); the keys are read by `massager.ui.keys.KeyReader`. Nothing
is drawn before the device is open, and the last frame shows every output at zero,
as the session leaves them. When stdout is not a terminal, `PlainReporter` writes
one line per step and per event. Both only listen to the session's events.
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live

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
from massager.runtime.session import Session, SessionResult
from massager.stream import StepInfo
from massager.ui.board import Frame, draw, group_levels
from massager.ui.keys import KeyReader
from massager.ui.lanes import ActuatorInfo
from massager.units import clock_text

REFRESH_PER_S = 10
"""Redraws of the live view per second (in rich's refresh thread, not the session's)."""
ENDED = {
    "done": "done",
    "stopped": "stopped",
    "cap": "session limit",
    "pause_limit": "pause limit",
    "interrupted": "interrupted",
    "fault": "safety stop",
    "error": "failed",
}
"""The state the last frame shows, by how the session ended."""


def step_text(step: StepInfo, count: int) -> str:
    """A step as "3/9 knead (knead) on sole, heel"."""
    zones = ", ".join(step.zones) or "-"
    return f"{step.number}/{count} {step.name} ({step.technique}) on {zones}"


class PlainReporter:
    """Writes one line per step and per session event to `out` (for pipes and logs)."""

    def __init__(self, bus: EventBus, out: TextIO) -> None:
        self.out = out
        self._faults: set[str] = set()
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
            self._faults.add(event.message)
            self._line(event.t_ms, f"fault ({event.kind}): {event.message}")
        elif isinstance(event, Finished):
            # a fault's message is on the line above: once is enough
            said = event.message in self._faults
            self._line(event.t_ms, f"finished, {event.reason if said else event.outcome}")


class LiveView:
    """The rich live view of a session, redrawn from its events.

    The view starts drawing when the session has opened the device
    (`SessionStarted`); a session that never starts draws nothing.
    """

    def __init__(
        self,
        session: Session,
        console: Console,
        *,
        actuators: Mapping[str, ActuatorInfo] | None = None,
        speed: float = 1.0,
        by: str = "zone",
        keys: bool = False,
    ) -> None:
        self.session = session
        self.console = console
        self.speed = speed
        self.keys = keys
        stream = session.stream
        self.levels = group_levels(stream.actuators, actuators or {}, by=by)
        self.started: SessionStarted | None = None
        self.progress = Progress(0.0, duration_ms=stream.duration_ms, intensity=session.intensity)
        self._played = sorted(
            (s for s in stream.steps if not s.skipped and s.end_ms > s.start_ms),
            key=lambda s: (s.start_ms, s.track),
        )
        self._starts = [s.start_ms for s in self._played]
        self._longest = max((s.end_ms - s.start_ms for s in self._played), default=0)
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
            self._start()
        elif isinstance(event, Progress):
            self.progress = event
        elif isinstance(event, Paused):
            self.notice = "paused: space resumes" if self.keys else "paused"
        elif isinstance(event, Resumed):
            self.notice = ""
        elif isinstance(event, Finished):
            # every output is off now (the session says so only once they are)
            p = self.progress
            self.progress = Progress(
                event.t_ms,
                duration_ms=p.duration_ms,
                levels=dict.fromkeys(self.session.stream.actuators, 0.0),
                temps=p.temps,
                intensity=p.intensity,
            )
            self.notice = ""
            self.finished = event
        # a Fault's message is the run's error: it is written once, to stderr, at the end

    def frame(self) -> Frame:
        """What the view shows now."""
        stream = self.session.stream
        p = self.progress
        finished = self.finished
        if finished is not None:
            state = ENDED.get(finished.reason, finished.reason)
        elif self.session.wait_stopping(0):
            state = "stopping"  # every output ramping down: the levels shown are the last heard
        else:
            state = "PAUSED" if p.paused else ("playing" if self.started else "starting")
        playing: tuple[StepInfo, ...] = ()
        upcoming = None
        if finished is None:
            playing, upcoming = self._steps_at(p.t_ms)
        return Frame(
            profile=stream.profile,
            rig=stream.rig,
            state=state,
            t_ms=p.t_ms,
            duration_ms=stream.duration_ms,
            step_count=len(stream.steps),
            device=self.started.device if self.started else "",
            speed=self.speed,
            playing=playing,
            next_step=upcoming,
            ended=finished is not None,
            levels=p.levels,
            temps=p.temps,
            intensity=self.session.intensity,
            notice=self.notice,
            keys=self.keys and finished is None,
        )

    def _steps_at(self, t_ms: float) -> tuple[tuple[StepInfo, ...], StepInfo | None]:
        """The steps playing at `t_ms` (by track) and the next one to start."""
        after = bisect.bisect_right(self._starts, t_ms)
        first = bisect.bisect_left(self._starts, t_ms - self._longest)
        playing = [s for s in self._played[first:after] if s.end_ms > t_ms]
        playing.sort(key=lambda s: (s.track, s.start_ms))
        upcoming = self._played[after] if after < len(self._played) else None
        return tuple(playing), upcoming

    def render(self) -> RenderableType:
        """The view as a rich renderable, fitted to the console's size (a line spare for
        the closing line under the last frame)."""
        width, height = self.console.size
        return Group(*draw(self.frame(), self.levels, width, height - 1))

    def _start(self) -> None:
        if self._live is not None:
            return
        live = Live(
            console=self.console,
            get_renderable=self.render,
            refresh_per_second=REFRESH_PER_S,
            transient=False,
        )
        live.start(refresh=True)
        self._live = live

    def __enter__(self) -> LiveView:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.stop()  # draws the last frame
        self.close()


def play(
    session: Session,
    *,
    out: TextIO | None = None,
    actuators: Mapping[str, ActuatorInfo] | None = None,
    speed: float = 1.0,
    by: str = "zone",
    live: bool | None = None,
    keys: bool | None = None,
    quiet: bool = False,
) -> SessionResult:
    """Run `session` with the live view on a terminal, or plain lines otherwise.

    `live` defaults to whether `out` is a terminal, `keys` to whether the live view
    is drawn and stdin is a terminal (the key help shows only when keys are read).
    `quiet` shows neither the view nor plain lines, and reads no keys.
    """
    out = out if out is not None else sys.stdout
    if quiet:
        return session.run()
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
    with LiveView(session, console, actuators=actuators, speed=speed, by=by, keys=keys):
        if keys:
            with KeyReader(session):
                return session.run()
        return session.run()
