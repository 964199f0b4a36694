"""The simulator's jumps over ticks where nothing is due (`SimDevice.run`, from the
executor's `next_due_us`) play exactly what ticking the executor at every tick plays: the
same trace, byte for byte, the same events, the same ending and the same device state after
every poll, for every bundled profile on every bundled rig and for any stream, control
schedule and device fault."""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sim_support import (
    actuator,
    commands,
    controls,
    device_state,
    follow,
    outside_the_envelope,
    rig,
    stream,
)

from massager import api, bundled
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


def assert_same(the_stream: CommandStream, the_rig: Rig, **kwargs: Any) -> tuple[object, bytes]:
    """Both paths play `the_stream` alike; how it ended, and the trace."""
    reference = play(the_stream, the_rig, per_tick=True, **kwargs)
    jumping = play(the_stream, the_rig, per_tick=False, **kwargs)
    assert jumping[0] == reference[0]
    assert jumping[1] == reference[1]
    assert jumping[2] == reference[2]
    assert jumping[3] == reference[3]
    return reference[0], reference[1]


FULL = ("classic", "reference")
"""The benchmark's session plays in full; every other bundled profile x rig plays its first
60 seconds and a stop (the hypothesis test below covers the moves the rest would add)."""


@pytest.mark.parametrize("rig_name", bundled.names("rigs"))
@pytest.mark.parametrize("profile", bundled.names("profiles"))
def test_every_bundled_profile_plays_the_same_on_both_paths(profile: str, rig_name: str) -> None:
    the_rig = api.load_rig(rig_name)
    the_stream = api.compile_stream(api.load_profile(profile), the_rig)
    schedule: Controls = [] if (profile, rig_name) == FULL else [(60_000, "stop", 0.0)]
    _, trace = assert_same(the_stream, the_rig, schedule=schedule)
    assert trace.count(b"\n") > 100  # the outputs really moved


SHORT_ON = rig(
    actuator("roller", "roller", 0, max_level=0.9, min_level=0.15, max_slew=3.0, max_on="2s"),
    actuator("vib", "vibration", 1, max_slew=5.0, max_on="1500ms"),
    actuator("bladder", "air", 2, max_slew=2.0, max_on="3s"),
    actuator("pad", "heater", 3, max_level=0.8, max_slew=1.0),
)
"""A rig whose on-time limits cut outputs within the streams drawn below."""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    program=st.lists(
        commands(SHORT_ON).filter(lambda c: not outside_the_envelope(c, SHORT_ON)), max_size=20
    ),
    schedule=controls,
    silent_at_ms=st.one_of(st.none(), st.none(), st.integers(0, 7000)),
    clock_start_us=st.sampled_from([0, (1 << 30) - 3_000_000]),
    watchdog_ms=st.sampled_from([None, 40]),
)
def test_any_stream_and_controls_play_the_same_on_both_paths(
    program: list[Any],
    schedule: Controls,
    silent_at_ms: int | None,
    clock_start_us: int,
    watchdog_ms: int | None,
) -> None:
    ending, _ = assert_same(
        stream(program, 7000, SHORT_ON),
        SHORT_ON,
        schedule=schedule,
        silent_at_ms=silent_at_ms,
        clock_start_us=clock_start_us,
        watchdog_ms=watchdog_ms,
    )
    event(str(ending[0]) if isinstance(ending, tuple) else getattr(ending, "reason", ""))
