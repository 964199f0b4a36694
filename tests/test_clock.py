"""Clocks: the virtual one jumps, the monotonic one scales by speed."""

from __future__ import annotations

import pytest

from massager.clock import MonotonicClock, VirtualClock


def test_virtual_clock_jumps_forward_only() -> None:
    clock = VirtualClock()
    clock.sleep_until(1200_000.0)
    assert clock.now_ms() == 1200_000.0
    clock.sleep_until(5.0)
    assert clock.now_ms() == 1200_000.0


def test_monotonic_clock_runs_speed_times_faster() -> None:
    clock = MonotonicClock(speed=50.0)
    clock.sleep_until(100.0)  # 100 scaled ms = 2 real ms
    assert clock.now_ms() >= 100.0


def test_monotonic_clock_refuses_non_positive_speed() -> None:
    with pytest.raises(ValueError, match="speed"):
        MonotonicClock(speed=0)


class _Wall:
    """A hand-moved monotonic source (seconds)."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_paced_clock_drops_a_stall_but_keeps_the_sleep_it_was_asked_for() -> None:
    wall = _Wall()
    clock = MonotonicClock(speed=10.0, max_gap_ms=20.0, source=wall)
    wall.t += 0.015  # 15 ms of work: within the gap
    assert clock.now_ms() == pytest.approx(150.0)
    wall.t += 1.0  # the process was starved for a second: only 20 ms of it count
    assert clock.now_ms() == pytest.approx(350.0)
    assert clock.lost_ms == pytest.approx(980.0)
    clock.sleep_until(clock.now_ms() + 50.0)  # the host sleeps 5 ms (the source stands still)
    wall.t += 0.135  # ... and wakes 130 ms late: the 5 ms asked for and 20 ms beyond count
    assert clock.now_ms() == pytest.approx(350.0 + 50.0 + 200.0)
    assert clock.lost_ms == pytest.approx(980.0 + 110.0)


def test_an_unpaced_clock_never_drops_time() -> None:
    wall = _Wall()
    clock = MonotonicClock(speed=2.0, source=wall)
    wall.t += 30.0
    assert clock.now_ms() == pytest.approx(60_000.0)
    assert clock.lost_ms == 0.0
