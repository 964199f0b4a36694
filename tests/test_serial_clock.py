"""Estimating the device clock from round trips: unwrapping, offset, drift, outliers."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.ticks import TICKS_MAX, TICKS_PERIOD
from massager.drivers.clock_sync import ClockSync, Unwrapper


@given(st.integers(0, TICKS_MAX), st.lists(st.integers(0, 2**29 - 1), max_size=50))
def test_unwrapping_recovers_the_growing_count(start: int, steps: list[int]) -> None:
    unwrap = Unwrapper()
    true = start
    assert unwrap(start) == start
    for step in steps:
        true += step
        assert unwrap(true & TICKS_MAX) == true


def simulate(
    sync: ClockSync,
    *,
    offset_us: float,
    ppm: float,
    seconds: float,
    start_s: float = 1000.0,
    seed: int = 1,
) -> None:
    """Round trips every 0.1 s: 0.2-2 ms each, some held up on one leg by 20 ms."""
    rng = random.Random(seed)
    t = start_s
    while t < start_s + seconds:
        up = rng.uniform(0.0001, 0.001)
        down = rng.uniform(0.0001, 0.001)
        if rng.random() < 0.1:
            up += 0.02  # a request stuck behind others
        read_at = t + up
        device = offset_us + read_at * 1e6 * (1 + ppm * 1e-6)
        sync.add(t, read_at + down, int(device) & TICKS_MAX)
        t += 0.1


def true_device(offset_us: float, ppm: float, host_s: float) -> float:
    return offset_us + host_s * 1e6 * (1 + ppm * 1e-6)


def test_offset_and_drift_are_found_despite_slow_round_trips() -> None:
    sync = ClockSync()
    offset = -1000.0 * 1e6 + 123_456.0  # device booted long after the host
    simulate(sync, offset_us=offset, ppm=40.0, seconds=3.0)
    assert sync.drift_ppm == pytest.approx(40.0, abs=15.0)
    for host_s in (1003.0, 1003.5):
        est = sync.device_us(host_s)
        assert est - true_device(offset, 40.0, host_s) == pytest.approx(0.0, abs=600.0)
        assert sync.host_s(est) == pytest.approx(host_s, abs=1e-6)
    assert sync.min_rtt < 0.002


def test_the_estimate_follows_the_clock_across_its_wrap() -> None:
    sync = ClockSync()
    offset = TICKS_PERIOD - 1_000_000.0 - 1000.0 * 1e6  # wraps one second in
    simulate(sync, offset_us=offset, ppm=0.0, seconds=2.5)
    est = sync.device_us(1002.4)
    assert est > TICKS_PERIOD  # unwrapped: past the wrap, still growing
    assert est - true_device(offset, 0.0, 1002.4) == pytest.approx(0.0, abs=600.0)
    reading = int(true_device(offset, 0.0, 1002.45)) & TICKS_MAX
    assert sync.unwrap_near(reading, 1002.45) == pytest.approx(
        true_device(offset, 0.0, 1002.45), abs=1.0
    )


def test_an_absurd_rate_is_not_believed() -> None:
    sync = ClockSync()
    simulate(sync, offset_us=0.0, ppm=5000.0, seconds=2.0)
    assert sync.drift_ppm <= 500.0 + 1e-6


def test_a_reset_forgets_the_old_clock() -> None:
    sync = ClockSync()
    simulate(sync, offset_us=5e6, ppm=0.0, seconds=1.0)
    sync.reset()
    assert not sync.ready
    simulate(sync, offset_us=-999e6, ppm=0.0, seconds=0.5, start_s=1001.0)
    assert sync.device_us(1001.4) == pytest.approx(true_device(-999e6, 0.0, 1001.4), abs=600.0)
