"""`massager run`, `simulate` and `plot`: play a profile on a device or simulator, or draw it."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from massager.cli.app import app
from massager.cli.options import (
    ByOpt,
    ProfileArg,
    RigOpt,
    SessionCapOpt,
    SetOpt,
    StrictOpt,
    check_intensity,
    claim,
    compile_for,
    resolve_device,
    session_cap_ms,
)
from massager.cli.outputs import check_output_path, check_plot_path, writing
from massager.cli.stdio import stdout_guard
from massager.errors import Interrupted, OutputError, UsageError

if TYPE_CHECKING:  # keep `massager --help` light
    from collections.abc import Mapping

    from massager.rig import Rig
    from massager.runtime.events import Progress
    from massager.runtime.session import Session
    from massager.stream import CommandStream
    from massager.trace import Trace
    from massager.ui.lanes import ActuatorInfo


def _pictured(rig: Rig) -> dict[str, ActuatorInfo]:
    """What the pictures need of each actuator: kind, foot, zones."""
    from massager.ui.lanes import ActuatorInfo

    return {a.id: ActuatorInfo(a.kind, a.foot, tuple(a.reaches)) for a in rig.actuators}


def _physical(trace: Trace) -> dict[str, list[tuple[float, float]]]:
    """Roller speed and heater temperature by actuator, from a simulator's trace."""
    out: dict[str, list[tuple[float, float]]] = {}
    for actuator in trace.actuators:
        rows = trace.rows(actuator)
        for column in ("speed", "temp_c"):
            values = [(r.t_ms, v) for r in rows if (v := getattr(r, column)) is not None]
            if values:
                out[actuator] = values
    return out


QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Print only the closing line (and errors and warnings, on stderr)."
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", help="Also print each actuator's peak level and the real time taken."
    ),
]


class Peaks:
    """The largest level (by magnitude) each actuator reached, from the session's progress."""

    def __init__(self, session: Session) -> None:
        from massager.runtime.events import Progress

        self.levels: dict[str, float] = dict.fromkeys(session.stream.actuators, 0.0)
        session.bus.subscribe(self._track, Progress)

    def _track(self, event: Progress) -> None:
        levels = self.levels
        for actuator, level in event.levels.items():
            if abs(level) > abs(levels.get(actuator, 0.0)):
                levels[actuator] = level


def _check_verbosity(quiet: bool, verbose: bool) -> None:
    if quiet and verbose:
        raise UsageError("--quiet and --verbose: choose one")


def _clock(ms: float) -> str:
    from massager.units import clock_text

    return clock_text(ms)


def _closing(outcome: str, session_ms: float, then: str) -> str:
    """A closing line's common part: how the session ended and when, on the session clock."""
    return f"{outcome} at {_clock(session_ms)}; {then}"


def _write_peaks(stream: CommandStream, rig: Rig, peaks: Mapping[str, float]) -> None:
    """`N steps, M commands` and a line per actuator with its kind and peak level (the
    largest magnitude in `peaks`)."""
    out = sys.stdout
    kinds = {a.id: a.kind for a in rig.actuators}
    out.write(f"{len(stream.steps)} steps, {len(stream.commands)} commands\n")
    width = max((len(a) for a in stream.actuators), default=0)
    for actuator in stream.actuators:
        kind = kinds.get(actuator, "")
        peak = abs(peaks.get(actuator, 0.0))
        out.write(f"  {actuator:<{width}}  {kind:<9}  peak {peak:.2f}\n")


