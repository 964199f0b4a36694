"""Every catchable signal that would end (or suspend) the process is a stop.

`STOP_SIGNALS` are the signals whose default action would kill or suspend
the process with the outputs as they are: Ctrl-C (SIGINT), SIGTERM, a closed
terminal or SSH session (SIGHUP), Ctrl-\\ (SIGQUIT), Ctrl-Z (SIGTSTP) and the
rest. While a session plays, each one is handed to the session
(`forward_to(session.interrupt)`): it ramps every output down and ends with
`Interrupted` (exit 130); a second one turns everything off at once.

The command line calls `install()` first thing, so a signal at any moment of
its life is caught, then `arm()` once it is ready to handle an error: from
then on, before a session exists, a signal raises `Interrupted` where the
program is (at most once: a later one is only recorded, so an error being
reported is never cut short); one that came before `arm()` is raised by it.
`shielded()` defers a signal past a section that must finish (turning a
device off). SIGTTIN and SIGTTOU, which would suspend
a process run in the background that touches its terminal, are ignored.

Signal handlers run in the main thread only; elsewhere these helpers do
nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from massager.errors import Interrupted


def _signals(*names: str) -> tuple[signal.Signals, ...]:
    return tuple(getattr(signal, n) for n in names if hasattr(signal, n))


STOP_SIGNALS = _signals(
    "SIGINT",
    "SIGTERM",
    "SIGHUP",
    "SIGQUIT",
    "SIGTSTP",
    "SIGUSR1",
    "SIGUSR2",
    "SIGALRM",
    "SIGVTALRM",
    "SIGPROF",
    "SIGXCPU",
    "SIGIO",
    "SIGPWR",
)
"""Signals that stop a run (and any command): each would otherwise end or suspend the process."""
IGNORED_SIGNALS = _signals("SIGTTIN", "SIGTTOU")
"""Ignored by the command line: a background process touching its terminal is not suspended."""

Target = Callable[[str], None]


def signal_name(signum: int) -> str:
    """ "SIGTERM" for 15, and so on."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class _State:
    """The process's stop-signal state (one per process)."""

    def __init__(self) -> None:
        self.installed = False
        self.raising = False
        self.shield = 0
        self.targets: list[Target] = []
        self.received: list[str] = []
        self.pending: list[str] = []
        """Received and not yet handed to a session (raised or not: a library may have
        swallowed the raise, and a session must not start after a stop signal)."""


_state = _State()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _handler(signum: int, frame: FrameType | None) -> None:
    name = signal_name(signum)
    state = _state
    state.received.append(name)
    if state.targets:
        state.raising = False  # the session handles this one; never raise for a later one
        state.targets[-1](name)
        return
    state.pending.append(name)
    if state.raising and not state.shield:
        state.raising = False  # once: what runs next (reporting) must not be cut short
        raise _interrupted(name)


def _interrupted(name: str) -> Interrupted:
    return Interrupted(f"interrupted ({name}) before any output was turned on")


def install() -> None:
    """Catch every stop signal for the rest of the process (the command line's first act).

    Until `arm()`, a signal is only recorded.
    """
    if not _main_thread():
        return
    for sig in STOP_SIGNALS:
        signal.signal(sig, _handler)
    for sig in IGNORED_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    _state.installed = True


def arm() -> None:
    """From now on (with `install()`), a stop signal outside a session raises `Interrupted`;
    one already received is raised now."""
    state = _state
    if not state.installed:
        return
    if state.pending:
        raise _interrupted(state.pending[0])
    state.raising = True


def block() -> None:
    """Ignore every stop signal for the rest of the process: the command's outcome is
    decided, and a signal during the interpreter's own shutdown (after it has put the
    default handlers back, in whichever thread the kernel picks) must not turn that
    outcome into a raw signal status. Ignoring is process-wide and survives shutdown."""
    if _main_thread():
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def received() -> tuple[str, ...]:
    """The stop signals received so far, by name, in order."""
    return tuple(_state.received)


def hold() -> None:
    """From now on a stop signal is only recorded, never raised (reporting the outcome)."""
    _state.raising = False


@contextmanager
def forward_to(target: Target) -> Iterator[None]:
    """While inside, each stop signal calls `target(name)` instead of ending the program.

    Without `install()` (a library user's program) the handlers are put in place
    for the duration and the previous ones restored after. A signal received but
    not yet acted on (deferred by `shielded()`) is handed to `target` at once.
    """
    if not _main_thread():
        yield
        return
    state = _state
    previous = None
    if not state.installed:
        previous = {sig: signal.signal(sig, _handler) for sig in STOP_SIGNALS}
    state.targets.append(target)
    try:
        pending, state.pending = state.pending, []
        for name in pending[:2]:
            target(name)
        yield
    finally:
        state.targets.remove(target)
        if previous is not None:
            for sig, old in previous.items():
                signal.signal(sig, old)


@contextmanager
def shielded() -> Iterator[None]:
    """A section no stop signal may cut short; one that came raises `Interrupted` after it.

    Inside, a session may still take signals through `forward_to`.
    """
    state = _state
    state.shield += 1
    try:
        yield
    finally:
        state.shield -= 1
    if not state.shield and state.pending and state.raising:
        state.raising = False
        raise Interrupted(f"interrupted ({state.pending[0]})")


def interrupted_by(exc: BaseException) -> Interrupted | None:
    """The `Interrupted` that `exc` is, or wraps (a signal raised inside library code, such
    as a class body's ``__set_name__``, can come back as another exception), or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, Interrupted):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
