"""A stop that races the session's end never leaves the core in "stopping" (forced interleaving).

The session's `stop` is wrapped so that, before it returns to the core, the session has
ended (its thread ran `_ended`) and another client has already started a new session:
exactly the moment a late "stopping" would overwrite what the session-end path set.
"""

from __future__ import annotations

from typing import Any

from massager.service.core import CoreOptions, ServiceCore
from massager.service.rpc import Client

QUICK = "quick"


def _ends_inside_stop(core: ServiceCore, then: Any = None) -> list[str]:
    """Make the running session end (and `then()` run) inside its own stop; the states seen."""
    run = core._run
    assert run is not None
    real_stop = run.session.stop
    seen: list[str] = []

    def stop() -> None:
        seen.append(core.state)  # the core says "stopping" before it asks the session
        real_stop()
        assert core.wait_idle(30.0)
        seen.append(core.state)
        if then is not None:
            then()

    run.session.stop = stop  # type: ignore[method-assign]
    return seen


def test_a_session_ending_inside_stop_leaves_the_core_idle() -> None:
    core = ServiceCore(CoreOptions(speed=20.0, deadman_s=None))
    phone = Client("ws-1", "phone")
    core.connect(phone)
    core.start(phone, core.compile(profile=QUICK))
    seen = _ends_inside_stop(core)
    core.stop()
    assert seen == ["stopping", "idle"]
    assert core.state == "idle"
    core.stop()  # idempotent: nothing to stop
    assert core.state == "idle"


def test_a_new_session_started_before_stop_returns_keeps_running() -> None:
    core = ServiceCore(CoreOptions(speed=20.0, deadman_s=None))
    phone = Client("ws-1", "phone")
    core.connect(phone)
    stream = core.compile(profile=QUICK)
    core.start(phone, stream)
    first = core._run
    seen = _ends_inside_stop(core, then=lambda: core.start(phone, stream))
    core.stop()
    assert seen == ["stopping", "idle"]
    assert core._run is not first and core.state == "running"  # not the old stop's "stopping"
    core.stop()
    assert core.wait_idle(30.0) and core.state == "idle"
