"""The simulator's jumps over ticks where nothing is due (`SimDevice.run`, from the
executor's `next_due_us`) play exactly what ticking the executor at every tick plays: the
same trace, byte for byte, the same events, the same ending and the same device state after
every poll, for every bundled profile on every bundled rig and for any stream, control
schedule and device fault."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from sim_play import DRAWN_PLAY, FULL, SHORT_ON, Controls, play
from sim_support import stream

from massager import api, bundled
from massager.rig import Rig
from massager.stream import CommandStream


def assert_same(the_stream: CommandStream, the_rig: Rig, **kwargs: Any) -> tuple[object, bytes]:
    """Both paths play `the_stream` alike; how it ended, and the trace."""
    reference = play(the_stream, the_rig, per_tick=True, **kwargs)
    jumping = play(the_stream, the_rig, per_tick=False, **kwargs)
    assert jumping[0] == reference[0]
    assert jumping[1] == reference[1]
    assert jumping[2] == reference[2]
    assert jumping[3] == reference[3]
    return reference[0], reference[1]


@pytest.mark.parametrize("rig_name", bundled.names("rigs"))
@pytest.mark.parametrize("profile", bundled.names("profiles"))
def test_every_bundled_profile_plays_the_same_on_both_paths(profile: str, rig_name: str) -> None:
    the_rig = api.load_rig(rig_name)
    the_stream = api.compile_stream(api.load_profile(profile), the_rig)
    schedule: Controls = [] if (profile, rig_name) == FULL else [(60_000, "stop", 0.0)]
    _, trace = assert_same(the_stream, the_rig, schedule=schedule)
    assert trace.count(b"\n") > 100  # the outputs really moved


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**DRAWN_PLAY)
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
