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
