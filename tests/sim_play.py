"""One play of a stream on the virtual-clock simulator, recorded whole: the comparison tests'
helper (the jumps over idle ticks against ticking every tick, the compiled modules against
the pure-Python ones)."""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from hypothesis import strategies as st
from sim_support import (
    actuator,
    commands,
    controls,
    device_state,
    follow,
    outside_the_envelope,
    rig,
)

from massager.drivers.base import DriverOptions
from massager.drivers.sim import SimDriver
from massager.errors import MassagerError
from massager.rig import Rig
from massager.runtime.events import Progress, Recorder
from massager.runtime.session import Session
from massager.stream import CommandStream

Controls = list[tuple[int, str, float]]


def play(
    the_stream: CommandStream,
    the_rig: Rig,
    *,
    per_tick: bool,
    schedule: Controls = (),  # type: ignore[assignment]
    silent_at_ms: int | None = None,
    **options: Any,
) -> tuple[object, bytes, list[str], list[object]]:
    """Play `the_stream` on a virtual clock through one path; what it did: the session's
    ending (result or error), the trace's bytes, every event, the device's state after."""
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.csv"
        driver = SimDriver(
            the_rig, DriverOptions(virtual=True, trace=path, **options), per_tick=per_tick
        )
        session = Session(
            the_stream, driver, max_pause_ms=3000, cap_ms=the_stream.duration_ms + 60_000
        )
        recorder = Recorder(session.bus)
        follow(session, schedule)
        clock = driver.clock

        def go_silent(progress: Progress) -> None:
            nonlocal silent_at_ms
            if silent_at_ms is not None and progress.wall_ms >= silent_at_ms:
                silent_at_ms = None  # the host goes silent once: the watchdog trips
                clock.sleep_until(clock.now_ms() + driver.watchdog_ms + 5)

        session.bus.subscribe(go_silent, Progress)
        polls: list[object] = []
        session.bus.subscribe(lambda _: polls.append(device_state(driver)), Progress)
        ending: object
        try:
            ending = session.run()
        except MassagerError as exc:
            ending = (type(exc).__name__, str(exc))
        events = [repr(e) for e in recorder.events]
        return ending, path.read_bytes(), events, [*polls, device_state(driver)]


SHORT_ON = rig(
    actuator("roller", "roller", 0, max_level=0.9, min_level=0.15, max_slew=3.0, max_on="2s"),
    actuator("vib", "vibration", 1, max_slew=5.0, max_on="1500ms"),
    actuator("bladder", "air", 2, max_slew=2.0, max_on="3s"),
    actuator("pad", "heater", 3, max_level=0.8, max_slew=1.0),
)
"""A rig whose on-time limits cut outputs within the streams the comparison tests draw."""

FULL = ("classic", "reference")
"""The benchmark's session plays in full; every other bundled profile x rig plays its first
60 seconds and a stop (the hypothesis streams cover the moves the rest would add)."""


def recorded(
    the_stream: CommandStream, the_rig: Rig, **kwargs: Any
) -> tuple[str, bytes, list[str], list[object]]:
    """`play` on the default path (jumping over idle ticks), its ending as text: what the
    compiled and the pure-Python modules must both give (comparable across processes)."""
    ending, trace, events, states = play(the_stream, the_rig, per_tick=False, **kwargs)
    return repr(ending), trace, events, states


DRAWN_PLAY = {
    "program": st.lists(
        commands(SHORT_ON).filter(lambda c: not outside_the_envelope(c, SHORT_ON)), max_size=20
    ),
    "schedule": controls,
    "silent_at_ms": st.one_of(st.none(), st.none(), st.integers(0, 7000)),
    "clock_start_us": st.sampled_from([0, (1 << 30) - 3_000_000]),
    "watchdog_ms": st.sampled_from([None, 40]),
}
"""What the comparison tests draw (`@given(**DRAWN_PLAY)`): a 7-second program on SHORT_ON,
controls at any moment, a host going silent (the watchdog trips), a short watchdog, a clock
two seconds before its wrap."""
