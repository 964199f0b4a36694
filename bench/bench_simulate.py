"""Simulator speed: classic against a plain loop, its slowest 10-s window, --trace's cost, growth

`simulate classic` on the `reference` rig runs the stream through the session
on the simulated device (the firmware's executor ticking every 10 ms of device
time, physics, optionally the trace) on a virtual clock. Its floor, in the
same run, is a plain loop doing the same channel updates: a straight Python
loop over the same 10 ms grid that starts each compiled command when it is due
and writes every started output's level (the shared motion math,
`waveforms.op_value`) into a list, with no device model (no envelope, queue,
watchdog, physics or session). The slowest window slices the simulated
session into 10-s windows of session time and gives the one that took the
most time, as simulated seconds per second. The growth rows compile and
simulate a profile of 10, 60 and 600 minutes through the API (the bundled
`quick` profile repeated) and give the time per simulated minute, beside the
10-minute figure.

Both sides run what the install built: where it compiled the simulator's hot
modules with mypyc (`massager.compiled`), the executor, the physics and the
simulated device run compiled, and so does the floor's `waveforms.op_value`
(the same shared motion math, compiled from the same source), so the floor
moves with it. The first row's label says which path ran.

Times are the process's CPU time (`time.process_time`), best of several runs
(each window: its best over the runs), the measures taking turns: the
simulation is single-threaded and waits for nothing, so on an idle machine
this is its wall time, and on a shared one it leaves out the time other
processes held the CPU.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from run import Row

import massager  # noqa: F401  (first: massager.compiled decides which modules run compiled)
from firmware_bridge import codes
from firmware_bridge.waveforms import op_value
from massager import api, compiled
from massager.drivers.base import DeviceStatus, DriverOptions
from massager.drivers.sim import SimDriver
from massager.runtime.session import Session
from massager.stream import CommandStream

TARGET = 5000.0
WINDOW_TARGET = 3000.0
TRACE_TARGET = 0.30
"""--trace may cost at most this share of the time on top."""
WINDOW_MS = 10_000
TICK_US = SimDriver.TICK_US


class _WindowedSim(SimDriver):
    """The simulator, noting the CPU time at every poll the session sees (for the per-window
    figures); a stretch of quiet polls the device makes itself ends at each window's end."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.marks: list[tuple[float, float]] = []

    def poll(self) -> DeviceStatus:
        return self._mark(super().poll())

    def poll_quiet(
        self, until_ms: float, gap_ms: float, woken: Callable[[], object]
    ) -> DeviceStatus:
        window_end = (self.session_ms() // WINDOW_MS + 1) * WINDOW_MS
        return self._mark(super().poll_quiet(min(until_ms, window_end), gap_ms, woken))

    def _mark(self, status: DeviceStatus) -> DeviceStatus:
        self.marks.append((status.session_ms, time.process_time()))
        return status


def _session(stream: CommandStream, driver: SimDriver) -> Session:
    return Session(stream, driver, cap_ms=stream.duration_ms + 60_000)


def simulate_s(stream: CommandStream, trace: Path | None = None) -> float:
    """CPU seconds to play `stream` on the virtual-clock simulator through a session."""
    driver = SimDriver(api.load_rig(stream.rig), DriverOptions(virtual=True, trace=trace))
    session = _session(stream, driver)
    started = time.process_time()
    result = session.run()
    wall = time.process_time() - started
    if result.reason != "done":
        raise RuntimeError(f"simulation ended with {result.reason}: {result.message}")
    return wall


def window_s(stream: CommandStream) -> list[float]:
    """CPU seconds each 10-s window of session time took (a poll's span counts in the window
    it ends in; polls fall every 100 ms of session time, and a stretch the device polls on
    its own ends at a window's end, so windows split at polls)."""
    driver = _WindowedSim(api.load_rig(stream.rig), DriverOptions(virtual=True))
    session = _session(stream, driver)
    started = time.process_time()
    session.run()
    windows = [0.0] * (stream.duration_ms // WINDOW_MS)
    last = started
    for session_ms, cpu in driver.marks:
        k = int(session_ms // WINDOW_MS) - (session_ms % WINDOW_MS == 0)
        if 0 <= k < len(windows):
            windows[k] += cpu - last
        last = cpu
    return windows


def floor_s(stream: CommandStream) -> float:
    """CPU seconds for a plain loop doing the same channel updates, with no device model."""
    index = {a: i for i, a in enumerate(stream.actuators)}
    due = [(round(c.at_ms * 1000), index[c.actuator], *c.args()) for c in stream.commands]
    n = len(index)
    started = time.process_time()
    levels = [0.0] * n
    motion: list[tuple[int, float, float, float, float, float, int]] = [
        (codes.OP_OFF, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
    ] * n
    playing: list[int] = []
    k = 0
    for t in range(0, stream.duration_ms * 1000 + TICK_US, TICK_US):
        if k < len(due) and due[k][0] <= t:
            while k < len(due) and due[k][0] <= t:
                at, ch, op, a, b, c, d = due[k]
                k += 1
                motion[ch] = (op, a, b, c, d, levels[ch], at)
            playing = [ch for ch in range(n) if motion[ch][0] != codes.OP_OFF or levels[ch]]
        for ch in playing:
            op, a, b, c, d, start, at = motion[ch]
            level = op_value(op, a, b, c, d, start, t - at)
            if level != levels[ch]:
                levels[ch] = level
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


def run(quick: bool) -> list[Row]:
    """Simulated speed of classic beside its floor, its slowest window, the trace's cost."""
    repeats = 3 if quick else 7
    stream = api.compile_stream(api.load_profile("classic"), api.load_rig("reference"))
    sim_s = stream.duration_ms / 1000
    # the measures take turns, so each sees the same load on a shared machine
    plains: list[float] = []
    floors: list[float] = []
    traceds: list[float] = []
    runs: list[list[float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            plains.append(simulate_s(stream))
            floors.append(floor_s(stream))
            traceds.append(simulate_s(stream, Path(tmp) / "trace.csv"))
            runs.append(window_s(stream))
        trace_kb = (Path(tmp) / "trace.csv").stat().st_size / 1024
    plain, floor, traced = min(plains), min(floors), min(traceds)
    windows = [min(w[k] for w in runs) for k in range(len(runs[0]))]
    slowest = max(range(len(windows)), key=windows.__getitem__)
    path = "compiled" if compiled.compiled_modules() else "pure Python"
    grid = f"{TICK_US // 1000} ms grid"
    label = f"plain loop: the same channel updates on the {grid}, no device ({path})"
    at = f"{slowest * WINDOW_MS // 60000}:{slowest * WINDOW_MS // 1000 % 60:02d}"
    rows = [
        Row(
            f"simulate classic on reference ({sim_s / 60:.0f} min), no trace",
            sim_s / plain,
            "x real time",
            label,
            sim_s / floor,
            f">= {TARGET:,.0f}x",
        ),
        Row(
            f"simulate classic: slowest 10-s window (from {at}), no trace",
            WINDOW_MS / 1000 / windows[slowest],
            "x real time",
            "the whole run, no trace",
            sim_s / plain,
            f">= {WINDOW_TARGET:,.0f}x",
        ),
        Row(
            f"simulate classic with --trace ({trace_kb:,.0f} KB)",
            sim_s / traced,
            "x real time",
            "the same, no trace",
            sim_s / plain,
            f">= {1 / (1 + TRACE_TARGET):.2f}x (under {TRACE_TARGET:.0%} on top)",
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
