"""The session against a fake driver: sending ahead, heartbeat, controls, every way out."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fake_driver import FakeDriver, stream
from hypothesis import given, settings
from hypothesis import strategies as st
from session_support import script

from massager.clock import MonotonicClock, VirtualClock
from massager.errors import DeviceError, Interrupted, SafetyStop
from massager.runtime.events import (
    EventBus,
    Fault,
    Finished,
    IntensityChanged,
    Paused,
    Recorder,
    Resumed,
    SessionStarted,
    StepStarted,
)
from massager.runtime.session import Session, clamp_intensity


def make(
    driver: FakeDriver | None = None, duration_ms: int = 3000, **kwargs: Any
) -> tuple[Session, FakeDriver, Recorder]:
    """A session of the two-step fake stream on `driver`, with a recorder on its bus."""
    driver = driver or FakeDriver()
    bus = EventBus()
    recorder = Recorder(bus)
    session = Session(stream(duration_ms), driver, bus=bus, **kwargs)
    return session, driver, recorder


def assert_safe_exit(driver: FakeDriver) -> None:
    """stop, off and close were called last, in that order, and every output is zero."""
    assert driver.calls[-3:] == ["stop", "off", "close"]
    assert all(v == 0.0 for v in driver.levels().values())


def test_plays_to_the_end_sending_ahead_and_polling_every_heartbeat() -> None:
    session, driver, rec = make()
    result = session.run()
    assert result.reason == "done"
    assert result.session_ms == pytest.approx(3000.0)
    assert [c for _, c in driver.sent] == session.stream.commands
    for sent_at, command in driver.sent:
        assert sent_at <= command.at_ms  # never late
        assert command.at_ms - sent_at <= driver.lookahead_ms + session.heartbeat_ms
    walls = [s.wall_ms for s in driver.samples]
    assert max(b - a for a, b in itertools.pairwise(walls)) <= 100.0 + 1e-9
    assert driver.calls[:4] == ["open", "intensity 1", "send", "start"]
    assert_safe_exit(driver)
    assert isinstance(rec.events[0], SessionStarted)
    assert [e.step.index for e in rec.of(StepStarted)] == [0, 1]
    assert rec.of(StepStarted)[1].t_ms >= 1500
    finished = rec.events[-1]
    assert isinstance(finished, Finished) and finished.reason == "done"
    assert finished.exit_code == 0


class LaggingClock(VirtualClock):
    """A host that cannot keep up: every sleep overshoots its deadline by `lag_ms`."""

    def __init__(self, lag_ms: float) -> None:
        super().__init__()
        self.lag_ms = lag_ms

    def sleep_until(self, t_ms: float) -> None:
        super().sleep_until(t_ms + self.lag_ms)


def test_a_lagging_host_still_reports_step_starts_and_the_end_at_their_own_times() -> None:
    driver = FakeDriver(clock=LaggingClock(337.0))
    session, driver, rec = make(driver)
    result = session.run()
    assert result.reason == "done"
    assert max(s.session_ms for s in driver.samples) > 3000  # the polls did overshoot
    assert [e.t_ms for e in rec.of(StepStarted)] == [0.0, 1500.0]
    assert result.session_ms == 3000.0
    finished = rec.of(Finished)[0]
    assert finished.t_ms == 3000.0


def test_levels_follow_the_stream_times_intensity() -> None:
    session, driver, _ = make(intensity=0.5)
    session.run()
    early = [s for s in driver.samples if 100 <= s.session_ms < 1400]
    assert early and all(s.levels["roller_l"] == pytest.approx(0.4) for s in early)
    assert all(s.levels["vib_l"] == pytest.approx(0.2) for s in early)


def test_pause_holds_at_zero_then_resume_continues_where_it_stopped() -> None:
    session, driver, rec = make()
    script(session, {1000: session.pause, 2500: session.resume})
    result = session.run()
    assert result.reason == "done"
    paused = [s for s in driver.samples if s.paused]
    assert paused, "the device was never paused"
    assert all(v == 0.0 for s in paused for v in s.levels.values())
    assert max(s.session_ms for s in paused) - min(s.session_ms for s in paused) < 1e-9
    assert result.wall_ms == pytest.approx(3000 + 1500, abs=100)
    assert len(rec.of(Paused)) == 1 and len(rec.of(Resumed)) == 1
    after = [s for s in driver.samples if not s.paused and 1200 < s.session_ms < 1450]
    assert after and all(s.levels["roller_l"] == pytest.approx(0.8) for s in after)
    # sent commands never came late although the device held for 1.5 s
    assert all(sent_at <= c.at_ms for sent_at, c in driver.sent)


def test_toggle_pause_alternates() -> None:
    session, _, rec = make()
    script(session, {500: session.toggle_pause, 800: session.toggle_pause})
    session.run()
    assert [type(e).__name__ for e in rec.events if isinstance(e, Paused | Resumed)] == [
        "Paused",
        "Resumed",
    ]


def test_intensity_up_and_down_scales_levels_and_is_clamped() -> None:
    session, driver, rec = make(intensity=0.5)
    script(
        session,
        {
            300: lambda: session.change_intensity(+0.1),
            600: lambda: session.set_intensity(3.0),
            1000: lambda: [session.change_intensity(-0.1) for _ in range(3)],
        },
    )
    session.run()
    changes = [(e.previous, e.intensity) for e in rec.of(IntensityChanged)]
    assert changes == [(0.5, 0.6), (0.6, 1.0), (1.0, 0.7)]
    by_t = {round(s.session_ms): s.levels["roller_l"] for s in driver.samples}
    assert by_t[200] == pytest.approx(0.4)
    assert by_t[500] == pytest.approx(0.8 * 0.6)
    assert by_t[800] == pytest.approx(0.8)
    assert by_t[1200] == pytest.approx(0.8 * 0.7)


def test_intensity_steps_do_not_drift_and_stay_in_range() -> None:
    session, _, _ = make(intensity=0.0)
    values = [session.change_intensity(0.1) for _ in range(13)]
    assert values[:10] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert values[10:] == [1.0, 1.0, 1.0]
    assert [session.change_intensity(-0.1) for _ in range(11)][-2:] == [0.0, 0.0]
    assert clamp_intensity(-3) == 0.0 and clamp_intensity(0.333) == 0.33


def test_bad_initial_intensity_is_refused() -> None:
    with pytest.raises(ValueError, match="intensity"):
        make(intensity=1.5)


def test_stop_ramps_down_and_ends_early() -> None:
    session, driver, rec = make()
    script(session, {1000: session.stop})
    result = session.run()
    assert result.reason == "stopped"
    assert 1000 <= result.session_ms < 1200
    assert all(c.at_ms < 1000 + driver.lookahead_ms + 200 for _, c in driver.sent)
    assert_safe_exit(driver)
    assert isinstance(rec.events[-1], Finished) and rec.events[-1].reason == "stopped"


def test_session_cap_ends_with_a_safety_stop() -> None:
    session, driver, rec = make(duration_ms=10_000, cap_ms=2000)
    with pytest.raises(SafetyStop, match="session limit") as info:
        session.run()
    assert info.value.exit_code == 4
    assert driver.samples[-1].session_ms == pytest.approx(2000)
    assert_safe_exit(driver)
    finished = rec.of(Finished)
    assert len(finished) == 1 and finished[0].reason == "cap" and finished[0].exit_code == 4


def test_pause_left_alone_ends_the_session() -> None:
    session, driver, _ = make(max_pause_ms=5000)
    script(session, {1000: session.pause})
    result = session.run()
    assert result.reason == "pause_limit"
    assert result.wall_ms == pytest.approx(6000, abs=200)
    assert_safe_exit(driver)


def test_the_pause_limit_is_wall_time_on_a_sped_up_clock() -> None:
    # at --speed 60 a 0.3 s pause limit is 18 s of clock time, not 0.3 s of it
    session, driver, rec = make(
        FakeDriver(clock=MonotonicClock(speed=60.0)), duration_ms=600_000, max_pause_ms=300
    )
    session.pause()
    started = time.monotonic()
    result = session.run()
    assert time.monotonic() - started >= 0.3
    assert result.reason == "pause_limit"
    assert result.wall_ms >= 300 * 60
    assert result.outcome == "paused longer than 0.005 min, so the session ended"
    assert "pause_limit" not in rec.of(Finished)[0].outcome
    assert_safe_exit(driver)


def test_latched_device_fault_is_a_safety_stop() -> None:
    session, driver, rec = make(FakeDriver(fault_at_ms=1200))
    with pytest.raises(SafetyStop, match="overtemp") as info:
        session.run()
    assert info.value.exit_code == 4
    assert "off" in driver.calls and driver.calls[-1] == "close"
    assert driver.samples[-1].session_ms == pytest.approx(1200)
    assert all(v == 0.0 for v in driver.samples[-1].levels.values())
    fault = rec.of(Fault)
    assert len(fault) == 1 and fault[0].kind == "safety" and fault[0].faults == ("overtemp",)
    assert rec.of(Finished)[0].reason == "fault"


@pytest.mark.parametrize("fail_on", ["poll", "send", "open"])
def test_driver_error_turns_everything_off_and_is_a_device_error(fail_on: str) -> None:
    session, driver, rec = make(
        FakeDriver(fail_at_ms=0 if fail_on != "poll" else 700, fail_on=fail_on)
    )
    with pytest.raises(DeviceError, match="Input/output error") as info:
        session.run()
    assert info.value.exit_code == 3
    assert driver.calls[-3:] == ["stop", "off", "close"]
    assert driver.is_off and driver.closed
    assert rec.of(Fault)[0].kind == "device"
    assert rec.of(Finished)[0].exit_code == 3


def test_device_whose_clock_stands_still_is_a_device_error() -> None:
    session, driver, _ = make(FakeDriver(frozen=True))
    with pytest.raises(DeviceError, match="stopped at 0 ms"):
        session.run()
    assert driver.closed


def test_interrupt_ramps_down_and_raises_interrupted() -> None:
    session, driver, rec = make()
    script(session, {800: lambda: session.interrupt("SIGTERM")})
    with pytest.raises(Interrupted, match="SIGTERM") as info:
        session.run()
    assert info.value.exit_code == 130
    assert_safe_exit(driver)
    assert "stop" in driver.calls[driver.calls.index("stop") :]
    assert rec.of(Finished)[0].reason == "interrupted"


def test_a_bug_in_a_subscriber_still_leaves_everything_off() -> None:
    session, driver, _ = make()

    def broken(event: StepStarted) -> None:
        raise RuntimeError("subscriber bug")

    session.bus.subscribe(broken, StepStarted)
    with pytest.raises(RuntimeError, match="subscriber bug"):
        session.run()
    assert driver.calls[-3:] == ["stop", "off", "close"]


def test_sigint_and_sigterm_are_caught_while_playing_and_restored_after() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    for sig in (signal.SIGINT, signal.SIGTERM):
        session, driver, _ = make(handle_signals=True)
        script(session, {600: lambda sig=sig: os.kill(os.getpid(), sig)})
        with pytest.raises(Interrupted, match=sig.name):
            session.run()
        assert_safe_exit(driver)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_second_interrupt_skips_the_ramp_down_wait() -> None:
    session, driver, _ = make()
    # a device that never reaches zero on stop: only a second interrupt ends the wait early
    driver.stop = lambda: driver.calls.append("stop")  # type: ignore[method-assign]
    script(session, {500: lambda: (session.interrupt(), session.interrupt())})
    with pytest.raises(Interrupted):
        session.run()
    assert driver.samples[-1].wall_ms < 700


def test_stuck_ramp_down_is_bounded_then_forced_off() -> None:
    session, driver, _ = make()
    driver.stop = lambda: driver.calls.append("stop")  # type: ignore[method-assign]
    script(session, {500: session.stop})
    session.run()
    assert 3000 <= driver.samples[-1].wall_ms - 500 <= 3300
    assert driver.is_off


def test_controls_from_another_thread_on_a_real_clock() -> None:
    session, driver, rec = make(FakeDriver(clock=MonotonicClock(speed=20.0)), duration_ms=6000)
    done = threading.Event()

    def hammer() -> None:
        while not done.is_set():
            session.toggle_pause()
            session.change_intensity(-0.1)
            session.change_intensity(+0.1)
            done.wait(0.002)
        session.resume()

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        script(session, {2000: done.set})
        result = session.run()
    finally:
        done.set()
        thread.join()
    assert result.reason == "done"
    assert rec.of(Paused) and rec.of(Resumed)
    assert all(0.0 <= e.intensity <= 1.0 for e in rec.of(IntensityChanged))
    assert_safe_exit(driver)


ACTIONS = st.one_of(
    st.sampled_from(["pause", "resume", "toggle", "stop", "up", "down"]),
    st.floats(-0.5, 1.5),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6000), ACTIONS), max_size=12))
def test_any_control_schedule_ends_once_with_everything_off(
    schedule: list[tuple[int, str | float]],
) -> None:
    session, driver, rec = make(max_pause_ms=1500)
    named: dict[str, Callable[[], object]] = {
        "pause": session.pause,
        "resume": session.resume,
        "toggle": session.toggle_pause,
        "stop": session.stop,
        "up": lambda: session.change_intensity(0.1),
        "down": lambda: session.change_intensity(-0.1),
    }
    actions: dict[float, Callable[[], object]] = {}
    for n, (at, action) in enumerate(schedule):
        do = (
            named[action]
            if isinstance(action, str)
            else (lambda x=action: session.set_intensity(x))
        )
        actions[at + n * 1e-3] = do
    script(session, actions)
    result = session.run()  # never late, never an error, whatever the schedule
    assert result.reason in ("done", "stopped", "pause_limit")
    finished = rec.of(Finished)
    assert len(finished) == 1 and rec.events[-1] is finished[0]
    assert_safe_exit(driver)
    for change in rec.of(IntensityChanged):
        assert 0.0 <= change.intensity <= 1.0
    for sample in driver.samples:
        assert all(abs(v) <= 0.8 + 1e-9 for v in sample.levels.values())
        if sample.paused:
            assert all(v == 0.0 for v in sample.levels.values())
