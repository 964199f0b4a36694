"""ServiceCore: the one device of `massager serve`, at most one session on it, and who controls it.

A session plays exactly as under `massager run` (`api.open_session`: the same
compiler, Session and driver), in a worker thread of its own, so the asyncio
loop that serves the clients never waits on the device. The session's events
update a snapshot under a lock; listeners (the status pusher) hear of every
change. States: idle, running, paused, stopping, fault (latched until a person
acknowledges it).

Controls are called on the asyncio loop; the session applies them from its
own thread (Session's controls are thread-safe). Stop is always accepted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from massager import api
from massager.errors import MassagerError
from massager.runtime.events import Fault, Finished, Paused, Progress, Resumed
from massager.runtime.session import Session
from massager.service.control import Control, Peer
from massager.service.errors import WRONG_STATE, RpcError
from massager.service.history import History
from massager.service.status import Snapshot, build_status
from massager.stream import CommandStream

State = Literal["idle", "running", "paused", "stopping", "fault"]
log = logging.getLogger("massager.service")

OUTCOMES: dict[str, str] = {
    "done": "done",
    "stopped": "stopped",
    "cap": "cap",
    "pause_limit": "stopped",
    "interrupted": "stopped",
    "fault": "fault",
    "error": "error",
}
"""A session's finish reason -> the outcome the API and history report."""


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


