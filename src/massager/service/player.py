"""The session thread: plays one `Run` and turns its events into the core's state and snapshot.

Each event names its run, so a late event of a session that has ended changes
nothing of the one after it (see `Lifecycle`). When the session thread returns,
every level is zero in the snapshot, the outcome is kept (a fault or an error
is latched) and the session is added to the history; the end is reported before
the history is written to disk (a listing writes it first if it comes between).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from massager.errors import MassagerError
from massager.runtime.events import Fault, Finished, Paused, Progress, Resumed
from massager.service.history import History
from massager.service.lifecycle import Lifecycle, State
from massager.service.playing import Run, ending, record
from massager.service.status import Snapshot

log = logging.getLogger("massager.service")


class Player:
    """Starts each run's session thread; `changed()` is called after every change it makes."""

    def __init__(
        self, life: Lifecycle, history: History | None, changed: Callable[[], None]
    ) -> None:
        self.life = life
        self.history = history
        self._changed = changed

    def launch(self, run: Run) -> None:
        """Follow `run`'s events and play its session in a thread of its own (it has begun)."""
        bus = run.session.bus
        bus.subscribe(lambda e: self._on_progress(run, e), Progress)
        bus.subscribe(lambda e: self.move(run, "paused"), Paused)
        bus.subscribe(lambda e: self.move(run, "running"), Resumed)
        bus.subscribe(lambda e: self._on_fault(run, e), Fault)
        bus.subscribe(lambda e: self._on_finished(run, e), Finished)
        thread = threading.Thread(target=self._play, args=(run,), name="session", daemon=True)
        run.thread = thread
        thread.start()

    def move(self, run: Run, state: State) -> None:
        """`run` moves to `state` (nothing if it is no longer the session playing)."""
        self.life.move(run, state)
        self._changed()

    def _play(self, run: Run) -> None:
        try:
            run.session.run()
        except MassagerError:
            pass  # reported by the Finished event
        except Exception:
            log.exception("the session failed")
        finally:
            self._ended(run)

    def _on_progress(self, run: Run, event: Progress) -> None:
        def change(snap: Snapshot) -> None:
            snap.session_ms = event.t_ms
            snap.levels = dict(event.levels)
            snap.temps.update(event.temps)
            # what the user asked (as `set_intensity` answered), not the intensity the session
            # thread has applied so far: a Progress sent just before it takes a change must not
            # show the old value again
            snap.intensity = run.session.intensity

        self.life.update(run, change)
        self._changed()

    def _on_fault(self, run: Run, event: Fault) -> None:
        run.faults = tuple(event.faults) or run.faults

    def _on_finished(self, run: Run, event: Finished) -> None:
        run.finished = event

    def _ended(self, run: Run) -> None:
        end = ending(run)
        snap = self.life.end(run, end)
        record(self.history, run, end, int(snap.session_ms))
        self._changed()  # idle (or the fault) goes out before the history's disk write
        if self.history is not None:
            self.history.flush()
