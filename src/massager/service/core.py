"""ServiceCore: the one device of `massager serve`, at most one session on it, and who controls it.

A session plays exactly as under `massager run` (`api.open_session`: the same
compiler, Session and driver), in a worker thread of its own, so the asyncio
loop that serves the clients never waits on the device. The core puts together
the parts of the service that each do one thing: the state machine and the
session's snapshot (`Lifecycle`, service/lifecycle.py), what is known of the
session playing (`Run`, service/playing.py), its thread and events (`Player`,
service/player.py), the control holder (`Control`) and the remote dead-man
(`DeadMan`). Listeners (the status pusher) hear of every change.

Controls may be called from any thread (the asyncio loop, the device claim's
stop); the session applies them from its own thread (Session's controls are
thread-safe). Stop is always accepted, and waits (at most `STOP_HANDOFF_S`) until the
session's thread has told the device, so the stop runs before the loop's next work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from massager import api
from massager.service.control import Control, Peer
from massager.service.deadman import DeadMan
from massager.service.history import History
from massager.service.lifecycle import Lifecycle, State
from massager.service.player import Player
from massager.service.playing import Run, now_iso
from massager.service.status import Snapshot, build_status
from massager.stream import CommandStream

log = logging.getLogger("massager.service")
STOP_HANDOFF_S = 0.05
"""How long `stop()` waits (blocking its caller, the event loop) for the session's thread to
tell the device to stop: waiting hands that thread the interpreter at once."""


@dataclass
class CoreOptions:
    """What the service plays on: the device, rig, limits and (for tests) the sim's speed."""

    device: str = "sim"
    rig: str | None = None
    deadman_s: float | None = 30.0
    """A remote session pauses when no controlling client was connected this long; None: off."""
    session_cap_ms: int = api.DEFAULT_CAP_MS
    speed: float = 1.0
    trace: Path | None = None
    """Where each session's trace is written (the simulator; the last session's is kept)."""


