"""Controls that race the session's end never change the session started after it (forced
interleaving, no timing).

The session's `stop`, `pause`, `resume` or `set_intensity` is wrapped so that, before it
returns to the core, the session has ended (its thread ran the end of the session) and another
session has already started: exactly the moment a late "stopping", "paused" or "running", a
late dead-man warning or a late intensity would overwrite what belongs to the new session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from massager.runtime.events import Progress
from massager.service.core import CoreOptions, ServiceCore
from massager.service.playing import Run
from massager.service.rpc import Client
from massager.stream import CommandStream

QUICK = "quick"


def _playing(
    deadman_s: float | None = None, intensity: float = 1.0
) -> tuple[ServiceCore, Client, CommandStream, Run]:
    """A core playing QUICK for a connected phone: (core, phone, the stream, the run)."""
    core = ServiceCore(CoreOptions(speed=20.0, deadman_s=deadman_s))
    phone = Client("ws-1", "phone")
    core.connect(phone)
    stream = core.compile(profile=QUICK)
    core.start(phone, stream, intensity=intensity)
    assert core.run is not None
    return core, phone, stream, core.run


def _ends_inside(
    core: ServiceCore, control: str, then: Callable[[], None] | None = None
) -> list[str]:
    """Make the running session end (and `then()` run) inside its own `control` (the name of
    a Session method); the states the core was in when it was called and when it returned."""
    run = core.run
    assert run is not None
    real = getattr(run.session, control)
    seen: list[str] = []

    def wrapped(*args: Any) -> Any:
        seen.append(core.state)
        result = real(*args)
        if control != "stop":
            core.stop()
        assert core.wait_idle(30.0)
        seen.append(core.state)
        if then is not None:
            then()
        return result

    setattr(run.session, control, wrapped)
    return seen


def _finish(core: ServiceCore, first: Run) -> None:
    """The run playing is a new one; stop it."""
    assert core.run is not first
    core.stop()
    assert core.wait_idle(30.0) and core.state == "idle"


def test_a_session_ending_inside_stop_leaves_the_core_idle() -> None:
    core, _, _, _ = _playing()
    seen = _ends_inside(core, "stop")
    core.stop()
    assert seen == ["stopping", "idle"]
    assert core.state == "idle"
    core.stop()  # idempotent: nothing to stop
    assert core.state == "idle"


def test_a_new_session_started_before_stop_returns_keeps_running() -> None:
    core, phone, stream, first = _playing()
    seen = _ends_inside(core, "stop", then=lambda: core.start(phone, stream))
    core.stop()
    assert seen == ["stopping", "idle"]
    assert core.state == "running"  # not the old stop's "stopping"
    _finish(core, first)


def test_a_new_session_started_before_pause_returns_keeps_running() -> None:
    core, phone, stream, first = _playing()
    seen = _ends_inside(core, "pause", then=lambda: core.start(phone, stream))
    core.pause(phone)
    assert seen == ["running", "idle"]
    new = core.run
    assert new is not None
    assert core.state == "running"  # not the old pause's "paused"
    assert not new.user_paused and not new.session.paused
    _finish(core, first)


def test_a_new_session_paused_before_resume_returns_stays_paused() -> None:
    core, phone, stream, first = _playing()
    core.pause(phone)

    def start_and_pause() -> None:
        core.start(phone, stream)
        core.pause(phone)

    seen = _ends_inside(core, "resume", then=start_and_pause)
    core.resume(phone)
    assert seen == ["paused", "idle"]
    new = core.run
    assert new is not None
    assert core.state == "paused"  # not the old resume's "running"
    assert new.user_paused
    _finish(core, first)


def test_a_new_session_started_before_the_dead_man_pause_returns_keeps_running() -> None:
    core, phone, stream, first = _playing(deadman_s=0.5)
    core.disconnect(phone)  # the controller is gone: the dead-man counts
    assert core.deadman_in_s() is not None
    tablet = Client("ws-2", "tablet")
    core.connect(tablet)
    seen = _ends_inside(core, "pause", then=lambda: core.start(tablet, stream))
    assert core.check_deadman(now=1e12)  # as if the controller had been gone for ages
    assert seen == ["running", "idle"]
    new = core.run
    assert new is not None
    assert core.state == "running"  # not the old dead-man's "paused"
    assert not new.deadman_paused
    assert core.status()["warnings"] == []  # the old session's dead-man warning is not shown
    _finish(core, first)


def test_a_new_session_started_before_set_intensity_returns_keeps_its_intensity() -> None:
    core, phone, stream, first = _playing(intensity=0.9)
    seen = _ends_inside(core, "set_intensity", then=lambda: core.start(phone, stream))
    core.set_intensity(phone, 0.2)
    assert seen == ["running", "idle"]
    assert core.status()["intensity"] == 1.0  # the new session's, not the old call's 0.2
    _finish(core, first)


def test_a_progress_sent_before_the_session_takes_a_new_intensity_does_not_show_the_old_one() -> (
    None
):
    core, phone, _, run = _playing()
    core.set_intensity(phone, 0.3)
    # what the session thread publishes when it polled just before the change came
    run.session.bus.publish(
        Progress(
            t_ms=1000.0,
            duration_ms=run.stream.duration_ms,
            levels={},
            temps={},
            intensity=1.0,
            paused=False,
            wall_ms=50.0,
        )
    )
    assert core.status()["intensity"] == 0.3
    core.stop()
    assert core.wait_idle(30.0)
