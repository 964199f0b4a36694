"""The service's state machine: its state, the session playing and its snapshot, under one lock.

States: idle, running, paused, stopping, fault (latched until acknowledged). A
session moves the machine from idle to running (`begin`) and, when its thread
ends, to idle or fault (`end`). Every other change names the run it is about
(`move`, `update`) and is dropped when that run is no longer the one playing:
a control or a session event that raced the end of its session can never
overwrite the state or the snapshot of a session started after it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ClassVar, Literal, TypeVar

from massager.service.errors import WRONG_STATE, RpcError
from massager.service.playing import Ending, Run
from massager.service.status import Snapshot

State = Literal["idle", "running", "paused", "stopping", "fault"]
T = TypeVar("T")


class Lifecycle:
    """The state, the run playing and its snapshot; every change is made under `lock`."""

    MOVES: ClassVar[dict[str, tuple[str, ...]]] = {
        "paused": ("running",),
        "running": ("paused",),
        "stopping": ("running", "paused"),
    }
    """The states each state may be reached from by a control or a session event (the end of
    a session moves to idle or fault by itself, in `end`)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.lock = threading.Lock()
        self.state: State = "idle"
        self.run: Run | None = None
        self.snapshot = snapshot
        self._idle = threading.Event()
        self._idle.set()

    def current(self) -> Run:
        """The run playing (running or paused); WRONG_STATE when there is none."""
        with self.lock:
            run = self.run
            if run is None or self.state not in ("running", "paused"):
                raise RpcError(WRONG_STATE, "no session is running")
            return run

    def may_start(self) -> None:
        """WRONG_STATE unless idle: a fault is latched, or a session is already running."""
        state = self.state
        if state == "fault":
            raise RpcError(WRONG_STATE, "a fault is latched: acknowledge it first")
        if state != "idle":
            raise RpcError(WRONG_STATE, "a session is already running")

    def begin(self, run: Run, snapshot: Snapshot) -> None:
        """`run` is playing from now on, with a fresh `snapshot` (idle -> running)."""
        with self.lock:
            self.may_start()
            self.run = run
            self.state = "running"
            self.snapshot = snapshot
            self._idle.clear()

    def move(self, run: Run, state: State) -> bool:
        """Move to `state` if `run` is still the one playing and `MOVES` allows it; whether so."""
        with self.lock:
            if self.run is run and self.state in self.MOVES[state]:
                self.state = state
                return True
            return False

    def update(self, run: Run, change: Callable[[Snapshot], None]) -> bool:
        """Apply `change` to the snapshot if `run` is still the one playing; whether it did."""
        with self.lock:
            if self.run is not run or self.state in ("idle", "fault"):
                return False
            change(self.snapshot)
            return True

    def stopping(self) -> Run | None:
        """Move the run playing to "stopping" (before its session is asked to stop, so its end
        always comes after and wins); the run, or None when nothing plays."""
        with self.lock:
            run = self.run
            if run is None or self.state not in ("running", "paused", "stopping"):
                return None
            self.state = "stopping"
            return run

    def end(self, run: Run, end: Ending) -> Snapshot:
        """`run`'s thread has returned: every level at zero, the outcome kept, idle or fault."""
        with self.lock:
            snap = self.snapshot
            if self.run is run:  # always (a run begins only when the one before it ended)
                snap.levels = {a: 0.0 for a in snap.levels}
                snap.last_outcome = {"outcome": end.outcome, "message": end.message}
                snap.fault = end.fault
                self.state = "fault" if end.fault is not None else "idle"
                self._idle.set()
            return snap

    def acknowledge(self) -> None:
        """Clear a latched fault (fault -> idle); nothing in any other state."""
        with self.lock:
            if self.state == "fault":
                self.state = "idle"
                self.snapshot.fault = None

    def read(self, view: Callable[[State, Run | None, Snapshot], T]) -> T:
        """`view(state, run, snapshot)` under the lock (a consistent status)."""
        with self.lock:
            return view(self.state, self.run, self.snapshot)

    @property
    def is_idle(self) -> bool:
        """Whether no session thread is playing."""
        return self._idle.is_set()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no session plays (its thread has ended) or `timeout` s; whether it did."""
        return self._idle.wait(timeout)