@app.command()
def run(
    profile: ProfileArg,
    device: Annotated[
        str,
        typer.Option(
            "--device", "-d", help="sim, serial[:PORT_OR_URL] or gpio (or a plug-in driver)."
        ),
    ] = "sim",
    rig: RigOpt = None,
    intensity: Annotated[
        float,
        typer.Option(
            "--intensity", "-i", help="Initial user intensity, 0 to 1 (the keys + and - change it)."
        ),
    ] = 1.0,
    sets: SetOpt = None,
    speed: Annotated[
        float,
        typer.Option(
            "--speed",
            help="Simulator only: run N times faster than real time (0.01 to 300).",
        ),
    ] = 1.0,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Write the applied levels to this CSV file.")
    ] = None,
    session_cap: SessionCapOpt = None,
    strict: StrictOpt = False,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="Levels in the live view: zone (a row per foot zone and kind, a column "
            "per foot) or actuator.",
        ),
    ] = "zone",
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Play a profile on a device (the simulator by default) with a live view.

    Keys: space pauses and resumes, + and - change the intensity by 0.1, q stops.
    Ctrl-C or SIGTERM ramps every output down and exits with 130. The compiler's
    warnings go to stderr (with --strict they are errors, before the device is opened).
    """
    from massager import api
    from massager.runtime import stops
    from massager.ui.live import play

    _check_verbosity(quiet, verbose)
    _check_by(by)
    check_intensity(intensity)
    _check_trace_path(trace)
    cap = session_cap_ms(session_cap)
    api.check_device(device, speed)  # a bad device or --speed is refused before compiling
    stream, rig_obj = compile_for(profile, rig, sets, cap_ms=cap, strict=strict)
    name, target = resolve_device(device)
    session = api.open_session(
        stream,
        rig_obj,
        f"{name}:{target}" if target else name,
        intensity=intensity,
        cap_ms=cap,
        speed=speed,
        trace=trace,
        handle_signals=True,
    )
    out = sys.stdout

    def stopped_by_off() -> None:
        session.abort(
            Interrupted("stopped by `massager off`; every output was turned off"), at_once=True
        )

    def stdout_failed(closed: bool, reason: str) -> None:
        if closed:
            session.interrupt("stdout closed")
        else:
            session.abort(OutputError(f"stdout could not be written: {reason}"))

    guard = stdout_guard()
    with contextlib.ExitStack() as stack:
        if guard is not None:
            stack.callback(guard.watch())  # a pipe already without a reader fails at once
            if guard.failure is not None and guard.closed_by_reader:
                raise Interrupted(
                    f"interrupted (stdout closed: {guard.failure}); nothing was started"
                )
            stack.callback(guard.on_failure(stdout_failed))
        # the device is claimed before it is opened: a held one is refused, nothing opened
        stack.enter_context(stops.shielded())
        stack.enter_context(claim(name, target, "run", stopped_by_off))
        peaks = Peaks(session) if verbose else None
        started = time.perf_counter()
        try:
            result = play(
                session, out=out, actuators=_pictured(rig_obj), speed=speed, by=by, quiet=quiet
            )
        finally:
            note = session.driver.lag_note()
            if note:
                typer.echo(note, err=True)
        wall = time.perf_counter() - started
    if quiet or verbose or out.isatty():  # plain lines end with their own "finished" line
        closing = _closing(result.outcome, result.session_ms, "every output is off")
        out.write(f"{stream.profile}: {closing}\n")
    if peaks is not None:
        _write_peaks(stream, rig_obj, peaks.levels)
        out.write(f"real time {_clock(wall * 1000)}, pauses and the ramp-down included\n")


@app.command()
def simulate(
    profile: ProfileArg,
    rig: RigOpt = None,
    sets: SetOpt = None,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Write the applied levels to this CSV file.")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Draw the trace over the commanded timeline (a .png, .svg or .pdf file).",
        ),
    ] = None,
    session_cap: SessionCapOpt = None,
    by: ByOpt = "zone",
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Also print a line per step and event, as `run` does in a pipe."
        ),
    ] = False,
) -> None:
    """Run a profile on the simulator as fast as possible and print a summary.

    The compiler's warnings go to stderr (with --strict they are errors).
    """
    import tempfile  # here, not at the top: `massager --help` imports this module

    from massager.drivers.base import DriverOptions
    from massager.drivers.sim import SimDriver
    from massager.runtime.session import Session

    _check_verbosity(quiet, verbose)
    _check_trace_path(trace)
    if plot is not None:
        _check_plot_path(plot, "simulate --plot", by)
    cap = session_cap_ms(session_cap)
    stream, rig_obj = compile_for(profile, rig, sets, cap_ms=cap, strict=strict)
    out = sys.stdout
    with tempfile.TemporaryDirectory(prefix="massager-") as tmp:
        trace_path = trace if trace is not None else (Path(tmp) / "trace.csv" if plot else None)
        driver = SimDriver(rig_obj, DriverOptions(virtual=True, trace=trace_path))
        session = Session(stream, driver, cap_ms=cap, handle_signals=True)
        driver.track_peaks()  # the peaks at every poll, leaving the quiet ones to the device
        if verbose:
            from massager.ui.live import PlainReporter

            PlainReporter(session.bus, out)
        started = time.perf_counter()
        result = session.run()
        wall = time.perf_counter() - started
        rate = result.session_ms / 1000 / max(wall, 1e-9)
        closing = _closing(
            result.outcome, result.session_ms, f"simulated in {wall:.2f} s ({rate:,.0f}x real time)"
        )
        out.write(f"{stream.profile} on {stream.rig}: {closing}\n")
        if not quiet:
            _write_peaks(stream, rig_obj, driver.peaks())
        if trace is not None and not quiet:
            out.write(f"trace: {trace}\n")
        if plot is not None and trace_path is not None:
            from massager.trace import read_trace
            from massager.ui.plot import plot_timeline

            read = read_trace(trace_path)
            with writing("plot", plot):
                plot_timeline(
                    stream,
                    plot,
                    actuators=_pictured(rig_obj),
                    trace=read.points(),
                    physical=_physical(read),
                    title=f"{stream.profile} on {stream.rig}: commanded and applied (simulator)",
                    by=by,
                )
            if not quiet:
                out.write(f"plot: {plot}\n")


def _check_by(by: str) -> None:
    if by not in ("zone", "actuator"):
        raise UsageError(f"--by {by!r}: choose zone or actuator")


def _check_plot_path(path: Path, what: str, by: str = "zone") -> None:
    _check_by(by)
    check_plot_path(path, what)


def _check_trace_path(path: Path | None) -> None:
    if path is not None:
        check_output_path(path, option="--trace ")


@app.command()
def plot(
    profile: ProfileArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The picture to write (.png, .svg or .pdf).")
    ],
    rig: RigOpt = None,
    sets: SetOpt = None,
    strict: StrictOpt = False,
    by: ByOpt = "zone",
) -> None:
    """Draw what the foot will feel: a lane per foot zone and kind, steps labelled.

    The compiler's warnings go to stderr (with --strict they are errors).
    """
    from massager.ui.plot import plot_timeline

    _check_plot_path(output, "massager plot", by)
    from massager.limits import HARD_CAP_MS

    # a picture harms no one: draw any profile up to the hard cap
    stream, rig_obj = compile_for(profile, rig, sets, cap_ms=HARD_CAP_MS, strict=strict)
    with writing("plot", output):
        plot_timeline(stream, output, actuators=_pictured(rig_obj), by=by)
    sys.stdout.write(f"{output}\n")
