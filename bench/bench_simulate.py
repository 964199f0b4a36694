"""Simulator speed: simulated seconds per wall second, and how the cost grows with length

`simulate classic` on the `reference` rig runs the stream through the session
on the simulated device (the firmware's executor ticking every 10 ms of device
time, physics, optionally the trace) on a virtual clock. Its baseline, in the
same run, is the plainest way to know every output's level on the same
10 ms grid: `stream.Timeline.level_at` for every actuator at every tick, with
no executor, no envelope and no physics. The growth rows compile and simulate
a profile of 10, 60 and 600 minutes through the API (the bundled `quick`
profile repeated) and give the time per simulated minute, beside the
10-minute figure.

Times are the process's CPU time (`time.process_time`), best of several runs:
the simulation is single-threaded and waits for nothing, so on an idle
machine this is its wall time, and on a shared one it leaves out the time
other processes held the CPU.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from run import Row

from massager import api
from massager.drivers.base import DriverOptions
from massager.drivers.sim import SimDriver
from massager.runtime.session import Session
from massager.stream import CommandStream, Timeline

TARGET = 2000.0
TICK_MS = SimDriver.TICK_US / 1000


def simulate_s(stream: CommandStream, trace: Path | None = None) -> float:
    """CPU seconds to play `stream` on the virtual-clock simulator through a session."""
    rig = api.load_rig(stream.rig)
    driver = SimDriver(rig, DriverOptions(virtual=True, trace=trace))
    session = Session(stream, driver, cap_ms=stream.duration_ms + 60_000)
    started = time.process_time()
    result = session.run()
    wall = time.process_time() - started
    if result.reason != "done":
        raise RuntimeError(f"simulation ended with {result.reason}: {result.message}")
    return wall


def timeline_s(stream: CommandStream) -> float:
    """CPU seconds to sample every actuator's Timeline on the device's 10 ms grid."""
    started = time.process_time()
    timelines = [Timeline(commands) for commands in stream.by_actuator().values()]
    ticks = int(stream.duration_ms / TICK_MS) + 1
    for k in range(ticks):
        t = k * TICK_MS
        for timeline in timelines:
            timeline.level_at(t)
    return time.process_time() - started


def long_stream(minutes: int) -> CommandStream:
    """The 5-minute `quick` profile repeated to `minutes`, compiled for `reference`."""
    profile = api.profile_from_data(
        {
            "name": f"quick-x{minutes // 5}",
            "steps": [{"repeat": minutes // 5, "steps": [{"include": "quick"}]}],
        }
    )
    return api.compile_stream(
        profile, api.load_rig("reference"), session_cap_ms=(minutes + 1) * 60_000
    )


def best(repeats: int, measure, *args) -> float:  # type: ignore[no-untyped-def]
    """The fastest of `repeats` runs (the machine's other work only ever adds time)."""
    return min(measure(*args) for _ in range(repeats))


def run(quick: bool) -> list[Row]:
    """Simulated speed of classic, with and without a trace, and cost against length."""
    repeats = 2 if quick else 5
    stream = api.compile_stream(api.load_profile("classic"), api.load_rig("reference"))
    sim_s = stream.duration_ms / 1000
    plain = best(repeats, simulate_s, stream)
    baseline = best(repeats, timeline_s, stream)
    with tempfile.TemporaryDirectory() as tmp:
        traced = best(repeats, simulate_s, stream, Path(tmp) / "trace.csv")
        trace_kb = (Path(tmp) / "trace.csv").stat().st_size / 1024
    label = f"Timeline sampled every {TICK_MS:g} ms, all {len(stream.actuators)} actuators"
    rows = [
        Row(
            f"simulate classic on reference ({sim_s / 60:.0f} min), no trace",
            sim_s / plain,
            "x real time",
            label,
            sim_s / baseline,
            f">= {TARGET:,.0f}x",
        ),
        Row(
            f"simulate classic on reference, with --trace ({trace_kb:,.0f} KB)",
            sim_s / traced,
            "x real time",
            label,
            sim_s / baseline,
        ),
    ]
    lengths = (10, 60) if quick else (10, 60, 600)
    per_minute: dict[int, float] = {}
    for minutes in lengths:
        started = time.process_time()
        simulate_s(long_stream(minutes))  # compile and simulate, as a caller of the API does
        per_minute[minutes] = (time.process_time() - started) * 1000 / minutes
    for minutes in lengths:
        rows.append(
            Row(
                f"simulate {minutes} min (quick repeated) through the API",
                per_minute[minutes],
                "CPU ms per simulated min",
                "the 10-minute run, per simulated minute",
                per_minute[10],
                "flat (linear cost)",
            )
        )
    return rows
