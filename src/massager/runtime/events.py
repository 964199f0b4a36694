"""What a session reports while it plays: events, delivered to subscribers.

The live terminal view, the plain line output and the tests all listen the
same way: `bus.subscribe(callback, EventType, ...)`. Events are published from
the thread that runs the session, in the order things happened.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar, cast

from massager.stream import StepInfo

FinishReason = Literal["done", "stopped", "cap", "pause_limit", "interrupted", "fault", "error"]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every session event; `t_ms` is the session time it happened at."""

    t_ms: float


@dataclass(frozen=True, slots=True)
class SessionStarted(Event):
    """The device is open and the session clock starts."""

    profile: str
    rig: str
    device: str
    duration_ms: int
    actuators: tuple[str, ...]
    steps: tuple[StepInfo, ...]
    intensity: float


@dataclass(frozen=True, slots=True)
class StepStarted(Event):
    """A profile step began (several may run at once inside a parallel block)."""

    step: StepInfo
    count: int
    """How many steps the profile has, for "step 3 of 9"."""


@dataclass(frozen=True, slots=True)
class Progress(Event):
    """A heartbeat of the running session: where it is and what each output does."""

    duration_ms: int
    levels: dict[str, float] = field(default_factory=dict)
    temps: dict[str, float] = field(default_factory=dict)
    intensity: float = 1.0
    paused: bool = False
    wall_ms: float = 0.0
    """Time on the device clock since the start, pauses included."""


@dataclass(frozen=True, slots=True)
class IntensityChanged(Event):
    """The user intensity changed (already clamped to 0..1)."""

    intensity: float
    previous: float


@dataclass(frozen=True, slots=True)
class Paused(Event):
    """The user paused: every output ramps down and holds."""


@dataclass(frozen=True, slots=True)
class Resumed(Event):
    """The user resumed: the outputs ramp back up and the program continues."""


@dataclass(frozen=True, slots=True)
class Fault(Event):
    """Something went wrong: a latched device fault, a device/link failure, or an output
    of the run (the trace) that could not be written."""

    kind: Literal["safety", "device", "output"]
    message: str
    faults: tuple[str, ...] = ()


class Outcome:
    """How a session ended: a `reason` and, for some reasons, a `message`."""

    __slots__ = ()
    reason: FinishReason
    message: str

    @property
    def outcome(self) -> str:
        """`reason`, or `reason: message` when there is a message (for people to read)."""
        if self.reason == "pause_limit" and self.message:
            return self.message  # it says why; the internal reason code is not for people
        return f"{self.reason}: {self.message}" if self.message else self.reason


@dataclass(frozen=True, slots=True)
class Finished(Event, Outcome):
    """The session ended and every output is off; `reason` says why."""

    reason: FinishReason
    exit_code: int
    message: str = ""


E = TypeVar("E", bound=Event)
_Sub = tuple[tuple[type[Event], ...], Callable[[Event], object]]


class EventBus:
    """Delivers events to the callbacks subscribed to their type (or a base type).

    Subscribing and unsubscribing are safe from any thread; callbacks run in the
    publishing thread, and an exception in a callback propagates to it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: list[_Sub] = []
        self._cache: dict[type[Event], tuple[Callable[[Event], object], ...]] = {}

    def subscribe(self, callback: Callable[[E], object], *types: type[E]) -> Callable[[], None]:
        """Call `callback` with each event of `types` (all if none); returns an unsubscriber."""
        # The callback only ever gets events of `types`, which are E's.
        entry: _Sub = (types or (Event,), cast(Callable[[Event], object], callback))
        with self._lock:
            self._subs.append(entry)
            self._cache.clear()

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subs:
                    self._subs.remove(entry)
                    self._cache.clear()

        return unsubscribe

    def _callbacks(self, kind: type[Event]) -> tuple[Callable[[Event], object], ...]:
        cached = self._cache.get(kind)
        if cached is None:
            with self._lock:
                cached = tuple(cb for types, cb in self._subs if issubclass(kind, types))
                self._cache[kind] = cached
        return cached

    def wants(self, kind: type[Event]) -> bool:
        """Whether anyone listens to events of `kind` (lets the session skip building them)."""
        return bool(self._callbacks(kind))

    def publish(self, event: Event) -> None:
        """Hand `event` to every callback subscribed to its type, in subscription order."""
        for callback in self._callbacks(type(event)):
            callback(event)


class Recorder:
    """A subscriber that keeps every event it gets, for tests and summaries."""

    def __init__(self, bus: EventBus | None = None) -> None:
        self.events: list[Event] = []
        if bus is not None:
            bus.subscribe(self.events.append)

    def of(self, kind: type[E]) -> list[E]:
        """The recorded events of `kind`, in order."""
        return [e for e in self.events if isinstance(e, kind)]
