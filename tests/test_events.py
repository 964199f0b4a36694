"""The event bus: typed subscriptions, unsubscribe, ordering; a session's event sequence."""

from __future__ import annotations

import itertools
import threading

import pytest
from fake_driver import FakeDriver, stream

from massager.runtime.events import (
    Event,
    EventBus,
    Finished,
    Paused,
    Progress,
    Recorder,
    Resumed,
    SessionStarted,
    StepStarted,
)
from massager.runtime.session import Session, SessionResult


def test_subscribers_get_only_the_types_they_asked_for() -> None:
    bus = EventBus()
    pauses: list[Event] = []
    both: list[Event] = []
    everything: list[Event] = []
    bus.subscribe(pauses.append, Paused)
    bus.subscribe(both.append, Paused, Resumed)
    bus.subscribe(everything.append)
    events = [Paused(1.0), Resumed(2.0), Progress(3.0, duration_ms=10)]
    for event in events:
        bus.publish(event)
    assert pauses == [events[0]]
    assert both == events[:2]
    assert everything == events


def test_subscribing_to_a_base_type_gets_its_subclasses() -> None:
    bus = EventBus()
    got: list[Event] = []
    bus.subscribe(got.append, Event)
    bus.publish(Finished(5.0, reason="done", exit_code=0))
    assert [type(e) for e in got] == [Finished]


def test_unsubscribe_stops_delivery_and_wants_follows() -> None:
    bus = EventBus()
    got: list[Event] = []
    assert not bus.wants(Progress)
    unsubscribe = bus.subscribe(got.append, Progress)
    assert bus.wants(Progress) and not bus.wants(Paused)
    bus.publish(Progress(1.0, duration_ms=10))
    unsubscribe()
    unsubscribe()  # twice is harmless
    bus.publish(Progress(2.0, duration_ms=10))
    assert len(got) == 1
    assert not bus.wants(Progress)


def test_callbacks_run_in_subscription_order_and_errors_propagate() -> None:
    bus = EventBus()
    order: list[str] = []
    bus.subscribe(lambda e: order.append("first"))
    bus.subscribe(lambda e: order.append("second"))
    bus.publish(Paused(0.0))
    assert order == ["first", "second"]

    def broken(event: Event) -> None:
        raise ValueError("boom")

    bus.subscribe(broken)
    with pytest.raises(ValueError, match="boom"):
        bus.publish(Paused(0.0))


def test_subscribing_from_other_threads_while_publishing() -> None:
    bus = EventBus()
    counts = [0]
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            bus.subscribe(lambda e: None, Paused)()

    def count(event: Event) -> None:
        counts[0] += 1

    bus.subscribe(count, Paused)
    threads = [threading.Thread(target=churn) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for _ in range(5000):
            bus.publish(Paused(0.0))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert counts[0] == 5000


def test_recorder_filters_by_type() -> None:
    bus = EventBus()
    rec = Recorder(bus)
    bus.publish(Paused(1.0))
    bus.publish(Resumed(2.0))
    assert rec.of(Paused) == [Paused(1.0)]
    assert len(rec.events) == 2


def test_a_session_reports_start_steps_progress_and_finish_in_order() -> None:
    bus = EventBus()
    rec = Recorder(bus)
    s = stream(3000)
    Session(s, FakeDriver(), bus=bus).run()
    kinds = [type(e) for e in rec.events]
    assert kinds[0] is SessionStarted and kinds[-1] is Finished
    started = rec.of(SessionStarted)[0]
    assert started.profile == "fake" and started.device == "fake"
    assert started.duration_ms == 3000 and started.steps == tuple(s.steps)
    steps = rec.of(StepStarted)
    assert [e.step for e in steps] == s.steps and all(e.count == 2 for e in steps)
    assert kinds.index(StepStarted) < kinds.index(Progress)
    times = [e.t_ms for e in rec.of(Progress)]
    assert times == sorted(times) and times[-1] == pytest.approx(3000)
    assert all(b - a <= 100.0 + 1e-9 for a, b in itertools.pairwise(times))
    progress = rec.of(Progress)[5]
    assert set(progress.levels) == {"roller_l", "vib_l"} and progress.intensity == 1.0


def test_the_outcome_reads_the_same_on_the_finished_event_and_the_result() -> None:
    finished = Finished(1.0, reason="done", exit_code=0)
    assert finished.outcome == "done"
    message = "paused longer than 10 min, so the session ended"
    result = SessionResult("pause_limit", 5.0, 6.0, 1.0, message)
    assert result.outcome == message  # the internal code pause_limit is not for people
    assert Finished(5.0, "pause_limit", 0, message).outcome == result.outcome