class ServiceCore:
    """One device, at most one session on it, the control holder and the remote dead-man."""

    def __init__(self, options: CoreOptions, history: History | None = None) -> None:
        self.options = options
        self.device_name = api.check_device(options.device, options.speed)
        self.rig = api.load_rig(options.rig)
        self.history = history
        self.life = Lifecycle(Snapshot.idle(self.rig))
        self._listeners: list[Callable[[], None]] = []
        self.control = Control(self._changed)
        self.deadman = DeadMan(options.deadman_s, self.control)
        self.player = Player(self.life, history, self._changed)

    # -- listeners and clients --------------------------------------------------------------

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback()` (from any thread) whenever the status may have changed."""
        self._listeners.append(callback)

    def _changed(self) -> None:
        for callback in list(self._listeners):
            try:
                callback()
            except Exception:  # a listener must never break the session thread
                log.exception("status listener failed")

    def connect(self, client: Peer) -> None:
        """A client is connected (it may hold control)."""
        self.control.connect(client)

    def disconnect(self, client: Peer) -> None:
        """A client is gone: it drops control, and the dead-man starts counting."""
        self.control.disconnect(client)

    # -- state ------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """idle, running, paused, stopping or fault."""
        return self.life.state

    @property
    def run(self) -> Run | None:
        """The session being played (or the last one played), or None before the first."""
        return self.life.run

    def compile(
        self,
        *,
        profile: str | None = None,
        text: str | None = None,
        params: dict[str, str] | None = None,
        cap_ms: int | None = None,
    ) -> CommandStream:
        """Load and compile a profile for this rig (blocking: call it in a worker thread).

        Raises InputError, SafetyError or UsageError exactly as `massager run` would.
        """
        if text is not None:
            loaded = api.profile_from_text(text)
        else:
            loaded = api.load_profile(profile or "")
        return api.compile_stream(
            loaded,
            self.rig,
            params=params or None,
            session_cap_ms=cap_ms or self.options.session_cap_ms,
        )

    # -- controls ---------------------------------------------------------------------------

    def start(
        self,
        client: Peer,
        stream: CommandStream,
        *,
        intensity: float = 1.0,
        cap_ms: int | None = None,
        local: bool = False,
    ) -> None:
        """Play `stream` (compiled by `compile`) at user `intensity`, for a client.

        `cap_ms` (at most the service's cap) ends the session early; `local` (the Unix
        socket: the button, scripts on the Pi) exempts it from the remote dead-man.
        """
        self.control.may(client)
        self.life.may_start()
        self.control.check(client)
        options = self.options
        session = api.open_session(
            stream,
            self.rig,
            options.device,
            intensity=intensity,
            cap_ms=min(cap_ms or options.session_cap_ms, options.session_cap_ms),
            speed=options.speed,
            trace=options.trace,
        )
        run = Run(session=session, stream=stream, started_at=now_iso(), remote=not local)
        self.life.begin(run, Snapshot.starting(self.rig, intensity, self.life.snapshot))
        if self.control.controller is None:
            self.control.gone_since = time.monotonic()
        self.player.launch(run)
        self._changed()

    def pause(self, client: Peer) -> None:
        """Ramp every output down and hold (controller only)."""
        run = self.life.current()
        self.control.check(client)
        run.user_paused = True
        run.session.pause()
        self.player.move(run, "paused")

    def resume(self, client: Peer) -> None:
        """Ramp back up and continue (controller only)."""
        run = self.life.current()
        self.control.check(client)
        run.user_paused = run.deadman_paused = False
        run.session.resume()
        self.player.move(run, "running")

    def set_intensity(self, client: Peer, value: float) -> None:
        """Change the user intensity (0..1) of the session playing (controller only)."""
        run = self.life.current()
        self.control.check(client)
        applied = run.session.set_intensity(value)
        self.life.update(run, lambda snap: setattr(snap, "intensity", applied))
        self._changed()

    def stop(self) -> None:
        """Ramp every output down and end the session. Anyone, any state, idempotent."""
        run = self.life.stopping()
        if run is None:
            return
        run.session.stop()
        run.session.wait_stopping(STOP_HANDOFF_S)  # the session's thread runs the stop now
        self._changed()

    def acknowledge(self) -> None:
        """Clear a latched fault (fault -> idle); nothing in any other state."""
        self.life.acknowledge()
        self._changed()

    # -- the remote dead-man ----------------------------------------------------------------

    def deadman_in_s(self, now: float | None = None) -> float | None:
        """Seconds until the remote dead-man pauses the session, or None when it is not counting."""
        return self.deadman.left_s(self.life.run, self.life.state, now)

    def check_deadman(self, now: float | None = None) -> bool:
        """Pause a remote session whose controller has been gone too long; whether it did."""
        run, state = self.life.read(lambda state, run, _snap: (run, state))
        left = self.deadman.left_s(run, state, now)
        if run is None or left is None or left > 0:
            return False
        run.deadman_paused = True
        run.session.pause()
        log.warning("dead-man: no controlling client for %gs; pausing", self.deadman.limit_s)
        warning = self.deadman.warning()
        self.life.update(run, lambda snap: setattr(snap, "warnings", [warning]))
        self.player.move(run, "paused")
        return True

    def wait_idle(self, timeout: float) -> bool:
        """Block until no session plays (the thread has ended) or `timeout` s; whether it did."""
        return self.life.wait_idle(timeout)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop any session (ramping down) and wait for its thread: the service is leaving."""
        run = self.life.run
        if run is not None and not self.life.is_idle:
            run.session.stop()
            self.life.wait_idle(timeout)
        if run is not None and run.thread is not None:
            # idle is reported before the thread records the session: wait for that too, so
            # the session is in the history before the service closes it
            run.thread.join(timeout)

    # -- status -----------------------------------------------------------------------------

    def status(self, you: str | None = None) -> dict[str, Any]:
        """The status object (see docs/api.md) as the client `you` sees it."""

        def view(state: State, run: Run | None, snap: Snapshot) -> dict[str, Any]:
            return build_status(
                state=state,
                snap=snap,
                rig=self.rig,
                stream=run.stream if run is not None and state != "idle" else None,
                controller=self.control.holder(),
                you=you,
                clients=len(self.control.clients),
                deadman_in_s=self.deadman.left_s(run, state),
            )

        return self.life.read(view)