@dataclass
class _Run:
    """The session being played and what the core knows about it."""

    session: Session
    stream: CommandStream
    started_at: str
    remote: bool
    thread: threading.Thread | None = None
    finished: Finished | None = None
    faults: tuple[str, ...] = ()
    deadman_paused: bool = False
    user_paused: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class ServiceCore:
    """One device, at most one session on it, the control holder and the remote dead-man."""

    def __init__(self, options: CoreOptions, history: History | None = None) -> None:
        self.options = options
        self.device_name = api.check_device(options.device, options.speed)
        self.rig = api.load_rig(options.rig)
        self.history = history
        self._lock = threading.Lock()
        self._state: State = "idle"
        self._run: _Run | None = None
        self.snapshot = Snapshot.idle(self.rig)
        self._listeners: list[Callable[[], None]] = []
        self.control = Control(self._changed)
        self._idle = threading.Event()
        self._idle.set()

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
        return self._state

    def _require_session(self) -> _Run:
        run = self._run
        if run is None or self._state not in ("running", "paused"):
            raise RpcError(WRONG_STATE, "no session is running")
        return run

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
        if self._state == "fault":
            raise RpcError(WRONG_STATE, "a fault is latched: acknowledge it first")
        if self._state != "idle":
            raise RpcError(WRONG_STATE, "a session is already running")
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
        run = _Run(session=session, stream=stream, started_at=_now_iso(), remote=not local)
        bus = session.bus
        bus.subscribe(lambda e: self._on_progress(run, e), Progress)
        bus.subscribe(lambda e: self._on_paused(run, e), Paused)
        bus.subscribe(lambda e: self._on_paused(run, e), Resumed)
        bus.subscribe(lambda e: self._on_fault(run, e), Fault)
        bus.subscribe(lambda e: self._on_finished(run, e), Finished)
        with self._lock:
            self._run = run
            self._state = "running"
            self.snapshot = Snapshot.starting(self.rig, intensity, self.snapshot)
        self._idle.clear()
        if self.control.controller is None:
            self.control.gone_since = time.monotonic()
        thread = threading.Thread(target=self._play, args=(run,), name="session", daemon=True)
        run.thread = thread
        thread.start()
        self._changed()

    def pause(self, client: Peer) -> None:
        """Ramp every output down and hold (controller only)."""
        run = self._require_session()
        self.control.check(client)
        run.user_paused = True
        run.session.pause()
        self._set_state("paused")

    def resume(self, client: Peer) -> None:
        """Ramp back up and continue (controller only)."""
        run = self._require_session()
        self.control.check(client)
        run.user_paused = run.deadman_paused = False
        run.session.resume()
        self._set_state("running")

    def set_intensity(self, client: Peer, value: float) -> None:
        """Change the user intensity (0..1) of the session playing (controller only)."""
        run = self._require_session()
        self.control.check(client)
        applied = run.session.set_intensity(value)
        with self._lock:
            self.snapshot.intensity = applied
        self._changed()

    def stop(self) -> None:
        """Ramp every output down and end the session. Anyone, any state, idempotent."""
        with self._lock:
            run = self._run
            if run is None or self._state not in ("running", "paused", "stopping"):
                return
            # "stopping" before the session is asked, so its end (idle or fault, set by
            # `_ended` under the same lock) always comes after it and wins
            self._state = "stopping"
        self._changed()
        run.session.stop()

    def acknowledge(self) -> None:
        """Clear a latched fault (fault -> idle); nothing in any other state."""
        with self._lock:
            if self._state == "fault":
                self._state = "idle"
                self.snapshot.fault = None
        self._changed()

    _MOVES: ClassVar[dict[str, tuple[str, ...]]] = {
        "paused": ("running",),
        "running": ("paused",),
        "stopping": ("running", "paused"),
    }
    """The states each state may be reached from by a control or a session event (the end of
    a session moves to idle or fault by itself, in `_ended`)."""

    def _set_state(self, state: State) -> None:
        with self._lock:
            if self._state in self._MOVES[state]:
                self._state = state
        self._changed()

    # -- the remote dead-man ----------------------------------------------------------------

    def deadman_in_s(self, now: float | None = None) -> float | None:
        """Seconds until the remote dead-man pauses the session, or None when it is not counting."""
        run, limit, since = self._run, self.options.deadman_s, self.control.gone_since
        if run is None or not run.remote or limit is None or since is None:
            return None
        if self._state != "running" or self.control.controller is not None:
            return None
        now = time.monotonic() if now is None else now
        return max(0.0, limit - (now - since))

    def check_deadman(self, now: float | None = None) -> bool:
        """Pause a remote session whose controller has been gone too long; whether it did."""
        left = self.deadman_in_s(now)
        run = self._run
        if left is None or left > 0 or run is None:
            return False
        run.deadman_paused = True
        run.session.pause()
        log.warning("dead-man: no controlling client for %gs; pausing", self.options.deadman_s)
        with self._lock:
            self.snapshot.warnings = [
                f"dead-man: paused after {self.options.deadman_s:g} s without a controlling client"
            ]
        self._set_state("paused")
        return True

    # -- the session thread -----------------------------------------------------------------

    def _play(self, run: _Run) -> None:
        try:
            run.session.run()
        except MassagerError:
            pass  # reported by the Finished event
        except Exception:
            log.exception("the session failed")
        finally:
            self._ended(run)

    def _on_progress(self, run: _Run, event: Progress) -> None:
        with self._lock:
            snap = self.snapshot
            snap.session_ms = event.t_ms
            snap.levels = dict(event.levels)
            snap.temps.update(event.temps)
            snap.intensity = event.intensity
        self._changed()

    def _on_paused(self, run: _Run, event: Paused | Resumed) -> None:
        self._set_state("paused" if isinstance(event, Paused) else "running")

    def _on_fault(self, run: _Run, event: Fault) -> None:
        run.faults = tuple(event.faults) or run.faults

    def _on_finished(self, run: _Run, event: Finished) -> None:
        run.finished = event

    def _ended(self, run: _Run) -> None:
        finished = run.finished
        reason = finished.reason if finished is not None else "error"
        message = finished.message if finished is not None else "internal error in the session"
        outcome = OUTCOMES.get(reason, "error")
        if run.deadman_paused and reason == "pause_limit":
            outcome = "deadman"
        with self._lock:
            snap = self.snapshot
            snap.levels = {a: 0.0 for a in snap.levels}
            snap.last_outcome = {"outcome": outcome, "message": message}
            if outcome in ("fault", "error"):
                kind = (
                    run.faults[0] if run.faults else ("safety" if reason == "fault" else "device")
                )
                snap.fault = {"reason": kind, "message": message}
                self._state = "fault"
            else:
                self._state = "idle"
        if self.history is not None:
            try:
                self.history.add(
                    profile=run.stream.profile,
                    started_at=run.started_at,
                    duration_ms=int(snap.session_ms),
                    outcome=outcome,
                    message=message,
                    faults=list(run.faults),
                )
            except Exception:
                log.exception("could not record the session in the history")
        self._idle.set()
        self._changed()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no session plays (the thread has ended) or `timeout` s; whether it did."""
        return self._idle.wait(timeout)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop any session (ramping down) and wait for its thread: the service is leaving."""
        run = self._run
        if run is not None and not self._idle.is_set():
            run.session.stop()
            self._idle.wait(timeout)

    # -- status -----------------------------------------------------------------------------

    def status(self, you: str | None = None) -> dict[str, Any]:
        """The status object (see docs/api.md) as the client `you` sees it."""
        with self._lock:
            run = self._run
            stream = run.stream if run is not None and self._state != "idle" else None
            return build_status(
                state=self._state,
                snap=self.snapshot,
                rig=self.rig,
                stream=stream,
                controller=self.control.holder(),
                you=you,
                clients=len(self.control.clients),
                deadman_in_s=self.deadman_in_s(),
            )
